import { type ConfigApplied, type DesiredConfig, PremisesConfig, stableJson, topic } from '@mertah/protocol';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import type { FastifyBaseLogger } from 'fastify';
import { AppError } from '../../../lib/errors.js';
import type { Db } from '../../external/db/db.types.js';
import type { AuditRepository } from '../audit/audit.repository.js';
import { type Principal, requireRole } from '../auth/roles.js';
import { GatewayConfigRepository, type StoredConfig } from './gateway-config.repository.js';

const check = TypeCompiler.Compile(PremisesConfig);

/** Error codes of the gateway-config module. */
export const GatewayConfigErrors = {
  noGateway: (id: string) => new AppError('E_NOT_FOUND', 404, `no gateway ${id}`),
  noConfig: (id: string) => new AppError('E_NOT_FOUND', 404, `gateway ${id} has no cloud config yet`),
  invalid: (issues: Array<{ path: string; message: string }>) =>
    new AppError('E_VALIDATION', 400, issues.map((i) => `${i.path} ${i.message}`).join('; ')),
} as const;

export interface ConfigView {
  gateway_id: string;
  desired: { version: number; config: unknown; created_by: string; created_at: string } | null;
  applied_version: number | null;
  applied: ConfigApplied | null;
}

export type PublishRetained = (topic: string, payload: string) => Promise<void>;

/**
 * Cloud-managed premises configs: PUT stores a new version (assigned here, increasing per
 * gateway; audited) and publishes it retained on config/desired, QoS 1. The broker keeps
 * retained messages in memory, so start-up re-publishes each gateway's newest one.
 */
export class GatewayConfigService {
  private readonly repo: GatewayConfigRepository;

  constructor(
    private readonly db: Db,
    private readonly audit: AuditRepository,
    private readonly publish: PublishRetained,
    private readonly log: FastifyBaseLogger,
  ) {
    this.repo = new GatewayConfigRepository(db);
  }

  /** Validates with the protocol schema (every error), stores, audits and publishes. */
  async put(actor: Principal | null, gatewayId: string, body: unknown): Promise<ConfigView> {
    const who = requireRole(actor, 'supervisor');
    // The version in the body is ignored: the cloud assigns it.
    const raw = body && typeof body === 'object' ? { ...(body as object), version: 0 } : body;
    const config = Value.Default(PremisesConfig, structuredClone(raw));
    const issues = [...check.Errors(config)].map((e) => ({ path: e.path || '/', message: e.message }));
    if (issues.length > 0) throw GatewayConfigErrors.invalid(issues.slice(0, 50));
    const stored = await this.db.transaction(async (tx) => {
      const repo = new GatewayConfigRepository(tx);
      if (!(await repo.lockGateway(gatewayId))) throw GatewayConfigErrors.noGateway(gatewayId);
      const version = await repo.nextVersion(gatewayId);
      const row = await repo.insert(
        gatewayId,
        version,
        { ...(config as PremisesConfig), version },
        who.username,
      );
      await this.audit.append(tx, {
        actor: who.username,
        action: 'gateway.config',
        target_type: 'gateway',
        target_id: gatewayId,
        details: { version },
      });
      return row;
    });
    await this.publishDesired(stored);
    this.log.info({ gateway_id: gatewayId, version: stored.version, by: who.username }, 'config published');
    return this.view(gatewayId, stored);
  }

  async get(actor: Principal | null, gatewayId: string): Promise<ConfigView> {
    requireRole(actor, 'operator');
    return this.view(gatewayId, await this.repo.latest(gatewayId));
  }

  /** The desired premises config as a readable, diffable file (stable JSON). */
  async file(actor: Principal | null, gatewayId: string): Promise<{ name: string; text: string }> {
    const v = await this.get(actor, gatewayId);
    if (!v.desired) throw GatewayConfigErrors.noConfig(gatewayId);
    return { name: `${gatewayId}-config-v${v.desired.version}.json`, text: stableJson(v.desired.config) };
  }

  /** Start-up: every gateway's newest config retained again (aedes keeps retained in memory). */
  async republishAll(): Promise<number> {
    const all = await this.repo.latestAll();
    for (const c of all) await this.publishDesired(c);
    this.log.info({ gateways: all.length }, 'desired configs re-published');
    return all.length;
  }

  private async publishDesired(c: StoredConfig): Promise<void> {
    const msg: DesiredConfig = {
      version: c.version,
      config: c.config as PremisesConfig,
      ts: Date.parse(c.created_at) || Date.now(),
    };
    await this.publish(topic(c.gateway_id, 'configDesired'), JSON.stringify(msg));
  }

  private async view(gatewayId: string, latest: StoredConfig | null): Promise<ConfigView> {
    const a = await this.repo.applied(gatewayId);
    if (!a) throw GatewayConfigErrors.noGateway(gatewayId);
    const applied = (a.applied as ConfigApplied | null) ?? null;
    const statusVersion = (a.status as { config_version?: unknown } | null)?.config_version;
    const versions = [
      typeof statusVersion === 'number' ? statusVersion : null,
      applied?.ok ? applied.version : null,
    ].filter((v): v is number => v !== null);
    return {
      gateway_id: gatewayId,
      desired: latest
        ? {
            version: latest.version,
            config: latest.config,
            created_by: latest.created_by,
            created_at: latest.created_at,
          }
        : null,
      applied_version: versions.length > 0 ? Math.max(...versions) : null,
      applied,
    };
  }
}
