import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export interface CloudConfig {
  host: string;
  /** HTTP port; 0 = any free port. */
  port: number;
  /** MQTT over TCP; 0 = any free port. */
  mqttPort: number;
  /** MQTT over TLS, only when tlsCert and tlsKey are set. */
  mqttsPort: number;
  tlsCert: string | null;
  tlsKey: string | null;
  /** PostgreSQL URL; null = PGlite. */
  databaseUrl: string | null;
  /** Embedded data (PGlite, demo password). null = PGlite in memory, nothing on disk (tests). */
  dataDir: string | null;
  /** Static console; null = none. */
  dashboardDir: string | null;
  demo: boolean;
  demoPassword: string | null;
  demoToken: string | null;
  logLevel: string;
  /** Login attempts per client address per minute. */
  loginRateLimit: number;
  /** SSE keepalive comment interval. */
  sseKeepaliveMs: number;
  /**
   * In-memory PGlite only: a tarball from PGlite's dumpDataDir() to start from instead of
   * running initdb (tests start many throwaway databases).
   */
  pgliteTemplate: string | null;
  /** Largest number of events (plus telemetry points) written by one ingest transaction. */
  ingestMaxRows: number;
}

const here = dirname(fileURLToPath(import.meta.url));
/** dashboard/build next to cloud/, from cloud/src/... and cloud/dist/... alike. */
const DEFAULT_DASHBOARD_DIR = resolve(here, '..', '..', '..', '..', 'dashboard', 'build');

function int(v: string | undefined, fallback: number, name: string): number {
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new Error(`${name} must be a port number, got "${v}"`);
  return n;
}

/** Reads the environment documented in docs/contracts.md. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): CloudConfig {
  const dataDir = resolve(env.MERTAH_DATA_DIR || join('data', 'cloud'));
  const dashboardDir = env.MERTAH_DASHBOARD_DIR
    ? resolve(env.MERTAH_DASHBOARD_DIR)
    : existsSync(DEFAULT_DASHBOARD_DIR)
      ? DEFAULT_DASHBOARD_DIR
      : null;
  return {
    host: env.HOST || '127.0.0.1',
    port: int(env.PORT, 8080, 'PORT'),
    mqttPort: int(env.MQTT_PORT, 1883, 'MQTT_PORT'),
    mqttsPort: int(env.MQTTS_PORT, 8883, 'MQTTS_PORT'),
    tlsCert: env.MQTT_TLS_CERT || null,
    tlsKey: env.MQTT_TLS_KEY || null,
    databaseUrl: env.DATABASE_URL || null,
    dataDir,
    dashboardDir,
    demo: env.MERTAH_DEMO === '1' || env.MERTAH_DEMO === 'true',
    demoPassword: env.MERTAH_DEMO_PASSWORD || null,
    demoToken: env.MERTAH_DEMO_TOKEN || null,
    logLevel: env.LOG_LEVEL || 'info',
    loginRateLimit: 10,
    sseKeepaliveMs: 15_000,
    ingestMaxRows: 5000,
    pgliteTemplate: null,
  };
}

/** Defaults for an embedded, throwaway cloud (tests, benches): ports 0, PGlite in memory. */
export function testConfig(overrides: Partial<CloudConfig> = {}): CloudConfig {
  return {
    ...loadConfig({}),
    port: 0,
    mqttPort: 0,
    mqttsPort: 0,
    dataDir: null,
    dashboardDir: null,
    logLevel: 'silent',
    ...overrides,
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    config: CloudConfig;
  }
}

export const envPlugin = fp(
  async (app: FastifyInstance, opts: { config: CloudConfig }) => {
    app.decorate('config', opts.config);
  },
  { name: 'env' },
);
