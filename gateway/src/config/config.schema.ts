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
  },
  { additionalProperties: false },
);

export type GatewayConfig = Static<typeof GatewayConfig>;
export type CloudSettings = Static<typeof CloudSettings>;
export type PremisesBrokerSettings = Static<typeof PremisesBrokerSettings>;
export type OutboxSettings = Static<typeof OutboxSettings>;
