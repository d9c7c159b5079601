import type { Logger } from 'pino';
import type { AlarmMode, PartitionPhase } from './alarm/alarm.types.js';
import type { SensorMessage } from './drivers/sensor.types.js';

export interface PartitionStatusChange {
  partitions: Array<{ partition: number; mode: AlarmMode; state: PartitionPhase }>;
}

export interface SirenChange {
  partition: number;
  on: boolean;
}

export interface OutboxChange {
  events: number;
  telemetry: number;
}

interface Events {
  sensorMessage: SensorMessage;
  alarmStatus: PartitionStatusChange;
  siren: SirenChange;
  outboxChanged: OutboxChange;
}

type Listener<T> = (payload: T) => void | Promise<void>;
interface Entry {
  owner: object;
  fn: Listener<never>;
}

/**
 * The typed bus between the gateway's parts: one emitX/onX pair per event. A throwing (or
 * rejecting) listener is logged and never fatal. `emitSensorMessage` waits for every
 * listener so a driver can acknowledge its input only once what it caused is committed.
 */
export class EventBus {
  private readonly listeners = new Map<keyof Events, Entry[]>();
  private readonly log: Logger;

  constructor(logger: Logger) {
    this.log = logger.child({ component: 'event-bus' });
  }

  /** Resolves true when every listener succeeded, false when one threw or rejected. */
  emitSensorMessage(msg: SensorMessage): Promise<boolean> {
    return this.emitAndWait('sensorMessage', msg);
  }
  onSensorMessage(owner: object, fn: Listener<SensorMessage>): void {
    this.on('sensorMessage', owner, fn);
  }

  emitAlarmStatus(s: PartitionStatusChange): void {
    this.emit('alarmStatus', s);
  }
  onAlarmStatus(owner: object, fn: Listener<PartitionStatusChange>): void {
    this.on('alarmStatus', owner, fn);
  }

  emitSiren(s: SirenChange): void {
    this.emit('siren', s);
  }
  onSiren(owner: object, fn: Listener<SirenChange>): void {
    this.on('siren', owner, fn);
  }

  emitOutboxChanged(c: OutboxChange): void {
    this.emit('outboxChanged', c);
  }
  onOutboxChanged(owner: object, fn: Listener<OutboxChange>): void {
    this.on('outboxChanged', owner, fn);
  }

  /** Removes every listener an owner registered (call it in the owner's stop()). */
  removeListeners(owner: object): void {
    for (const [name, list] of this.listeners) {
      this.listeners.set(
        name,
        list.filter((e) => e.owner !== owner),
      );
    }
  }

  listenerCount(): number {
    let n = 0;
    for (const list of this.listeners.values()) n += list.length;
    return n;
  }

  private on<K extends keyof Events>(name: K, owner: object, fn: Listener<Events[K]>): void {
    const list = this.listeners.get(name) ?? [];
    list.push({ owner, fn: fn as Listener<never> });
    this.listeners.set(name, list);
  }

  private emit<K extends keyof Events>(name: K, payload: Events[K]): void {
    void this.emitAndWait(name, payload);
  }

  private async emitAndWait<K extends keyof Events>(name: K, payload: Events[K]): Promise<boolean> {
    const list = [...(this.listeners.get(name) ?? [])];
    const results = await Promise.allSettled(list.map(async (e) => (e.fn as Listener<Events[K]>)(payload)));
    let ok = true;
    for (const r of results) {
      if (r.status === 'rejected') {
        ok = false;
        this.log.error({ event: name, err: r.reason, code: 'E_LISTENER' }, 'event listener failed');
      }
    }
    return ok;
  }
}
