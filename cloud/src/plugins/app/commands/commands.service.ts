import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type ArmMode, type Command, type CommandResult, type CommandType, topic } from '@mertah/protocol';
import type { FastifyBaseLogger } from 'fastify';
import { AppError } from '../../../lib/errors.js';
import type { Db } from '../../external/db/db.types.js';
import type { AuditRepository } from '../audit/audit.repository.js';
import { type Principal, type Role, requireRole } from '../auth/roles.js';
import { GatewaysRepository } from '../gateways/gateways.repository.js';
import { type CommandView, CommandsRepository } from './commands.repository.js';

/** Error codes of the commands module. */
export const CommandErrors = {
  notFound: (id: string) => new AppError('E_NOT_FOUND', 404, `no command ${id}`),
  noGateway: (id: string) => new AppError('E_NOT_FOUND', 404, `no gateway ${id}`),
  invalid: (m: string) => new AppError('E_VALIDATION', 400, m),
} as const;

export interface CommandRequest {
  type: CommandType;
  partition?: number;
  mode?: ArmMode;
  zones?: number[];
  force?: boolean;
}

/** Commands expire for the gateway after this long (the gateway refuses stale ones). */
export const COMMAND_TTL_MS = 5 * 60_000;

const ROLE_FOR: Record<CommandType, Role> = {
  arm: 'operator',
  disarm: 'operator',
  bypass: 'operator',
  siren_test: 'operator',
  config_push: 'supervisor',
};

export class CommandsService {
  private readonly repo = new CommandsRepository();
  private readonly results = new EventEmitter();

  constructor(
    private readonly db: Db,
    private readonly audit: AuditRepository,
    private readonly publish: (topic: string, payload: string) => Promise<void>,
    private readonly log: FastifyBaseLogger,
  ) {
    this.results.setMaxListeners(0);
  }

  /** Stores the command, publishes it on the gateway's cmd topic, optionally waits for the result. */
  async send(
    actor: Principal | null,
    gatewayId: string,
    req: CommandRequest,
    waitS = 0,
  ): Promise<CommandView> {
    const who = requireRole(actor, ROLE_FOR[req.type]);
    if (req.type === 'arm' && !req.mode) throw CommandErrors.invalid('arm needs a mode');
    if (req.type === 'bypass' && !req.zones?.length) throw CommandErrors.invalid('bypass needs zones');
    if (!(await new GatewaysRepository(this.db).get(gatewayId))) throw CommandErrors.noGateway(gatewayId);
    const now = Date.now();
    const cmd: Command = {
      command_id: randomUUID(),
      type: req.type,
      ...(req.partition !== undefined && { partition: req.partition }),
      ...(req.mode !== undefined && { mode: req.mode }),
      ...(req.zones !== undefined && { zones: req.zones }),
      ...(req.force !== undefined && { force: req.force }),
      issued_by: who.username,
      issued_at: now,
      expires_at: now + COMMAND_TTL_MS,
    };
    await this.db.transaction(async (tx) => {
      await this.repo.insert(tx, {
        id: cmd.command_id,
        gateway_id: gatewayId,
        type: cmd.type,
        body: cmd,
        issued_by: who.username,
        issued_at: cmd.issued_at,
        expires_at: cmd.expires_at,
      });
      await this.audit.append(tx, {
        actor: who.username,
        action: `command.${cmd.type}`,
        target_type: 'gateway',
        target_id: gatewayId,
        details: { command_id: cmd.command_id, ...req },
      });
    });
    const answered = waitS > 0 ? this.waitFor(cmd.command_id, waitS * 1000) : null;
    await this.publish(topic(gatewayId, 'command'), JSON.stringify(cmd));
    this.log.info(
      { command_id: cmd.command_id, gateway_id: gatewayId, type: cmd.type, by: who.username },
      'command sent',
    );
    if (answered) await answered;
    return (await this.repo.get(this.db, cmd.command_id))!;
  }

  async get(actor: Principal | null, id: string): Promise<CommandView> {
    requireRole(actor, 'operator');
    const c = await this.repo.get(this.db, id);
    if (!c) throw CommandErrors.notFound(id);
    return c;
  }

  /** From ingest: a gateway answered a command. */
  async recordResult(gatewayId: string, r: CommandResult): Promise<void> {
    const done = await this.repo.complete(this.db, r.command_id, gatewayId, r.ok, r);
    if (!done) {
      this.log.warn(
        { gateway_id: gatewayId, command_id: r.command_id },
        'result for an unknown or answered command',
      );
      return;
    }
    this.results.emit(r.command_id);
  }

  private waitFor(id: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.results.off(id, done);
        resolve();
      }, ms);
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      this.results.once(id, done);
    });
  }
}
