import { GatewayId, PremisesConfig } from '@mertah/protocol';
import { type Static, Type } from '@sinclair/typebox';

/** The gateway's config file (docs/contracts.md, "gateway"): JSON, snake_case. */
export const CloudSettings = Type.Object(
  {
    url: Type.String({ pattern: '^mqtts?://.+', description: 'cloud broker, mqtt:// or mqtts://' }),
    secret: Type.String({ minLength: 1, maxLength: 512 }),
    ca_file: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null }),
    keepalive_s: Type.Integer({ minimum: 5, maximum: 3600, default: 30 }),
  },
  { additionalProperties: false },
);

export const EmbeddedBrokerSettings = Type.Object(
  {
    host: Type.String({ minLength: 1, default: '127.0.0.1' }),
    port: Type.Integer({ minimum: 0, maximum: 65_535, default: 1884 }),
  },
  { additionalProperties: false },
);

export const PremisesBrokerSettings = Type.Object(
  {
    url: Type.String({ pattern: '^mqtts?://.+', default: 'mqtt://127.0.0.1:1883' }),
    embedded: Type.Optional(EmbeddedBrokerSettings),
    base_topic: Type.String({ pattern: '^[^#+]+$', default: 'zigbee2mqtt' }),
  },
  { additionalProperties: false },
);

export const OutboxSettings = Type.Object(
  {
    max_records: Type.Integer({ minimum: 100, maximum: 100_000_000, default: 200_000 }),
    batch_size: Type.Integer({ minimum: 1, maximum: 1000, default: 500 }),
    window: Type.Integer({ minimum: 1, maximum: 100_000, default: 5000 }),
  },
  { additionalProperties: false },
);

const PointName = Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' });

/** One register or bit of a Modbus device (drivers/modbus.ts). */
export const ModbusPointSettings = Type.Object(
  {
    name: PointName,
    table: Type.Union([
      Type.Literal('discrete_input'),
      Type.Literal('coil'),
      Type.Literal('input_register'),
      Type.Literal('holding_register'),
    ]),
    address: Type.Integer({ minimum: 0, maximum: 65_535, description: '0-based protocol address' }),
    kind: Type.Union([Type.Literal('zone'), Type.Literal('analog'), Type.Literal('output')]),
    zone: Type.Optional(Type.Integer({ minimum: 1, maximum: 9999, description: 'premises zone it drives' })),
    active_low: Type.Optional(Type.Boolean({ description: 'bit 0 = open/active (normally-closed loop)' })),
    signed: Type.Optional(Type.Boolean({ description: 'register is int16, not uint16' })),
    scale: Type.Optional(Type.Number({ description: 'value = raw * scale + offset' })),
    offset: Type.Optional(Type.Number()),
    unit: Type.Optional(Type.String({ maxLength: 16 })),
    low_threshold: Type.Optional(Type.Number()),
    high_threshold: Type.Optional(Type.Number()),
    hysteresis: Type.Optional(Type.Number({ minimum: 0, description: 'band a value must clear to restore' })),
    low_code: Type.Optional(Type.String({ pattern: '^\\d{3}$', description: 'Contact ID code below low' })),
    high_code: Type.Optional(Type.String({ pattern: '^\\d{3}$', description: 'Contact ID code above high' })),
    metric: Type.Optional(PointName),
  },
  { additionalProperties: false },
);

export const ModbusDeviceSettings = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
    transport: Type.Union([Type.Literal('tcp'), Type.Literal('rtu')]),
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
    port: Type.Integer({ minimum: 0, maximum: 65_535, default: 502 }),
    path: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'serial device (rtu)' })),
    baud_rate: Type.Optional(Type.Integer({ minimum: 300, maximum: 921_600 })),
    unit_id: Type.Integer({ minimum: 0, maximum: 255 }),
    poll_ms: Type.Integer({ minimum: 10, maximum: 3_600_000, default: 1000 }),
    timeout_ms: Type.Integer({ minimum: 10, maximum: 60_000, default: 1000 }),
    retries: Type.Integer({ minimum: 0, maximum: 10, default: 2 }),
    telemetry_ms: Type.Integer({
      minimum: 0,
      maximum: 86_400_000,
      default: 60_000,
      description: 'an unchanged analog value is re-sent this often',
    }),
    points: Type.Array(ModbusPointSettings, { minItems: 1, maxItems: 1024 }),
  },
  { additionalProperties: false },
);

export const ModbusSettings = Type.Object(
  {
    devices: Type.Array(ModbusDeviceSettings, { maxItems: 64 }),
    siren_output: Type.Optional(Type.String({ description: '"device/point" or a unique point name' })),
  },
  { additionalProperties: false },
);

/** One panel zone input the gateway follows: an expander channel (`!EXP`) or an RF loop (`!RFX`). */
export const SerialPanelZoneSettings = Type.Object(
  {
    zone: Type.Integer({ minimum: 1, maximum: 9999, description: 'premises zone it drives' }),
    expander: Type.Optional(
      Type.Object(
        {
          address: Type.Integer({ minimum: 0, maximum: 99 }),
          channel: Type.Integer({ minimum: 0, maximum: 99 }),
        },
        { additionalProperties: false },
      ),
    ),
    rf_serial: Type.Optional(
      Type.String({ pattern: '^[0-9A-Za-z]{1,16}$', description: 'RF sensor serial' }),
    ),
    loop: Type.Optional(Type.Integer({ minimum: 1, maximum: 4, description: 'RF loop (default 1)' })),
  },
  { additionalProperties: false },
);

/** A wired panel behind an AlarmDecoder-compatible (AD2) serial interface (drivers/serial.ts). */
export const SerialPanelSettings = Type.Object(
  {
    path: Type.String({ minLength: 1, maxLength: 256, description: 'serial device, e.g. /dev/ttyUSB0' }),
    baud_rate: Type.Integer({ minimum: 300, maximum: 921_600, default: 115_200 }),
    zones: Type.Array(SerialPanelZoneSettings, { maxItems: 512, default: [] }),
  },
  { additionalProperties: false },
);

export const LogLevel = Type.Union(
  ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
  { default: 'info' },
);

export const GatewayConfig = Type.Object(
  {
    gateway_id: GatewayId,
    data_dir: Type.String({ minLength: 1 }),
    cloud: CloudSettings,
    premises_broker: Type.Object(PremisesBrokerSettings.properties, {
      additionalProperties: false,
      default: {},
    }),
    outbox: Type.Object(OutboxSettings.properties, { additionalProperties: false, default: {} }),
    premises: Type.Object(PremisesConfig.properties, {
      additionalProperties: false,
      default: { version: 0, zones: [] },
    }),
    log_level: LogLevel,
    /** How long a remote `siren_test` command sounds the siren. */
    siren_test_s: Type.Optional(Type.Integer({ minimum: 1, maximum: 60, description: 'default 5' })),
    /** Absent = no Modbus devices; every nested error is reported (a union would hide them). */
    modbus: Type.Optional(ModbusSettings),
    /** Absent = no serial panel (not a union with null: a union would hide nested errors). */
    serial_panel: Type.Optional(SerialPanelSettings),
    /** zigbee2mqtt friendly names of sirens that follow the alarm's siren (`<name>/set` warning). */
    zigbee_sirens: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 32 })),
    /** Device supervision (Contact ID 381): grade 2 = 2 h, grade 3 = 20 min; interval_s overrides. */
    supervision: Type.Optional(
      Type.Object(
        {
          grade: Type.Optional(Type.Union([Type.Literal(2), Type.Literal(3)], { description: 'default 2' })),
          interval_s: Type.Optional(Type.Integer({ minimum: 10, maximum: 86_400 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export type GatewayConfig = Static<typeof GatewayConfig>;
export type CloudSettings = Static<typeof CloudSettings>;
export type PremisesBrokerSettings = Static<typeof PremisesBrokerSettings>;
export type OutboxSettings = Static<typeof OutboxSettings>;
export type ModbusSettings = Static<typeof ModbusSettings>;
export type ModbusDeviceSettings = Static<typeof ModbusDeviceSettings>;
export type ModbusPointSettings = Static<typeof ModbusPointSettings>;
export type SerialPanelSettings = Static<typeof SerialPanelSettings>;
export type SerialPanelZoneSettings = Static<typeof SerialPanelZoneSettings>;
