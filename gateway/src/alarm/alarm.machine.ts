import { CID, contactId, defaultPriority, type ZoneConfig } from '@mertah/protocol';
import {
  ALARM_MODES,
  type AlarmEffect,
  type AlarmInput,
  type AlarmMode,
  type AlarmSettings,
  type AlarmState,
  BURGLARY_TYPES,
  type CommandOutcome,
  type EventDraft,
  type PartitionPhase,
  type PartitionState,
  SIREN_TYPES,
  type Transition,
  ZONE_CODE,
} from './alarm.types.js';

/**
 * The pure alarm machine: `next(state, input, now) -> {state, effects}`. No timers, no I/O:
 * the caller feeds `tick` inputs with the current time. Only the base mode and the
 * timestamps are stored; arming, pending and triggered are derived from them and the
 * clock, so a restart resumes exactly where the stored state left off.
 */
export class AlarmMachine {
  private readonly zones = new Map<number, ZoneConfig>();
  private readonly partitionIds: number[];

  constructor(readonly settings: AlarmSettings) {
    for (const z of settings.zones) this.zones.set(z.zone, z);
    this.partitionIds = [...new Set([1, ...settings.zones.map((z) => z.partition ?? 1)])].sort(
      (a, b) => a - b,
    );
  }

  partitions(): readonly number[] {
    return this.partitionIds;
  }

  /** Zones of a device, for drivers that report by device name. */
  zonesOfDevice(device: string): ZoneConfig[] {
    return this.settings.zones.filter((z) => z.device === device);
  }

  initial(now: number): AlarmState {
    return this.reconcile(undefined, now);
  }

  /** Adapts a stored state to the current zone list (zones added or removed since). */
  reconcile(stored: AlarmState | undefined, now: number): AlarmState {
    const s: AlarmState = { v: 1, partitions: {}, zones: {}, troubles: {} };
    for (const id of this.partitionIds) {
      const old = stored?.partitions[String(id)];
      s.partitions[String(id)] = old ? structuredClone(old) : disarmedPartition(now);
    }
    for (const z of this.settings.zones) {
      const old = stored?.zones[String(z.zone)];
      s.zones[String(z.zone)] = old ? { ...old } : { open: null, alarmed: false };
    }
    for (const p of Object.values(s.partitions)) {
      p.pending_zones = p.pending_zones.filter((z) => this.zones.has(z));
      p.bypassed = p.bypassed.filter((z) => this.zones.has(z));
    }
    if (stored) s.troubles = structuredClone(stored.troubles);
    return s;
  }

  next(state: AlarmState, input: AlarmInput, now: number): Transition {
    const s = structuredClone(state);
    const fx: AlarmEffect[] = [];
    this.advance(s, now, fx);
    let result: CommandOutcome | undefined;
    switch (input.type) {
      case 'tick':
        break;
      case 'zone':
        this.zoneInput(s, input.zone, input.open, now, fx);
        break;
      case 'trouble':
        this.troubleInput(s, input.device, input.active, now, fx);
        break;
      case 'arm':
        result =
          input.mode === 'disarmed'
            ? this.disarm(s, input.partition, input.user, now, fx)
            : this.arm(s, input.mode, input.partition, input.force === true, input.user, now, fx);
        break;
      case 'disarm':
        result = this.disarm(s, input.partition, input.user, now, fx);
        break;
    }
    this.advance(s, now, fx);
    return result ? { state: s, effects: fx, result } : { state: s, effects: fx };
  }

  /** The derived phase of every partition at `now`. */
  status(
    state: AlarmState,
    now: number,
  ): Array<{ partition: number; mode: AlarmMode; state: PartitionPhase }> {
    return this.partitionIds.map((id) => {
      const p = state.partitions[String(id)] ?? disarmedPartition(now);
      return { partition: id, mode: p.mode, state: phaseOf(p, now) };
    });
  }

  /** The earliest future time at which a tick would change something, or null. */
  nextDeadline(state: AlarmState): number | null {
    let best: number | null = null;
    const consider = (t: number) => {
      if (best === null || t < best) best = t;
    };
    for (const p of Object.values(state.partitions)) {
      if (p.mode !== 'disarmed' && !p.exit_done) consider(p.since + p.exit_ms);
      if (p.pending_since !== null) consider(p.pending_since + p.entry_ms);
      if (p.siren_on && p.siren_until !== null) consider(p.siren_until);
    }
    return best;
  }

  // -------------------------------------------------------------------------------------

  private advance(s: AlarmState, now: number, fx: AlarmEffect[]): void {
    for (const id of this.partitionIds) {
      const p = s.partitions[String(id)]!;
      if (p.mode !== 'disarmed' && !p.exit_done && now >= p.since + p.exit_ms) {
        p.exit_done = true;
        const t = p.since + p.exit_ms;
        // Zones still open when the exit delay ends trip as if they opened then.
        for (const z of this.zonesOf(id)) {
          const zs = s.zones[String(z.zone)]!;
          if (zs.open === true && !zs.alarmed && this.burglaryArmed(z, p)) this.trip(s, p, z, t, now, fx);
        }
      }
      if (p.pending_since !== null && now >= p.pending_since + p.entry_ms) {
        const t = p.pending_since + p.entry_ms;
        const zones = p.pending_zones;
        p.pending_since = null;
        p.pending_zones = [];
        for (const zn of zones) {
          const z = this.zones.get(zn);
          if (z) this.alarmZone(s, p, z, t, now, fx);
        }
      }
      if (p.siren_on && p.siren_until !== null && now >= p.siren_until) {
        p.siren_on = false;
        fx.push({ kind: 'siren', partition: id, on: false });
      }
    }
  }

  private zoneInput(s: AlarmState, zone: number, open: boolean, now: number, fx: AlarmEffect[]): void {
    const z = this.zones.get(zone);
    const zs = s.zones[String(zone)];
    if (!z || !zs) return;
    if (zs.open === open) return; // state-based: a redelivered identical state changes nothing
    zs.open = open;
    const p = s.partitions[String(z.partition ?? 1)]!;
    if (!open) {
      if (zs.alarmed) {
        zs.alarmed = false;
        fx.push(this.event(ZONE_CODE[z.type]!, 'restore', z, now));
      }
      return;
    }
    if (z.type === 'chime') {
      fx.push({ kind: 'chime', partition: z.partition ?? 1, zone: z.zone });
      return;
    }
    if (!BURGLARY_TYPES.has(z.type)) {
      this.alarmZone(s, p, z, now, now, fx);
      return;
    }
    if (!this.burglaryArmed(z, p)) return;
    if (!p.exit_done && (z.type === 'entry_exit' || z.type === 'interior_follower')) return; // walking out
    this.trip(s, p, z, now, now, fx);
  }

  /** A burglary zone opened at `t` while armed for it. */
  private trip(s: AlarmState, p: PartitionState, z: ZoneConfig, t: number, now: number, fx: AlarmEffect[]) {
    const sounding = p.siren_on;
    if (z.type === 'instant' || sounding) {
      this.alarmZone(s, p, z, t, now, fx);
      return;
    }
    if (p.pending_since !== null) {
      if (!p.pending_zones.includes(z.zone)) p.pending_zones.push(z.zone);
      return;
    }
    if (z.type === 'entry_exit') {
      p.pending_since = t;
      p.entry_ms = (z.entry_delay_s ?? this.settings.entry_delay_s) * 1000;
      p.pending_zones = [z.zone];
      return;
    }
    this.alarmZone(s, p, z, t, now, fx); // interior follower with no entry delay running
  }

  /** Reports a zone's alarm at `t`; if the zone already closed again, its restore follows. */
  private alarmZone(
    s: AlarmState,
    p: PartitionState,
    z: ZoneConfig,
    t: number,
    now: number,
    fx: AlarmEffect[],
  ) {
    const zs = s.zones[String(z.zone)]!;
    const code = ZONE_CODE[z.type];
    if (code === null || zs.alarmed) return;
    fx.push(this.event(code, 'new', z, t));
    if (zs.open === true) zs.alarmed = true;
    else fx.push(this.event(code, 'restore', z, t));
    p.triggered_since ??= t;
    if (SIREN_TYPES.has(z.type)) {
      const until = t + this.settings.siren_time_s * 1000;
      p.siren_until = Math.max(p.siren_until ?? 0, until);
      if (!p.siren_on && now < p.siren_until) {
        p.siren_on = true;
        fx.push({ kind: 'siren', partition: z.partition ?? 1, on: true });
      }
    }
  }

  private troubleInput(s: AlarmState, device: string, active: boolean, now: number, fx: AlarmEffect[]): void {
    const t = s.troubles[device] ?? { battery_low: false };
    if (t.battery_low === active) return;
    t.battery_low = active;
    s.troubles[device] = t;
    const z = this.zonesOfDevice(device)[0];
    fx.push({
      kind: 'event',
      event: draft(
        now,
        CID.RF_LOW_BATTERY,
        active ? 'new' : 'restore',
        z?.partition ?? 1,
        z?.zone ?? null,
        device,
        `${describe(CID.RF_LOW_BATTERY)}: ${z?.name ?? device}`,
      ),
    });
  }

  private arm(
    s: AlarmState,
    mode: string,
    partition: number | undefined,
    force: boolean,
    user: string,
    now: number,
    fx: AlarmEffect[],
  ): CommandOutcome {
    if (!ALARM_MODES.includes(mode as AlarmMode)) {
      return { ok: false, code: 'E_UNSUPPORTED_MODE', message: `mode ${mode} is not supported` };
    }
    const target = mode as AlarmMode;
    const ids = this.targets(partition);
    if (!ids) return unknownPartition(partition);
    const open: number[] = [];
    for (const id of ids) {
      for (const z of this.zonesOf(id)) {
        if (BURGLARY_TYPES.has(z.type) && activeInMode(z, target) && s.zones[String(z.zone)]?.open === true) {
          open.push(z.zone);
        }
      }
    }
    if (open.length > 0 && !force) {
      return {
        ok: false,
        code: 'E_ZONE_OPEN',
        message: `zones open: ${open.join(', ')}`,
        data: { zones: open },
      };
    }
    for (const id of ids) {
      const p = s.partitions[String(id)]!;
      if (p.mode === target) continue;
      const wasDisarmed = p.mode === 'disarmed';
      const bypass = this.zonesOf(id)
        .filter((z) => open.includes(z.zone))
        .map((z) => z.zone);
      for (const zn of bypass) {
        if (p.bypassed.includes(zn)) continue;
        const z = this.zones.get(zn)!;
        fx.push(this.event(CID.BYPASS_ZONE, 'new', z, now, { user, forced: true }));
        p.bypassed.push(zn);
      }
      p.mode = target;
      p.since = now;
      p.exit_ms = this.exitDelayMs(id);
      p.exit_done = false;
      p.pending_since = null;
      p.pending_zones = [];
      if (wasDisarmed) p.triggered_since = null;
      p.user = user;
      fx.push({
        kind: 'event',
        event: draft(now, CID.OPEN_CLOSE_USER, 'restore', id, null, null, `Closing (${target}) by ${user}`, {
          user,
          mode: target,
        }),
      });
    }
    return { ok: true, data: { bypassed: open } };
  }

  private disarm(
    s: AlarmState,
    partition: number | undefined,
    user: string,
    now: number,
    fx: AlarmEffect[],
  ): CommandOutcome {
    const ids = this.targets(partition);
    if (!ids) return unknownPartition(partition);
    for (const id of ids) {
      const p = s.partitions[String(id)]!;
      const wasArmed = p.mode !== 'disarmed';
      if (wasArmed) {
        fx.push({
          kind: 'event',
          event: draft(now, CID.OPEN_CLOSE_USER, 'new', id, null, null, `Opening by ${user}`, { user }),
        });
      }
      if ((wasArmed && p.triggered_since !== null) || p.siren_on) {
        fx.push({
          kind: 'event',
          event: draft(now, CID.CANCEL, 'new', id, null, null, `Alarm cancelled by ${user}`, { user }),
        });
      }
      if (p.siren_on) fx.push({ kind: 'siren', partition: id, on: false });
      for (const zn of p.bypassed) {
        const z = this.zones.get(zn);
        if (z) fx.push(this.event(CID.BYPASS_ZONE, 'restore', z, now, { user }));
      }
      s.partitions[String(id)] = { ...disarmedPartition(now), user };
    }
    return { ok: true };
  }

  private targets(partition: number | undefined): number[] | null {
    if (partition === undefined) return [...this.partitionIds];
    return this.partitionIds.includes(partition) ? [partition] : null;
  }

  private zonesOf(partition: number): ZoneConfig[] {
    return this.settings.zones.filter((z) => (z.partition ?? 1) === partition);
  }

  /** Whether a burglary zone guards the partition in its current mode and is not bypassed. */
  private burglaryArmed(z: ZoneConfig, p: PartitionState): boolean {
    return BURGLARY_TYPES.has(z.type) && activeInMode(z, p.mode) && !p.bypassed.includes(z.zone);
  }

  private exitDelayMs(partition: number): number {
    const delays = this.zonesOf(partition)
      .filter((z) => z.type === 'entry_exit')
      .map((z) => z.exit_delay_s ?? this.settings.exit_delay_s);
    return (delays.length ? Math.max(...delays) : this.settings.exit_delay_s) * 1000;
  }

  private event(
    code: string,
    qualifier: 'new' | 'restore',
    z: ZoneConfig,
    ts: number,
    data?: Record<string, unknown>,
  ): AlarmEffect {
    const text = `${describe(code)}${qualifier === 'restore' ? ' restored' : ''}: ${z.name}`;
    return {
      kind: 'event',
      event: draft(ts, code, qualifier, z.partition ?? 1, z.zone, z.device, text, data),
    };
  }
}

export function phaseOf(p: PartitionState, now: number): PartitionPhase {
  if (p.siren_on || (p.siren_until !== null && now < p.siren_until)) return 'triggered';
  if (p.mode === 'disarmed') return 'disarmed';
  if (p.pending_since !== null && now < p.pending_since + p.entry_ms) return 'pending';
  if (now < p.since + p.exit_ms) return 'arming';
  return 'armed';
}

function activeInMode(z: ZoneConfig, mode: AlarmMode): boolean {
  if (mode === 'disarmed') return false;
  if (mode === 'armed_away') return true;
  const homeBypass = z.home_bypass ?? z.type === 'interior_follower';
  return !homeBypass;
}

function disarmedPartition(now: number): PartitionState {
  return {
    mode: 'disarmed',
    since: now,
    exit_ms: 0,
    exit_done: true,
    pending_since: null,
    entry_ms: 0,
    pending_zones: [],
    triggered_since: null,
    siren_until: null,
    siren_on: false,
    bypassed: [],
    user: null,
  };
}

function unknownPartition(partition: number | undefined): CommandOutcome {
  return { ok: false, code: 'E_UNKNOWN_PARTITION', message: `no partition ${partition}` };
}

function describe(code: string): string {
  const d = contactId(code)?.description ?? `Event ${code}`;
  return d.replace(/: Non-specific$/, '');
}

function draft(
  ts: number,
  code: string,
  qualifier: 'new' | 'restore',
  partition: number,
  zone: number | null,
  device: string | null,
  text: string,
  data?: Record<string, unknown>,
): EventDraft {
  const d: EventDraft = {
    ts,
    code,
    qualifier,
    partition,
    zone,
    device,
    priority: defaultPriority(code),
    text: text.slice(0, 256),
  };
  if (data) d.data = data;
  return d;
}
