import type { FastifyBaseLogger } from 'fastify';
import { AppError } from '../../../lib/errors.js';
import type { Db, Queryable } from '../../external/db/db.types.js';
import type { AuditRepository } from '../audit/audit.repository.js';
import { hasRole, type Principal, requireRole } from '../auth/roles.js';
import { EventsRepository, type EventRow } from '../ingest/events.repository.js';
import type { AlarmBus, AlarmChange } from './alarm-bus.js';
import { type Alarm, AlarmsRepository, type AlarmSignal, type Disposition } from './alarms.repository.js';

/** Error codes of the monitoring module. */
export const AlarmErrors = {
  notFound: (id: number) => new AppError('E_NOT_FOUND', 404, `no alarm ${id}`),
  alreadyClaimed: (by: string | null) =>
    new AppError('E_ALREADY_CLAIMED', 409, `alarm already claimed by ${by}`),
  closed: () => new AppError('E_CLOSED', 409, 'alarm is closed'),
} as const;

export class AlarmsService {
  readonly repo = new AlarmsRepository();
  private readonly events = new EventsRepository();

  constructor(
    private readonly db: Db,
    private readonly audit: AuditRepository,
    readonly bus: AlarmBus,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Inside the ingest transaction: open or join alarms; returns the changes to publish after commit. */
  async recordSignals(tx: Queryable, signals: AlarmSignal[]): Promise<AlarmChange[]> {
    const changes: AlarmChange[] = [];
    for (const s of signals) changes.push(await this.repo.openOrJoin(tx, s));
    return changes;
  }

  /** Call after the transaction that made the changes committed. */
  publish(changes: AlarmChange[]): void {
    for (const c of changes) this.bus.emitAlarmChanged(c);
  }

  async list(actor: Principal | null, status: 'open' | 'closed' | 'all', limit = 500): Promise<Alarm[]> {
    requireRole(actor, 'operator');
    return this.repo.list(this.db, status, limit);
  }

  async get(actor: Principal | null, id: number): Promise<{ alarm: Alarm; events: EventRow[] }> {
    requireRole(actor, 'operator');
    const alarm = await this.repo.get(this.db, id);
    if (!alarm) throw AlarmErrors.notFound(id);
    const events = await this.events.list(this.db, { alarm_id: id, limit: 1000 });
    return { alarm, events };
  }

  /** Exactly one operator wins a claim, on PGlite and PostgreSQL alike (conditional UPDATE). */
  async claim(actor: Principal | null, id: number): Promise<Alarm> {
    const who = requireRole(actor, 'operator');
    const change = await this.db.transaction(async (tx) => {
      const alarm = await this.repo.claim(tx, id, who.username);
      if (!alarm) return null;
      await this.audit.append(tx, {
        actor: who.username,
        action: 'alarm.claim',
        target_type: 'alarm',
        target_id: String(id),
      });
      return { change_id: await this.repo.recordChange(tx, alarm), alarm };
    });
    if (!change) {
      const current = await this.repo.get(this.db, id);
      if (!current) throw AlarmErrors.notFound(id);
      if (current.status === 'closed') throw AlarmErrors.closed();
      throw AlarmErrors.alreadyClaimed(current.claimed_by);
    }
    this.log.info({ alarm_id: id, by: who.username }, 'alarm claimed');
    this.publish([change]);
    return change.alarm;
  }

  /**
   * Closes with a disposition. An operator closes alarms that are open or claimed by
   * themselves; a supervisor closes any.
   */
  async close(
    actor: Principal | null,
    id: number,
    disposition: Disposition,
    notes: string | null,
  ): Promise<Alarm> {
    const who = requireRole(actor, 'operator');
    const onlyClaimedBy = hasRole(who, 'supervisor') ? null : who.username;
    const change = await this.db.transaction(async (tx) => {
      const alarm = await this.repo.close(tx, id, who.username, disposition, notes, onlyClaimedBy);
      if (!alarm) return null;
      await this.audit.append(tx, {
        actor: who.username,
        action: 'alarm.close',
        target_type: 'alarm',
        target_id: String(id),
        details: { disposition, notes },
      });
      return { change_id: await this.repo.recordChange(tx, alarm), alarm };
    });
    if (!change) {
      const current = await this.repo.get(this.db, id);
      if (!current) throw AlarmErrors.notFound(id);
      if (current.status === 'closed') throw AlarmErrors.closed();
      throw AlarmErrors.alreadyClaimed(current.claimed_by);
    }
    this.log.info({ alarm_id: id, by: who.username, disposition }, 'alarm closed');
    this.publish([change]);
    return change.alarm;
  }

  /** For the live stream: the changes after an id, or the open alarms as of the latest change. */
  async catchUp(actor: Principal | null, lastEventId: number | null): Promise<AlarmChange[]> {
    requireRole(actor, 'operator');
    if (lastEventId !== null) return this.repo.changesAfter(this.db, lastEventId);
    const last = await this.repo.lastChangeId(this.db);
    const open = await this.repo.list(this.db, 'open', 10_000);
    return open.map((alarm) => ({ change_id: last, alarm }));
  }
}
