import { MAX_PAYLOAD_BYTES } from '@mertah/protocol';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { KeypadEntry } from '../alarm/alarm.service.js';
import type { CommandOutcome } from '../alarm/alarm.types.js';
import type { EventBus } from '../event-bus.js';
import type { SensorAttribute, SensorMessage, SensorReading, TelemetryReading } from './sensor.types.js';

export type Zigbee2MqttErrorCode =
  | 'E_Z2M_NOT_JSON'
  | 'E_Z2M_NOT_OBJECT'
  | 'E_Z2M_TOO_LARGE'
  | 'E_Z2M_FIELD'
  | 'E_Z2M_KEYPAD_NO_CODE'
  | 'E_Z2M_AVAILABILITY'
  | 'E_Z2M_NOT_CONNECTED'
  | 'E_Z2M_PANIC_UNROUTED';

export interface Zigbee2MqttOptions {
  url: string;
  baseTopic: string;
  /** Stable client id: with clean:false the broker keeps the session and redelivers what was not acked. */
  clientId: string;
  bus: EventBus;
  logger: Logger;
  clock?: () => number;
  /** Wait before retrying a message whose consequences could not be committed. */
  retryMs?: (attempt: number) => number;
  /**
   * Most QoS 1 messages held unacknowledged at once (awaiting commit); beyond it the driver
   * stops reading from the broker until the oldest are committed. Default 1000.
   */
  maxUnacked?: number;
  /** `<device>/availability` (supervision): resolves once what it caused is committed. */
  availability?: (device: string, online: boolean) => Promise<void>;
  /** The alarm's keypad API (AlarmService.keypad): keypad `action`s with their `action_code`. */
  keypad?: (entry: KeypadEntry) => Promise<CommandOutcome>;
}

/** The `<siren>/set` payload of the alarm's siren effect (zigbee2mqtt `warning`). Pure. */
export function sirenWarning(on: boolean, durationS: number): Record<string, unknown> {
  return {
    warning: on
      ? { mode: 'burglar', level: 'very_high', strobe: true, duration: durationS }
      : { mode: 'stop', strobe: false, duration: 0 },
  };
}

/** A zigbee2mqtt keypad/remote `action` in Mertah's terms. */
export type KeypadCommand =
  | { kind: 'keypad'; action: 'arm'; mode: 'armed_away' | 'armed_home' | 'armed_night' }
  | { kind: 'keypad'; action: 'disarm' }
  | { kind: 'panic' };

const KEYPAD_ACTIONS: Readonly<Record<string, KeypadCommand>> = {
  arm_all_zones: { kind: 'keypad', action: 'arm', mode: 'armed_away' },
  arm_day_zones: { kind: 'keypad', action: 'arm', mode: 'armed_home' },
  arm_night_zones: { kind: 'keypad', action: 'arm', mode: 'armed_night' },
  disarm: { kind: 'keypad', action: 'disarm' },
  panic: { kind: 'panic' },
  emergency: { kind: 'panic' },
};

/** The keypad command of a device-state object's `action`, or null (other actions, none). Pure. */
export function keypadCommand(payload: Record<string, unknown>): KeypadCommand | null {
  const a = payload.action;
  return typeof a === 'string' && Object.hasOwn(KEYPAD_ACTIONS, a) ? KEYPAD_ACTIONS[a]! : null;
}

/** One received QoS 1 message whose PUBACK waits until what it caused is committed. */
interface HeldAck {
  messageId: number;
  generation: number;
  committed: boolean;
}

/** Tells mqtt.js not to send its own PUBACK: the driver sends it once the message is committed. */
const ACK_HELD = new Error('acknowledgement held until commit');

export interface Zigbee2MqttCounters {
  messages: number;
  sensor_messages: number;
  ignored: number;
  invalid: number;
  unknown_values: number;
  commit_failures: number;
  keypad_commands: number;
}

/** Boolean exposes that drive zones, with what `true` means. */
const BOOLEAN_FIELDS: ReadonlyArray<readonly [string, SensorAttribute, boolean]> = [
  // zigbee2mqtt contact: true = magnet present = CLOSED.
  ['contact', 'contact_open', false],
  ['occupancy', 'occupancy', true],
  ['smoke', 'smoke', true],
  ['water_leak', 'water_leak', true],
  ['gas', 'gas', true],
  ['carbon_monoxide', 'carbon_monoxide', true],
  ['tamper', 'tamper', true],
  ['battery_low', 'battery_low', true],
];

const TELEMETRY_FIELDS = ['battery', 'linkquality', 'temperature', 'humidity', 'voltage'] as const;
const NUMERIC = /^\s*-?\d+(\.\d+)?\s*$/;

export interface ParsedDeviceMessage {
  readings: SensorReading[];
  telemetry: TelemetryReading[];
  unknown: number;
  badFields: string[];
}

/**
 * RF low battery (Contact ID 384 through the alarm's `battery_low` trouble) from a battery
 * percentage, for devices that publish no `battery_low`: below `LOW_BATTERY_PCT` is low,
 * from `BATTERY_OK_PCT` up is restored, in between keeps the last verdict (no flapping).
 */
export const LOW_BATTERY_PCT = 15;
export const BATTERY_OK_PCT = 20;

/** Maps one zigbee2mqtt device-state object to readings and telemetry. Pure. */
export function parseDevicePayload(payload: Record<string, unknown>): ParsedDeviceMessage {
  const readings: SensorReading[] = [];
  const telemetry: TelemetryReading[] = [];
  const badFields: string[] = [];
  let unknown = 0;
  for (const [field, attribute, activeWhen] of BOOLEAN_FIELDS) {
    if (!(field in payload)) continue;
    const v = payload[field];
    if (v === null || v === undefined) unknown++;
    else if (typeof v === 'boolean') readings.push({ attribute, active: v === activeWhen });
    else badFields.push(field);
  }
  for (const metric of TELEMETRY_FIELDS) {
    if (!(metric in payload)) continue;
    const v = payload[metric];
    if (v === null || v === undefined) {
      unknown++;
      continue;
    }
    const n = typeof v === 'number' ? v : typeof v === 'string' && NUMERIC.test(v) ? Number(v) : Number.NaN;
    if (Number.isFinite(n)) telemetry.push({ metric, value: n });
    else badFields.push(metric);
  }
  const battery = telemetry.find((t) => t.metric === 'battery')?.value;
  // Only for devices without their own `battery_low` (null there is "unknown", not "derive").
  if (battery !== undefined && !('battery_low' in payload)) {
    if (battery < LOW_BATTERY_PCT) readings.push({ attribute: 'battery_low', active: true });
    else if (battery >= BATTERY_OK_PCT) readings.push({ attribute: 'battery_low', active: false });
  }
  return { readings, telemetry, unknown, badFields };
}

type Route =
  | { kind: 'device'; device: string }
  | { kind: 'availability'; device: string }
  | { kind: 'bridge'; rest: string }
  | { kind: 'ignore' };

export function routeTopic(baseTopic: string, topic: string): Route {
  if (!topic.startsWith(`${baseTopic}/`)) return { kind: 'ignore' };
  const rest = topic.slice(baseTopic.length + 1);
  if (rest === 'bridge' || rest.startsWith('bridge/')) return { kind: 'bridge', rest };
  const parts = rest.split('/');
  const last = parts[parts.length - 1];
  const before = parts[parts.length - 2];
  if (rest === '' || parts.some((p) => p === '')) return { kind: 'ignore' };
  if (last === 'availability' && parts.length > 1) {
    return { kind: 'availability', device: parts.slice(0, -1).join('/') };
  }
  if (last === 'set' || last === 'get' || last === 'availability') return { kind: 'ignore' };
  if (before === 'set' || before === 'get') return { kind: 'ignore' };
  return { kind: 'device', device: rest };
}

/**
 * A `<device>/availability` payload: `{"state":"online"|"offline"}` (zigbee2mqtt 1.x JSON
 * and 2.x) or the plain string `online`/`offline` (legacy). null when it is neither. Pure.
 */
export function parseAvailability(payload: Buffer): boolean | null {
  const text = payload.toString('utf8').trim();
  let state: unknown = text;
  if (text.startsWith('{')) {
    try {
      state = (JSON.parse(text) as { state?: unknown }).state;
    } catch {
      return null;
    }
  }
  return state === 'online' ? true : state === 'offline' ? false : null;
}

/**
 * zigbee2mqtt driver: subscribes `<base_topic>/#` at QoS 1 with a persistent session and
 * turns device states into sensor messages on the bus. A message is acknowledged (PUBACK)
 * only once everything it caused is committed to the outbox, so a gateway killed mid-way
 * gets the message again from the broker (and the alarm machine's state dedupe makes the
 * redelivery create no event).
 *
 * Protection never waits on storage: every message goes to the alarm machine as soon as it
 * arrives (sirens follow the machine at once, committed or not), and only its PUBACK is
 * held. mqtt.js would not hand over the next message before the previous one's callback, so
 * the driver releases mqtt.js at once (its callback gets `ACK_HELD`, which suppresses
 * mqtt.js's own PUBACK) and sends the PUBACKs itself, in arrival order as MQTT requires,
 * when each message and all before it are committed. A message whose commit fails is retried
 * with backoff while later messages keep flowing. Messages of one device topic are applied in
 * order (a later state of a device waits for the earlier one to commit, or its restore could
 * be overtaken); other devices never wait. After a reconnect, held acks of the old
 * connection are dropped: the broker (persistent session) redelivers those messages.
 */
export class Zigbee2MqttDriver {
  private client: MqttClient | null = null;
  private readonly log: Logger;
  private stopping = false;
  /** Bumped on every connection loss: acks of an older connection are never sent. */
  private generation = 0;
  private heldAcks: HeldAck[] = [];
  /** Per device topic: the tail of its in-order processing chain. */
  private readonly tails = new Map<string, Promise<void>>();
  /** mqtt.js's callback, held while too many messages await commit (back-pressure). */
  private resumeReading: (() => void) | null = null;
  readonly counters: Zigbee2MqttCounters = {
    messages: 0,
    sensor_messages: 0,
    ignored: 0,
    invalid: 0,
    unknown_values: 0,
    commit_failures: 0,
    keypad_commands: 0,
  };

  constructor(private readonly opts: Zigbee2MqttOptions) {
    this.log = opts.logger.child({ component: 'zigbee2mqtt' });
  }

  get name(): string {
    return 'zigbee2mqtt';
  }

  /**
   * Connects and subscribes. Waits up to `connectWaitMs` for the broker; if it is not up yet
   * the driver keeps trying in the background (zigbee2mqtt's broker may start after us).
   */
  async start(connectWaitMs = 5000): Promise<void> {
    this.stopping = false;
    const options: IClientOptions = {
      clientId: this.opts.clientId,
      clean: false,
      reconnectPeriod: 2000,
      connectTimeout: 10_000,
      resubscribe: false,
    };
    const client = mqtt.connect(this.opts.url, options);
    this.client = client;
    client.handleMessage = (packet, callback) => {
      if (packet.cmd !== 'publish') {
        callback();
        return;
      }
      this.counters.messages++; // received (processing may wait behind the same device)
      const payload = Buffer.from(packet.payload);
      if (packet.qos === 2) {
        // Not subscribed at QoS 2; should a broker send one anyway, ack it only once committed.
        this.inOrder(packet.topic, payload).then(
          () => callback(),
          (err: Error) =>
            this.log.warn({ err: err.message, topic: packet.topic }, 'message left unacknowledged'),
        );
        return;
      }
      if (packet.qos === 0 || packet.messageId === undefined) {
        // Nothing to acknowledge: process and move on.
        this.inOrder(packet.topic, payload).catch((err: Error) =>
          this.log.warn({ err: err.message, topic: packet.topic }, 'QoS 0 message not committed'),
        );
        callback();
        return;
      }
      const held: HeldAck = { messageId: packet.messageId, generation: this.generation, committed: false };
      this.heldAcks.push(held);
      this.inOrder(packet.topic, payload, held.generation).then(
        () => {
          held.committed = true;
          this.releaseAcks();
        },
        (err: Error) =>
          this.log.warn({ err: err.message, topic: packet.topic }, 'message left unacknowledged'),
      );
      // Release mqtt.js for the next message now (no PUBACK from it), unless too many are held.
      const next = () => callback(ACK_HELD);
      if (this.heldAcks.length >= (this.opts.maxUnacked ?? 1000)) this.resumeReading = next;
      else next();
    };
    client.on('close', () => {
      // The broker redelivers whatever was not acked on this connection.
      this.generation++;
      this.heldAcks = [];
      this.tails.clear();
      const resume = this.resumeReading;
      this.resumeReading = null;
      resume?.();
    });
    client.on('error', (err) =>
      this.log.warn({ err: err.message, code: 'E_Z2M_BROKER' }, 'premises broker error'),
    );
    client.on('offline', () => this.log.warn({ url: this.opts.url }, 'premises broker offline'));
    const connected = new Promise<boolean>((resolve) => {
      client.on('connect', (connack) => {
        this.log.info(
          { url: this.opts.url, session_present: connack.sessionPresent },
          'premises broker connected',
        );
        // With a present session the broker still holds our subscription (and unacked messages).
        const ready = connack.sessionPresent ? Promise.resolve() : this.subscribe(client);
        ready.then(
          () => resolve(true),
          (err: Error) => this.log.error({ err: err.message, code: 'E_Z2M_SUBSCRIBE' }, 'subscribe failed'),
        );
      });
    });
    const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), connectWaitMs).unref());
    if (!(await Promise.race([connected, timeout]))) {
      this.log.warn(
        { url: this.opts.url, code: 'E_Z2M_UNREACHABLE' },
        'premises broker not reachable yet; retrying',
      );
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const c = this.client;
    this.client = null;
    if (c) await c.endAsync(true).catch(() => {});
  }

  /**
   * Publishes a command to `<base_topic>/<device>/set` (QoS 1), e.g. a siren's
   * `{"warning":{"mode":"burglar","strobe":true,"duration":60}}`. Rejects with
   * E_Z2M_NOT_CONNECTED when the premises broker is not connected.
   */
  async set(device: string, payload: Record<string, unknown>): Promise<void> {
    const client = this.client;
    if (!client?.connected) {
      throw Object.assign(new Error('premises broker not connected'), { code: 'E_Z2M_NOT_CONNECTED' });
    }
    await client.publishAsync(`${this.opts.baseTopic}/${device}/set`, JSON.stringify(payload), { qos: 1 });
    this.log.info({ device, keys: Object.keys(payload) }, 'device command sent');
  }

  /** How many received QoS 1 messages wait for their commit before being acknowledged. */
  get unacked(): number {
    return this.heldAcks.length;
  }

  /** Processes a message after the earlier ones of the same topic (device). */
  private inOrder(topic: string, payload: Buffer, generation = this.generation): Promise<void> {
    const before = this.tails.get(topic) ?? Promise.resolve();
    const run = before.then(() => this.process(topic, payload, generation));
    const tail = run.then(
      () => {},
      () => {},
    );
    this.tails.set(topic, tail);
    void tail.then(() => {
      if (this.tails.get(topic) === tail) this.tails.delete(topic);
    });
    return run;
  }

  /** Sends the PUBACKs of the committed messages at the head of the queue, in arrival order. */
  private releaseAcks(): void {
    const client = this.client as unknown as {
      _sendPacket(packet: { cmd: 'puback'; messageId: number }, cb?: () => void): void;
    } | null;
    while (this.heldAcks.length > 0 && this.heldAcks[0]!.committed) {
      const held = this.heldAcks.shift()!;
      // mqtt.js has no public per-message ack; _sendPacket is what its own PUBACK uses.
      if (client && held.generation === this.generation) {
        client._sendPacket({ cmd: 'puback', messageId: held.messageId });
      }
    }
    if (this.resumeReading && this.heldAcks.length < (this.opts.maxUnacked ?? 1000)) {
      const resume = this.resumeReading;
      this.resumeReading = null;
      resume();
    }
  }

  private async subscribe(client: MqttClient): Promise<void> {
    const filter = `${this.opts.baseTopic}/#`;
    const granted = await client.subscribeAsync(filter, { qos: 1 });
    this.log.info({ filter, granted: granted.map((g) => g.qos) }, 'subscribed');
  }

  /** Resolves when the message may be acknowledged: processed, or deliberately dropped. */
  private async process(topic: string, payload: Buffer, generation: number): Promise<void> {
    const route = routeTopic(this.opts.baseTopic, topic);
    if (route.kind === 'ignore') {
      this.counters.ignored++;
      return;
    }
    if (route.kind === 'bridge') {
      this.counters.ignored++;
      this.log.debug({ topic: route.rest, bytes: payload.byteLength }, 'bridge message (not handled yet)');
      return;
    }
    if (route.kind === 'availability') {
      const online = parseAvailability(payload);
      if (online === null) {
        this.counters.invalid++;
        this.log.warn(
          { device: route.device, bytes: payload.byteLength, code: 'E_Z2M_AVAILABILITY' },
          'availability is neither online nor offline',
        );
        return;
      }
      this.log.info({ device: route.device, online }, 'device availability');
      const report = this.opts.availability;
      if (!report) return;
      for (let attempt = 0; !this.stopping && generation === this.generation; attempt++) {
        try {
          await report(route.device, online);
          return;
        } catch {
          this.counters.commit_failures++;
          const wait = this.opts.retryMs?.(attempt) ?? Math.min(30_000, 500 * 2 ** attempt);
          await new Promise((r) => setTimeout(r, wait));
        }
      }
      throw new Error('stopped before commit');
    }
    const value = this.decode(route.device, payload);
    if (!value) return;
    const parsed = parseDevicePayload(value);
    this.counters.unknown_values += parsed.unknown;
    if (parsed.badFields.length > 0) {
      this.counters.invalid++;
      this.log.warn(
        { device: route.device, fields: parsed.badFields, code: 'E_Z2M_FIELD' },
        'unexpected field types',
      );
    }
    const keypad = this.keypadEntry(route.device, value);
    const hasSensor = parsed.readings.length > 0 || parsed.telemetry.length > 0;
    if (!hasSensor && !keypad) return;
    if (hasSensor) this.counters.sensor_messages++;
    const msg: SensorMessage = {
      source: this.name,
      device: route.device,
      ts: (this.opts.clock ?? Date.now)(),
      readings: parsed.readings,
      telemetry: parsed.telemetry,
    };
    const commit = async (): Promise<boolean> => {
      if (hasSensor && !(await this.opts.bus.emitSensorMessage(msg))) return false;
      if (keypad && this.opts.keypad) {
        try {
          const outcome = await this.opts.keypad(keypad);
          // Never the code: only what was asked and what the alarm answered.
          this.log.info(
            {
              device: route.device,
              action: keypad.action,
              mode: keypad.mode,
              ok: outcome.ok,
              code: outcome.ok ? undefined : outcome.code,
            },
            'keypad command',
          );
        } catch {
          return false;
        }
      }
      return true;
    };
    // Retry until committed: the PUBACK waits, and the broker keeps the message meanwhile.
    // Later messages keep flowing meanwhile (see the class comment); a reconnect ends the
    // retries, as the broker redelivers the message on the new connection.
    for (let attempt = 0; !this.stopping && generation === this.generation; attempt++) {
      if (await commit()) return;
      this.counters.commit_failures++;
      const wait = this.opts.retryMs?.(attempt) ?? Math.min(30_000, 500 * 2 ** attempt);
      this.log.error(
        { device: route.device, attempt, retry_in_ms: wait, code: 'E_Z2M_COMMIT' },
        'not committed',
      );
      await new Promise((r) => setTimeout(r, wait));
    }
    throw new Error('stopped before commit'); // never acked; the broker redelivers it
  }

  /** The keypad entry of an arm/disarm `action` (with its PIN); logs panics it cannot route. */
  private keypadEntry(device: string, value: Record<string, unknown>): KeypadEntry | null {
    const cmd = keypadCommand(value);
    if (!cmd) return null;
    const actionZone = typeof value.action_zone === 'number' ? value.action_zone : undefined;
    if (cmd.kind === 'panic') {
      // The alarm machine has no code-less panic input yet; map the keypad to a panic_24h zone.
      this.log.error(
        { device, action: value.action, code: 'E_Z2M_PANIC_UNROUTED' },
        'keypad panic not routed to the alarm machine',
      );
      return null;
    }
    const code = value.action_code;
    if (typeof code !== 'string' && typeof code !== 'number') {
      this.counters.invalid++;
      this.log.warn(
        { device, action: value.action, code: 'E_Z2M_KEYPAD_NO_CODE' },
        'keypad action without a code',
      );
      return null;
    }
    if (!this.opts.keypad) return null;
    this.counters.keypad_commands++;
    this.log.debug({ device, action: value.action, action_zone: actionZone }, 'keypad action');
    return cmd.action === 'arm'
      ? { code: String(code), action: 'arm', mode: cmd.mode }
      : { code: String(code), action: 'disarm' };
  }

  private decode(device: string, payload: Buffer): Record<string, unknown> | null {
    const bad = (code: Zigbee2MqttErrorCode, message: string) => {
      this.counters.invalid++;
      // Never log the payload itself: keypads put the user's PIN in it.
      this.log.warn({ device, bytes: payload.byteLength, code }, message);
      return null;
    };
    if (payload.byteLength > MAX_PAYLOAD_BYTES) return bad('E_Z2M_TOO_LARGE', 'payload too large');
    let value: unknown;
    try {
      value = JSON.parse(payload.toString('utf8'));
    } catch {
      return bad('E_Z2M_NOT_JSON', 'payload is not JSON');
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return bad('E_Z2M_NOT_OBJECT', 'payload is not a JSON object');
    }
    return value as Record<string, unknown>;
  }
}
