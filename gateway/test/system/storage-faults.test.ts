import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GatewayEvent } from '@mertah/protocol';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Controller, Outbox, parseConfig, type Zigbee2MqttDriver } from '../../src/index.js';
import { FakeCloud } from '../support/cloud.js';
import { testLogger } from '../support/log.js';
import { tempDir } from '../support/tmp.js';
import { waitFor } from '../support/wait.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', '..');

/**
 * The real mechanism: a small tmpfs mounted for the test (we run as root in CI and dev
 * containers). Where mount(2) is not permitted, the disk-full test falls back to SQLite's
 * `PRAGMA max_page_count` (a real SQLITE_FULL from SQLite, but not from the kernel) and says so.
 */
function tryMountTmpfs(dir: string, size: string): boolean {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const umount = (dir: string) => execFileSync('umount', ['-l', dir], { stdio: 'ignore' });

/** Writes 4 KiB blocks until the filesystem says ENOSPC. */
function fillDisk(file: string): number {
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(4096, 1);
  let bytes = 0;
  try {
    for (;;) bytes += writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return bytes;
}

const exitOf = (child: ChildProcess) =>
  new Promise<number | null>((r) => {
    if (child.exitCode !== null) r(child.exitCode);
    else child.on('exit', (code) => r(code));
  });

const distinctBySeq = (events: GatewayEvent[]) => [...new Map(events.map((e) => [e.seq, e])).values()];

describe('storage faults', () => {
  let tmp: ReturnType<typeof tempDir>;
  let mnt: string;
  let mounted = false;
  beforeEach(() => {
    tmp = tempDir();
    mnt = join(tmp.dir, 'mnt');
    mounted = false;
  });
  afterEach(() => {
    if (mounted) umount(mnt);
    tmp.cleanup();
  });

  it('disk full mid-burst: a fire after a blocked message still sounds the siren, later messages keep flowing unacked, nothing is lost, and the outbox resumes', async () => {
    mounted = tryMountTmpfs(mnt, '8m');
    const GW = 'gw-diskfull';
    const cloud = new FakeCloud(GW);
    await cloud.start();
    const logs: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void logs.push(JSON.parse(s)) });
    const DEVICES = 8;
    const config = parseConfig({
      gateway_id: GW,
      data_dir: mounted ? mnt : join(tmp.dir, 'data'),
      cloud: { url: cloud.url, secret: 'x' },
      premises_broker: { embedded: { host: '127.0.0.1', port: 0 } },
      premises: {
        version: 1,
        siren_time_s: 60,
        zones: [
          ...Array.from({ length: DEVICES }, (_, i) => ({
            zone: i + 1,
            name: `Leak ${i + 1}`,
            type: 'water_24h' as const,
            device: `leak_${i + 1}`,
          })),
          { zone: 20, name: 'Hall smoke', type: 'fire_24h' as const, device: 'smoke' },
        ],
      },
    });
    const controller = new Controller({ config, logger, tickMs: 50 });
    const sirens: boolean[] = [];
    let z2m: mqtt.MqttClient | null = null;
    try {
      await controller.start();
      controller.bus.onSiren(controller, (s) => void sirens.push(s.on));
      z2m = await mqtt.connectAsync(`mqtt://127.0.0.1:${controller.premisesPort}`, { clientId: 'z2m' });
      const TOTAL = 400;
      // Every message flips one leak sensor, so every message is exactly one 154 event.
      const publish = (i: number) =>
        z2m!.publishAsync(
          `zigbee2mqtt/leak_${(i % DEVICES) + 1}`,
          JSON.stringify({
            water_leak: Math.floor(i / DEVICES) % 2 === 0,
            battery: 90,
            linkquality: i % 255,
          }),
          { qos: 1 },
        );
      for (let i = 0; i < TOTAL / 2; i++) await publish(i);
      await waitFor(() => controller.outbox.counts().last_seq >= TOTAL / 2, 20_000, 'first half committed');

      let filler = '';
      // Back to an empty WAL (what a checkpoint with journal_size_limit does): the next commit
      // must grow a file, so it meets the full disk rather than reusing WAL space.
      controller.outbox.sqlite.pragma('wal_checkpoint(TRUNCATE)');
      if (mounted) {
        filler = join(mnt, 'filler');
        expect(fillDisk(filler)).toBeGreaterThan(0);
      } else {
        console.warn('mount(2) not permitted: simulating disk full with PRAGMA max_page_count');
        const pages = Number(controller.outbox.sqlite.pragma('page_count', { simple: true }));
        controller.outbox.sqlite.pragma(`max_page_count = ${pages}`);
      }
      // A leak as the disk fills: its commit fails and the driver retries it, unacked.
      await publish(TOTAL / 2);
      const critical = await waitFor(
        // the commit's own report (the uplink may also meet the full disk, at error level)
        () =>
          logs.find((l) => l.code === 'E_OUTBOX_FULL' && String(l.msg).startsWith('outbox commit failed')),
        20_000,
        'E_OUTBOX_FULL',
      );
      expect(critical.level).toBe(60); // fatal: the journal's "critical"
      await waitFor(() => logs.find((l) => l.code === 'E_Z2M_COMMIT'), 5000, 'the driver retrying');
      const seqWhileFull = controller.outbox.counts().last_seq;
      expect(seqWhileFull).toBe(TOTAL / 2);
      expect(sirens).toEqual([]); // a leak is silent

      // A fire AFTER the blocked message: it is not stuck behind it, the siren sounds at once.
      await z2m.publishAsync('zigbee2mqtt/smoke', JSON.stringify({ smoke: true }), { qos: 1 });
      await waitFor(() => sirens.includes(true), 5000, 'siren on while the disk is full');
      expect(controller.outbox.counts().last_seq).toBe(seqWhileFull); // the fire is not stored yet
      // The rest of the burst reaches the driver while the disk is full; nothing is acked yet.
      for (let i = TOTAL / 2 + 1; i < TOTAL; i++) await publish(i);
      const driver = controller.drivers.find((d) => d.name === 'zigbee2mqtt') as Zigbee2MqttDriver;
      const received = TOTAL + 1;
      await waitFor(() => driver.counters.messages >= received, 10_000, 'every message received');
      expect(driver.unacked).toBeGreaterThan(0);
      expect(controller.outbox.counts().last_seq).toBe(seqWhileFull);

      if (mounted) rmSync(filler);
      else controller.outbox.sqlite.pragma('max_page_count = 1073741823');
      await waitFor(() => logs.find((l) => l.msg === 'outbox commits again'), 40_000, 'outbox recovery');
      const expected = TOTAL + 1; // every leak flip and the fire
      await waitFor(() => distinctBySeq(cloud.events).length >= expected, 40_000, 'every event in the cloud');
      await waitFor(() => controller.outbox.counts().events === 0, 10_000, 'all acked');
      await waitFor(() => driver.unacked === 0, 10_000, 'every premises message acknowledged');
      expect(driver.counters.messages).toBe(received); // nothing redelivered: each acked once

      const events = distinctBySeq(cloud.events).sort((a, b) => a.seq - b.seq);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1)); // contiguous, none lost
      expect(events.filter((e) => e.code === '110')).toHaveLength(1);
      for (let d = 1; d <= DEVICES; d++) {
        // per sensor: new, restore, new, ... in publish order: no message lost or applied twice
        const q = events.filter((e) => e.code === '154' && e.zone === d).map((e) => e.qualifier);
        expect(q).toEqual(
          Array.from({ length: TOTAL / DEVICES }, (_, i) => (i % 2 === 0 ? 'new' : 'restore')),
        );
      }
    } finally {
      await z2m?.endAsync(true);
      await controller.stop();
      await cloud.stop();
    }
  });

  it('read-only data dir at start: exits 74 with E_OUTBOX_READONLY (systemd retries), starts once writable', async () => {
    mounted = tryMountTmpfs(mnt, '4m');
    const dataDir = mounted ? join(mnt, 'data') : join(tmp.dir, 'data');
    // A gateway has run here before: the outbox exists.
    const o = new Outbox({ dir: dataDir, gatewayId: 'gw-ro', maxRecords: 100, logger: testLogger });
    o.open();
    await o.enqueue([]);
    await o.close();
    if (!mounted) {
      // Without mount(2), the same classification on a query_only connection (the weaker proof).
      console.warn('mount(2) not permitted: read-only proven with PRAGMA query_only only');
      const q = new Outbox({ dir: dataDir, gatewayId: 'gw-ro', maxRecords: 100, logger: testLogger });
      q.open();
      q.sqlite.pragma('query_only = ON');
      await expect(q.enqueue([], { probe: true })).rejects.toMatchObject({
        code: 'E_OUTBOX_READONLY',
      });
      await q.close();
      return;
    }
    const file = join(tmp.dir, 'gateway.json');
    const writeConfig = (dir: string) =>
      writeFileSync(
        file,
        JSON.stringify({
          gateway_id: 'gw-ro',
          data_dir: dir,
          cloud: { url: 'mqtt://127.0.0.1:1', secret: 'x' },
          premises_broker: { embedded: { host: '127.0.0.1', port: 0 } },
        }),
      );
    const run = () => {
      const child = spawn(
        process.execPath,
        [
          '--conditions=source',
          '--import',
          'tsx',
          join(repoRoot, 'gateway', 'src', 'main.ts'),
          '--config',
          file,
        ],
        { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const lines: Array<Record<string, unknown>> = [];
      let buf = '';
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const parts = buf.split('\n');
        buf = parts.pop() ?? '';
        for (const p of parts) if (p.trim()) lines.push(JSON.parse(p));
      });
      return { child, lines };
    };

    execFileSync('mount', ['-o', 'remount,ro', mnt]);
    for (const dir of [dataDir, join(mnt, 'never-created')]) {
      writeConfig(dir); // an existing outbox, and a data dir that cannot even be created
      const r = run();
      const code = await exitOf(r.child);
      expect(code).toBe(74);
      expect(r.lines.find((l) => l.msg === 'gateway could not start')).toMatchObject({
        level: 60,
        code: 'E_OUTBOX_READONLY',
      });
    }

    execFileSync('mount', ['-o', 'remount,rw', mnt]); // what a retry after fsck/remount finds
    writeConfig(dataDir);
    const r = run();
    await waitFor(() => r.lines.find((l) => l.msg === 'ready'), 20_000, 'ready');
    r.child.kill('SIGTERM');
    expect(await exitOf(r.child)).toBe(0);
  });
});
