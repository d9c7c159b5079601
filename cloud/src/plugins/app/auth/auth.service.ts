import type { FastifyBaseLogger } from 'fastify';
import { AppError } from '../../../lib/errors.js';
import type { Db } from '../../external/db/db.types.js';
import type { AuditRepository } from '../audit/audit.repository.js';
import { hashSecret, randomToken, sha256, verifySecret } from './passwords.js';
import { type Principal, type Role, requireRole } from './roles.js';
import { UsersRepository } from './users.repository.js';

/** Error codes of the auth module. */
export const AuthErrors = {
  badCredentials: () => new AppError('E_BAD_CREDENTIALS', 401, 'wrong username or password'),
  unauthenticated: () => new AppError('E_UNAUTHENTICATED', 401, 'sign in first'),
  csrf: () => new AppError('E_CSRF', 403, 'missing or wrong x-csrf-token header'),
} as const;

export const SESSION_TTL_MS = 12 * 3600_000;

// Verified against when the username is unknown, so both failures take the same time.
let dummyHash: Promise<string> | null = null;

export class AuthService {
  readonly users: UsersRepository;

  constructor(
    private readonly db: Db,
    private readonly audit: AuditRepository,
    private readonly log: FastifyBaseLogger,
  ) {
    this.users = new UsersRepository(db);
  }

  /** Returns a new session token (for the cookie) and its CSRF token. */
  async login(
    username: string,
    password: string,
  ): Promise<{ user: Principal; token: string; csrf_token: string }> {
    const u = await this.users.byUsername(username);
    const ok = await verifySecret(u?.password_hash ?? (await this.dummyHash()), password);
    if (!u || !ok) {
      this.log.info({ code: 'E_BAD_CREDENTIALS', username }, 'login refused');
      throw AuthErrors.badCredentials();
    }
    const token = randomToken();
    const csrf = randomToken(18);
    await this.users.createSession(sha256(token), u.id, csrf, SESSION_TTL_MS);
    const { password_hash: _, ...user } = u;
    this.log.info({ username, user_id: u.id }, 'login');
    return { user, token, csrf_token: csrf };
  }

  private dummyHash(): Promise<string> {
    if (!dummyHash) dummyHash = hashSecret(randomToken());
    return dummyHash;
  }

  async logout(token: string): Promise<void> {
    await this.users.deleteSession(sha256(token));
  }

  session(token: string): Promise<{ user: Principal; csrf_token: string } | null> {
    return this.users.bySession(sha256(token));
  }

  bearer(token: string): Promise<Principal | null> {
    return this.users.byToken(sha256(token));
  }

  /** Creates or updates a staff user (admin only; `SYSTEM` for the CLI and demo seed). */
  async upsertUser(
    actor: Principal | null,
    u: { username: string; display_name: string; role: Role; password: string },
  ): Promise<number> {
    const who = requireRole(actor, 'admin');
    const hash = await hashSecret(u.password);
    return this.db.transaction(async (tx) => {
      const id = await new UsersRepository(tx).upsert({ ...u, password_hash: hash });
      await this.audit.append(tx, {
        actor: who.username,
        action: 'user.upsert',
        target_type: 'user',
        target_id: u.username,
        details: { role: u.role },
      });
      return id;
    });
  }

  /** Registers a Bearer token for a user; only its SHA-256 is stored. */
  async addToken(actor: Principal | null, userId: number, token: string, name: string): Promise<void> {
    requireRole(actor, 'admin');
    await this.users.addToken(sha256(token), userId, name);
  }
}
