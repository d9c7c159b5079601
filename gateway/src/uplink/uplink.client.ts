import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  Ack,
  Command,
  type CommandResult,
  type ConfigApplied,
  type EventBatch,
  type GatewayEvent,
  type GatewayStatus,
  type Heartbeat,
  WireParser,
  topic,
} from '@mertah/protocol';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { CommandOutcome } from '../alarm/alarm.types.js';
import type { EventBus, PartitionStatusChange } from '../event-bus.js';
import type { Outbox } from '../outbox/outbox.store.js';

export type UplinkErrorCode = 'E_EXPIRED' | 'E_BAD_COMMAND' | 'E_UNSUPPORTED' | 'E_BAD_ACK' | 'E_INTERNAL';

export interface UplinkOptions {
  gatewayId: string;
  url: string;
  secret: string;
  caFile: string | null;
  keepaliveS: number;
  batchSize: number;
  window: number;
  heartbeatS: number;
  outbox: Outbox;
  bus: EventBus;
  logger: Logger;
  /** Applies an arm/disarm command; resolves once its consequences are committed. */
  onCommand: (cmd: Command) => Promise<CommandOutcome>;
  partitions: () => PartitionStatusChange['partitions'];
  /**
   * Handles a `config/desired` message (its version and raw premises config); resolves with
   * the ConfigApplied to publish, or null to stay silent (an old version re-delivered).
   */
  onDesiredConfig?: (version: number, config: unknown) => Promise<ConfigApplied | null>;
  clock?: () => number;
  configVersion?: number;
  version?: string;
  /** Unacked events in flight longer than this are sent again without waiting for a reconnect. */
  resendAfterMs?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  telemetryPointsPerBatch?: number;
  telemetryWindow?: number;
}

/** Largest EventBatch payload we build, comfortably below the protocol's MAX_PAYLOAD_BYTES. */
const MAX_BATCH_BYTES = 200_000;

/** Reconnect delay: exponential, capped, with jitter so a fleet does not reconnect in lockstep. */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random = Math.random): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/**
 * MQTT client to the cloud. Sends the outbox as EventBatches (most urgent first), keeps at
 * most `window` events in flight, resends everything unacked on every (re)connect and deletes
 * only what a cloud Ack covers. Publishes retained status (last will: offline), heartbeats,
 * and answers arm/disarm commands.
 */
export class Uplink {
  private client: MqttClient | null = null;
  private readonly log: Logger;
  private readonly inflight = new Set<number>();
  private readonly inflightT = new Set<number>();
  private readonly results = new Map<string, CommandResult>();
  private readonly ackParser = new WireParser(Ack);
  private readonly cmdParser = new WireParser(Command);
  private readonly clock: () => number;
  private readonly bootId = randomUUID();
  private readonly startedAt: number;
  private stopping = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private resendTimer: NodeJS.Timeout | null = null;
  private pumpScheduled = false;
  private lastProgress = 0;
  private desiredChain: Promise<void> = Promise.resolve();
  readonly counters = { batches_sent: 0, events_sent: 0, acks: 0, resends: 0, connects: 0, bad_messages: 0 };

  constructor(private readonly opts: UplinkOptions) {
    this.log = opts.logger.child({ component: 'uplink' });
    this.clock = opts.clock ?? Date.now;
    this.startedAt = this.clock();
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  inflightCount(): number {
    return this.inflight.size;
  }

  /** Starts connecting in the background: the gateway protects the premises with or without the cloud. */
  start(): void {
    this.stopping = false;
    const o = this.opts;
    const options: IClientOptions = {
      clientId: o.gatewayId,
      username: o.gatewayId,
      password: o.secret,
      clean: true,
      keepalive: o.keepaliveS,
      reconnectPeriod: 0, // reconnects are driven here, with backoff and jitter
      connectTimeout: 10_000,
      will: {
        topic: topic(o.gatewayId, 'status'),
        payload: Buffer.from(JSON.stringify(this.statusMessage('offline'))),
        qos: 1,
        retain: true,
      },
    };
    if (o.caFile) {
      options.ca = readFileSync(o.caFile);
      options.rejectUnauthorized = true;
    }
    const client = mqtt.connect(o.url, options);
    this.client = client;
    client.on('connect', () => this.onConnect(client));
    client.on('message', (t, payload) => this.onMessage(t, payload));
    client.on('error', (err) =>
      this.log.warn({ err: err.message, code: 'E_UPLINK_CONNECTION' }, 'cloud link error'),
    );
    client.on('close', () => this.onClose());
    o.bus.onOutboxChanged(this, () => this.schedulePump());
    o.bus.onAlarmStatus(this, () => {
      if (this.connected) this.publishStatus('online');
    });
    this.heartbeatTimer = setInterval(() => this.heartbeat(), o.heartbeatS * 1000);
    const resendAfter = o.resendAfterMs ?? 30_000;
    this.resendTimer = setInterval(() => this.checkStalled(resendAfter), Math.max(250, resendAfter / 4));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.opts.bus.removeListeners(this);
    for (const t of [this.reconnectTimer, this.heartbeatTimer, this.resendTimer]) if (t) clearTimeout(t);
    const c = this.client;
    this.client = null;
    if (!c) return;
    if (c.connected) {
      await Promise.race([
        c.publishAsync(topic(this.opts.gatewayId, 'status'), JSON.stringify(this.statusMessage('offline')), {
          qos: 1,
          retain: true,
        }),
        new Promise((r) => setTimeout(r, 1000)),
      ]).catch(() => {});
    }
    await c.endAsync(true).catch(() => {});
  }

  /** Sends what the window allows. Public for tests; normally driven by outbox changes and acks. */
  pump(): void {
    const c = this.client;
    if (!c?.connected) return;
    const o = this.opts;
    const wasIdle = this.inflight.size === 0 && this.inflightT.size === 0;
    while (this.inflight.size < o.window) {
      const want = Math.min(o.batchSize, o.window - this.inflight.size);
      const events = o.outbox.nextBatch(want, this.inflight);
      if (events.length === 0) break;
      const batch: GatewayEvent[] = [];
      let bytes = 100;
      for (const e of events) {
        const size = JSON.stringify(e).length + 1;
        if (batch.length > 0 && bytes + size > MAX_BATCH_BYTES) break;
        batch.push(e);
        bytes += size;
      }
      for (const e of batch) this.inflight.add(e.seq);
      const msg: EventBatch = { gateway_id: o.gatewayId, sent_at: this.clock(), events: batch };
      c.publish(topic(o.gatewayId, 'events'), JSON.stringify(msg), { qos: 1 });
      this.counters.batches_sent++;
      this.counters.events_sent += batch.length;
    }
    const points = this.opts.telemetryPointsPerBatch ?? 1000;
    while (this.inflightT.size < (this.opts.telemetryWindow ?? 4)) {
      const b = o.outbox.nextTelemetryBatch(points, this.inflightT);
      if (!b) break;
      this.inflightT.add(b.tseq);
      c.publish(topic(o.gatewayId, 'telemetry'), JSON.stringify(b), { qos: 1 });
    }
    if (wasIdle) this.lastProgress = this.clock();
  }

  // -------------------------------------------------------------------------------------

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private onConnect(client: MqttClient): void {
    const o = this.opts;
    this.attempt = 0;
    this.counters.connects++;
    // Everything unacked is sent again on every (re)connect.
    this.inflight.clear();
    this.inflightT.clear();
    this.log.info({ url: o.url, outbox: o.outbox.counts() }, 'cloud connected');
    client
      .subscribeAsync(
        {
          [topic(o.gatewayId, 'ack')]: { qos: 1 },
          [topic(o.gatewayId, 'command')]: { qos: 1 },
          [topic(o.gatewayId, 'configDesired')]: { qos: 1 },
        },
        {},
      )
      .then(
        () => {
          // Online only once commands can reach us: the cloud shows the gateway online (and
          // operators send commands) only after our subscriptions are in place.
          this.publishStatus('online');
          this.pump();
        },
        (err: Error) => this.log.error({ err: err.message, code: 'E_UPLINK_SUBSCRIBE' }, 'subscribe failed'),
      );
  }

  private onClose(): void {
    if (this.stopping || this.reconnectTimer) return;
    const delay = backoffDelay(
      this.attempt++,
      this.opts.backoffBaseMs ?? 1000,
      this.opts.backoffCapMs ?? 30_000,
    );
    this.log.warn({ retry_in_ms: delay, attempt: this.attempt }, 'cloud link down');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.stopping && this.client && !this.client.connected) this.client.reconnect();
    }, delay);
  }

  private checkStalled(afterMs: number): void {
    if (!this.connected || (this.inflight.size === 0 && this.inflightT.size === 0)) return;
    if (this.clock() - this.lastProgress < afterMs) return;
    this.counters.resends++;
    this.log.warn({ inflight: this.inflight.size, code: 'E_UPLINK_NO_ACK' }, 'no ack in time; sending again');
    this.inflight.clear();
    this.inflightT.clear();
    this.pump();
  }

  private onMessage(t: string, payload: Buffer): void {
    const id = this.opts.gatewayId;
    if (t === topic(id, 'ack')) this.onAck(payload);
    else if (t === topic(id, 'command')) void this.onCommandMessage(payload);
    else if (t === topic(id, 'configDesired')) {
      this.desiredChain = this.desiredChain.then(() => this.onDesiredMessage(payload));
    }
  }

  /** Desired configs are handled one at a time, in arrival order. */
  private async onDesiredMessage(payload: Buffer): Promise<void> {
    let msg = null as { version?: unknown; config?: unknown } | null;
    try {
      msg = JSON.parse(payload.toString('utf8')) as typeof msg;
    } catch {}
    const version = msg?.version;
    if (!msg || typeof version !== 'number' || !Number.isInteger(version) || version < 0) {
      this.counters.bad_messages++;
      this.log.warn({ code: 'E_BAD_CONFIG' }, 'desired config without a version ignored');
      return;
    }
    if (!this.opts.onDesiredConfig) return;
    try {
      const applied = await this.opts.onDesiredConfig(version, msg.config);
      if (applied) this.publishConfigApplied(applied);
    } catch (err) {
      this.log.error({ err: (err as Error).message, code: 'E_INTERNAL', version }, 'desired config failed');
      this.publishConfigApplied({
        version,
        ok: false,
        errors: [{ path: '/', message: 'E_INTERNAL: the config could not be committed' }],
        ts: this.clock(),
      });
    }
  }

  /** Publishes a ConfigApplied (QoS 1). */
  publishConfigApplied(applied: ConfigApplied): void {
    this.client?.publish(topic(this.opts.gatewayId, 'configApplied'), JSON.stringify(applied), { qos: 1 });
  }

  /** The premises config version now in force; the retained status is re-published with it. */
  setConfigVersion(version: number): void {
    this.opts.configVersion = version;
    if (this.connected) this.publishStatus('online');
  }

  private onAck(payload: Buffer): void {
    const r = this.ackParser.parse(payload);
    if (!r.ok) {
      this.counters.bad_messages++;
      this.log.warn({ code: 'E_BAD_ACK', issues: r.issues }, 'invalid ack ignored');
      return;
    }
    const a = r.value;
    this.counters.acks++;
    const sack = a.sack ?? [];
    const deleted = this.opts.outbox.ack(a.ack, sack, a.tacks ?? []);
    for (const seq of this.inflight) {
      if (seq <= a.ack || sack.some(([lo, hi]) => seq >= lo && seq <= hi)) this.inflight.delete(seq);
    }
    for (const t of a.tacks ?? []) this.inflightT.delete(t);
    this.lastProgress = this.clock();
    this.log.debug({ ack: a.ack, deleted }, 'ack');
    this.pump();
  }

  private async onCommandMessage(payload: Buffer): Promise<void> {
    const now = this.clock();
    const r = this.cmdParser.parse(payload);
    if (!r.ok) {
      this.counters.bad_messages++;
      let commandId: unknown;
      try {
        commandId = (JSON.parse(payload.toString('utf8')) as { command_id?: unknown }).command_id;
      } catch {}
      this.log.warn({ code: 'E_BAD_COMMAND', issues: r.issues }, 'invalid command');
      if (typeof commandId === 'string' && commandId.length > 0 && commandId.length <= 64) {
        this.publishResult({
          command_id: commandId,
          ok: false,
          code: 'E_BAD_COMMAND',
          message: r.issues.map((i) => `${i.path} ${i.message}`).join('; '),
          ts: now,
        });
      }
      return;
    }
    const cmd = r.value;
    const seen = this.results.get(cmd.command_id);
    if (seen) {
      this.publishResult(seen); // a redelivered command is answered again, not executed again
      return;
    }
    let result: CommandResult;
    if (cmd.expires_at <= now) {
      result = {
        command_id: cmd.command_id,
        ok: false,
        code: 'E_EXPIRED',
        message: 'command expired',
        ts: now,
      };
    } else if (cmd.type === 'arm' && !cmd.mode) {
      result = {
        command_id: cmd.command_id,
        ok: false,
        code: 'E_BAD_COMMAND',
        message: 'arm needs a mode',
        ts: now,
      };
    } else {
      try {
        const out = await this.opts.onCommand(cmd);
        result = out.ok
          ? { command_id: cmd.command_id, ok: true, ts: this.clock() }
          : { command_id: cmd.command_id, ok: false, code: out.code, message: out.message, ts: this.clock() };
        if (out.data) result.data = out.data;
      } catch (err) {
        const e = err as Error & { code?: string };
        result = {
          command_id: cmd.command_id,
          ok: false,
          code: typeof e.code === 'string' && e.code.startsWith('E_') ? e.code : 'E_INTERNAL',
          message: 'the command could not be committed',
          ts: this.clock(),
        };
      }
    }
    this.results.set(cmd.command_id, result);
    if (this.results.size > 256) this.results.delete(this.results.keys().next().value as string);
    this.log.info(
      { command_id: cmd.command_id, type: cmd.type, ok: result.ok, code: result.code },
      'command',
    );
    this.publishResult(result);
  }

  private publishResult(result: CommandResult): void {
    this.client?.publish(topic(this.opts.gatewayId, 'commandResult'), JSON.stringify(result), { qos: 1 });
  }

  private statusMessage(state: 'online' | 'offline'): GatewayStatus {
    const s: GatewayStatus = {
      gateway_id: this.opts.gatewayId,
      state,
      ts: this.clock(),
      boot_id: this.bootId,
    };
    if (this.opts.version) s.version = this.opts.version;
    if (this.opts.configVersion !== undefined) s.config_version = this.opts.configVersion;
    if (state === 'online') s.partitions = this.opts.partitions();
    return s;
  }

  private publishStatus(state: 'online' | 'offline'): void {
    this.client?.publish(topic(this.opts.gatewayId, 'status'), JSON.stringify(this.statusMessage(state)), {
      qos: 1,
      retain: true,
    });
  }

  private heartbeat(): void {
    if (!this.connected) return;
    const c = this.opts.outbox.counts();
    const hb: Heartbeat = {
      gateway_id: this.opts.gatewayId,
      ts: this.clock(),
      uptime_s: Math.max(0, Math.round((this.clock() - this.startedAt) / 1000)),
      interval_s: this.opts.heartbeatS,
      last_seq: c.last_seq,
      outbox_events: c.events,
      outbox_telemetry: c.telemetry,
    };
    this.client?.publish(topic(this.opts.gatewayId, 'heartbeat'), JSON.stringify(hb), { qos: 1 });
  }
}
