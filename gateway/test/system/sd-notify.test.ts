import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SdNotifier, watchdogIntervalMs } from '../../src/system/sd-notify.js';
import { FakeCloud } from '../support/cloud.js';
import { testLogger } from '../support/log.js';
import { tempDir } from '../support/tmp.js';
import { waitFor } from '../support/wait.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', '..');

/** A unix datagram socket server (Node cannot make one): prints each datagram as one line, `|` for newlines. */
const RECEIVER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    print(s.recv(65536).decode().replace("\\n", "|"), flush=True)
`;

function startReceiver(path: string): { proc: ChildProcess; messages: string[] } {
  const proc = spawn('python3', ['-u', '-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[] = [];
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    messages.push(...parts.filter((p) => p.trim() !== ''));
  });
  return { proc, messages };
}

const exitOf = (child: ChildProcess) =>
  new Promise<number | null>((r) => {
    if (child.exitCode !== null) r(child.exitCode);
    else child.on('exit', (code) => r(code));
  });

describe('sd_notify', () => {
  it('reads the watchdog interval only when it is meant for this process', () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 42)).toBe(30_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42)).toBe(30_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 42)).toBeNull();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: 'x' }, 42)).toBeNull();
    expect(watchdogIntervalMs({}, 42)).toBeNull();
  });

  it('is a no-op without $NOTIFY_SOCKET', async () => {
    const sent: string[][] = [];
    const n = new SdNotifier({
      logger: testLogger,
      env: { WATCHDOG_USEC: '40000' },
      send: async (l) => void sent.push([...l]),
    });
    await n.ready(() => 'ok');
    await new Promise((r) => setTimeout(r, 100));
    await n.stopping();
    expect(n.enabled).toBe(false);
    expect(sent).toEqual([]);
  });

  it('pings from the event loop that does the work: a stalled loop sends no ping', async () => {
    const pings: number[] = [];
    const n = new SdNotifier({
      logger: testLogger,
      env: { NOTIFY_SOCKET: '/nonexistent', WATCHDOG_USEC: '40000' }, // a ping every 20 ms
      send: async (l) => {
        if (l.includes('WATCHDOG=1')) pings.push(performance.now());
      },
    });
    await n.ready(() => 'ok');
    await waitFor(() => pings.length >= 3, 5000, 'pings');
    const stallStart = performance.now();
    while (performance.now() - stallStart < 300) {
      // a blocked event loop, as a stuck synchronous call would leave it
    }
    const stallEnd = performance.now();
    const before = pings.length;
    await waitFor(() => pings.length >= before + 3, 5000, 'pings after the stall');
    n.close();
    expect(pings.filter((t) => t > stallStart && t < stallEnd)).toEqual([]);
    expect(pings.filter((t) => t >= stallEnd).length).toBeGreaterThanOrEqual(3);
  });

  describe('the real gateway process under a notify socket', () => {
    let tmp: ReturnType<typeof tempDir>;
    let cloud: FakeCloud;
    let receiver: ReturnType<typeof startReceiver>;
    let child: ChildProcess | null = null;
    beforeEach(async () => {
      tmp = tempDir();
      cloud = new FakeCloud('gw-notify');
      await cloud.start();
      receiver = startReceiver(join(tmp.dir, 'notify.sock'));
      await waitFor(() => receiver.messages.includes('bound'), 10_000, 'receiver');
    });
    afterEach(async () => {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      receiver.proc.kill();
      await cloud.stop();
      tmp.cleanup();
    });

    it('sends READY=1, repeats WATCHDOG=1 at half of WATCHDOG_USEC with a status, and STOPPING=1 on SIGTERM', async () => {
      const file = join(tmp.dir, 'gateway.json');
      writeFileSync(
        file,
        JSON.stringify({
          gateway_id: 'gw-notify',
          data_dir: join(tmp.dir, 'data'),
          cloud: { url: cloud.url, secret: 'x' },
          premises_broker: { embedded: { host: '127.0.0.1', port: 0 } },
          log_level: 'warn',
        }),
      );
      child = spawn(
        process.execPath,
        [
          '--conditions=source',
          '--import',
          'tsx',
          join(repoRoot, 'gateway', 'src', 'main.ts'),
          '--config',
          file,
        ],
        {
          cwd: repoRoot,
          stdio: ['ignore', 'ignore', 'inherit'],
          env: { ...process.env, NOTIFY_SOCKET: join(tmp.dir, 'notify.sock'), WATCHDOG_USEC: '400000' },
        },
      );
      const m = receiver.messages;
      const ready = await waitFor(() => m.find((x) => x.includes('READY=1')), 20_000, 'READY=1');
      expect(ready).toContain(`MAINPID=${child.pid}`); // systemd keeps tracking node, not the helper
      expect(ready).toMatch(/STATUS=cloud (online|offline); outbox 0 events, 0 telemetry/);
      const readyAt = m.indexOf(ready);
      await waitFor(
        () => m.slice(readyAt).filter((x) => x.includes('WATCHDOG=1')).length >= 3,
        10_000,
        'pings',
      );
      expect(m.slice(0, readyAt).some((x) => x.includes('WATCHDOG=1'))).toBe(false); // no ping before READY
      await waitFor(() => m.some((x) => x.includes('STATUS=cloud online')), 10_000, 'status: cloud online');

      child.kill('SIGTERM');
      expect(await exitOf(child)).toBe(0);
      const stopping = await waitFor(() => m.find((x) => x.includes('STOPPING=1')), 5000, 'STOPPING=1');
      expect(stopping).toContain('STATUS=stopping on SIGTERM');
      const pingsAfterStop = m.slice(m.indexOf(stopping)).filter((x) => x.includes('WATCHDOG=1'));
      expect(pingsAfterStop).toEqual([]);
      expect(existsSync(join(tmp.dir, 'data', 'gateway.db'))).toBe(true);
    });
  });
});
