import type { Alarm, AlarmStatus, EventClass } from '@mertah/protocol';
import type { Queryable } from '../../external/db/db.types.js';
import { iso, num, numOrNull } from '../../external/db/db.types.js';

export type { Alarm, AlarmStatus, Disposition } from '@mertah/protocol';
export { DISPOSITIONS } from '@mertah/protocol';

export function toAlarm(r: Record<string, unknown>): Alarm {
  return {
    id: num(r.id),
    gateway_id: String(r.gateway_id),
    partition: num(r.partition),
    status: r.status as AlarmStatus,
    priority: num(r.priority),
    event_class: String(r.event_class),
    code: String(r.code),
    zone: numOrNull(r.zone),
    text: String(r.text),
    event_count: num(r.event_count),
    first_event_at: iso(r.first_event_at) ?? '',
    last_event_at: iso(r.last_event_at) ?? '',
    opened_at: iso(r.opened_at) ?? '',
    claimed_by: (r.claimed_by as string | null) ?? null,
    claimed_at: iso(r.claimed_at),
    closed_by: (r.closed_by as string | null) ?? null,
    closed_at: iso(r.closed_at),
    disposition: (r.disposition as string | null) ?? null,
    notes: (r.notes as string | null) ?? null,
  };
}

/** The signals of one (gateway, partition) in one flush, folded into one alarm update. */
export interface AlarmSignal {
  gateway_id: string;
  partition: number;
  /** seqs of the gateway's events that are part of the signal */
  seqs: number[];
  priority: number;
  event_class: EventClass;
  code: string;
  zone: number | null;
  text: string;
  first_ts: number;
  last_ts: number;
}

export class AlarmsRepository {
  /**
   * Opens the alarm of (gateway, partition) or joins the one still open or claimed, links
   * the events to it and records the change: one statement, so the partial unique index
   * alarms_one_active settles any race. The most urgent signal (lowest priority number)
   * names the alarm.
   */
  async openOrJoin(tx: Queryable, s: AlarmSignal): Promise<{ change_id: number; alarm: Alarm }> {
    const r = await tx.query<Record<string, unknown>>(
      `WITH a AS (
       INSERT INTO alarms (gateway_id, partition, status, priority, event_class, code, zone, text, event_count,
                           first_event_at, last_event_at)
       VALUES ($1, $2, 'open', $3, $4, $5, $6, $7, $8, to_timestamp($9::float8 / 1000), to_timestamp($10::float8 / 1000))
       ON CONFLICT (gateway_id, partition) WHERE status <> 'closed' DO UPDATE SET
         event_count = alarms.event_count + EXCLUDED.event_count,
         first_event_at = LEAST(alarms.first_event_at, EXCLUDED.first_event_at),
         last_event_at = GREATEST(alarms.last_event_at, EXCLUDED.last_event_at),
         event_class = CASE WHEN EXCLUDED.priority < alarms.priority THEN EXCLUDED.event_class ELSE alarms.event_class END,
         code = CASE WHEN EXCLUDED.priority < alarms.priority THEN EXCLUDED.code ELSE alarms.code END,
         zone = CASE WHEN EXCLUDED.priority < alarms.priority THEN EXCLUDED.zone ELSE alarms.zone END,
         text = CASE WHEN EXCLUDED.priority < alarms.priority THEN EXCLUDED.text ELSE alarms.text END,
         priority = LEAST(alarms.priority, EXCLUDED.priority)
       RETURNING *),
       linked AS (
         UPDATE events SET alarm_id = (SELECT id FROM a) WHERE gateway_id = $1 AND seq = ANY($11::bigint[])
       ),
       change AS (
         INSERT INTO alarm_changes (alarm_id, snapshot) SELECT id, to_jsonb(a) FROM a RETURNING id
       )
       SELECT a.*, change.id AS change_id FROM a, change`,
      [
        s.gateway_id,
        s.partition,
        s.priority,
        s.event_class,
        s.code,
        s.zone,
        s.text,
        s.seqs.length,
        s.first_ts,
        s.last_ts,
        s.seqs,
      ],
    );
    const row = r.rows[0]!;
    return { change_id: num(row.change_id), alarm: toAlarm(row) };
  }

  /** Records a change; its id orders the SSE stream. */
  async recordChange(tx: Queryable, alarm: Alarm): Promise<number> {
    const r = await tx.query<{ id: unknown }>(
      'INSERT INTO alarm_changes (alarm_id, snapshot) VALUES ($1, $2::jsonb) RETURNING id',
      [alarm.id, JSON.stringify(alarm)],
    );
    return num(r.rows[0]!.id);
  }

  /** Exclusive: only an open alarm can be claimed, and only once. */
  async claim(tx: Queryable, id: number, username: string): Promise<Alarm | null> {
    const r = await tx.query<Record<string, unknown>>(
      `UPDATE alarms SET status = 'claimed', claimed_by = $2, claimed_at = now()
        WHERE id = $1 AND status = 'open' RETURNING *`,
      [id, username],
    );
    return r.rows[0] ? toAlarm(r.rows[0]) : null;
  }

  /** Closes an alarm that is not closed; with onlyClaimedBy, only if open or claimed by that user. */
  async close(
    tx: Queryable,
    id: number,
    username: string,
    disposition: string,
    notes: string | null,
    onlyClaimedBy: string | null,
  ): Promise<Alarm | null> {
    const r = await tx.query<Record<string, unknown>>(
      `UPDATE alarms SET status = 'closed', closed_by = $2, closed_at = now(), disposition = $3, notes = $4
        WHERE id = $1 AND status <> 'closed'
          AND ($5::text IS NULL OR status = 'open' OR claimed_by = $5)
        RETURNING *`,
      [id, username, disposition, notes, onlyClaimedBy],
    );
    return r.rows[0] ? toAlarm(r.rows[0]) : null;
  }

  async get(db: Queryable, id: number): Promise<Alarm | null> {
    const r = await db.query<Record<string, unknown>>('SELECT * FROM alarms WHERE id = $1', [id]);
    return r.rows[0] ? toAlarm(r.rows[0]) : null;
  }

  async list(db: Queryable, status: 'open' | 'closed' | 'all', limit: number): Promise<Alarm[]> {
    const where =
      status === 'open' ? "WHERE status <> 'closed'" : status === 'closed' ? "WHERE status = 'closed'" : '';
    const r = await db.query<Record<string, unknown>>(
      `SELECT * FROM alarms ${where}
        ORDER BY (status = 'closed'), CASE WHEN status = 'closed' THEN NULL ELSE priority END, 
                 CASE WHEN status = 'closed' THEN closed_at END DESC, opened_at, id
        LIMIT $1`,
      [limit],
    );
    return r.rows.map(toAlarm);
  }

  async changesAfter(
    db: Queryable,
    changeId: number,
    limit = 10_000,
  ): Promise<Array<{ change_id: number; alarm: Alarm }>> {
    const r = await db.query<{ id: unknown; snapshot: Alarm }>(
      'SELECT id, snapshot FROM alarm_changes WHERE id > $1 ORDER BY id LIMIT $2',
      [changeId, limit],
    );
    return r.rows.map((x) => ({
      change_id: num(x.id),
      alarm: toAlarm(x.snapshot as unknown as Record<string, unknown>),
    }));
  }

  async lastChangeId(db: Queryable): Promise<number> {
    const r = await db.query<{ id: unknown }>('SELECT COALESCE(MAX(id), 0) AS id FROM alarm_changes');
    return num(r.rows[0]?.id);
  }
}
