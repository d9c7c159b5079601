import { MAX_PAYLOAD_BYTES } from '@mertah/protocol';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { EventBus } from '../event-bus.js';
import type { SensorAttribute, SensorMessage, SensorReading, TelemetryReading } from './sensor.types.js';

export type Zigbee2MqttErrorCode = 'E_Z2M_NOT_JSON' | 'E_Z2M_NOT_OBJECT' | 'E_Z2M_TOO_LARGE' | 'E_Z2M_FIELD';

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
}

export interface Zigbee2MqttCounters {
  messages: number;
  sensor_messages: number;
  ignored: number;
  invalid: number;
  unknown_values: number;
  commit_failures: number;
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
  return { readings, telemetry, unknown, badFields };
}

type Route = { kind: 'device'; device: string } | { kind: 'bridge'; rest: string } | { kind: 'ignore' };

export function routeTopic(baseTopic: string, topic: string): Route {
  if (!topic.startsWith(`${baseTopic}/`)) return { kind: 'ignore' };
  const rest = topic.slice(baseTopic.length + 1);
  if (rest === 'bridge' || rest.startsWith('bridge/')) return { kind: 'bridge', rest };
  const parts = rest.split('/');
  const last = parts[parts.length - 1];
  const before = parts[parts.length - 2];
  if (rest === '' || parts.some((p) => p === '')) return { kind: 'ignore' };
  if (last === 'set' || last === 'get' || last === 'availability') return { kind: 'ignore' };
  if (before === 'set' || before === 'get') return { kind: 'ignore' };
  return { kind: 'device', device: rest };
}

/**
 * zigbee2mqtt driver: subscribes `<base_topic>/#` at QoS 1 with a persistent session and
 * turns device states into sensor messages on the bus. A message is acknowledged (PUBACK)
 * only once everything it caused is committed to the outbox: mqtt.js calls `handleMessage`
 * before it sends the PUBACK and waits for its callback, so a gateway killed mid-way gets
 * the message again from the broker.
 */
export class Zigbee2MqttDriver {
  private client: MqttClient | null = null;
  private readonly log: Logger;
  private stopping = false;
  readonly counters: Zigbee2MqttCounters = {
    messages: 0,
    sensor_messages: 0,
    ignored: 0,
    invalid: 0,
    unknown_values: 0,
    commit_failures: 0,
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
      // Only a processed (committed) message is acknowledged; a failure leaves it unacked.
      this.process(packet.topic, Buffer.from(packet.payload)).then(
        () => callback(),
        (err: Error) =>
          this.log.warn({ err: err.message, topic: packet.topic }, 'message left unacknowledged'),
      );
    };
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

  private async subscribe(client: MqttClient): Promise<void> {
    const filter = `${this.opts.baseTopic}/#`;
    const granted = await client.subscribeAsync(filter, { qos: 1 });
    this.log.info({ filter, granted: granted.map((g) => g.qos) }, 'subscribed');
  }

  /** Resolves when the message may be acknowledged: processed, or deliberately dropped. */
  private async process(topic: string, payload: Buffer): Promise<void> {
    this.counters.messages++;
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
    if (parsed.readings.length === 0 && parsed.telemetry.length === 0) return;
    this.counters.sensor_messages++;
    const msg: SensorMessage = {
      source: this.name,
      device: route.device,
      ts: (this.opts.clock ?? Date.now)(),
      readings: parsed.readings,
      telemetry: parsed.telemetry,
    };
    // Retry until committed: the PUBACK waits, and the broker keeps the message meanwhile.
    for (let attempt = 0; !this.stopping; attempt++) {
      if (await this.opts.bus.emitSensorMessage(msg)) return;
      this.counters.commit_failures++;
      const wait = this.opts.retryMs?.(attempt) ?? Math.min(30_000, 500 * 2 ** attempt);
      this.log.error(
        { device: route.device, attempt, retry_in_ms: wait, code: 'E_Z2M_COMMIT' },
        'not committed',
      );
      await new Promise((r) => setTimeout(r, wait));
    }
    throw new Error('stopped before commit'); // never acked; the broker redelivers after restart
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
