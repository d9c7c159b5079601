import { GATEWAY_ID_PATTERN } from '@mertah/protocol';
import type { FastifyBaseLogger } from 'fastify';
import { AppError } from '../../../lib/errors.js';
import type { Db } from '../../external/db/db.types.js';
import type { AuditRepository } from '../audit/audit.repository.js';
import { hashSecret, randomToken, sha256, verifySecret } from '../auth/passwords.js';
import { type Principal, requireRole } from '../auth/roles.js';
import { type GatewayRow, GatewaysRepository } from './gateways.repository.js';

/** Error codes of the gateways module. */
export const GatewayErrors = {
  exists: (id: string) => new AppError('E_EXISTS', 409, `gateway ${id} already exists`),
  notFound: (id: string) => new AppError('E_NOT_FOUND', 404, `no gateway ${id}`),
  badId: () => new AppError('E_VALIDATION', 400, `gateway_id must match ${GATEWAY_ID_PATTERN}`),
} as const;

const idRe = new RegExp(GATEWAY_ID_PATTERN);

export class GatewaysService {
  readonly repo: GatewaysRepository;
  /** gateway id -> sha256 of the last secret argon2 accepted: reconnect storms cost no argon2. */
  private readonly verified = new Map<string, string>();

  constructor(
    private readonly db: Db,
    private readonly audit: AuditRepository,
    private readonly log: FastifyBaseLogger,
  ) {
    this.repo = new GatewaysRepository(db);
  }

  /** Creates a gateway and returns its secret; only the argon2 hash is stored. */
  async provision(
    actor: Principal | null,
    gatewayId: string,
    name = '',
  ): Promise<{ gateway_id: string; secret: string }> {
    const who = requireRole(actor, 'admin');
    if (!idRe.test(gatewayId)) throw GatewayErrors.badId();
    const secret = randomToken(24);
    const hash = await hashSecret(secret);
    const created = await this.db.transaction(async (tx) => {
      const ok = await new GatewaysRepository(tx).insert(gatewayId, name, hash);
      if (ok) {
        await this.audit.append(tx, {
          actor: who.username,
          action: 'gateway.provision',
          target_type: 'gateway',
          target_id: gatewayId,
          details: { name },
        });
      }
      return ok;
    });
    if (!created) throw GatewayErrors.exists(gatewayId);
    this.verified.delete(gatewayId);
    this.log.info({ gateway_id: gatewayId, by: who.username }, 'gateway provisioned');
    return { gateway_id: gatewayId, secret };
  }

  /** MQTT credentials: true when the secret matches the stored argon2 hash. */
  async checkSecret(gatewayId: string, secret: string): Promise<boolean> {
    const fingerprint = sha256(`${gatewayId}\0${secret}`);
    if (this.verified.get(gatewayId) === fingerprint) return true;
    const hash = await this.repo.secretHash(gatewayId);
    if (!hash) return false;
    const ok = await verifySecret(hash, secret);
    if (ok) this.verified.set(gatewayId, fingerprint);
    return ok;
  }

  async list(actor: Principal | null): Promise<GatewayRow[]> {
    requireRole(actor, 'operator');
    return this.repo.list();
  }

  async get(actor: Principal | null, id: string): Promise<GatewayRow> {
    requireRole(actor, 'operator');
    const g = await this.repo.get(id);
    if (!g) throw GatewayErrors.notFound(id);
    return g;
  }
}
