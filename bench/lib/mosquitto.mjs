// Starts a Mosquitto on 127.0.0.1 with extra config lines and waits until it accepts MQTT.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const MOSQUITTO = process.env.MOSQUITTO_BIN ?? '/usr/sbin/mosquitto';

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** @returns {Promise<{port:number, proc:import('node:child_process').ChildProcess, stop:() => Promise<void>}>} */
export async function startMosquitto(lines = [], { taskset } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'mertah-bench-mosq-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'log_dest none',
      ...lines,
      '',
    ].join('\n'),
  );
  const [cmd, args] = taskset
    ? ['taskset', ['-c', taskset, MOSQUITTO, '-c', conf]]
    : [MOSQUITTO, ['-c', conf]];
  const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += d;
  });
  const { default: mqtt } = await import('mqtt');
  for (let i = 0; ; i++) {
    const ok = await new Promise((resolve) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 500 });
      c.once('connect', () => {
        c.end(true);
        resolve(true);
      });
      c.once('error', () => resolve(false));
      c.once('close', () => resolve(false));
    });
    if (ok) break;
    if (i > 50 || proc.exitCode !== null) throw new Error(`mosquitto did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    proc,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
