import type { Queryable } from '../../external/db/db.types.js';
import { num } from '../../external/db/db.types.js';
import type { Principal, Role } from './roles.js';

function toPrincipal(r: Record<string, unknown>): Principal {
  return {
    id: num(r.id),
    username: String(r.username),
    display_name: String(r.display_name),
    role: r.role as Role,
  };
}

const USER_COLS = 'u.id, u.username, u.display_name, u.role';

export class UsersRepository {
  constructor(private readonly db: Queryable) {}

  async byUsername(username: string): Promise<(Principal & { password_hash: string }) | null> {
    const r = await this.db.query<Record<string, unknown>>(
      `SELECT ${USER_COLS}, u.password_hash FROM users u WHERE u.username = $1 AND NOT u.disabled`,
      [username],
    );
    const row = r.rows[0];
    return row ? { ...toPrincipal(row), password_hash: String(row.password_hash) } : null;
  }

  /** Inserts or updates (role, name, password) a user; returns its id. */
  async upsert(u: {
    username: string;
    display_name: string;
    role: Role;
    password_hash: string;
  }): Promise<number> {
    const r = await this.db.query<{ id: unknown }>(
      `INSERT INTO users (username, display_name, role, password_hash) VALUES ($1, $2, $3, $4)
       ON CONFLICT (username) DO UPDATE SET display_name = EXCLUDED.display_name, role = EXCLUDED.role,
         password_hash = EXCLUDED.password_hash, disabled = false
       RETURNING id`,
      [u.username, u.display_name, u.role, u.password_hash],
    );
    return num(r.rows[0]!.id);
  }

  async createSession(tokenHash: string, userId: number, csrf: string, ttlMs: number): Promise<void> {
    await this.db.query(
      `INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at)
       VALUES ($1, $2, $3, now() + ($4::float8 * interval '1 millisecond'))`,
      [tokenHash, userId, csrf, ttlMs],
    );
  }

  async bySession(tokenHash: string): Promise<{ user: Principal; csrf_token: string } | null> {
    const r = await this.db.query<Record<string, unknown>>(
      `SELECT ${USER_COLS}, s.csrf_token FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT u.disabled`,
      [tokenHash],
    );
    const row = r.rows[0];
    return row ? { user: toPrincipal(row), csrf_token: String(row.csrf_token) } : null;
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.db.query('DELETE FROM sessions WHERE token_hash = $1 OR expires_at < now()', [tokenHash]);
  }

  async addToken(tokenHash: string, userId: number, name: string): Promise<void> {
    await this.db.query(
      `INSERT INTO api_tokens (token_hash, user_id, name) VALUES ($1, $2, $3)
       ON CONFLICT (token_hash) DO UPDATE SET user_id = EXCLUDED.user_id`,
      [tokenHash, userId, name],
    );
  }

  async byToken(tokenHash: string): Promise<Principal | null> {
    const r = await this.db.query<Record<string, unknown>>(
      `SELECT ${USER_COLS} FROM api_tokens t JOIN users u ON u.id = t.user_id
        WHERE t.token_hash = $1 AND NOT u.disabled`,
      [tokenHash],
    );
    return r.rows[0] ? toPrincipal(r.rows[0]) : null;
  }
}
