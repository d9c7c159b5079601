import type { GatewayEvent, TelemetryPoint } from '@mertah/protocol';
import type { Queryable } from '../../external/db/db.types.js';
import { iso, num, numOrNull } from '../../external/db/db.types.js';

export interface EventRow extends GatewayEvent {
  gateway_id: string;
  received_at: string;
  alarm_id: number | null;
}

export interface InsertedEvent {
  gateway_id: string;
  seq: number;
}

export interface QueuedEvent {
  gateway_id: string;
  event: GatewayEvent;
}

function toEvent(r: Record<string, unknown>): EventRow {
  const e: EventRow = {
    gateway_id: String(r.gateway_id),
    event_id: String(r.event_id),
    seq: num(r.seq),
    ts: num(r.ts),
    partition: num(r.partition),
    zone: numOrNull(r.zone),
    device: (r.device as string | null) ?? null,
    code: String(r.code),
    qualifier: r.qualifier as 'new' | 'restore',
    priority: num(r.priority),
    text: String(r.text),
    received_at: iso(r.received_at) ?? '',
    alarm_id: numOrNull(r.alarm_id),
  };
  if (r.data !== null && r.data !== undefined) e.data = r.data as Record<string, unknown>;
  return e;
}

/** SQL of the events, telemetry and per-gateway watermark tables. */
export class EventsRepository {
  /**
   * One multi-row insert for many gateways: the rows travel as one array per column and
   * come back out through unnest(), so the statement and its plan stay the same whatever
   * the batch size. Duplicates (same event_id or same seq) are skipped, not errors.
   * Returns how many rows were inserted (no RETURNING: see insertedIn for the rare case
   * where some were duplicates).
   */
  async insertEvents(tx: Queryable, rows: QueuedEvent[]): Promise<number> {
    if (rows.length === 0) return 0;
    const cols: unknown[][] = [[], [], [], [], [], [], [], [], [], [], [], []];
    for (const { gateway_id, event: e } of rows) {
      cols[0]!.push(gateway_id);
      cols[1]!.push(e.seq);
      cols[2]!.push(e.event_id);
      cols[3]!.push(e.ts);
      cols[4]!.push(e.partition);
      cols[5]!.push(e.zone);
      cols[6]!.push(e.device);
      cols[7]!.push(e.code);
      cols[8]!.push(e.qualifier);
      cols[9]!.push(e.priority);
      cols[10]!.push(e.text);
      cols[11]!.push(e.data === undefined ? null : JSON.stringify(e.data));
    }
    const r = await tx.query<Record<string, unknown>>(
      `INSERT INTO events (gateway_id, seq, event_id, ts, partition, zone, device, code, qualifier, priority, text, data)
       SELECT g, s, e::uuid, t, p, z, d, c, q, pr, tx, dt::jsonb
         FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::int[], $6::int[], $7::text[],
                     $8::text[], $9::text[], $10::int[], $11::text[], $12::text[])
           AS u(g, s, e, t, p, z, d, c, q, pr, tx, dt)
       ON CONFLICT DO NOTHING`,
      cols,
    );
    return r.rowCount;
  }

  /**
   * What is stored under these seqs, and whether this transaction inserted it (its xmin is
   * the current transaction). Only needed when a batch held duplicates.
   */
  async storedIn(
    tx: Queryable,
    keys: Array<{ gateway_id: string; seq: number }>,
  ): Promise<Map<string, { event_id: string; inserted: boolean }>> {
    const out = new Map<string, { event_id: string; inserted: boolean }>();
    if (keys.length === 0) return out;
    const r = await tx.query<Record<string, unknown>>(
      `SELECT e.gateway_id, e.seq, e.event_id::text AS event_id, (e.xmin = pg_current_xact_id()::xid) AS inserted
         FROM events e JOIN unnest($1::text[], $2::bigint[]) AS k(g, s) ON e.gateway_id = k.g AND e.seq = k.s`,
      [keys.map((k) => k.gateway_id), keys.map((k) => k.seq)],
    );
    for (const x of r.rows) {
      out.set(`${x.gateway_id}/${num(x.seq)}`, {
        event_id: String(x.event_id),
        inserted: Boolean(x.inserted),
      });
    }
    return out;
  }

  async insertTelemetry(
    tx: Queryable,
    batches: Array<{ gateway_id: string; tseq: number; points: TelemetryPoint[] }>,
  ): Promise<void> {
    const g: string[] = [];
    const t: number[] = [];
    const idx: number[] = [];
    const ts: number[] = [];
    const dev: string[] = [];
    const met: string[] = [];
    const val: number[] = [];
    for (const b of batches) {
      b.points.forEach((p, i) => {
        g.push(b.gateway_id);
        t.push(b.tseq);
        idx.push(i);
        ts.push(p.ts);
        dev.push(p.device);
        met.push(p.metric);
        val.push(p.value);
      });
    }
    if (g.length === 0) return;
    await tx.query(
      `INSERT INTO telemetry (gateway_id, tseq, idx, ts, device, metric, value)
       SELECT * FROM unnest($1::text[], $2::bigint[], $3::int[], $4::bigint[], $5::text[], $6::text[], $7::float8[])
       ON CONFLICT DO NOTHING`,
      [g, t, idx, ts, dev, met, val],
    );
  }

  /** Moves each gateway's stored watermark forward (never back). */
  async updateWatermarks(
    tx: Queryable,
    marks: Array<{ gateway_id: string; acked: number; last_seq: number }>,
  ): Promise<void> {
    if (marks.length === 0) return;
    await tx.query(
      `UPDATE gateways g SET acked_seq = GREATEST(g.acked_seq, v.a), last_seq = GREATEST(g.last_seq, v.l),
              last_seen_at = now()
         FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS v(id, a, l)
        WHERE g.id = v.id`,
      [marks.map((m) => m.gateway_id), marks.map((m) => m.acked), marks.map((m) => m.last_seq)],
    );
  }

  async ackedSeq(db: Queryable, gatewayId: string): Promise<number> {
    const r = await db.query<{ acked_seq: unknown }>('SELECT acked_seq FROM gateways WHERE id = $1', [
      gatewayId,
    ]);
    return num(r.rows[0]?.acked_seq);
  }

  async seqsAbove(db: Queryable, gatewayId: string, seq: number): Promise<number[]> {
    const r = await db.query<{ seq: unknown }>(
      'SELECT seq FROM events WHERE gateway_id = $1 AND seq > $2 ORDER BY seq LIMIT 100000',
      [gatewayId, seq],
    );
    return r.rows.map((x) => num(x.seq));
  }

  async list(
    db: Queryable,
    q: { gateway_id?: string; after_seq?: number; alarm_id?: number; limit: number },
  ): Promise<EventRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.gateway_id !== undefined) {
      params.push(q.gateway_id);
      where.push(`gateway_id = $${params.length}`);
    }
    if (q.after_seq !== undefined) {
      params.push(q.after_seq);
      where.push(`seq > $${params.length}`);
    }
    if (q.alarm_id !== undefined) {
      params.push(q.alarm_id);
      where.push(`alarm_id = $${params.length}`);
    }
    params.push(q.limit);
    // With after_seq the caller pages forward through one gateway; otherwise newest first.
    const order =
      q.after_seq !== undefined || q.alarm_id !== undefined ? 'gateway_id, seq' : 'received_at DESC, id DESC';
    const r = await db.query<Record<string, unknown>>(
      `SELECT gateway_id, seq, event_id::text AS event_id, ts, partition, zone, device, code, qualifier, priority,
              text, data, received_at, alarm_id
         FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY ${order} LIMIT $${params.length}`,
      params,
    );
    return r.rows.map(toEvent);
  }
}
