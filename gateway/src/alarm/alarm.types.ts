import type { ZoneConfig, ZoneType } from '@mertah/protocol';

export type AlarmMode = 'disarmed' | 'armed_away' | 'armed_home' | 'armed_night' | 'armed_vacation';
export type ArmedMode = Exclude<AlarmMode, 'disarmed'>;
export const ALARM_MODES: readonly AlarmMode[] = [
  'disarmed',
  'armed_away',
  'armed_home',
  'armed_night',
  'armed_vacation',
];

/** Derived from the stored state and the clock, Home Assistant style. */
export type PartitionPhase = 'disarmed' | 'arming' | 'armed' | 'pending' | 'triggered';

export type Permission = 'arm' | 'disarm' | 'bypass';

/** A keypad user (protocol PremisesConfig.users). The code itself is never stored, only its scrypt hash. */
export interface UserConfig {
  user: string;
  name: string;
  code_hash: string;
  permissions: Permission[];
  /** Local time window the code works in; from > to wraps midnight. Days: 0 = Sunday. */
  schedule?: { days: number[]; from: string; to: string };
  /** This code is a duress code: it works like a disarm code and silently reports 121. */
  duress?: boolean;
}

export interface AutoArmConfig {
  partition: number;
  /** Local time of day, HH:MM. */
  time: string;
  /** 0 = Sunday; absent = every day. */
  days?: number[];
  mode: ArmedMode;
}

export interface ModeTimings {
  entry_delay_s?: number;
  exit_delay_s?: number;
}

/** The premises settings the machine runs on (a subset of protocol PremisesConfig). */
export interface AlarmSettings {
  entry_delay_s: number;
  exit_delay_s: number;
  siren_time_s: number;
  zones: ZoneConfig[];
  /** Per-mode delays; a zone's own entry_delay_s/exit_delay_s wins over them. */
  modes?: Partial<Record<ArmedMode, ModeTimings>>;
  /** Confirmed-alarm window after a first burglary alarm (default 1800). */
  confirm_window_s?: number;
  /** Alarms per zone per armed period before swinger shutdown (default 3). */
  swinger_limit?: number;
  users?: UserConfig[];
  installer_code_hash?: string;
  /** Wrong codes in a row before the keypad locks (default 5). */
  lockout_attempts?: number;
  /** Lockout length (default 300). */
  lockout_s?: number;
  auto_arm?: AutoArmConfig[];
  /** Fixed offset of local time from UTC in minutes, for schedules (default 0). */
  utc_offset_min?: number;
}

export interface PartitionState {
  mode: AlarmMode;
  /** When the current mode was set (epoch ms): arming is derived as since <= now < since + exit_ms. */
  since: number;
  exit_ms: number;
  /** The end of the exit delay has been processed (zones left open were checked once). */
  exit_done: boolean;
  /** Start of the running entry delay, or null: pending is derived as now < pending_since + entry_ms. */
  pending_since: number | null;
  entry_ms: number;
  pending_zones: number[];
  /** First alarm of this arming period (or of a 24-hour zone while disarmed). */
  triggered_since: number | null;
  siren_until: number | null;
  siren_on: boolean;
  bypassed: number[];
  user: string | null;
  /** Confirmation: the zone and time that opened the current confirmation window. */
  confirm_zone: number | null;
  confirm_at: number | null;
  /** A confirmed alarm (139) was reported in this armed period. */
  confirmed: boolean;
  /** Burglary alarms per zone in this armed period (swinger counting). */
  trips: Record<string, number>;
  /** Zones shut down as swingers until disarm. */
  shutdown: number[];
}

export interface ZoneState {
  /** null = never reported since this zone was configured (unknown, never treated as closed). */
  open: boolean | null;
  /** An alarm ('new') was reported for the current trip and not yet restored. */
  alarmed: boolean;
}

export interface KeypadState {
  /** Wrong codes in a row. */
  wrong: number;
  locked_until: number | null;
}

export interface AlarmState {
  v: 2;
  partitions: Record<string, PartitionState>;
  zones: Record<string, ZoneState>;
  troubles: Record<string, { battery_low: boolean }>;
  keypad: KeypadState;
  /** Per auto-arm schedule key: the last occurrence (epoch ms) already handled. */
  auto_arm: Record<string, number>;
}

/**
 * What a keypad code turned out to be. Computed outside the machine (scrypt is slow and
 * impure-looking); the machine applies permissions, schedules, lockout and duress to it.
 */
export type CodeCheck =
  | { kind: 'user'; user: string }
  | { kind: 'duress'; user: string }
  | { kind: 'installer' }
  | { kind: 'invalid' };

export type KeypadAction = 'arm' | 'disarm' | 'bypass' | 'unbypass';

export type AlarmInput =
  | { type: 'zone'; zone: number; open: boolean }
  | { type: 'trouble'; device: string; trouble: 'battery_low'; active: boolean }
  /** From the cloud: authenticated upstream, no code; `user` is the command's issued_by. */
  | { type: 'arm'; mode: string; partition?: number; force?: boolean; user: string }
  | { type: 'disarm'; partition?: number; user: string }
  | { type: 'bypass'; zones: number[]; bypass: boolean; partition?: number; user: string }
  /** From a keypad: the entered code, already checked by CodeVerifier. */
  | {
      type: 'keypad';
      action: KeypadAction;
      auth: CodeCheck;
      mode?: string;
      partition?: number;
      zones?: number[];
      force?: boolean;
    }
  | { type: 'tick' };

export interface EventDraft {
  ts: number;
  code: string;
  qualifier: 'new' | 'restore';
  partition: number;
  zone: number | null;
  device: string | null;
  priority: number;
  text: string;
  data?: Record<string, unknown>;
}

export type AlarmEffect =
  | { kind: 'event'; event: EventDraft }
  | { kind: 'siren'; partition: number; on: boolean }
  | { kind: 'chime'; partition: number; zone: number };

export type AlarmErrorCode =
  | 'E_ZONE_OPEN'
  | 'E_UNKNOWN_PARTITION'
  | 'E_UNKNOWN_ZONE'
  | 'E_UNSUPPORTED_MODE'
  | 'E_ARMED'
  | 'E_NOT_BYPASSABLE'
  | 'E_BAD_CODE'
  | 'E_LOCKED_OUT'
  | 'E_FORBIDDEN'
  | 'E_OUTSIDE_SCHEDULE';

export type CommandOutcome =
  | { ok: true; data?: Record<string, unknown> }
  | { ok: false; code: AlarmErrorCode; message: string; data?: Record<string, unknown> };

export interface Transition {
  state: AlarmState;
  effects: AlarmEffect[];
  /** Set for arm/disarm/bypass/keypad inputs. */
  result?: CommandOutcome;
}

export const BURGLARY_TYPES: ReadonlySet<ZoneType> = new Set(['entry_exit', 'instant', 'interior_follower']);

/** Contact ID code of a zone type's alarm; null for chime. */
export const ZONE_CODE: Readonly<Record<ZoneType, string | null>> = {
  entry_exit: '130',
  instant: '130',
  interior_follower: '130',
  fire_24h: '110',
  water_24h: '154',
  gas_24h: '151',
  co_24h: '162',
  panic_24h: '120',
  medical_24h: '100',
  tamper_24h: '137',
  chime: null,
};

/** Zone types whose alarm sounds the siren. Water leaks and medical calls are reported silently. */
export const SIREN_TYPES: ReadonlySet<ZoneType> = new Set([
  'entry_exit',
  'instant',
  'interior_follower',
  'fire_24h',
  'gas_24h',
  'co_24h',
  'panic_24h',
]);

export const DEFAULTS = {
  confirm_window_s: 1800,
  swinger_limit: 3,
  lockout_attempts: 5,
  lockout_s: 300,
  /** An auto-arm occurrence missed by more than this (gateway down) is skipped, not run late. */
  auto_arm_grace_s: 900,
} as const;
