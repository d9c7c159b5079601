import type { Queryable } from '../../external/db/db.types.js';
import { iso } from '../../external/db/db.types.js';

export type CommandStatus = 'sent' | 'ok' | 'failed' | 'expired';

export interface CommandView {
  command_id: string;
  gateway_id: string;
  type: string;
  status: CommandStatus;
  result: unknown;
  issued_by: string;
  issued_at: string;
  expires_at: string;
}

function toView(r: Record<string, unknown>): CommandView {
  const expires = r.expires_at instanceof Date ? r.expires_at : new Date(String(r.expires_at));
  const status = r.status as CommandStatus;
  return {
    command_id: String(r.id),
    gateway_id: String(r.gateway_id),
    type: String(r.type),
    status: status === 'sent' && expires.getTime() < Date.now() ? 'expired' : status,
    result: r.result ?? null,
    issued_by: String(r.issued_by),
    issued_at: iso(r.issued_at) ?? '',
    expires_at: expires.toISOString(),
  };
}

export class CommandsRepository {
  async insert(
    db: Queryable,
    c: {
      id: string;
      gateway_id: string;
      type: string;
      body: unknown;
      issued_by: string;
      issued_at: number;
      expires_at: number;
    },
  ): Promise<void> {
    await db.query(
      `INSERT INTO commands (id, gateway_id, type, body, status, issued_by, issued_at, expires_at)
       VALUES ($1, $2, $3, $4::jsonb, 'sent', $5, to_timestamp($6::float8 / 1000), to_timestamp($7::float8 / 1000))`,
      [c.id, c.gateway_id, c.type, JSON.stringify(c.body), c.issued_by, c.issued_at, c.expires_at],
    );
  }

  /** Only the gateway the command went to can answer it, and only once. */
  async complete(
    db: Queryable,
    id: string,
    gatewayId: string,
    ok: boolean,
    result: unknown,
  ): Promise<boolean> {
    const r = await db.query(
      `UPDATE commands SET status = $3, result = $4::jsonb, completed_at = now()
        WHERE id = $1 AND gateway_id = $2 AND status = 'sent'`,
      [id, gatewayId, ok ? 'ok' : 'failed', JSON.stringify(result)],
    );
    return r.rowCount === 1;
  }

  async get(db: Queryable, id: string): Promise<CommandView | null> {
    const r = await db.query<Record<string, unknown>>('SELECT * FROM commands WHERE id = $1', [id]);
    return r.rows[0] ? toView(r.rows[0]) : null;
  }
}
