import { CID, contactId, defaultPriority } from '@mertah/protocol';
import type { Logger } from 'pino';
import type { EventDraft } from '../alarm/alarm.types.js';
import type { EventBus } from '../event-bus.js';
import {
  type DeviceSupervision,
  type SupervisionGrade,
  superviseDevices,
  supervisionIntervalMs,
} from './supervision.policy.js';

export interface SupervisedDevice {
  device: string;
  zone: number | null;
  partition: number;
  name: string;
}

export interface SupervisionServiceDeps {
  devices: SupervisedDevice[];
  grade?: SupervisionGrade;
  intervalS?: number;
  bus: EventBus;
  /** The outbox (or anything that commits event drafts durably). */
  events: { enqueue(drafts: EventDraft[]): Promise<unknown> };
  logger: Logger;
  clock: () => number;
  /** How often to look for silent devices (default 30 s). */
  checkMs?: number;
}

/**
 * Thin service around `superviseDevices`: every sensor message of a supervised device is a
 * check-in; zigbee2mqtt availability comes in through `availability()`. Loss and restore are
 * Contact ID 381 events committed through the outbox; a verdict is kept only once committed
 * (a failed commit is retried at the next check, and a check-in's restore failure makes the
 * driver retry the message). After a restart every device starts as just seen and not lost.
 */
export class SupervisionService {
  private readonly log: Logger;
  private readonly state: Record<string, DeviceSupervision> = {};
  private readonly byDevice = new Map<string, SupervisedDevice>();
  private timer: NodeJS.Timeout | null = null;
  private readonly intervalMs: number;
  /** One evaluation at a time, so a verdict is never committed twice. */
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly deps: SupervisionServiceDeps) {
    this.log = deps.logger.child({ component: 'supervision' });
    this.intervalMs = supervisionIntervalMs(deps.grade, deps.intervalS);
  }

  async start(): Promise<void> {
    const now = this.deps.clock();
    for (const d of this.deps.devices) {
      if (this.byDevice.has(d.device)) continue;
      this.byDevice.set(d.device, d);
      this.state[d.device] = { last_seen: now, online: true, lost: false };
    }
    this.deps.bus.onSensorMessage(this, (m) => this.seen(m.device, m.ts));
    this.timer = setInterval(() => {
      this.check().catch(() => {}); // logged in evaluate; retried at the next check
    }, this.deps.checkMs ?? 30_000);
    this.timer.unref();
    this.log.info(
      { devices: this.byDevice.size, interval_s: this.intervalMs / 1000, grade: this.deps.grade ?? 2 },
      'supervision started',
    );
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.deps.bus.removeListeners(this);
    await this.running.catch(() => {});
  }

  /** The supervision state of every device (for the installer page and tests). */
  snapshot(): Readonly<Record<string, DeviceSupervision>> {
    return structuredClone(this.state);
  }

  /** A message from the device: a check-in; resolves once a restore it caused is committed. */
  seen(device: string, ts = this.deps.clock()): Promise<void> {
    const d = this.state[device];
    if (!d) return Promise.resolve();
    d.last_seen = Math.max(d.last_seen, ts);
    d.online = true;
    return d.lost ? this.check() : Promise.resolve();
  }

  /** zigbee2mqtt's `<device>/availability`: offline is a loss at once. */
  availability(device: string, online: boolean): Promise<void> {
    const d = this.state[device];
    if (!d) return Promise.resolve();
    d.online = online;
    if (online) d.last_seen = Math.max(d.last_seen, this.deps.clock());
    return this.check();
  }

  /** Evaluates every device now and commits the changes. */
  check(): Promise<void> {
    const run = this.running.then(
      () => this.evaluate(),
      () => this.evaluate(),
    );
    this.running = run.catch(() => {});
    return run;
  }

  private async evaluate(): Promise<void> {
    const now = this.deps.clock();
    const changes = superviseDevices(this.state, now, this.intervalMs);
    if (changes.length === 0) return;
    const drafts: EventDraft[] = changes.map((c) => {
      const d = this.byDevice.get(c.device)!;
      return {
        ts: now,
        code: CID.RF_SUPERVISION,
        qualifier: c.lost ? 'new' : 'restore',
        partition: d.partition,
        zone: d.zone,
        device: c.device,
        priority: defaultPriority(CID.RF_SUPERVISION),
        text: `${contactId(CID.RF_SUPERVISION)?.description ?? 'RF Loss of Supervision'}: ${d.name}`.slice(
          0,
          256,
        ),
        data: { reason: c.reason },
      };
    });
    try {
      await this.deps.events.enqueue(drafts);
    } catch (err) {
      this.log.error(
        { devices: changes.map((c) => c.device), err: (err as Error).message, code: 'E_SUPERVISION_COMMIT' },
        'supervision events not committed',
      );
      throw err;
    }
    for (const c of changes) {
      this.state[c.device]!.lost = c.lost;
      this.log.warn({ device: c.device, reason: c.reason }, c.lost ? 'device lost' : 'device back');
    }
  }
}
