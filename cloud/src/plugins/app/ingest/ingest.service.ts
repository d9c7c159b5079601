import {
  type Ack,
  CommandResult,
  ConfigApplied,
  classOf,
  EventBatch,
  type GatewayEvent,
  GatewayStatus,
  Heartbeat,
  isAlarmEvent,
  MAX_PAYLOAD_BYTES,
  type ParseResult,
  TelemetryBatch,
  type TopicName,
  topic,
  WireParser,
} from '@mertah/protocol';
import type { FastifyBaseLogger } from 'fastify';
import type { Counters } from '../../../lib/metrics.js';
import type { Db, Queryable } from '../../external/db/db.types.js';
import type { CommandsService } from '../commands/commands.service.js';
import type { GatewaysService } from '../gateways/gateways.service.js';
import type { AlarmChange } from '../monitoring/alarm-bus.js';
import type { AlarmSignal } from '../monitoring/alarms.repository.js';
import type { AlarmsService } from '../monitoring/alarms.service.js';
import { AckTracker } from './ack-tracker.js';
import { EventsRepository, type QueuedEvent } from './events.repository.js';

/** Error codes of the ingest module (counted under `ingest.<code>`). */
export type IngestErrorCode =
  | 'E_NOT_JSON'
  | 'E_SCHEMA'
  | 'E_TOO_LARGE'
  | 'E_GATEWAY_MISMATCH'
  | 'E_SEQ_CONFLICT'
  | 'E_STORE'
  | 'E_STORE_REJECTED';

type Item =
  | { kind: 'events'; gateway_id: string; events: GatewayEvent[] }
  | { kind: 'telemetry'; gateway_id: string; batch: TelemetryBatch };

export interface IngestDeps {
  db: Db;
  gateways: GatewaysService;
  alarms: AlarmsService;
  commands: CommandsService;
  counters: Counters;
  log: FastifyBaseLogger;
  publish: (topic: string, payload: string) => Promise<void>;
  maxRows: number;
}

const parsers = {
  events: new WireParser(EventBatch, MAX_PAYLOAD_BYTES),
  telemetry: new WireParser(TelemetryBatch, MAX_PAYLOAD_BYTES),
  status: new WireParser(GatewayStatus, MAX_PAYLOAD_BYTES),
  heartbeat: new WireParser(Heartbeat, MAX_PAYLOAD_BYTES),
  commandResult: new WireParser(CommandResult, MAX_PAYLOAD_BYTES),
  configApplied: new WireParser(ConfigApplied, MAX_PAYLOAD_BYTES),
} as const;

/** SQLSTATE classes that mean "this data can never be stored", not "the database is down". */
function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

/**
 * Gateway messages in, acks out. Event and telemetry batches from every gateway are queued
 * and written together, one transaction per flush; while a flush runs, the next one fills
 * up, so the batch grows with the load. After the commit each gateway touched gets an Ack.
 */
export class IngestService {
  private readonly repo = new EventsRepository();
  private readonly tracker = new AckTracker();
  private queue: Item[] = [];
  private flushing: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Totals for /api/health and the bench. */
  readonly stats = {
    events_committed: 0,
    events_duplicate: 0,
    flushes: 0,
    flush_ms: 0,
    tx_ms: 0,
    acks_sent: 0,
    /** Rows waiting for the next flush (shown in /api/health). */
    queued_rows: 0,
  };

  constructor(private readonly d: IngestDeps) {}

  /** Entry point for every message on a gateway topic (already authorised by the broker). */
  handle(gatewayId: string, name: TopicName, payload: Buffer): void {
    switch (name) {
      case 'events': {
        const r = this.parse<EventBatch>('events', gatewayId, payload);
        if (r) this.enqueue({ kind: 'events', gateway_id: gatewayId, events: r.events }, r.events.length);
        return;
      }
      case 'telemetry': {
        const r = this.parse<TelemetryBatch>('telemetry', gatewayId, payload);
        if (r) this.enqueue({ kind: 'telemetry', gateway_id: gatewayId, batch: r }, r.points.length);
        return;
      }
      case 'status': {
        const r = this.parse<GatewayStatus>('status', gatewayId, payload);
        if (r) {
          this.background(
            'status',
            this.inOrder(gatewayId, () =>
              this.d.gateways.repo.applyStatus(gatewayId, r.state === 'online', r, r.ts),
            ),
          );
        }
        return;
      }
      case 'heartbeat': {
        const r = this.parse<Heartbeat>('heartbeat', gatewayId, payload);
        if (r) this.background('heartbeat', this.d.gateways.repo.heartbeat(gatewayId, r, r.last_seq));
        return;
      }
      case 'commandResult': {
        const r = this.parse<CommandResult>('commandResult', gatewayId, payload, false);
        if (r) this.background('cmd/result', this.d.commands.recordResult(gatewayId, r));
        return;
      }
      case 'configApplied': {
        const r = this.parse<ConfigApplied>('configApplied', gatewayId, payload, false);
        if (r) this.background('config/applied', this.d.gateways.repo.configApplied(gatewayId, r));
        return;
      }
      default:
        return; // cloud-side topics are never subscribed to
    }
  }

  private parse<T>(
    kind: keyof typeof parsers,
    gatewayId: string,
    payload: Buffer,
    hasGatewayId = true,
  ): T | null {
    const r = parsers[kind].parse(payload) as ParseResult<{ gateway_id?: string }>;
    if (!r.ok) {
      this.refuse(r.code, gatewayId, kind, { issues: r.issues.slice(0, 5) });
      return null;
    }
    if (hasGatewayId && r.value.gateway_id !== gatewayId) {
      this.refuse('E_GATEWAY_MISMATCH', gatewayId, kind, { payload_gateway_id: r.value.gateway_id });
      return null;
    }
    return r.value as T;
  }

  private refuse(
    code: IngestErrorCode,
    gatewayId: string,
    kind: string,
    fields: Record<string, unknown>,
  ): void {
    this.d.counters.inc('ingest', code);
    this.d.log.warn({ code, gateway_id: gatewayId, kind, ...fields }, 'gateway message refused');
  }

  private readonly pending = new Set<Promise<unknown>>();
  private readonly lanes = new Map<string, Promise<unknown>>();

  /** Runs one gateway's status writes one after the other, in arrival order. */
  private inOrder(gatewayId: string, fn: () => Promise<unknown>): Promise<unknown> {
    const prev = this.lanes.get(gatewayId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.lanes.set(gatewayId, next);
    void next.then(
      () => this.lanes.get(gatewayId) === next && this.lanes.delete(gatewayId),
      () => this.lanes.get(gatewayId) === next && this.lanes.delete(gatewayId),
    );
    return next;
  }

  private background(what: string, p: Promise<unknown>): void {
    const tracked = p.catch((err: unknown) => {
      this.d.counters.inc('ingest', 'E_STORE');
      this.d.log.error({ code: 'E_STORE', what, err }, 'could not store gateway message');
    });
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  private enqueue(item: Item, rows: number): void {
    if (this.stopped) return;
    this.queue.push(item);
    this.stats.queued_rows += rows;
    this.kick();
  }

  private kick(): void {
    if (this.flushing || this.retryTimer || this.queue.length === 0) return;
    this.flushing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.flushOnce())
      .finally(() => {
        this.flushing = null;
        this.kick();
      });
  }

  /** Waits until everything queued so far is written and acked (tests, shutdown). */
  async drain(): Promise<void> {
    await Promise.all([...this.pending]);
    while (this.flushing || (this.queue.length && !this.retryTimer)) {
      if (this.flushing) await this.flushing;
      else this.kick();
    }
  }

  async stop(): Promise<void> {
    await this.drain();
    await Promise.all([...this.pending]);
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private take(): Item[] {
    const out: Item[] = [];
    let rows = 0;
    while (this.queue.length) {
      const it = this.queue[0]!;
      const n = it.kind === 'events' ? it.events.length : it.batch.points.length;
      if (out.length && rows + n > this.d.maxRows) break;
      this.queue.shift();
      rows += n;
      out.push(it);
    }
    this.stats.queued_rows -= rows;
    return out;
  }

  private async flushOnce(): Promise<void> {
    const items = this.take();
    if (!items.length) return;
    try {
      await this.write(items);
    } catch (err) {
      if (items.length > 1) {
        // One bad batch must not hold up the others: write each on its own.
        this.d.log.warn({ err, items: items.length }, 'coalesced write failed; writing batches one by one');
        const failed: Item[] = [];
        for (const it of items) {
          try {
            await this.write([it]);
          } catch (e) {
            if (isDataError(e)) this.reject(it, e);
            else failed.push(it);
          }
        }
        if (failed.length) this.retryLater(failed, err);
      } else if (isDataError(err)) {
        this.reject(items[0]!, err);
      } else {
        this.retryLater(items, err);
      }
    }
  }

  private reject(it: Item, err: unknown): void {
    this.refuse('E_STORE_REJECTED', it.gateway_id, it.kind, { err: (err as Error).message });
  }

  private retryLater(items: Item[], err: unknown): void {
    this.d.counters.inc('ingest', 'E_STORE');
    this.d.log.error({ code: 'E_STORE', err, items: items.length }, 'database write failed; retrying in 1 s');
    this.queue.unshift(...items);
    for (const it of items)
      this.stats.queued_rows += it.kind === 'events' ? it.events.length : it.batch.points.length;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.kick();
    }, 1000);
    this.retryTimer.unref();
  }

  /** One transaction: events, telemetry, alarms, watermarks. Then acks. */
  private async write(items: Item[]): Promise<void> {
    const started = performance.now();
    const rows: QueuedEvent[] = [];
    const telemetry: Array<{ gateway_id: string; tseq: number; points: TelemetryBatch['points'] }> = [];
    const seqsByGw = new Map<string, number[]>();
    const tacksByGw = new Map<string, number[]>();
    for (const it of items) {
      if (it.kind === 'events') {
        let seqs = seqsByGw.get(it.gateway_id);
        if (!seqs) {
          seqs = [];
          seqsByGw.set(it.gateway_id, seqs);
        }
        for (const e of it.events) {
          rows.push({ gateway_id: it.gateway_id, event: e });
          seqs.push(e.seq);
        }
      } else {
        telemetry.push({ gateway_id: it.gateway_id, tseq: it.batch.tseq, points: it.batch.points });
        let t = tacksByGw.get(it.gateway_id);
        if (!t) {
          t = [];
          tacksByGw.set(it.gateway_id, t);
        }
        t.push(it.batch.tseq);
      }
    }
    // First message from a gateway since start: restore its watermark from the database.
    for (const gw of seqsByGw.keys()) {
      if (this.tracker.has(gw)) continue;
      const acked = await this.repo.ackedSeq(this.d.db, gw);
      this.tracker.load(gw, acked, await this.repo.seqsAbove(this.d.db, gw, acked));
    }

    const txStarted = performance.now();
    const { changes, inserted } = await this.d.db.transaction(async (tx) => {
      const inserted = await this.repo.insertEvents(tx, rows);
      // null: every row was new (the usual case); else the keys this transaction inserted
      const fresh = inserted < rows.length ? await this.sortDuplicates(tx, rows) : null;
      await this.repo.insertTelemetry(tx, telemetry);
      const signals = this.alarmSignals(rows, fresh);
      const changes: AlarmChange[] = signals.length ? await this.d.alarms.recordSignals(tx, signals) : [];
      const marks = [...seqsByGw].map(([gw, seqs]) => ({
        gateway_id: gw,
        acked: this.tracker.preview(gw, seqs),
        last_seq: Math.max(...seqs),
      }));
      await this.repo.updateWatermarks(tx, marks);
      return { changes, inserted };
    });

    this.stats.tx_ms += Math.round(performance.now() - txStarted);
    // Committed: now (and only now) the gateways may forget these events.
    for (const [gw, seqs] of seqsByGw) this.tracker.commit(gw, seqs);
    this.stats.flushes++;
    this.stats.events_committed += inserted;
    this.stats.events_duplicate += rows.length - inserted;
    this.d.alarms.publish(changes);

    // Acks go out without holding up the next flush; a lost one is superseded by the next.
    const now = Date.now();
    for (const gw of new Set([...seqsByGw.keys(), ...tacksByGw.keys()])) {
      const ack: Ack = { ack: this.tracker.acked(gw), ts: now };
      const sack = this.tracker.sack(gw);
      if (sack.length) ack.sack = sack;
      const tacks = tacksByGw.get(gw);
      if (tacks) ack.tacks = tacks.slice(0, 1000);
      this.stats.acks_sent++;
      this.d.publish(topic(gw, 'ack'), JSON.stringify(ack)).catch((err: unknown) => {
        this.d.log.warn({ gateway_id: gw, err }, 'could not publish ack');
      });
    }
    this.stats.flush_ms += Math.round(performance.now() - started);
  }

  /**
   * Some rows were not inserted: which ones did this transaction insert? The rest are
   * duplicates (acked again) or, with another event id under the same seq, a gateway that
   * reused a seq: counted as E_SEQ_CONFLICT and acked anyway, since resending cannot help.
   */
  private async sortDuplicates(tx: Queryable, rows: QueuedEvent[]): Promise<Set<string>> {
    const stored = await this.repo.storedIn(
      tx,
      rows.map((r) => ({ gateway_id: r.gateway_id, seq: r.event.seq })),
    );
    const fresh = new Set<string>();
    for (const r of rows) {
      const key = `${r.gateway_id}/${r.event.seq}`;
      const st = stored.get(key);
      if (st && st.event_id === r.event.event_id) {
        if (st.inserted) fresh.add(key);
        continue;
      }
      this.refuse('E_SEQ_CONFLICT', r.gateway_id, 'events', {
        seq: r.event.seq,
        event_id: r.event.event_id,
        stored_event_id: st?.event_id ?? null,
      });
    }
    return fresh;
  }

  /** Inserted alarm-class events, grouped by (gateway, partition). fresh null = all rows inserted. */
  private alarmSignals(rows: QueuedEvent[], fresh: Set<string> | null): AlarmSignal[] {
    const groups = new Map<string, AlarmSignal>();
    const seen = new Set<string>();
    for (const { gateway_id, event: e } of rows) {
      if (!isAlarmEvent(e.code, e.qualifier)) continue;
      const k = `${gateway_id}/${e.seq}`;
      if ((fresh && !fresh.has(k)) || seen.has(k)) continue;
      seen.add(k);
      const key = `${gateway_id}/${e.partition}`;
      const g = groups.get(key);
      if (!g) {
        groups.set(key, {
          gateway_id,
          partition: e.partition,
          seqs: [e.seq],
          priority: e.priority,
          event_class: classOf(e.code),
          code: e.code,
          zone: e.zone,
          text: e.text,
          first_ts: e.ts,
          last_ts: e.ts,
        });
        continue;
      }
      g.seqs.push(e.seq);
      g.first_ts = Math.min(g.first_ts, e.ts);
      g.last_ts = Math.max(g.last_ts, e.ts);
      if (e.priority < g.priority) {
        g.priority = e.priority;
        g.event_class = classOf(e.code);
        g.code = e.code;
        g.zone = e.zone;
        g.text = e.text;
      }
    }
    return [...groups.values()];
  }
}
