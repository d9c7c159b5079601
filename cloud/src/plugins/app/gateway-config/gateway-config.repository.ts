import type { Queryable } from '../../external/db/db.types.js';
import { iso, num } from '../../external/db/db.types.js';

export interface StoredConfig {
  gateway_id: string;
  version: number;
  config: unknown;
  created_by: string;
  created_at: string;
}

function toStored(r: Record<string, unknown>): StoredConfig {
  return {
    gateway_id: String(r.gateway_id),
    version: num(r.version),
    config: r.config,
    created_by: String(r.created_by),
    created_at: iso(r.created_at) ?? '',
  };
}

const COLS = 'gateway_id, version, config, created_by, created_at';

export class GatewayConfigRepository {
  constructor(private readonly db: Queryable) {}

  /** Locks the gateway row (versions are assigned one at a time); false when it does not exist. */
  async lockGateway(id: string): Promise<boolean> {
    const r = await this.db.query('SELECT id FROM gateways WHERE id = $1 FOR UPDATE', [id]);
    return r.rows.length === 1;
  }

  async nextVersion(id: string): Promise<number> {
    const r = await this.db.query<{ v: unknown }>(
      'SELECT COALESCE(MAX(version), 0) + 1 AS v FROM gateway_configs WHERE gateway_id = $1',
      [id],
    );
    return num(r.rows[0]?.v);
  }

  async insert(id: string, version: number, config: unknown, by: string): Promise<StoredConfig> {
    const r = await this.db.query(
      `INSERT INTO gateway_configs (gateway_id, version, config, created_by) VALUES ($1, $2, $3::jsonb, $4)
        RETURNING ${COLS}`,
      [id, version, JSON.stringify(config), by],
    );
    return toStored(r.rows[0]!);
  }

  async latest(id: string): Promise<StoredConfig | null> {
    const r = await this.db.query(
      `SELECT ${COLS} FROM gateway_configs WHERE gateway_id = $1 ORDER BY version DESC LIMIT 1`,
      [id],
    );
    return r.rows[0] ? toStored(r.rows[0]) : null;
  }

  /** The newest config of every gateway (re-published as retained at start-up). */
  async latestAll(): Promise<StoredConfig[]> {
    const r = await this.db.query(
      `SELECT DISTINCT ON (gateway_id) ${COLS} FROM gateway_configs ORDER BY gateway_id, version DESC`,
    );
    return r.rows.map(toStored);
  }

  /** The gateway's last ConfigApplied and the config_version of its last status. */
  async applied(id: string): Promise<{ applied: unknown; status: unknown } | null> {
    const r = await this.db.query<{ config_applied: unknown; last_status: unknown }>(
      'SELECT config_applied, last_status FROM gateways WHERE id = $1',
      [id],
    );
    const row = r.rows[0];
    return row ? { applied: row.config_applied ?? null, status: row.last_status ?? null } : null;
  }
}
