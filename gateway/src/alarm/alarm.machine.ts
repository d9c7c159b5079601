import { CID, contactId, defaultPriority, type ZoneConfig } from '@mertah/protocol';
import {
  ALARM_MODES,
  type AlarmEffect,
  type AlarmInput,
  type AlarmMode,
  type AlarmSettings,
  type AlarmState,
  type ArmedMode,
  type AutoArmConfig,
  BURGLARY_TYPES,
  type CodeCheck,
  type CommandOutcome,
  DEFAULTS,
  type EventDraft,
  type KeypadAction,
  type PartitionPhase,
  type PartitionState,
  type Permission,
  SIREN_TYPES,
  type Transition,
  type UserConfig,
  ZONE_CODE,
  type ZoneState,
} from './alarm.types.js';

/** Contact ID codes this machine emits beyond the zone alarm codes. */
export const CODES = {
  DURESS: '121',
  CONFIRMED: '139',
  SWINGER: '377',
  OPEN_CLOSE_USER: CID.OPEN_CLOSE_USER,
  OPEN_CLOSE_AUTO: '403',
  CANCEL: CID.CANCEL,
  AUTO_ARM_FAILED: '455',
  WRONG_CODE: '461',
  BYPASS_ZONE: CID.BYPASS_ZONE,
  RF_LOW_BATTERY: CID.RF_LOW_BATTERY,
} as const;

const DAY_MS = 86_400_000;

/**
 * The pure alarm machine: `next(state, input, now) -> {state, effects}`. No timers, no I/O:
 * the caller feeds `tick` inputs with the current time. Only the base mode and the
 * timestamps are stored; arming, pending and triggered are derived from them and the
 * clock, so a restart resumes exactly where the stored state left off.
 *
 * Keypad codes are checked outside (CodeVerifier, scrypt): the machine receives the
 * verdict (`user`, `duress`, `installer` or `invalid`) and applies lockout, permissions,
 * schedules and duress to it, so next() stays pure and cheap.
 */
export class AlarmMachine {
  private readonly zones = new Map<number, ZoneConfig>();
  private readonly users = new Map<string, UserConfig>();
  private readonly partitionIds: number[];

  constructor(readonly settings: AlarmSettings) {
    for (const z of settings.zones) this.zones.set(z.zone, z);
    for (const u of settings.users ?? []) this.users.set(u.user, u);
    this.partitionIds = [
      ...new Set([
        1,
        ...settings.zones.map((z) => z.partition ?? 1),
        ...(settings.auto_arm ?? []).map((a) => a.partition),
      ]),
    ].sort((a, b) => a - b);
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

  /**
   * Adapts a stored state to the current configuration (zones added or removed since).
   * Accepts any stored shape (older versions, garbage): what cannot be read is reset to
   * its safe default (disarmed, unknown zone state), field by field.
   */
  reconcile(stored: unknown, now: number): AlarmState {
    const old = isObj(stored) ? stored : {};
    const oldParts = isObj(old.partitions) ? old.partitions : {};
    const oldZones = isObj(old.zones) ? old.zones : {};
    const s: AlarmState = {
      v: 2,
      partitions: {},
      zones: {},
      troubles: {},
      keypad: { wrong: 0, locked_until: null },
      auto_arm: {},
    };
    for (const id of this.partitionIds) {
      s.partitions[String(id)] = this.readPartition(oldParts[String(id)], now);
    }
    for (const z of this.settings.zones) {
      s.zones[String(z.zone)] = readZone(oldZones[String(z.zone)]);
    }
    if (isObj(old.troubles)) {
      for (const [dev, t] of Object.entries(old.troubles)) {
        if (isObj(t) && typeof t.battery_low === 'boolean') s.troubles[dev] = { battery_low: t.battery_low };
      }
    }
    if (isObj(old.keypad)) {
      s.keypad.wrong = isInt(old.keypad.wrong) ? old.keypad.wrong : 0;
      s.keypad.locked_until = isNum(old.keypad.locked_until) ? old.keypad.locked_until : null;
    }
    const oldAuto = isObj(old.auto_arm) ? old.auto_arm : {};
    for (const a of this.settings.auto_arm ?? []) {
      const key = autoKey(a);
      const prev = oldAuto[key];
      s.auto_arm[key] = isNum(prev) ? prev : (this.latestOccurrence(a, now) ?? 0);
    }
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
      case 'bypass':
        result = this.bypass(s, input.zones, input.bypass, input.partition, input.user, false, now, fx);
        break;
      case 'keypad':
        result = this.keypad(s, input, now, fx);
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

  /** The earliest future time at which a tick would change something (auto-arm excepted), or null. */
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
    if (state.keypad.locked_until !== null) consider(state.keypad.locked_until);
    return best;
  }

  /** The latest occurrence of an auto-arm schedule at or before `now` (within a week), or null. */
  latestOccurrence(a: AutoArmConfig, now: number): number | null {
    const minutes = hhmm(a.time);
    if (minutes === null) return null;
    const offset = (this.settings.utc_offset_min ?? 0) * 60_000;
    const local = now + offset;
    const dayStart = Math.floor(local / DAY_MS) * DAY_MS;
    for (let d = 0; d <= 7; d++) {
      const cand = dayStart - d * DAY_MS + minutes * 60_000;
      if (cand > local) continue;
      if (!a.days || a.days.includes(new Date(cand).getUTCDay())) return cand - offset;
    }
    return null;
  }

  // -------------------------------------------------------------------------------------

  private readPartition(raw: unknown, now: number): PartitionState {
    const d = disarmedPartition(now);
    if (!isObj(raw)) return d;
    const mode = ALARM_MODES.includes(raw.mode as AlarmMode) ? (raw.mode as AlarmMode) : 'disarmed';
    const known = (v: unknown): number[] =>
      Array.isArray(v) ? v.filter((z): z is number => isInt(z) && this.zones.has(z)) : [];
    const trips: Record<string, number> = {};
    if (isObj(raw.trips)) {
      for (const [k, v] of Object.entries(raw.trips)) if (isInt(v) && this.zones.has(Number(k))) trips[k] = v;
    }
    const num = (v: unknown, dflt: number) => (isNum(v) ? v : dflt);
    const numOrNull = (v: unknown) => (isNum(v) ? v : null);
    return {
      mode,
      since: num(raw.since, now),
      exit_ms: num(raw.exit_ms, 0),
      exit_done: typeof raw.exit_done === 'boolean' ? raw.exit_done : true,
      pending_since: numOrNull(raw.pending_since),
      entry_ms: num(raw.entry_ms, 0),
      pending_zones: known(raw.pending_zones),
      triggered_since: numOrNull(raw.triggered_since),
      siren_until: numOrNull(raw.siren_until),
      siren_on: raw.siren_on === true,
      bypassed: known(raw.bypassed),
      user: typeof raw.user === 'string' ? raw.user : null,
      confirm_zone: isInt(raw.confirm_zone) ? raw.confirm_zone : null,
      confirm_at: numOrNull(raw.confirm_at),
      confirmed: raw.confirmed === true,
      trips,
      shutdown: known(raw.shutdown),
    };
  }

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
    if (s.keypad.locked_until !== null && now >= s.keypad.locked_until) {
      s.keypad.locked_until = null;
      s.keypad.wrong = 0;
    }
    for (const a of this.settings.auto_arm ?? []) this.autoArm(s, a, now, fx);
  }

  private autoArm(s: AlarmState, a: AutoArmConfig, now: number, fx: AlarmEffect[]): void {
    const key = autoKey(a);
    const occ = this.latestOccurrence(a, now);
    if (occ === null) return;
    const last = s.auto_arm[key];
    if (last !== undefined && occ <= last) return;
    s.auto_arm[key] = occ;
    if (last === undefined || now - occ > DEFAULTS.auto_arm_grace_s * 1000) return;
    const p = s.partitions[String(a.partition)];
    if (p?.mode !== 'disarmed') return;
    const open = this.openZones(s, [a.partition], a.mode);
    if (open.length > 0) {
      fx.push(
        partEvent(
          now,
          CODES.AUTO_ARM_FAILED,
          'new',
          a.partition,
          `Auto-arm failed: zones open ${open.join(', ')}`,
          {
            zones: open,
            mode: a.mode,
          },
        ),
      );
      return;
    }
    this.arm(s, a.mode, a.partition, false, 'auto', now, fx, CODES.OPEN_CLOSE_AUTO);
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
      if (p.mode === 'disarmed') fx.push({ kind: 'chime', partition: z.partition ?? 1, zone: z.zone });
      return;
    }
    if (!BURGLARY_TYPES.has(z.type)) {
      if (p.bypassed.includes(z.zone)) return; // only a tamper zone, bypassed by the installer
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
      p.entry_ms = this.entryDelayS(z, p.mode) * 1000;
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
    const burglary = BURGLARY_TYPES.has(z.type) && p.mode !== 'disarmed';
    if (burglary) {
      // Swinger shutdown: more than swinger_limit alarms in one armed period silences the zone.
      if (p.shutdown.includes(z.zone)) return;
      const n = (p.trips[String(z.zone)] ?? 0) + 1;
      if (n > (this.settings.swinger_limit ?? DEFAULTS.swinger_limit)) {
        p.shutdown.push(z.zone);
        fx.push(this.event(CODES.SWINGER, 'new', z, t, { trips: n - 1 }));
        return;
      }
      p.trips[String(z.zone)] = n;
    }
    fx.push(this.event(code, 'new', z, t));
    if (zs.open === true) zs.alarmed = true;
    else fx.push(this.event(code, 'restore', z, t));
    p.triggered_since ??= t;
    if (burglary) this.confirm(p, z, t, fx);
    if (SIREN_TYPES.has(z.type)) {
      const until = t + this.settings.siren_time_s * 1000;
      p.siren_until = Math.max(p.siren_until ?? 0, until);
      if (!p.siren_on && now < p.siren_until) {
        p.siren_on = true;
        fx.push({ kind: 'siren', partition: z.partition ?? 1, on: true });
      }
    }
  }

  /** EN 50131-9 sequential confirmation: a second, different burglary zone within the window. */
  private confirm(p: PartitionState, z: ZoneConfig, t: number, fx: AlarmEffect[]): void {
    if (p.confirmed) return;
    const window = (this.settings.confirm_window_s ?? DEFAULTS.confirm_window_s) * 1000;
    if (p.confirm_zone === null || p.confirm_at === null || t > p.confirm_at + window) {
      p.confirm_zone = z.zone;
      p.confirm_at = t;
      return;
    }
    if (z.zone === p.confirm_zone) return;
    p.confirmed = true;
    fx.push(this.event(CODES.CONFIRMED, 'new', z, t, { first_zone: p.confirm_zone }));
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
        CODES.RF_LOW_BATTERY,
        active ? 'new' : 'restore',
        z?.partition ?? 1,
        z?.zone ?? null,
        device,
        `${describe(CODES.RF_LOW_BATTERY)}: ${z?.name ?? device}`,
      ),
    });
  }

  /** Burglary zones open in the given partitions that would guard in `mode` (and are not bypassed). */
  private openZones(s: AlarmState, ids: number[], mode: AlarmMode): number[] {
    const open: number[] = [];
    for (const id of ids) {
      const p = s.partitions[String(id)]!;
      for (const z of this.zonesOf(id)) {
        if (
          BURGLARY_TYPES.has(z.type) &&
          activeInMode(z, mode) &&
          !p.bypassed.includes(z.zone) &&
          s.zones[String(z.zone)]?.open === true
        ) {
          open.push(z.zone);
        }
      }
    }
    return open;
  }

  private arm(
    s: AlarmState,
    mode: string,
    partition: number | undefined,
    force: boolean,
    user: string,
    now: number,
    fx: AlarmEffect[],
    closingCode: string = CODES.OPEN_CLOSE_USER,
  ): CommandOutcome {
    if (!ALARM_MODES.includes(mode as AlarmMode)) {
      return { ok: false, code: 'E_UNSUPPORTED_MODE', message: `mode ${mode} is not supported` };
    }
    const target = mode as AlarmMode;
    const ids = this.targets(partition);
    if (!ids) return unknownPartition(partition);
    const open = this.openZones(s, ids, target);
    if (open.length > 0 && !force) {
      return {
        ok: false,
        code: 'E_ZONE_OPEN',
        message: `cannot arm: zones open: ${open.join(', ')}`,
        data: { zones: open },
      };
    }
    for (const id of ids) {
      const p = s.partitions[String(id)]!;
      if (p.mode === target) continue;
      const wasDisarmed = p.mode === 'disarmed';
      for (const z of this.zonesOf(id)) {
        if (!open.includes(z.zone) || p.bypassed.includes(z.zone)) continue;
        fx.push(this.event(CODES.BYPASS_ZONE, 'new', z, now, { user, forced: true }));
        p.bypassed.push(z.zone);
      }
      p.mode = target;
      p.since = now;
      p.exit_ms = this.exitDelayMs(id, target as ArmedMode);
      p.exit_done = false;
      p.pending_since = null;
      p.pending_zones = [];
      if (wasDisarmed) {
        p.triggered_since = null;
        p.confirm_zone = null;
        p.confirm_at = null;
        p.confirmed = false;
        p.trips = {};
        p.shutdown = [];
      }
      p.user = user;
      fx.push(
        partEvent(now, closingCode, 'restore', id, `Closing (${target}) by ${user}`, { user, mode: target }),
      );
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
      if (wasArmed) fx.push(partEvent(now, CODES.OPEN_CLOSE_USER, 'new', id, `Opening by ${user}`, { user }));
      if ((wasArmed && p.triggered_since !== null) || p.siren_on) {
        fx.push(partEvent(now, CODES.CANCEL, 'new', id, `Alarm cancelled by ${user}`, { user }));
      }
      if (p.siren_on) fx.push({ kind: 'siren', partition: id, on: false });
      for (const zn of p.bypassed) {
        const z = this.zones.get(zn);
        if (z) fx.push(this.event(CODES.BYPASS_ZONE, 'restore', z, now, { user }));
      }
      for (const zn of p.shutdown) {
        const z = this.zones.get(zn);
        if (z) fx.push(this.event(CODES.SWINGER, 'restore', z, now, { user }));
      }
      s.partitions[String(id)] = { ...disarmedPartition(now), user };
    }
    return { ok: true };
  }

  /** Bypass or unbypass zones; only while their partition is disarmed, all or nothing. */
  private bypass(
    s: AlarmState,
    zones: number[],
    on: boolean,
    partition: number | undefined,
    user: string,
    installer: boolean,
    now: number,
    fx: AlarmEffect[],
  ): CommandOutcome {
    const ids = this.targets(partition);
    if (!ids) return unknownPartition(partition);
    const list: ZoneConfig[] = [];
    for (const zn of zones) {
      const z = this.zones.get(zn);
      if (!z || !ids.includes(z.partition ?? 1)) {
        return { ok: false, code: 'E_UNKNOWN_ZONE', message: `no zone ${zn}`, data: { zones: [zn] } };
      }
      if (s.partitions[String(z.partition ?? 1)]!.mode !== 'disarmed') {
        return {
          ok: false,
          code: 'E_ARMED',
          message: `partition ${z.partition ?? 1} is armed`,
          data: { zones: [zn] },
        };
      }
      const allowed = BURGLARY_TYPES.has(z.type) || (z.type === 'tamper_24h' && installer);
      if (!allowed) {
        return {
          ok: false,
          code: 'E_NOT_BYPASSABLE',
          message: `zone ${zn} (${z.type}) cannot be bypassed`,
          data: { zones: [zn] },
        };
      }
      list.push(z);
    }
    const changed: number[] = [];
    for (const z of list) {
      const p = s.partitions[String(z.partition ?? 1)]!;
      const has = p.bypassed.includes(z.zone);
      if (on === has) continue;
      p.bypassed = on ? [...p.bypassed, z.zone] : p.bypassed.filter((x) => x !== z.zone);
      changed.push(z.zone);
      fx.push(this.event(CODES.BYPASS_ZONE, on ? 'new' : 'restore', z, now, { user }));
    }
    return { ok: true, data: { zones: changed } };
  }

  private keypad(
    s: AlarmState,
    input: Extract<AlarmInput, { type: 'keypad' }>,
    now: number,
    fx: AlarmEffect[],
  ): CommandOutcome {
    const auth: CodeCheck = input.auth;
    const part = input.partition ?? this.partitionIds[0]!;
    // A duress code always works (lockout, permissions and schedules would give it away).
    if (auth.kind === 'duress') {
      s.keypad.wrong = 0;
      const out = this.keypadAction(s, input.action, input, auth.user, false, now, fx);
      fx.push(
        partEvent(now, CODES.DURESS, 'new', part, `${describe(CODES.DURESS)} (${auth.user})`, {
          user: auth.user,
        }),
      );
      return out;
    }
    if (s.keypad.locked_until !== null && now < s.keypad.locked_until) {
      return {
        ok: false,
        code: 'E_LOCKED_OUT',
        message: 'keypad locked out',
        data: { until: s.keypad.locked_until },
      };
    }
    if (auth.kind === 'invalid') {
      s.keypad.wrong += 1;
      const limit = this.settings.lockout_attempts ?? DEFAULTS.lockout_attempts;
      if (s.keypad.wrong >= limit) {
        s.keypad.locked_until = now + (this.settings.lockout_s ?? DEFAULTS.lockout_s) * 1000;
        fx.push(
          partEvent(now, CODES.WRONG_CODE, 'new', part, `${describe(CODES.WRONG_CODE)}: keypad locked`, {
            attempts: s.keypad.wrong,
          }),
        );
        s.keypad.wrong = 0;
        return {
          ok: false,
          code: 'E_LOCKED_OUT',
          message: 'keypad locked out',
          data: { until: s.keypad.locked_until },
        };
      }
      return { ok: false, code: 'E_BAD_CODE', message: 'wrong code' };
    }
    s.keypad.wrong = 0;
    if (auth.kind === 'installer') {
      if (input.action === 'bypass' || input.action === 'unbypass') {
        return this.keypadAction(s, input.action, input, 'installer', true, now, fx);
      }
      return { ok: false, code: 'E_FORBIDDEN', message: 'the installer code cannot arm or disarm' };
    }
    const u = this.users.get(auth.user);
    if (!u) return { ok: false, code: 'E_BAD_CODE', message: 'unknown user' };
    const need: Permission = input.action === 'unbypass' ? 'bypass' : input.action;
    if (!u.permissions.includes(need)) {
      return { ok: false, code: 'E_FORBIDDEN', message: `user ${u.user} may not ${need}` };
    }
    if (u.schedule && !this.inSchedule(u.schedule, now)) {
      return { ok: false, code: 'E_OUTSIDE_SCHEDULE', message: `user ${u.user} is outside their schedule` };
    }
    return this.keypadAction(s, input.action, input, u.user, false, now, fx);
  }

  private keypadAction(
    s: AlarmState,
    action: KeypadAction,
    input: Extract<AlarmInput, { type: 'keypad' }>,
    user: string,
    installer: boolean,
    now: number,
    fx: AlarmEffect[],
  ): CommandOutcome {
    switch (action) {
      case 'arm':
        return this.arm(s, input.mode ?? 'armed_away', input.partition, input.force === true, user, now, fx);
      case 'disarm':
        return this.disarm(s, input.partition, user, now, fx);
      case 'bypass':
      case 'unbypass':
        return this.bypass(
          s,
          input.zones ?? [],
          action === 'bypass',
          input.partition,
          user,
          installer,
          now,
          fx,
        );
    }
  }

  private inSchedule(sch: NonNullable<UserConfig['schedule']>, now: number): boolean {
    const from = hhmm(sch.from);
    const to = hhmm(sch.to);
    if (from === null || to === null) return false;
    const local = now + (this.settings.utc_offset_min ?? 0) * 60_000;
    const minute = Math.floor((((local % DAY_MS) + DAY_MS) % DAY_MS) / 60_000);
    const day = new Date(local).getUTCDay();
    if (from <= to) return sch.days.includes(day) && minute >= from && minute < to;
    // wraps midnight: the part after midnight belongs to the previous day's window
    if (minute >= from) return sch.days.includes(day);
    return minute < to && sch.days.includes((day + 6) % 7);
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

  /** Zone override, else the mode's timing, else the premises default. */
  private entryDelayS(z: ZoneConfig, mode: AlarmMode): number {
    const m = mode === 'disarmed' ? undefined : this.settings.modes?.[mode];
    return z.entry_delay_s ?? m?.entry_delay_s ?? this.settings.entry_delay_s;
  }

  private exitDelayMs(partition: number, mode: ArmedMode): number {
    const base = this.settings.modes?.[mode]?.exit_delay_s ?? this.settings.exit_delay_s;
    const delays = this.zonesOf(partition)
      .filter((z) => z.type === 'entry_exit' && activeInMode(z, mode))
      .map((z) => z.exit_delay_s ?? base);
    return (delays.length ? Math.max(...delays) : base) * 1000;
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

/** Away and vacation guard every zone; home and night skip home_bypass zones (followers by default). */
export function activeInMode(z: ZoneConfig, mode: AlarmMode): boolean {
  if (mode === 'disarmed') return false;
  if (mode === 'armed_away' || mode === 'armed_vacation') return true;
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
    confirm_zone: null,
    confirm_at: null,
    confirmed: false,
    trips: {},
    shutdown: [],
  };
}

function readZone(raw: unknown): ZoneState {
  if (!isObj(raw)) return { open: null, alarmed: false };
  return {
    open: typeof raw.open === 'boolean' ? raw.open : null,
    alarmed: raw.alarmed === true,
  };
}

function autoKey(a: AutoArmConfig): string {
  return `${a.partition}@${a.time}@${(a.days ?? []).join('')}@${a.mode}`;
}

/** Minutes after midnight of "HH:MM", or null. */
function hhmm(s: string): number | null {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(s);
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}
function isInt(v: unknown): v is number {
  return Number.isInteger(v);
}

function unknownPartition(partition: number | undefined): CommandOutcome {
  return { ok: false, code: 'E_UNKNOWN_PARTITION', message: `no partition ${partition}` };
}

function describe(code: string): string {
  const d = contactId(code)?.description ?? `Event ${code}`;
  return d.replace(/: Non-specific$/, '');
}

function partEvent(
  ts: number,
  code: string,
  qualifier: 'new' | 'restore',
  partition: number,
  text: string,
  data?: Record<string, unknown>,
): AlarmEffect {
  return { kind: 'event', event: draft(ts, code, qualifier, partition, null, null, text, data) };
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
