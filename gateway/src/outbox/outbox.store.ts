import { randomUUID } from 'node:crypto';
import { accessSync, constants as fsConstants, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { GatewayEvent, TelemetryBatch, TelemetryPoint } from '@mertah/protocol';
import { CID } from '@mertah/protocol';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { EventDraft } from '../alarm/alarm.types.js';

export type OutboxErrorCode =
  | 'E_OUTBOX_OPEN'
  | 'E_OUTBOX_FULL'
  | 'E_OUTBOX_READONLY'
  | 'E_OUTBOX_IO'
  | 'E_OUTBOX_BUSY'
  | 'E_OUTBOX_WRITE'
  | 'E_OUTBOX_CLOSED';

export class OutboxError extends Error {
  constructor(
    readonly code: OutboxErrorCode,
    message: string,
    readonly sqliteCode?: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'OutboxError';
  }
}

export interface OutboxOptions {
  dir: string;
  gatewayId: string;
  /** Bound on stored events + telemetry points; telemetry is shed first, events never. */
  maxRecords: number;
  logger: Logger;
  file?: string;
  /** Called after every commit and every ack, to wake the uplink. */
  onChange?: (counts: OutboxCounts) => void;
  now?: () => number;
}

export interface OutboxCounts {
  events: number;
  telemetry: number;
  last_seq: number;
  last_tseq: number;
}

/** Priority of the 624 "event log overflow" event, fixed by docs/contracts.md. */
export const SHED_EVENT_PRIORITY = 5;

type Pending =
  | {
      kind: 'events';
      drafts: EventDraft[];
      state: unknown;
      resolve: (events: GatewayEvent[]) => void;
      reject: (err: Error) => void;
    }
  | { kind: 'telemetry'; points: TelemetryPoint[]; resolve: () => void; reject: (err: Error) => void };

const STATE_KEY = 'alarm_state';

/**
 * Durable store-and-forward in one SQLite file (WAL, synchronous=FULL) that also holds the
 * alarm state, so an event, the state it came from and the seq counter commit together.
 * Every enqueue made within one tick of the event loop is written in a single transaction
 * (group commit); each returned promise resolves only once that transaction is durable.
 */
export class Outbox {
  private db: Database.Database | null = null;
  private readonly log: Logger;
  private pending: Pending[] = [];
  private scheduled = false;
  private flushing: Promise<void> | null = null;
  private lastSeq = 0;
  private lastTseq = 0;
  private eventCount = 0;
  private telemetryCount = 0;
  private readonly now: () => number;
  private stmts!: ReturnType<Outbox['prepare']>;
  /** Transactions committed / failed by group commit. */
  readonly stats = { commits: 0, failed_commits: 0 };
  private failing: OutboxErrorCode | null = null;

  constructor(private readonly opts: OutboxOptions) {
    this.log = opts.logger.child({ component: 'outbox' });
    this.now = opts.now ?? Date.now;
  }

  get path(): string {
    return join(this.opts.dir, this.opts.file ?? 'gateway.db');
  }

  /** The underlying connection, for diagnostics and fault-injection tests. */
  get sqlite(): Database.Database {
    if (!this.db) throw new OutboxError('E_OUTBOX_CLOSED', 'outbox is not open');
    return this.db;
  }

  open(): void {
    try {
      mkdirSync(this.opts.dir, { recursive: true });
      const db = new Database(this.path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        -- seq is the key; the event_id (a random UUID) lives in the body: an index on it would
        -- halve the write rate and guard nothing (the cloud dedupes on both).
        CREATE TABLE IF NOT EXISTS events (
          seq INTEGER PRIMARY KEY,
          priority INTEGER NOT NULL,
          body TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS events_lane ON events (priority, seq);
        CREATE TABLE IF NOT EXISTS telemetry (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          ts INTEGER NOT NULL,
          device TEXT NOT NULL,
          metric TEXT NOT NULL,
          value REAL NOT NULL,
          tseq INTEGER
        );
        CREATE INDEX IF NOT EXISTS telemetry_tseq ON telemetry (tseq) WHERE tseq IS NOT NULL;
      `);
      this.db = db;
      // A write probe: a read-only or full filesystem fails here, at start, not at the first alarm.
      db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(
        'opened_at',
        String(this.now()),
      );
      this.stmts = this.prepare(db);
      this.lastSeq = Number(this.stmts.getMeta.get('last_seq') ?? 0);
      this.lastTseq = Number(this.stmts.getMeta.get('last_tseq') ?? 0);
      this.eventCount = Number(db.prepare('SELECT count(*) FROM events').pluck().get());
      this.telemetryCount = Number(db.prepare('SELECT count(*) FROM telemetry').pluck().get());
      this.log.info({ path: this.path, ...this.counts() }, 'outbox open');
    } catch (err) {
      this.db?.close();
      this.db = null;
      if (err instanceof OutboxError) throw err;
      const e = err as Error & { code?: string };
      // Storage faults keep their own codes (main exits 74 so systemd retries); the rest is E_OUTBOX_OPEN.
      const ro =
        e.code === 'EROFS' ||
        (/^(ENOENT|SQLITE_CANTOPEN)/.test(e.code ?? '') && isReadOnlyDir(this.opts.dir));
      if (ro) throw new OutboxError('E_OUTBOX_READONLY', `${this.path}: read-only filesystem`, e.code);
      const k = classify(err);
      if (k.code !== 'E_OUTBOX_WRITE') throw new OutboxError(k.code, `${this.path}: ${e.message}`, e.code);
      throw new OutboxError('E_OUTBOX_OPEN', `${this.path}: ${e.message}`, e.code);
    }
  }

  /** Commits what is pending, then closes. */
  async close(): Promise<void> {
    await this.flush();
    this.db?.close();
    this.db = null;
  }

  counts(): OutboxCounts {
    return {
      events: this.eventCount,
      telemetry: this.telemetryCount,
      last_seq: this.lastSeq,
      last_tseq: this.lastTseq,
    };
  }

  loadState<T>(): T | null {
    const v = this.stmts.getMeta.get(STATE_KEY);
    return typeof v === 'string' ? (JSON.parse(v) as T) : null;
  }

  /**
   * Stores events (seq and event_id assigned here) and, when given, the alarm state they came
   * from, in the transaction of the current tick. Resolves with the stored events once durable.
   */
  enqueue(drafts: EventDraft[], state?: unknown): Promise<GatewayEvent[]> {
    return new Promise((resolve, reject) => {
      this.pending.push({ kind: 'events', drafts, state, resolve, reject });
      this.schedule();
    });
  }

  enqueueTelemetry(points: TelemetryPoint[]): Promise<void> {
    if (points.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.pending.push({ kind: 'telemetry', points, resolve, reject });
      this.schedule();
    });
  }

  /** Waits until everything enqueued so far is committed (or failed). */
  async flush(): Promise<void> {
    while (this.pending.length > 0 || this.flushing) {
      if (this.flushing) await this.flushing;
      else this.commitPending();
    }
  }

  /**
   * Unsent events, most urgent first (priority ASC), then by seq; `exclude` holds the seqs
   * already in flight.
   */
  nextBatch(limit: number, exclude: ReadonlySet<number> = new Set()): GatewayEvent[] {
    const out: GatewayEvent[] = [];
    if (!this.db || limit <= 0) return out;
    for (const row of this.stmts.lane.iterate() as Iterable<{ seq: number; body: string }>) {
      if (exclude.has(row.seq)) continue;
      out.push(JSON.parse(row.body) as GatewayEvent);
      if (out.length >= limit) break;
    }
    return out;
  }

  /**
   * The oldest telemetry batch not in `exclude`: an already numbered one first (a resend),
   * otherwise the oldest unnumbered points get the next tseq.
   */
  nextTelemetryBatch(maxPoints: number, exclude: ReadonlySet<number> = new Set()): TelemetryBatch | null {
    if (!this.db) return null;
    try {
      const numbered = this.stmts.tseqs.all() as number[];
      let tseq = numbered.find((t) => !exclude.has(t));
      if (tseq === undefined) {
        const next = this.lastTseq + 1;
        const changed = this.db.transaction(() => {
          const n = this.stmts.numberBatch.run(next, maxPoints).changes;
          if (n > 0) this.stmts.setMeta.run('last_tseq', String(next));
          return n;
        })();
        if (changed === 0) return null;
        this.lastTseq = next;
        tseq = next;
      }
      const points = (this.stmts.batchPoints.all(tseq) as TelemetryPoint[]).map((p) => ({
        ts: p.ts,
        device: p.device,
        metric: p.metric,
        value: p.value,
      }));
      if (points.length === 0) return null;
      return { gateway_id: this.opts.gatewayId, tseq, points };
    } catch (err) {
      this.log.error({ err, code: classify(err).code }, 'could not form a telemetry batch');
      return null;
    }
  }

  /** Deletes what a cloud Ack covers. Returns how many rows went. */
  ack(ack: number, sack: ReadonlyArray<readonly [number, number]> = [], tacks: readonly number[] = []) {
    if (!this.db) return { events: 0, telemetry: 0 };
    try {
      const r = this.db.transaction(() => {
        let events = this.stmts.ackUpTo.run(ack).changes;
        for (const [a, b] of sack) if (b >= a) events += this.stmts.ackRange.run(a, b).changes;
        let telemetry = 0;
        for (const t of tacks) telemetry += this.stmts.ackTseq.run(t).changes;
        return { events, telemetry };
      })();
      this.eventCount -= r.events;
      this.telemetryCount -= r.telemetry;
      if (r.events || r.telemetry) this.opts.onChange?.(this.counts());
      return r;
    } catch (err) {
      const e = classify(err);
      this.log.error({ err, code: e.code }, 'could not apply ack; the cloud will ack again');
      return { events: 0, telemetry: 0 };
    }
  }

  // -------------------------------------------------------------------------------------

  private prepare(db: Database.Database) {
    return {
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
      setMeta: db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
      insertEvent: db.prepare('INSERT INTO events (seq, priority, body) VALUES (?, ?, ?)'),
      insertEvents: db.prepare(
        `INSERT INTO events (seq, priority, body) VALUES ${Array(MULTI_ROW).fill('(?, ?, ?)').join(', ')}`,
      ),
      insertPoint: db.prepare('INSERT INTO telemetry (ts, device, metric, value) VALUES (?, ?, ?, ?)'),
      lane: db.prepare('SELECT seq, body FROM events ORDER BY priority, seq'),
      tseqs: db.prepare('SELECT DISTINCT tseq FROM telemetry WHERE tseq IS NOT NULL ORDER BY tseq').pluck(),
      numberBatch: db.prepare(
        'UPDATE telemetry SET tseq = ? WHERE id IN (SELECT id FROM telemetry WHERE tseq IS NULL ORDER BY id LIMIT ?)',
      ),
      batchPoints: db.prepare('SELECT ts, device, metric, value FROM telemetry WHERE tseq = ? ORDER BY id'),
      oldestRange: db.prepare(
        'SELECT count(*) AS n, min(ts) AS from_ts, max(ts) AS to_ts FROM (SELECT ts FROM telemetry ORDER BY id LIMIT ?)',
      ),
      shedOldest: db.prepare(
        'DELETE FROM telemetry WHERE id IN (SELECT id FROM telemetry ORDER BY id LIMIT ?)',
      ),
      ackUpTo: db.prepare('DELETE FROM events WHERE seq <= ?'),
      ackRange: db.prepare('DELETE FROM events WHERE seq BETWEEN ? AND ?'),
      ackTseq: db.prepare('DELETE FROM telemetry WHERE tseq = ?'),
    };
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.flushing) this.commitPending();
    });
  }

  private commitPending(): void {
    const items = this.pending.splice(0);
    if (items.length === 0) return;
    let done!: () => void;
    this.flushing = new Promise<void>((r) => {
      done = r;
    });
    try {
      if (!this.db) throw new OutboxError('E_OUTBOX_CLOSED', 'outbox is not open');
      const r = this.db.transaction(() => this.write(items))();
      this.stats.commits++;
      if (this.failing) {
        this.log.info({ code: this.failing }, 'outbox commits again');
        this.failing = null;
      }
      this.lastSeq = r.lastSeq;
      this.eventCount = r.eventCount;
      this.telemetryCount = r.telemetryCount;
      for (const [i, item] of items.entries()) {
        if (item.kind === 'events') item.resolve(r.stored[i] ?? []);
        else item.resolve();
      }
      this.opts.onChange?.(this.counts());
    } catch (err) {
      const e = classify(err);
      this.stats.failed_commits++;
      // The first failure of a kind is an error (a storage fault: fatal, the journal's "critical");
      // repeats (callers retry) stay quiet until it recovers.
      const repeat = this.failing === e.code;
      this.failing = e.code;
      const storage =
        e.code === 'E_OUTBOX_FULL' || e.code === 'E_OUTBOX_READONLY' || e.code === 'E_OUTBOX_IO';
      this.log[repeat ? 'debug' : storage ? 'fatal' : 'error'](
        { code: e.code, sqlite_code: e.sqliteCode, items: items.length, err: (err as Error).message },
        'outbox commit failed; nothing of this group was stored',
      );
      for (const item of items) item.reject(e);
    } finally {
      this.flushing = null;
      done();
      if (this.pending.length > 0) this.schedule();
    }
  }

  /** The body of one group-commit transaction. Counters change in memory only after commit. */
  private write(items: Pending[]) {
    const s = this.stmts;
    let seq = this.lastSeq;
    let eventCount = this.eventCount;
    let telemetryCount = this.telemetryCount;
    const stored: GatewayEvent[][] = [];
    const rows: GatewayEvent[] = [];
    let state: unknown;
    let newEvents = 0;
    let newPoints = 0;
    for (const item of items) {
      if (item.kind === 'events') newEvents += item.drafts.length;
      else newPoints += item.points.length;
    }
    // Bound the outbox: shed the oldest stored telemetry, then incoming telemetry; never events.
    let shed = { n: 0, from_ts: Number.POSITIVE_INFINITY, to_ts: Number.NEGATIVE_INFINITY };
    let dropIncoming = 0;
    const over = eventCount + telemetryCount + newEvents + newPoints - this.opts.maxRecords;
    if (over > 0) {
      const headroom = Math.max(1, Math.floor(this.opts.maxRecords / 100));
      const want = over + 1 + headroom; // +1 for the 624 event itself
      const fromStored = Math.min(want, telemetryCount);
      if (fromStored > 0) {
        const range = s.oldestRange.get(fromStored) as { n: number; from_ts: number; to_ts: number };
        s.shedOldest.run(fromStored);
        telemetryCount -= fromStored;
        shed = { n: range.n, from_ts: range.from_ts, to_ts: range.to_ts };
      }
      const still = over + 1 - fromStored;
      dropIncoming = Math.max(0, Math.min(still, newPoints));
    }
    for (const [i, item] of items.entries()) {
      if (item.kind === 'telemetry') {
        for (const p of item.points) {
          if (dropIncoming > 0) {
            dropIncoming--;
            shed.n++;
            shed.from_ts = Math.min(shed.from_ts, p.ts);
            shed.to_ts = Math.max(shed.to_ts, p.ts);
            continue;
          }
          s.insertPoint.run(p.ts, p.device, p.metric, p.value);
          telemetryCount++;
        }
        continue;
      }
      const out: GatewayEvent[] = [];
      for (const d of item.drafts) out.push(toEvent(++seq, d));
      rows.push(...out);
      eventCount += item.drafts.length;
      stored[i] = out;
      if (item.state !== undefined) state = item.state;
    }
    if (shed.n > 0) {
      rows.push(
        toEvent(++seq, {
          ts: this.now(),
          code: CID.EVENT_LOG_OVERFLOW,
          qualifier: 'new',
          partition: 1,
          zone: null,
          device: null,
          priority: SHED_EVENT_PRIORITY,
          text: `Event log overflow: ${shed.n} telemetry points shed`,
          data: { shed_points: shed.n, from_ts: shed.from_ts, to_ts: shed.to_ts },
        }),
      );
      eventCount++;
      this.log.warn({ code: 'E_OUTBOX_SHED', shed_points: shed.n }, 'outbox full: telemetry shed');
    }
    if (eventCount + telemetryCount > this.opts.maxRecords) {
      this.log.warn(
        { code: 'E_OUTBOX_OVER_CAPACITY', events: eventCount, max_records: this.opts.maxRecords },
        'outbox holds more events than max_records; events are never shed',
      );
    }
    this.insertRows(rows);
    if (seq !== this.lastSeq) s.setMeta.run('last_seq', String(seq));
    if (state !== undefined) s.setMeta.run(STATE_KEY, JSON.stringify(state));
    return { stored, lastSeq: seq, eventCount, telemetryCount };
  }

  /** Inserts rows MULTI_ROW at a time (one statement for many rows is ~30% cheaper per event). */
  private insertRows(rows: GatewayEvent[]): void {
    let i = 0;
    if (rows.length >= MULTI_ROW) {
      const args: Array<number | string> = new Array(MULTI_ROW * 3);
      for (; i + MULTI_ROW <= rows.length; i += MULTI_ROW) {
        for (let k = 0; k < MULTI_ROW; k++) {
          const e = rows[i + k]!;
          args[k * 3] = e.seq;
          args[k * 3 + 1] = e.priority;
          args[k * 3 + 2] = JSON.stringify(e);
        }
        this.stmts.insertEvents.run(args);
      }
    }
    for (; i < rows.length; i++) {
      const e = rows[i]!;
      this.stmts.insertEvent.run(e.seq, e.priority, JSON.stringify(e));
    }
  }
}

const MULTI_ROW = 64;

function toEvent(seq: number, d: EventDraft): GatewayEvent {
  const ev: GatewayEvent = {
    event_id: randomUUID(),
    seq,
    ts: d.ts,
    partition: d.partition,
    zone: d.zone,
    device: d.device,
    code: d.code,
    qualifier: d.qualifier,
    priority: d.priority,
    text: d.text,
  };
  if (d.data) ev.data = d.data;
  return ev;
}

/**
 * True when the directory, or its nearest existing ancestor, sits on a read-only mount
 * (access(2) says EROFS even for root; a recursive mkdir there says ENOENT).
 */
function isReadOnlyDir(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    try {
      accessSync(d, fsConstants.W_OK);
      return false;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EROFS') return true;
      if (code !== 'ENOENT' || dirname(d) === d) return false;
    }
  }
}

/** Maps a SQLite failure to the outbox's error codes. */
export function classify(err: unknown): OutboxError {
  if (err instanceof OutboxError) return err;
  const e = err as Error & { code?: string };
  const c = e?.code ?? '';
  const msg = e?.message ?? String(err);
  if (c === 'SQLITE_FULL') return new OutboxError('E_OUTBOX_FULL', `disk or database full: ${msg}`, c);
  if (c.startsWith('SQLITE_READONLY')) return new OutboxError('E_OUTBOX_READONLY', `read-only: ${msg}`, c);
  if (c.startsWith('SQLITE_IOERR') || c === 'SQLITE_CORRUPT') return new OutboxError('E_OUTBOX_IO', msg, c);
  if (c.startsWith('SQLITE_BUSY') || c.startsWith('SQLITE_LOCKED')) {
    return new OutboxError('E_OUTBOX_BUSY', msg, c);
  }
  return new OutboxError('E_OUTBOX_WRITE', msg, c || undefined);
}
