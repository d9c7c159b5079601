// End to end through the real interfaces: a real cloud process (HTTP + MQTT on loopback),
// a real MQTT client publishing as a provisioned gateway, and the built console driven in
// Debian's headless Chromium. Needs `npm run build` first (cloud/dist and dashboard/build).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type Ack, type EventBatch, type GatewayEvent, topic } from '@mertah/protocol';
import mqtt, { type MqttClient } from 'mqtt';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const buildDir = path.join(repoRoot, 'dashboard/build');
const cloudMain = path.join(repoRoot, 'cloud/dist/main.js');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const shotDir = process.env.MERTAH_SCREENSHOT_DIR ?? tmpdir();

const demoPassword = randomBytes(12).toString('base64url');
const demoToken = randomBytes(24).toString('base64url');
const suffix = randomBytes(3).toString('hex');
const GW1 = `gw-e2e-${suffix}`;
const GW2 = `gw-e2e2-${suffix}`;

interface Ready {
  http_port: number;
  mqtt_port: number;
}

let cloud: ChildProcess | null = null;
let cloudLog: string[] = [];
let dataDir = '';
let base = '';
let ready: Ready;
let browser: Browser | null = null;
const gateways = new Map<string, { client: MqttClient; seq: number; acked: number }>();

function startCloud(ports: { http: number; mqtt: number } = { http: 0, mqtt: 0 }): Promise<Ready> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cloudMain], {
      cwd: repoRoot,
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: String(ports.http),
        MQTT_PORT: String(ports.mqtt),
        MERTAH_DATA_DIR: dataDir,
        MERTAH_DEMO: '1',
        MERTAH_DEMO_PASSWORD: demoPassword,
        MERTAH_DEMO_TOKEN: demoToken,
        MERTAH_DASHBOARD_DIR: buildDir,
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cloud = child;
    const timer = setTimeout(() => fail(new Error('no "ready" line within 60 s')), 60_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(new Error(`cloud did not start: ${err.message}\n--- cloud output ---\n${cloudLog.join('\n')}`));
    };
    child.on('error', fail);
    child.on('exit', (code, signal) => fail(new Error(`exited early (code ${code}, signal ${signal})`)));
    createInterface({ input: child.stderr! }).on('line', (l) => cloudLog.push(l));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      cloudLog.push(line);
      if (cloudLog.length > 400) cloudLog = cloudLog.slice(-200);
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (rec.msg === 'ready' && typeof rec.http_port === 'number' && typeof rec.mqtt_port === 'number') {
        clearTimeout(timer);
        resolve({ http_port: rec.http_port, mqtt_port: rec.mqtt_port });
      }
    });
  });
}

async function stopCloud(): Promise<void> {
  const child = cloud;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

async function http<T>(method: string, url: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(base + url, {
    method,
    headers: {
      authorization: `Bearer ${demoToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : null) as T };
}

async function provision(gatewayId: string): Promise<string> {
  const r = await http<{ gateway_id: string; secret: string }>('POST', '/api/gateways', {
    gateway_id: gatewayId,
    name: `E2E premises ${gatewayId}`,
  });
  expect(r.status, `POST /api/gateways: ${JSON.stringify(r.json)}`).toBe(201);
  expect(typeof r.json.secret).toBe('string');
  return r.json.secret;
}

const secrets = new Map<string, string>();

async function connectGateway(gatewayId: string, secret: string): Promise<void> {
  secrets.set(gatewayId, secret);
  const prev = gateways.get(gatewayId);
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${ready.mqtt_port}`, {
    clientId: gatewayId,
    username: gatewayId,
    password: secret,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  const gw = { client, seq: prev?.seq ?? 0, acked: prev?.acked ?? 0 };
  gateways.set(gatewayId, gw);
  client.on('message', (t, payload) => {
    if (t !== topic(gatewayId, 'ack')) return;
    const ack = JSON.parse(payload.toString()) as Ack;
    gw.acked = Math.max(gw.acked, ack.ack);
  });
  await client.subscribeAsync(topic(gatewayId, 'ack'), { qos: 1 });
  await client.publishAsync(
    topic(gatewayId, 'status'),
    JSON.stringify({ gateway_id: gatewayId, state: 'online', ts: Date.now(), version: 'e2e' }),
    { qos: 1, retain: true },
  );
}

/** Publishes one event as the gateway and waits for the cloud's Ack (committed), not a PUBACK. */
async function publishEvent(
  gatewayId: string,
  ev: Pick<GatewayEvent, 'code' | 'text' | 'priority' | 'zone'> & Partial<GatewayEvent>,
): Promise<void> {
  const gw = gateways.get(gatewayId)!;
  gw.seq += 1;
  const seq = gw.seq;
  const batch: EventBatch = {
    gateway_id: gatewayId,
    sent_at: Date.now(),
    events: [
      {
        event_id: randomUUID(),
        seq,
        ts: Date.now(),
        partition: 1,
        device: null,
        qualifier: 'new',
        ...ev,
      },
    ],
  };
  await gw.client.publishAsync(topic(gatewayId, 'events'), JSON.stringify(batch), { qos: 1 });
  const until = Date.now() + 10_000;
  while (gw.acked < seq) {
    if (Date.now() > until) throw new Error(`no Ack for ${gatewayId} seq ${seq} within 10 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(shotDir, `mertah-console-${name}.png`), fullPage: true });
}

async function login(page: Page): Promise<void> {
  await page.goto(`${base}/`);
  await page.waitForURL(/\/login/, { timeout: 15_000 });
  await page.fill('input[name=username]', 'demo');
  await page.fill('input[name=password]', demoPassword);
  await page.click('button[type=submit]');
  await page.waitForURL((u) => u.pathname === '/', { timeout: 15_000 });
}

function connection(page: Page) {
  return page.locator('[data-testid=connection]').textContent();
}

function queueRow(page: Page, gatewayId: string) {
  return page.locator('tr[data-alarm-id]', { hasText: gatewayId });
}

describe('staff console against a real cloud', () => {
  beforeAll(async () => {
    if (!existsSync(path.join(buildDir, 'index.html'))) {
      throw new Error(
        `dashboard/build/index.html is missing: run \`npm run build\` (or \`npm run build -w dashboard\`) first`,
      );
    }
    if (!existsSync(cloudMain)) {
      throw new Error('cloud/dist/main.js is missing: run `npm run build` (tsc -b) first');
    }
    if (!existsSync(chromiumPath))
      throw new Error(`no Chromium at ${chromiumPath} (apt-get install chromium)`);
    dataDir = await mkdtemp(path.join(tmpdir(), 'mertah-console-e2e-'));
    ready = await startCloud();
    base = `http://127.0.0.1:${ready.http_port}`;
    await connectGateway(GW1, await provision(GW1));
    await connectGateway(GW2, await provision(GW2));
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close().catch(() => {});
    for (const { client } of gateways.values()) await client.endAsync(true).catch(() => {});
    await stopCloud();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('logs in, follows alarms live, claims, and closes one with a disposition', {
    timeout: 120_000,
  }, async () => {
    // An alarm that is already open before the console is.
    await publishEvent(GW1, {
      code: '130',
      text: 'Burglary: Living room PIR',
      priority: 2,
      zone: 3,
      device: 'pir-living',
    });

    const context = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));

    // Not logged in: the queue sends us to /login.
    await page.goto(`${base}/`);
    await page.waitForURL(/\/login/, { timeout: 15_000 });

    // A wrong password is refused clearly.
    await page.fill('input[name=username]', 'demo');
    await page.fill('input[name=password]', 'not-the-password');
    await page.click('button[type=submit]');
    await expect
      .poll(async () => (await page.locator('[data-testid=login-error]').textContent()) ?? '', {
        timeout: 10_000,
      })
      .toMatch(/wrong username or password/i);
    await shot(page, 'login-error');

    await page.fill('input[name=username]', 'demo');
    await page.fill('input[name=password]', demoPassword);
    await page.click('button[type=submit]');
    await page.waitForURL((u) => u.pathname === '/', { timeout: 15_000 });
    await expect.poll(() => page.locator('[data-testid=user]').textContent()).toContain('Demo Operator');

    // The alarm from before is in the queue, and the stream is live.
    const burglary = queueRow(page, GW1);
    await burglary.waitFor({ timeout: 15_000 });
    await expect.poll(() => burglary.textContent()).toContain('130');
    await expect
      .poll(() => page.locator('[data-testid=connection]').textContent(), { timeout: 15_000 })
      .toMatch(/live/i);

    // A second alarm published while the page is open arrives over SSE, with no reload,
    // and a fire (priority 1) goes above the burglary.
    await publishEvent(GW2, { code: '110', text: 'Fire: Kitchen smoke detector', priority: 1, zone: 7 });
    const fire = queueRow(page, GW2);
    await fire.waitFor({ timeout: 15_000 });
    const order = await page
      .locator('tr[data-alarm-id]')
      .evaluateAll((rows) => rows.map((r) => r.textContent ?? ''));
    expect(order.findIndex((t) => t.includes(GW2))).toBeLessThan(order.findIndex((t) => t.includes(GW1)));
    await shot(page, 'queue');

    // Claim the burglary from the queue (j/k to it, then c).
    const burglaryId = (await burglary.getAttribute('data-alarm-id'))!;
    await burglary.click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('c');
    await expect.poll(() => burglary.getAttribute('data-status'), { timeout: 10_000 }).toBe('claimed');
    await expect.poll(() => burglary.textContent()).toMatch(/claimed/i);

    // Open it: alarm, signals timeline, and the close form.
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.pathname === `/alarms/${burglaryId}`, { timeout: 10_000 });
    const detail = page.locator('[data-testid=alarm-detail]');
    await detail.waitFor();
    await expect.poll(() => page.locator('[data-testid=alarm-status]').textContent()).toMatch(/claimed/i);
    await expect.poll(() => page.locator('[data-testid=events]').textContent()).toContain('Living room PIR');
    await page.selectOption('[data-testid=disposition]', 'false_user_error');
    await page.fill('textarea[name=notes]', 'Called the keyholder: cleaner forgot the code.');
    await shot(page, 'detail');
    await page.click('[data-testid=close]');

    // Back on the queue: the burglary has left it, the fire is still there.
    await page.waitForURL((u) => u.pathname === '/', { timeout: 10_000 });
    await expect.poll(() => queueRow(page, GW1).count(), { timeout: 10_000 }).toBe(0);
    expect(await queueRow(page, GW2).count()).toBe(1);
    await shot(page, 'queue-after-close');

    // The cloud agrees.
    const closed = await http<{ alarm: { status: string; disposition: string } }>(
      'GET',
      `/api/alarms/${burglaryId}`,
    );
    expect(closed.json.alarm.status).toBe('closed');
    expect(closed.json.alarm.disposition).toBe('false_user_error');

    // Gateways page, loaded directly (the cloud answers unknown paths with the SPA).
    await page.goto(`${base}/gateways`);
    const table = page.locator('[data-testid=gateways]');
    await table.waitFor({ timeout: 10_000 });
    await expect.poll(() => table.textContent()).toContain(GW1);
    await shot(page, 'gateways');

    expect(pageErrors).toEqual([]);
    await context.close();
  });

  it('shows the stream dropping and catches up after the cloud restarts', { timeout: 120_000 }, async () => {
    const context = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await login(page);
    await queueRow(page, GW2).waitFor({ timeout: 15_000 }); // the fire left open by the first test
    await expect.poll(() => connection(page), { timeout: 15_000 }).toMatch(/live/i);

    // The cloud goes away: the console says so instead of looking calm.
    for (const { client } of gateways.values()) await client.endAsync(true).catch(() => {});
    await stopCloud();
    await expect.poll(() => connection(page), { timeout: 15_000 }).toMatch(/reconnecting/i);

    // Same ports, same data: the session survives, the stream reconnects (Last-Event-ID)
    // and the list is fetched again. An alarm raised right after the restart, possibly
    // before the browser is back, must show up exactly once.
    ready = await startCloud({ http: ready.http_port, mqtt: ready.mqtt_port });
    await connectGateway(GW1, secrets.get(GW1)!);
    await publishEvent(GW1, { code: '131', text: 'Burglary: Perimeter back door', priority: 2, zone: 4 });

    await expect.poll(() => connection(page), { timeout: 20_000 }).toMatch(/live/i);
    const perimeter = page.locator('tr[data-alarm-id]', { hasText: 'Perimeter back door' });
    await expect.poll(() => perimeter.count(), { timeout: 15_000 }).toBe(1);
    expect(await queueRow(page, GW2).count()).toBe(1);
    await page.waitForTimeout(1000); // a late replay must not duplicate anything
    expect(await page.locator('tr[data-alarm-id]').count()).toBe(2);
    expect(page.url()).toBe(`${base}/`);
    await shot(page, 'after-restart');
    await context.close();
  });
});
