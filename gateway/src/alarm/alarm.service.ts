import type { Logger } from 'pino';
import type { EventBus } from '../event-bus.js';
import type { Outbox } from '../outbox/outbox.store.js';
import { CodeVerifier } from './alarm.codes.js';
import type { AlarmMachine } from './alarm.machine.js';
import type { AlarmInput, AlarmState, CommandOutcome, EventDraft, KeypadAction } from './alarm.types.js';

/** What a keypad driver sends: the raw code and what the user asked for. */
export interface KeypadEntry {
  code: string;
  action: KeypadAction;
  mode?: string;
  partition?: number;
  zones?: number[];
  force?: boolean;
}

interface Queued {
  input: AlarmInput;
  /** A configuration change: applied alone, between input groups. */
  reconfigure?: { machine: AlarmMachine; persist: () => void };
  resolve: (r: CommandOutcome | undefined) => void;
  reject: (err: Error) => void;
}

export interface AlarmServiceDeps {
  machine: AlarmMachine;
  outbox: Outbox;
  bus: EventBus;
  logger: Logger;
  /** Wall-clock epoch ms advancing monotonically (see createClock). */
  clock: () => number;
}

/**
 * Runs the pure machine against the durable state. Inputs are applied one after another;
 * those that arrive together are committed in one outbox transaction with the resulting
 * state. A failed commit rejects every input of its group and rolls the state back, so a
 * redelivered input is processed again. Sirens follow the machine at once, committed or not:
 * protecting the premises comes before bookkeeping.
 */
export class AlarmService {
  private committed!: AlarmState;
  private queue: Queued[] = [];
  private draining = false;
  private lastStatus = '';
  private readonly log: Logger;
  private verifier: CodeVerifier;
  private machine: AlarmMachine;
  private sirenTimer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: AlarmServiceDeps) {
    this.log = deps.logger.child({ component: 'alarm' });
    this.machine = deps.machine;
    this.verifier = new CodeVerifier(deps.machine.settings);
  }

  /** The machine in force (replaced by reconfigure). */
  get current(): AlarmMachine {
    return this.machine;
  }

  /**
   * Replaces the configuration atomically, between input groups: refused with E_ARMED
   * unless every partition is disarmed (and not in alarm). The state reconciled with the
   * new zones is committed, then `persist` runs; if either throws, nothing changes.
   */
  reconfigure(machine: AlarmMachine, persist: () => void): Promise<CommandOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({
        input: { type: 'tick' },
        reconfigure: { machine, persist },
        resolve: (r) => resolve(r ?? { ok: true }),
        reject,
      });
      if (!this.draining) void this.drain();
    });
  }

  /** Sounds every partition's siren for `ms` (a siren test), through the same siren effect. */
  sirenTest(ms: number, partition?: number): void {
    const parts = partition !== undefined ? [partition] : [...this.machine.partitions()];
    if (this.sirenTimer) clearTimeout(this.sirenTimer);
    for (const p of parts) this.deps.bus.emitSiren({ partition: p, on: true });
    this.log.info({ partitions: parts, ms }, 'siren test');
    this.sirenTimer = setTimeout(() => {
      this.sirenTimer = null;
      const sounding = new Set(
        this.status()
          .filter((s) => s.state === 'triggered')
          .map((s) => s.partition),
      );
      // a real alarm that started meanwhile keeps its siren
      for (const p of parts) if (!sounding.has(p)) this.deps.bus.emitSiren({ partition: p, on: false });
    }, ms);
    this.sirenTimer.unref();
  }

  /** Restores the stored state (or a fresh one); resumes delays exactly. */
  start(): void {
    const now = this.deps.clock();
    const stored = this.deps.outbox.loadState<AlarmState>();
    this.committed = this.machine.reconcile(stored ?? undefined, now);
    this.log.info({ restored: stored !== null, status: this.status() }, 'alarm machine ready');
    this.publishStatus();
  }

  state(): AlarmState {
    return this.committed;
  }

  status() {
    return this.machine.status(this.committed, this.deps.clock());
  }

  /** Applies one input; resolves once its consequences are durable (with the command outcome). */
  submit(input: AlarmInput): Promise<CommandOutcome | undefined> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  /** A keypad entry: the code is checked (scrypt) here, then the verdict goes to the machine. */
  async keypad(entry: KeypadEntry): Promise<CommandOutcome> {
    const { code, ...rest } = entry;
    const auth = await this.verifier.verify(code);
    const r = await this.submit({ type: 'keypad', ...rest, auth });
    return r ?? { ok: true };
  }

  tick(): Promise<CommandOutcome | undefined> {
    return this.submit({ type: 'tick' });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const head = this.queue[0]!;
        if (head.reconfigure) {
          this.queue.shift();
          await this.applyReconfigure(head);
          continue;
        }
        const cut = this.queue.findIndex((q) => q.reconfigure);
        const items = this.queue.splice(0, cut === -1 ? this.queue.length : cut);
        const now = this.deps.clock();
        let state = this.committed;
        const drafts: EventDraft[] = [];
        const results: Array<CommandOutcome | undefined> = [];
        for (const item of items) {
          const t = this.machine.next(state, item.input, now);
          state = t.state;
          results.push(t.result);
          for (const e of t.effects) {
            if (e.kind === 'event') drafts.push(e.event);
            else if (e.kind === 'siren') this.deps.bus.emitSiren({ partition: e.partition, on: e.on });
            else this.log.info({ zone: e.zone, partition: e.partition }, 'chime');
          }
        }
        const changed = drafts.length > 0 || JSON.stringify(state) !== JSON.stringify(this.committed);
        if (changed) {
          try {
            await this.deps.outbox.enqueue(drafts, state);
          } catch (err) {
            for (const item of items) item.reject(err as Error);
            continue;
          }
          this.committed = state;
          for (const d of drafts) {
            this.log.info(
              { code: d.code, qualifier: d.qualifier, zone: d.zone, partition: d.partition },
              d.text,
            );
          }
        }
        items.forEach((item, i) => {
          item.resolve(results[i]);
        });
        this.publishStatus();
      }
    } finally {
      this.draining = false;
    }
  }

  private async applyReconfigure(item: Queued): Promise<void> {
    const { machine, persist } = item.reconfigure!;
    const busy = this.status().filter((p) => p.state !== 'disarmed');
    if (busy.length > 0) {
      item.resolve({
        ok: false,
        code: 'E_ARMED',
        message: `partition ${busy.map((p) => p.partition).join(', ')} is not disarmed`,
      });
      return;
    }
    try {
      // The reconciled state first: any config can read it back, so if persisting the
      // config fails, the next commit (or a restart) simply continues with the old one.
      const state = machine.reconcile(this.committed, this.deps.clock());
      await this.deps.outbox.enqueue([], state);
      persist();
      this.machine = machine;
      this.verifier = new CodeVerifier(machine.settings);
      this.committed = state;
    } catch (err) {
      item.reject(err as Error);
      return;
    }
    this.log.info({ zones: machine.settings.zones.length }, 'configuration replaced');
    item.resolve({ ok: true });
    this.publishStatus();
  }

  private publishStatus(): void {
    const partitions = this.status();
    const key = JSON.stringify(partitions);
    if (key === this.lastStatus) return;
    this.lastStatus = key;
    this.deps.bus.emitAlarmStatus({ partitions });
  }
}
