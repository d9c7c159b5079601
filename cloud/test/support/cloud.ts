import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Ack, GatewayEvent } from '@mertah/protocol';
import { topic } from '@mertah/protocol';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import pg from 'pg';
import { buildApp, type CloudApp, type CloudConfig, testConfig } from '../../src/index.js';
import { SYSTEM } from '../../src/plugins/app/auth/roles.js';
import { dumpPglite, openPglite } from '../../src/plugins/external/db/pglite.db.js';
import { MIGRATIONS_DIR, migrate } from '../../src/plugins/external/db/migrate.js';

/**
 * A migrated, empty PGlite database as a tarball, made once per machine and reused: an
 * in-memory PGlite starts from it in about a second instead of running initdb each time.
 */
export async function pgliteTemplate(): Promise<string> {
  const h = createHash('sha256');
  for (const f of readdirSync(MIGRATIONS_DIR).sort())
    h.update(f).update(readFileSync(join(MIGRATIONS_DIR, f)));
  const file = join(
    tmpdir(),
    `mertah-pglite-template-${process.getuid?.() ?? 0}-${h.digest('hex').slice(0, 16)}.tar`,
  );
  if (existsSync(file)) return file;
  const db = await openPglite(null);
  await migrate(db);
  const tmp = `${file}.${process.pid}`;
  await dumpPglite(db, tmp);
  await db.close();
  renameSync(tmp, file);
  return file;
}

/** A fresh, empty database in a running PostgreSQL cluster. */
export async function freshPostgresDb(clusterUrl: string): Promise<string> {
  const name = `t_${randomUUID().replaceAll('-', '')}`;
  const c = new pg.Client({ connectionString: clusterUrl });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(clusterUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function startCloud(overrides: Partial<CloudConfig> = {}): Promise<CloudApp> {
  const template = overrides.databaseUrl || overrides.dataDir ? null : await pgliteTemplate();
  return buildApp({ config: testConfig({ pgliteTemplate: template, ...overrides }) });
}

export async function provision(app: CloudApp, id: string): Promise<string> {
  return (await app.gateways.provision(SYSTEM, id)).secret;
}

export async function connectGateway(
  app: CloudApp,
  id: string,
  secret: string,
  extra: Partial<IClientOptions> = {},
): Promise<MqttClient> {
  const c = mqtt.connect(`mqtt://127.0.0.1:${app.broker.ports.mqtt}`, {
    clientId: id,
    username: id,
    password: secret,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    protocolVersion: 4,
    ...extra,
  });
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
    c.once('close', () => reject(new Error('connection closed')));
  });
  c.removeAllListeners('error');
  c.on('error', () => {});
  return c;
}

/** Collects the Acks a gateway receives. */
export async function ackInbox(
  c: MqttClient,
  id: string,
): Promise<{ acks: Ack[]; next(pred: (a: Ack) => boolean, ms?: number): Promise<Ack> }> {
  const acks: Ack[] = [];
  const waiters: Array<{ pred: (a: Ack) => boolean; resolve: (a: Ack) => void }> = [];
  c.on('message', (t, payload) => {
    if (t !== topic(id, 'ack')) return;
    const a = JSON.parse(payload.toString()) as Ack;
    acks.push(a);
    for (const w of [...waiters]) {
      if (w.pred(a)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(a);
      }
    }
  });
  await c.subscribeAsync(topic(id, 'ack'), { qos: 1 });
  return {
    acks,
    next(pred, ms = 10_000) {
      const seen = acks.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`no matching ack within ${ms} ms; got ${JSON.stringify(acks)}`)),
          ms,
        );
        waiters.push({
          pred,
          resolve: (a) => {
            clearTimeout(t);
            resolve(a);
          },
        });
      });
    },
  };
}

let n = 0;
export function event(seq: number, over: Partial<GatewayEvent> = {}): GatewayEvent {
  return {
    event_id: randomUUID(),
    seq,
    ts: Date.now() + n++,
    partition: 1,
    zone: 3,
    device: 'door_front',
    code: '401',
    qualifier: 'new',
    priority: 6,
    text: 'opening by user',
    ...over,
  };
}

export function batch(gatewayId: string, events: GatewayEvent[]): string {
  return JSON.stringify({ gateway_id: gatewayId, sent_at: Date.now(), events });
}

export async function waitFor<T>(
  fn: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  ms = 10_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A unique gateway id per test. */
export function gwId(prefix = 'gw'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Logs a user in through the API; returns the cookie header and the CSRF token. */
export async function login(
  app: CloudApp,
  username: string,
  password: string,
): Promise<{ cookie: string; csrf: string }> {
  const r = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });
  if (r.statusCode !== 200) throw new Error(`login failed: ${r.statusCode} ${r.body}`);
  const c = r.cookies.find((x) => x.name === 'mertah_session');
  return { cookie: `mertah_session=${c?.value}`, csrf: r.json().csrf_token };
}

export async function addUser(
  app: CloudApp,
  username: string,
  role: 'operator' | 'supervisor' | 'admin',
): Promise<string> {
  const password = `pw-${randomUUID()}`;
  await app.auth.upsertUser(SYSTEM, { username, display_name: username, role, password });
  return password;
}

/** A Bearer token for a new user of that role. */
export async function tokenFor(
  app: CloudApp,
  username: string,
  role: 'operator' | 'supervisor' | 'admin',
): Promise<string> {
  await addUser(app, username, role);
  const u = await app.auth.users.byUsername(username);
  const token = `tok-${randomUUID()}`;
  await app.auth.addToken(SYSTEM, u!.id, token, 'test');
  return token;
}
