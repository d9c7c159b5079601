/**
 * Device profiles the emulator can pair: models, vendors and state keys as zigbee2mqtt
 * publishes them for real devices (see ../shared/corpora for captured payloads).
 */
export type DeviceKind = 'contact' | 'motion' | 'water_leak' | 'smoke' | 'vibration' | 'siren';

export interface DeviceProfile {
  kind: DeviceKind;
  model: string;
  vendor: string;
  description: string;
  model_id: string;
  power_source: 'Battery' | 'Mains (single phase)';
  /** The state zigbee2mqtt publishes for a device at rest. */
  initial: Record<string, unknown>;
}

export const PROFILES: Record<DeviceKind, DeviceProfile> = {
  contact: {
    kind: 'contact',
    model: 'MCCGQ11LM',
    vendor: 'Aqara',
    description: 'Door and window sensor',
    model_id: 'lumi.sensor_magnet.aq2',
    power_source: 'Battery',
    // contact: true = magnet present = CLOSED.
    initial: { contact: true, battery: 100, voltage: 3055, device_temperature: 24, linkquality: 120 },
  },
  motion: {
    kind: 'motion',
    model: 'RTCGQ11LM',
    vendor: 'Aqara',
    description: 'Motion sensor',
    model_id: 'lumi.sensor_motion.aq2',
    power_source: 'Battery',
    initial: {
      occupancy: false,
      battery: 100,
      voltage: 3175,
      illuminance: 0,
      illuminance_lux: 0,
      linkquality: 96,
    },
  },
  water_leak: {
    kind: 'water_leak',
    model: 'SJCGQ11LM',
    vendor: 'Aqara',
    description: 'Water leak sensor',
    model_id: 'lumi.sensor_wleak.aq1',
    power_source: 'Battery',
    initial: {
      water_leak: false,
      battery_low: false,
      tamper: false,
      battery: 100,
      voltage: 3025,
      linkquality: 84,
    },
  },
  smoke: {
    kind: 'smoke',
    model: 'JTYJ-GD-01LM/BW',
    vendor: 'Xiaomi',
    description: 'Mijia Honeywell smoke detector',
    model_id: 'lumi.sensor_smoke',
    power_source: 'Battery',
    initial: { smoke: false, smoke_density: 0, battery: 100, voltage: 3075, linkquality: 102 },
  },
  vibration: {
    kind: 'vibration',
    model: 'DJT11LM',
    vendor: 'Aqara',
    description: 'Vibration sensor',
    model_id: 'lumi.vibration.aq1',
    power_source: 'Battery',
    initial: { vibration: false, strength: 0, battery: 100, voltage: 3015, linkquality: 78 },
  },
  siren: {
    kind: 'siren',
    model: 'HESZB-120',
    vendor: 'HEIMAN',
    description: 'Smart siren',
    model_id: 'SKHMP30-I1',
    power_source: 'Mains (single phase)',
    initial: { warning: { mode: 'stop' }, linkquality: 140 },
  },
};
