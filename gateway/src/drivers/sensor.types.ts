/** What a driver reports about one device after one message, in Mertah's terms. */
export type SensorAttribute =
  | 'contact_open'
  | 'occupancy'
  | 'smoke'
  | 'water_leak'
  | 'gas'
  | 'carbon_monoxide'
  | 'tamper'
  | 'battery_low';

export interface SensorReading {
  attribute: SensorAttribute;
  /** true = open / detected / alarm condition; false = closed / clear. Unknown is never reported. */
  active: boolean;
}

export interface TelemetryReading {
  metric: string;
  value: number;
}

export interface SensorMessage {
  source: string;
  device: string;
  ts: number;
  readings: SensorReading[];
  telemetry: TelemetryReading[];
}
