import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeCloud } from './support/cloud.js';
import { tempDir } from './support/tmp.js';
import { waitFor } from './support/wait.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const GW = 'gw-cli';

function runMain(configPath: string): { child: ChildProcess; lines: () => Array<Record<string, unknown>> } {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', join(here, '..', 'src', 'main.ts'), '--config', configPath],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const out: Array<Record<string, unknown>> = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const p of parts) if (p.trim()) out.push(JSON.parse(p));
  });
  return { child, lines: () => out };
}

const exitOf = (child: ChildProcess) =>
  new Promise<number | null>((r) => {
    if (child.exitCode !== null) r(child.exitCode);
    else child.on('exit', (code) => r(code));
  });

describe('mertah-gateway CLI', () => {
  let tmp: ReturnType<typeof tempDir>;
  let cloud: FakeCloud;
  beforeEach(async () => {
    tmp = tempDir();
    cloud = new FakeCloud(GW);
    await cloud.start();
  });
  afterEach(async () => {
    await cloud.stop();
    tmp.cleanup();
  });

  it('prints the ready line with the bound premises port, serves, and stops cleanly on SIGTERM', async () => {
    const file = join(tmp.dir, 'gateway.json');
    writeFileSync(
      file,
      JSON.stringify({
        gateway_id: GW,
        data_dir: join(tmp.dir, 'data'),
        cloud: { url: cloud.url, secret: 'x', keepalive_s: 30 },
        premises_broker: { embedded: { host: '127.0.0.1', port: 0 }, base_topic: 'zigbee2mqtt' },
        premises: { version: 1, zones: [{ zone: 1, name: 'Leak', type: 'water_24h', device: 'leak' }] },
      }),
    );
    const { child, lines } = runMain(file);
    const ready = await waitFor(() => lines().find((l) => l.msg === 'ready'), 20_000, 'ready line');
    expect(ready).toMatchObject({ gateway_id: GW });
    expect(typeof ready.premises_port).toBe('number');
    expect(ready.premises_port).toBeGreaterThan(0);

    const z2m = await mqtt.connectAsync(`mqtt://127.0.0.1:${ready.premises_port}`, { clientId: 'z2m' });
    await z2m.publishAsync('zigbee2mqtt/leak', JSON.stringify({ water_leak: true }), { qos: 1 });
    await waitFor(() => cloud.events.find((e) => e.code === '154'), 10_000, 'leak event');
    await z2m.endAsync();

    child.kill('SIGTERM');
    expect(await exitOf(child)).toBe(0);
    await waitFor(() => cloud.statuses.at(-1)?.state === 'offline', 5000, 'offline status');
  });

  it('reports every config error with its path and exits 78', async () => {
    const file = join(tmp.dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ gateway_id: 'X', cloud: { url: 'ftp://x', secret: 'y' } }));
    const { child, lines } = runMain(file);
    expect(await exitOf(child)).toBe(78);
    const paths = lines()
      .filter((l) => l.code === 'E_CONFIG_INVALID')
      .map((l) => l.path);
    expect(paths).toEqual(expect.arrayContaining(['/gateway_id', '/data_dir', '/cloud/url']));
  });
});
