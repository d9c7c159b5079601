import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const cloudDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const NODE_ARGS = ['--conditions=source', '--import', 'tsx', join(cloudDir, 'src', 'main.ts')];
const dataDir = mkdtempSync(join(tmpdir(), 'mertah-cli-'));
const env = {
  ...process.env,
  MERTAH_DATA_DIR: dataDir,
  LOG_LEVEL: 'info',
  MERTAH_DASHBOARD_DIR: join(dataDir, 'none'),
};
const run = promisify(execFile);

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function readyLine(child: ChildProcess): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const lines: Record<string, unknown>[] = [];
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i = buf.indexOf('\n');
      while (i >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const j = JSON.parse(line) as Record<string, unknown>;
          lines.push(j);
          if (j.msg === 'ready') resolve({ ...j, lines });
        } catch {
          // not a log line
        }
        i = buf.indexOf('\n');
      }
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before ready`)));
  });
}

describe('mertah-cloud CLI', () => {
  it('migrates, provisions a gateway, serves on port 0 with a ready line, and stops on SIGTERM', async () => {
    const m = await run(process.execPath, [...NODE_ARGS, 'migrate'], { env, cwd: cloudDir });
    expect(JSON.parse(m.stdout)).toEqual({ applied: ['001_init', '002_events_key', '003_gateway_configs'] });

    const g = await run(process.execPath, [...NODE_ARGS, 'gateway', 'add', 'gw-cli-1', '--name', 'CLI'], {
      env,
      cwd: cloudDir,
    });
    const out = JSON.parse(g.stdout);
    expect(out).toEqual({ gateway_id: 'gw-cli-1', secret: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/) });

    const child = spawn(process.execPath, NODE_ARGS, {
      env: { ...env, PORT: '0', MQTT_PORT: '0', MERTAH_DEMO: '1', MERTAH_DEMO_TOKEN: 'cli-token' },
      cwd: cloudDir,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const ready = await readyLine(child);
      expect(ready.http_port).toEqual(expect.any(Number));
      expect(ready.mqtt_port).toEqual(expect.any(Number));
      expect(ready.http_port).not.toBe(0);
      const demo = (ready.lines as Record<string, unknown>[]).find((l) => l.msg === 'demo_login');
      expect(demo).toMatchObject({ username: 'demo', password: expect.any(String) });

      const h = await fetch(`http://127.0.0.1:${ready.http_port}/api/health`);
      expect(((await h.json()) as { mqtt: { port: number } }).mqtt.port).toBe(ready.mqtt_port);
      const gws = await fetch(`http://127.0.0.1:${ready.http_port}/api/gateways`, {
        headers: { authorization: 'Bearer cli-token' },
      });
      expect(
        ((await gws.json()) as { gateways: Array<{ gateway_id: string }> }).gateways.map(
          (x: { gateway_id: string }) => x.gateway_id,
        ),
      ).toEqual(['gw-cli-1']);
      const login = await fetch(`http://127.0.0.1:${ready.http_port}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'demo', password: demo!.password }),
      });
      expect(login.status).toBe(200);
    } finally {
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
