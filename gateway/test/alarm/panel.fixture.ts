import type { ZoneConfig } from '@mertah/protocol';
import {
  type AlarmEffect,
  type AlarmInput,
  AlarmMachine,
  type AlarmSettings,
  type AlarmState,
  type CodeCheck,
  type EventDraft,
} from '../../src/index.js';

export const S = 1000;
export const MIN = 60 * S;
/** Wednesday 2025-01-01 12:00 UTC. */
export const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

export const PANEL_ZONES: ZoneConfig[] = [
  { zone: 1, name: 'Front door', type: 'entry_exit', partition: 1, device: 'front_door' },
  { zone: 2, name: 'Kitchen window', type: 'instant', partition: 1, device: 'kitchen_window' },
  { zone: 3, name: 'Hall motion', type: 'interior_follower', partition: 1, device: 'hall_motion' },
  { zone: 4, name: 'Living smoke', type: 'fire_24h', partition: 1, device: 'living_smoke' },
  { zone: 5, name: 'Kitchen leak', type: 'water_24h', partition: 1, device: 'kitchen_leak' },
  { zone: 6, name: 'Boiler gas', type: 'gas_24h', partition: 1, device: 'boiler_gas' },
  { zone: 7, name: 'Hall CO', type: 'co_24h', partition: 1, device: 'hall_co' },
  { zone: 8, name: 'Panic button', type: 'panic_24h', partition: 1, device: 'panic_button' },
  { zone: 9, name: 'Medical pendant', type: 'medical_24h', partition: 1, device: 'pendant' },
  { zone: 10, name: 'Siren box', type: 'tamper_24h', partition: 1, device: 'siren_box' },
  { zone: 11, name: 'Back door chime', type: 'chime', partition: 1, device: 'back_door' },
  { zone: 12, name: 'Garage', type: 'instant', partition: 1, device: 'garage', home_bypass: true },
  { zone: 13, name: 'Side door', type: 'entry_exit', partition: 1, device: 'side_door', entry_delay_s: 5 },
  { zone: 20, name: 'Shop door', type: 'entry_exit', partition: 2, device: 'shop_door' },
  { zone: 21, name: 'Shop motion', type: 'interior_follower', partition: 2, device: 'shop_motion' },
];

export const PANEL: AlarmSettings = {
  entry_delay_s: 30,
  exit_delay_s: 60,
  siren_time_s: 180,
  zones: PANEL_ZONES,
  modes: {
    armed_night: { entry_delay_s: 15, exit_delay_s: 10 },
    armed_vacation: { entry_delay_s: 45, exit_delay_s: 120 },
  },
  users: [
    { user: 'alice', name: 'Alice', code_hash: 'scrypt$x', permissions: ['arm', 'disarm', 'bypass'] },
    { user: 'bob', name: 'Bob', code_hash: 'scrypt$x', permissions: ['arm'] },
    {
      user: 'cleaner',
      name: 'Cleaner',
      code_hash: 'scrypt$x',
      permissions: ['arm', 'disarm'],
      schedule: { days: [1, 2, 3, 4, 5], from: '09:00', to: '17:00' },
    },
    {
      user: 'guard',
      name: 'Night guard',
      code_hash: 'scrypt$x',
      permissions: ['arm', 'disarm'],
      schedule: { days: [3], from: '22:00', to: '06:00' },
    },
    { user: 'alice_duress', name: 'Alice (duress)', code_hash: 'scrypt$x', permissions: [], duress: true },
  ],
  auto_arm: [{ partition: 2, time: '22:00', days: [1, 2, 3, 4, 5], mode: 'armed_away' }],
  utc_offset_min: 60,
};

export const ALICE: CodeCheck = { kind: 'user', user: 'alice' };
export const BOB: CodeCheck = { kind: 'user', user: 'bob' };
export const DURESS: CodeCheck = { kind: 'duress', user: 'alice_duress' };
export const INSTALLER: CodeCheck = { kind: 'installer' };
export const WRONG: CodeCheck = { kind: 'invalid' };

/** Drives the pure machine with an injected clock. */
export class Panel {
  state: AlarmState;
  now: number;
  effects: AlarmEffect[] = [];
  lastResult: unknown;
  constructor(
    readonly m = new AlarmMachine(PANEL),
    start = T0,
  ) {
    this.now = start;
    this.state = m.initial(start);
  }
  send(input: AlarmInput): AlarmEffect[] {
    const t = this.m.next(this.state, input, this.now);
    this.state = t.state;
    this.effects.push(...t.effects);
    this.lastResult = t.result;
    return t.effects;
  }
  /** Moves the clock to T0 + seconds and ticks. */
  at(seconds: number): this {
    this.now = T0 + seconds * S;
    this.send({ type: 'tick' });
    return this;
  }
  open(...zones: number[]): this {
    for (const zone of zones) this.send({ type: 'zone', zone, open: true });
    return this;
  }
  close(...zones: number[]): this {
    for (const zone of zones) this.send({ type: 'zone', zone, open: false });
    return this;
  }
  pulse(zone: number): this {
    return this.open(zone).close(zone);
  }
  arm(mode = 'armed_away', partition?: number, force = false): this {
    this.send({ type: 'arm', mode, partition, force, user: 'op' });
    return this;
  }
  disarm(partition?: number): this {
    this.send({ type: 'disarm', partition, user: 'op' });
    return this;
  }
  key(auth: CodeCheck, action: 'arm' | 'disarm' | 'bypass' | 'unbypass', extra: object = {}): this {
    this.send({ type: 'keypad', action, auth, ...extra });
    return this;
  }
  events(): EventDraft[] {
    return this.effects.filter((e) => e.kind === 'event').map((e) => e.event);
  }
  /** Event codes as `code+zone` (new) or `code-zone` (restore); zone empty for partition events. */
  codes(): string[] {
    return this.events().map((e) => `${e.code}${e.qualifier === 'new' ? '+' : '-'}${e.zone ?? ''}`);
  }
  sirens(): Array<{ partition: number; on: boolean }> {
    return this.effects.flatMap((e) => (e.kind === 'siren' ? [{ partition: e.partition, on: e.on }] : []));
  }
  phase(partition = 1): string {
    return this.m.status(this.state, this.now).find((p) => p.partition === partition)!.state;
  }
  mode(partition = 1): string {
    return this.m.status(this.state, this.now).find((p) => p.partition === partition)!.mode;
  }
  clear(): this {
    this.effects = [];
    return this;
  }
}
