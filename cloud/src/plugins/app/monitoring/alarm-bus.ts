import { EventEmitter } from 'node:events';
import type { FastifyBaseLogger } from 'fastify';
import type { Alarm } from './alarms.repository.js';

export interface AlarmChange {
  /** alarm_changes.id: increasing; the SSE event id. */
  change_id: number;
  alarm: Alarm;
}

/** In-process bus of committed alarm changes (ingest and staff actions -> SSE, notifications). */
export class AlarmBus {
  private readonly ee = new EventEmitter();

  constructor(private readonly log: FastifyBaseLogger) {
    this.ee.setMaxListeners(0);
  }

  emitAlarmChanged(change: AlarmChange): void {
    for (const l of this.ee.listeners('alarm') as Array<(c: AlarmChange) => void>) {
      try {
        l(change);
      } catch (err) {
        this.log.error({ err, change_id: change.change_id }, 'alarm listener threw');
      }
    }
  }

  /** Returns the function that removes the listener. */
  onAlarmChanged(listener: (change: AlarmChange) => void): () => void {
    this.ee.on('alarm', listener);
    return () => this.ee.off('alarm', listener);
  }
}
