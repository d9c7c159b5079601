import type { ZoneConfig } from '@mertah/protocol';
import type { AlarmSettings } from '../../src/index.js';

export const ZONES: ZoneConfig[] = [
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
];

export const SETTINGS: AlarmSettings = {
  entry_delay_s: 30,
  exit_delay_s: 60,
  siren_time_s: 180,
  zones: ZONES,
};

export const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
export const S = 1000;
