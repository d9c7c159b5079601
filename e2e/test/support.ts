import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CLOUD_MAIN,
  CloudClient,
  type DeviceKind,
  GATEWAY_MAIN,
  ServiceProcess,
  Zigbee2MqttEmulator,
} from '@mertah/device-sim';

export function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `mertah-${prefix}-`));
}

export function requireBuilt(): void {
  for (const f of [CLOUD_MAIN, GATEWAY_MAIN]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run \`npm run build\` first (npm test does)`);
  }
}

export interface CloudHandle {
  proc: ServiceProcess;
  http: string;
  mqtt: string;
  httpPort: number;
  mqttPort: number;
  token: string;
  /** SIGKILL, then start again on the same ports and data. */
  crashAndRestart(downMs?: number): Promise<void>;
}

export async function startCloud(opts: {
  dataDir: string;
  databaseUrl?: string;
  logFile?: string;
}): Promise<CloudHandle> {
  requireBuilt();
  const token = `mtk_test_${randomBytes(18).toString('base64url')}`;
  const env: NodeJS.ProcessEnv = {
    PORT: '0',
    MQTT_PORT: '0',
    MERTAH_DATA_DIR: opts.dataDir,
    MERTAH_DEMO: '1',
    MERTAH_DEMO_TOKEN: token,
    LOG_LEVEL: 'warn',
  };
  if (opts.databaseUrl) env.DATABASE_URL = opts.databaseUrl;
  else delete env.DATABASE_URL;
  const proc = new ServiceProcess({
    name: 'cloud',
    command: process.execPath,
    args: [CLOUD_MAIN],
    env,
    logFile: opts.logFile ?? join(opts.dataDir, 'cloud.log'),
    readyTimeoutMs: 60_000,
  });
  const ready = await proc.start();
  const httpPort = Number(ready.http_port);
  const mqttPort = Number(ready.mqtt_port);
  // Restarts keep the ports, as a real deployment does, so gateways find it again.
  proc.opts.env = { ...env, PORT: String(httpPort), MQTT_PORT: String(mqttPort) };
  const handle: CloudHandle = {
    proc,
    http: `http://127.0.0.1:${httpPort}`,
    mqtt: `mqtt://127.0.0.1:${mqttPort}`,
    httpPort,
    mqttPort,
    token,
    async crashAndRestart(downMs = 500) {
      await proc.kill();
      await new Promise((r) => setTimeout(r, downMs));
      await proc.start();
    },
  };
  return handle;
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 30_000,
  everyMs = 200,
): Promise<T> {
  const t0 = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function randomId(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

/** Reads a server-sent-events stream over a real HTTP socket. */
export class SseReader {
  readonly messages: SseMessage[] = [];
  private readonly ctrl = new AbortController();
  private waiters: Array<() => void> = [];
  closed: Promise<void>;

  constructor(url: string, headers: Record<string, string>) {
    this.closed = this.run(url, headers).catch(() => {});
  }

  private async run(url: string, headers: Record<string, string>): Promise<void> {
    const res = await fetch(url, {
      headers: { accept: 'text/event-stream', ...headers },
      signal: this.ctrl.signal,
    });
    if (!res.ok || !res.body) throw new Error(`SSE ${url}: ${res.status}`);
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let idx = buf.indexOf('\n\n');
      while (idx >= 0) {
        const block = buf.slice(0, idx);
        buf = buf.slice(idx + 2);
        const msg: SseMessage = { event: 'message', data: '' };
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'id') msg.id = value;
          else if (field === 'event') msg.event = value;
          else if (field === 'data') data.push(value);
        }
        msg.data = data.join('\n');
        if (data.length) {
          this.messages.push(msg);
          for (const w of this.waiters.splice(0)) w();
        }
        idx = buf.indexOf('\n\n');
      }
    }
  }

  async waitFor(pred: (m: SseMessage) => boolean, timeoutMs = 30_000): Promise<SseMessage> {
    const t0 = Date.now();
    for (;;) {
      const hit = this.messages.find(pred);
      if (hit) return hit;
      const left = timeoutMs - (Date.now() - t0);
      if (left <= 0)
        throw new Error(`no matching SSE message within ${timeoutMs} ms (got ${this.messages.length})`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  close(): void {
    this.ctrl.abort();
  }
}

export interface PremisesHandle {
  gatewayId: string;
  secret: string;
  dir: string;
  configPath: string;
  gateway: ServiceProcess;
  emulator: Zigbee2MqttEmulator;
  api: CloudClient;
  close(): Promise<void>;
}

/**
 * One premises against a running cloud: provisions the gateway over the API, writes its
 * config, starts the real gateway process (embedded premises broker on a free port), pairs
 * the emulated zigbee2mqtt devices and waits until the cloud shows the gateway online.
 */
export async function startPremises(opts: {
  dir: string;
  http: string;
  token: string;
  /** The cloud's MQTT URL as the gateway should dial it (mqtt:// or mqtts://). */
  mqttUrl: string;
  gatewayId: string;
  premises: Record<string, unknown>;
  devices: Array<[name: string, kind: DeviceKind]>;
  cloud?: Record<string, unknown>;
}): Promise<PremisesHandle> {
  const api = new CloudClient(opts.http, opts.token);
  const { secret } = await api.provisionGateway(opts.gatewayId, `Premises ${opts.gatewayId}`);
  const dir = join(opts.dir, opts.gatewayId);
  mkdirSync(dir, { recursive: true });
  const config = {
    gateway_id: opts.gatewayId,
    data_dir: dir,
    cloud: { url: opts.mqttUrl, secret, keepalive_s: 10, ...opts.cloud },
    premises_broker: { embedded: { host: '127.0.0.1', port: 0 }, base_topic: 'zigbee2mqtt' },
    premises: opts.premises,
    log_level: 'warn',
  };
  const configPath = join(dir, 'gateway.json');
  writeFileSync(configPath, JSON.stringify(config));
  const gateway = new ServiceProcess({
    name: opts.gatewayId,
    command: process.execPath,
    args: [GATEWAY_MAIN, '--config', configPath],
    logFile: join(dir, 'gateway.log'),
  });
  const ready = await gateway.start();
  const emulator = new Zigbee2MqttEmulator({ url: `mqtt://127.0.0.1:${ready.premises_port}`, qos: 1 });
  await emulator.start();
  for (const [name, kind] of opts.devices) await emulator.pair(name, kind);
  await waitFor(
    `${opts.gatewayId} online`,
    async () => (await api.gateways()).gateways.find((g) => g.gateway_id === opts.gatewayId)?.online,
  );
  return {
    gatewayId: opts.gatewayId,
    secret,
    dir,
    configPath,
    gateway,
    emulator,
    api,
    async close() {
      await emulator.stop();
      await gateway.close();
    },
  };
}
