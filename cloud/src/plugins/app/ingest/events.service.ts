import type { Db } from '../../external/db/db.types.js';
import { type Principal, requireRole } from '../auth/roles.js';
import { type EventRow, EventsRepository } from './events.repository.js';

/** Read side of the stored events, for staff. */
export class EventsService {
  private readonly repo = new EventsRepository();

  constructor(private readonly db: Db) {}

  async list(
    actor: Principal | null,
    q: { gateway_id?: string; after_seq?: number; limit: number },
  ): Promise<EventRow[]> {
    requireRole(actor, 'operator');
    return this.repo.list(this.db, q);
  }
}
