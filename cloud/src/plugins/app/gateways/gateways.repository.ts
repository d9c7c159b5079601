import type { Queryable } from '../../external/db/db.types.js';
import { iso, num } from '../../external/db/db.types.js';

export interface GatewayRow {
  gateway_id: string;
  name: string;
  online: boolean;
  last_seen_at: string | null;
  last_seq: number;
  acked_seq: number;
  last_status: unknown;
}

function toRow(r: Record<string, unknown>): GatewayRow {
  return {
    gateway_id: String(r.id),
    name: String(r.name),
    online: Boolean(r.online),
    last_seen_at: iso(r.last_seen_at),
    last_seq: num(r.last_seq),
    acked_seq: num(r.acked_seq),
    last_status: r.last_status ?? null,
  };
}

export class GatewaysRepository {
  constructor(private readonly db: Queryable) {}

  /** false when the id is taken. */
  async insert(id: string, name: string, secretHash: string): Promise<boolean> {
    const r = await this.db.query(
      'INSERT INTO gateways (id, name, secret_hash) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING',
      [id, name, secretHash],
    );
    return r.rowCount === 1;
  }

  async secretHash(id: string): Promise<string | null> {
    const r = await this.db.query<{ secret_hash: string }>('SELECT secret_hash FROM gateways WHERE id = $1', [
      id,
    ]);
    return r.rows[0]?.secret_hash ?? null;
  }

  async list(): Promise<GatewayRow[]> {
    const r = await this.db.query(
      'SELECT id, name, online, last_seen_at, last_seq, acked_seq, last_status FROM gateways ORDER BY id',
    );
    return r.rows.map(toRow);
  }

  async get(id: string): Promise<GatewayRow | null> {
    const r = await this.db.query(
      'SELECT id, name, online, last_seen_at, last_seq, acked_seq, last_status FROM gateways WHERE id = $1',
      [id],
    );
    return r.rows[0] ? toRow(r.rows[0]) : null;
  }

  /**
   * Applies a status in arrival order. The will's ts is from connect time, older than the
   * online status sent after it, so ts cannot order them; the broker publishes an old
   * connection's will before it lets the new connection in, and ingest writes one
   * gateway's statuses one after the other.
   */
  async applyStatus(id: string, online: boolean, status: unknown, ts: number): Promise<boolean> {
    const r = await this.db.query(
      `UPDATE gateways SET online = $2, last_status = $3::jsonb, status_ts = $4, last_seen_at = now()
        WHERE id = $1`,
      [id, online, JSON.stringify(status), ts],
    );
    return r.rowCount === 1;
  }

  async heartbeat(id: string, heartbeat: unknown, lastSeq: number): Promise<void> {
    await this.db.query(
      `UPDATE gateways SET last_seen_at = now(), last_heartbeat = $2::jsonb, last_seq = GREATEST(last_seq, $3)
        WHERE id = $1`,
      [id, JSON.stringify(heartbeat), lastSeq],
    );
  }

  async configApplied(id: string, applied: unknown): Promise<void> {
    await this.db.query(
      'UPDATE gateways SET config_applied = $2::jsonb, last_seen_at = now() WHERE id = $1',
      [id, JSON.stringify(applied)],
    );
  }
}
