import type { ZoneConfig, ZoneType } from '@mertah/protocol';

export type AlarmMode = 'disarmed' | 'armed_away' | 'armed_home' | 'armed_night';
export const ALARM_MODES: readonly AlarmMode[] = ['disarmed', 'armed_away', 'armed_home', 'armed_night'];

/** Derived from the stored state and the clock, Home Assistant style. */
export type PartitionPhase = 'disarmed' | 'arming' | 'armed' | 'pending' | 'triggered';

/** The premises settings the machine runs on (a subset of protocol PremisesConfig). */
export interface AlarmSettings {
  entry_delay_s: number;
  exit_delay_s: number;
  siren_time_s: number;
  zones: ZoneConfig[];
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
}

export interface ZoneState {
  /** null = never reported since this zone was configured (unknown, never treated as closed). */
  open: boolean | null;
  /** An alarm ('new') was reported for the current trip and not yet restored. */
  alarmed: boolean;
}

export interface AlarmState {
  v: 1;
  partitions: Record<string, PartitionState>;
  zones: Record<string, ZoneState>;
  troubles: Record<string, { battery_low: boolean }>;
}

export type AlarmInput =
  | { type: 'zone'; zone: number; open: boolean }
  | { type: 'trouble'; device: string; trouble: 'battery_low'; active: boolean }
  | { type: 'arm'; mode: string; partition?: number; force?: boolean; user: string }
  | { type: 'disarm'; partition?: number; user: string }
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

export type AlarmErrorCode = 'E_ZONE_OPEN' | 'E_UNKNOWN_PARTITION' | 'E_UNSUPPORTED_MODE';

export type CommandOutcome =
  | { ok: true; data?: Record<string, unknown> }
  | { ok: false; code: AlarmErrorCode; message: string; data?: Record<string, unknown> };

export interface Transition {
  state: AlarmState;
  effects: AlarmEffect[];
  /** Set for arm/disarm inputs. */
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
