import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type EventDraft, Outbox, OutboxError } from '../../src/index.js';
import { testLogger } from '../support/log.js';
import { tempDir } from '../support/tmp.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', '..');

const draft = (priority = 2, code = '130', zone: number | null = 1): EventDraft => ({
  ts: 1_700_000_000_000,
  code,
  qualifier: 'new',
  partition: 1,
  zone,
  device: 'd',
  priority,
  text: `event ${code}`,
});
const point = (i: number) => ({ ts: 1_700_000_000_000 + i, device: 'd', metric: 'battery', value: i });

let tmp: ReturnType<typeof tempDir>;
let outbox: Outbox;
const open = (maxRecords = 200_000) => {
  const o = new Outbox({ dir: tmp.dir, gatewayId: 'gw-test', maxRecords, logger: testLogger, now: () => 42 });
  o.open();
  return o;
};

beforeEach(() => {
  tmp = tempDir();
  outbox = open();
});
afterEach(async () => {
  await outbox.close();
  tmp.cleanup();
});

describe('outbox', () => {
  it('runs SQLite in WAL with synchronous=FULL', () => {
    expect(outbox.sqlite.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(outbox.sqlite.pragma('synchronous', { simple: true })).toBe(2);
  });

  it('gives contiguous seqs from 1 and UUID event ids', async () => {
    const a = await outbox.enqueue([draft(), draft()]);
    const b = await outbox.enqueue([draft()]);
    expect([...a, ...b].map((e) => e.seq)).toEqual([1, 2, 3]);
    for (const e of [...a, ...b])
      expect(e.event_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set([...a, ...b].map((e) => e.event_id)).size).toBe(3);
  });

  it('writes every enqueue of one tick in a single transaction, resolving after commit', async () => {
    const before = outbox.stats.commits;
    const all = await Promise.all(Array.from({ length: 200 }, () => outbox.enqueue([draft()], { s: 1 })));
    expect(outbox.stats.commits - before).toBe(1);
    expect(all.flat().map((e) => e.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    // durable: a second connection sees them
    const other = new Database(outbox.path, { readonly: true });
    expect(other.prepare('SELECT count(*) FROM events').pluck().get()).toBe(200);
    other.close();
  });

  it('stores the alarm state in the same transaction and resumes the counter on reopen', async () => {
    await outbox.enqueue([draft(), draft()], { mode: 'armed_away' });
    await outbox.close();
    outbox = open();
    expect(outbox.loadState()).toEqual({ mode: 'armed_away' });
    expect(outbox.counts()).toMatchObject({ events: 2, last_seq: 2 });
    const [e] = await outbox.enqueue([draft()]);
    expect(e!.seq).toBe(3);
    outbox.ack(3);
    await outbox.close();
    outbox = open();
    expect(outbox.counts()).toMatchObject({ events: 0, last_seq: 3 });
    expect((await outbox.enqueue([draft()]))[0]!.seq).toBe(4);
  });

  it('hands out alarms before an older backlog (priority, then seq), skipping what is in flight', async () => {
    await outbox.enqueue(Array.from({ length: 5 }, () => draft(6, '401', null)));
    await outbox.enqueue([draft(1, '110', 4), draft(2, '130', 1)]);
    expect(outbox.nextBatch(10).map((e) => e.seq)).toEqual([6, 7, 1, 2, 3, 4, 5]);
    expect(outbox.nextBatch(3, new Set([6, 1])).map((e) => e.seq)).toEqual([7, 2, 3]);
  });

  it('deletes only what an ack covers: contiguous, sack ranges, telemetry tacks', async () => {
    await outbox.enqueue(Array.from({ length: 10 }, () => draft()));
    await outbox.enqueueTelemetry([point(1), point(2)]);
    const batch = outbox.nextTelemetryBatch(10)!;
    expect(batch).toMatchObject({ gateway_id: 'gw-test', tseq: 1 });
    expect(batch.points).toHaveLength(2);
    expect(outbox.ack(3, [[6, 7]], [])).toEqual({ events: 5, telemetry: 0 });
    expect(outbox.nextBatch(100).map((e) => e.seq)).toEqual([4, 5, 8, 9, 10]);
    expect(outbox.ack(0, [], [1])).toEqual({ events: 0, telemetry: 2 });
    expect(outbox.counts()).toMatchObject({ events: 5, telemetry: 0 });
  });

  it('numbers telemetry batches once and resends the same batch until acked', async () => {
    await outbox.enqueueTelemetry(Array.from({ length: 25 }, (_, i) => point(i)));
    const b1 = outbox.nextTelemetryBatch(10)!;
    const again = outbox.nextTelemetryBatch(10)!;
    expect(again.tseq).toBe(b1.tseq);
    expect(again.points).toEqual(b1.points);
    const b2 = outbox.nextTelemetryBatch(10, new Set([1]))!;
    const b3 = outbox.nextTelemetryBatch(10, new Set([1, 2]))!;
    expect([b2.tseq, b3.tseq, b3.points.length]).toEqual([2, 3, 5]);
    expect(outbox.nextTelemetryBatch(10, new Set([1, 2, 3]))).toBeNull();
  });

  it('when full, sheds the oldest telemetry, reports a 624 event, and never loses an event', async () => {
    await outbox.close();
    outbox = open(100);
    await outbox.enqueueTelemetry(Array.from({ length: 90 }, (_, i) => point(i)));
    await outbox.enqueue(Array.from({ length: 20 }, () => draft()));
    const c = outbox.counts();
    expect(c.events).toBe(21);
    expect(c.events + c.telemetry).toBeLessThanOrEqual(100);
    const shed = outbox.nextBatch(100).find((e) => e.code === '624')!;
    expect(shed).toMatchObject({ priority: 5, qualifier: 'new', seq: 21 });
    const data = shed.data as { shed_points: number; from_ts: number; to_ts: number };
    expect(data.shed_points).toBe(90 - c.telemetry);
    expect(data.from_ts).toBe(point(0).ts);
    expect(data.to_ts).toBe(point(data.shed_points - 1).ts);
    // the oldest went: what is left starts right after the shed range
    expect(outbox.nextTelemetryBatch(1000)!.points[0]!.ts).toBe(data.to_ts + 1);
  });

  it('keeps every event even beyond max_records, dropping incoming telemetry instead', async () => {
    await outbox.close();
    outbox = open(100);
    await outbox.enqueue(Array.from({ length: 120 }, () => draft()));
    await outbox.enqueueTelemetry([point(1), point(2)]);
    const c = outbox.counts();
    expect(c.telemetry).toBe(0);
    expect(c.events).toBe(121);
    const shed = outbox.nextBatch(1000).find((e) => e.code === '624')!;
    expect(shed.data).toEqual({ shed_points: 2, from_ts: point(1).ts, to_ts: point(2).ts });
  });

  it('reports a full disk as E_OUTBOX_FULL, stores nothing of the group, and recovers', async () => {
    await outbox.enqueue([draft()]);
    const pages = Number(outbox.sqlite.pragma('page_count', { simple: true }));
    outbox.sqlite.pragma(`max_page_count = ${pages}`);
    const big = { blob: 'x'.repeat(200_000) };
    const failed = outbox.enqueue([draft(), draft()], big);
    await expect(failed).rejects.toBeInstanceOf(OutboxError);
    await expect(failed).rejects.toMatchObject({ code: 'E_OUTBOX_FULL' });
    expect(outbox.counts()).toMatchObject({ events: 1, last_seq: 1 });
    outbox.sqlite.pragma('max_page_count = 1073741823');
    const ok = await outbox.enqueue([draft()], big);
    expect(ok[0]!.seq).toBe(2);
  });

  it('reports a read-only database as E_OUTBOX_READONLY', async () => {
    outbox.sqlite.pragma('query_only = ON');
    await expect(outbox.enqueue([draft()])).rejects.toMatchObject({ code: 'E_OUTBOX_READONLY' });
    outbox.sqlite.pragma('query_only = OFF');
    expect((await outbox.enqueue([draft()]))[0]!.seq).toBe(1);
  });

  it('fails to open with E_OUTBOX_OPEN when the directory cannot be used', () => {
    const o = new Outbox({
      dir: join(tmp.dir, 'gateway.db', 'sub'),
      gatewayId: 'gw-x',
      maxRecords: 100,
      logger: testLogger,
    });
    expect(() => o.open()).toThrow(/E_OUTBOX_OPEN/);
  });

  it('loses nothing committed when SIGKILLed in the middle of a 10,000-event burst', async () => {
    await outbox.close();
    const child = spawn(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        join(here, 'fixtures', 'burst.child.ts'),
        tmp.dir,
        '10000',
        '50',
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let lastReported = 0;
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, sig) => resolve(sig)),
    );
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const l of lines) {
          const m = /^committed (\d+)$/.exec(l);
          if (m) lastReported = Number(m[1]);
          if (l === 'done') reject(new Error('burst finished before the kill'));
        }
        if (lastReported >= 3000) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => reject(new Error(`child exited early: ${stderr}`)));
    });
    expect(await exited).toBe('SIGKILL');
    outbox = open();
    const seqs = outbox.sqlite.prepare('SELECT seq FROM events ORDER BY seq').pluck().all() as number[];
    const ids = outbox.sqlite
      .prepare("SELECT count(DISTINCT json_extract(body, '$.event_id')) FROM events")
      .pluck()
      .get();
    expect(seqs.length).toBeGreaterThanOrEqual(lastReported);
    expect(seqs.length).toBeLessThan(10_000); // it really was killed mid-burst
    expect(seqs[0]).toBe(1);
    expect(seqs[seqs.length - 1]).toBe(seqs.length); // contiguous, no gaps, no duplicates
    expect(ids).toBe(seqs.length);
    expect(outbox.counts().last_seq).toBe(seqs.length);
    expect(outbox.loadState()).toEqual({ committed_events: seqs.length }); // state committed with its events
    expect((await outbox.enqueue([draft()]))[0]!.seq).toBe(seqs.length + 1);
  });
});
