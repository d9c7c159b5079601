import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { pino } from 'pino';
import { auditPlugin } from './plugins/app/audit/audit.plugin.js';
import { authPlugin } from './plugins/app/auth/auth.plugin.js';
import { commandsPlugin } from './plugins/app/commands/commands.plugin.js';
import { demoPlugin } from './plugins/app/demo/demo.plugin.js';
import { gatewayConfigPlugin } from './plugins/app/gateway-config/gateway-config.plugin.js';
import { gatewaysPlugin } from './plugins/app/gateways/gateways.plugin.js';
import { ingestPlugin } from './plugins/app/ingest/ingest.plugin.js';
import { monitoringPlugin } from './plugins/app/monitoring/monitoring.plugin.js';
import { brokerPlugin } from './plugins/external/broker/broker.plugin.js';
import { dbPlugin } from './plugins/external/db/db.plugin.js';
import { type CloudConfig, envPlugin, loadConfig } from './plugins/external/env.plugin.js';
import { httpPlugin } from './plugins/external/http.plugin.js';
import { metricsPlugin } from './plugins/external/metrics.plugin.js';
import { staticPlugin } from './plugins/external/static.plugin.js';
import { apiRoutes } from './routes/api/index.js';

export interface BuildAppOptions {
  /** Overrides on top of the environment (or on top of `env` when given). */
  config?: Partial<CloudConfig>;
  /** Environment to read instead of process.env (see docs/contracts.md). */
  env?: NodeJS.ProcessEnv;
  /** A pino logger; default: JSON lines on stdout at config.logLevel. */
  logger?: FastifyBaseLogger;
}

export type CloudApp = FastifyInstance;

/** A pino logger: JSON lines, pretty-printing left to the reader (`| pino-pretty` on a TTY). */
export function createLogger(level: string): FastifyBaseLogger {
  return pino({ level, base: { service: 'cloud' } });
}

/**
 * Builds the cloud and makes it ready: database migrated, MQTT broker listening (on
 * config.mqttPort; 0 = any free port, see app.broker.ports). HTTP is served by
 * `app.listen()` or exercised with `app.inject()`. `app.close()` stops everything.
 */
export async function buildApp(opts: BuildAppOptions = {}): Promise<CloudApp> {
  const config: CloudConfig = { ...loadConfig(opts.env ?? process.env), ...opts.config };
  const logger = opts.logger ?? createLogger(config.logLevel);
  const app = Fastify({
    loggerInstance: logger,
    // Per-request lines would drown the ingest logs; failures are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    bodyLimit: 1024 * 1024,
  }).withTypeProvider<TypeBoxTypeProvider>();

  await app.register(envPlugin, { config });
  await app.register(metricsPlugin);
  await app.register(httpPlugin);
  await app.register(dbPlugin);
  await app.register(auditPlugin);
  await app.register(gatewaysPlugin);
  await app.register(brokerPlugin);
  await app.register(monitoringPlugin);
  await app.register(commandsPlugin);
  await app.register(gatewayConfigPlugin);
  await app.register(ingestPlugin);
  await app.register(authPlugin);
  await app.register(demoPlugin);
  await app.register(apiRoutes);
  await app.register(staticPlugin);
  await app.ready();
  return app as unknown as CloudApp;
}

/** The ports a started cloud serves on. */
export function boundPorts(app: CloudApp): {
  http_port: number | null;
  mqtt_port: number;
  mqtts_port: number | null;
} {
  const addr = app.server.address();
  return {
    http_port: typeof addr === 'object' && addr ? addr.port : null,
    mqtt_port: app.broker.ports.mqtt,
    mqtts_port: app.broker.ports.mqtts,
  };
}
