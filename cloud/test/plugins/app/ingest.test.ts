import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { topic } from '@mertah/protocol';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudApp, CloudConfig } from '../../../src/index.js';
import { SYSTEM } from '../../../src/plugins/app/auth/roles.js';
import { backends } from '../../support/backends.js';
import {
  ackInbox,
  batch,
  connectGateway,
  event,
  gwId,
  provision,
  startCloud,
  waitFor,
} from '../../support/cloud.js';

async function count(app: CloudApp, sql: string, params: unknown[]): Promise<number> {
  const r = await app.db.query<{ n: unknown }>(sql, params);
  return Number(r.rows[0]?.n ?? 0);
}

describe.each(backends())('ingest on $name', (backend) => {
  let app: CloudApp;
  let base: Partial<CloudConfig>;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    base = await backend.fresh();
    app = await startCloud(base);
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await app?.close();
  });

  async function gateway(): Promise<{
    id: string;
    c: MqttClient;
    inbox: Awaited<ReturnType<typeof ackInbox>>;
  }> {
    const id = gwId();
    const c = await connectGateway(app, id, await provision(app, id));
    clients.push(c);
    return { id, c, inbox: await ackInbox(c, id) };
  }

  it('stores a batch once when it arrives twice, and acks both times', async () => {
    const { id, c, inbox } = await gateway();
    const events = [event(1), event(2), event(3)];
    await c.publishAsync(topic(id, 'events'), batch(id, events), { qos: 1 });
    await inbox.next((a) => a.ack === 3);
    await c.publishAsync(topic(id, 'events'), batch(id, events), { qos: 1 });
    await waitFor(() => inbox.acks.length >= 2);
    expect(inbox.acks.map((a) => a.ack)).toEqual([3, 3]);
    expect(await count(app, 'SELECT count(*) AS n FROM events WHERE gateway_id = $1', [id])).toBe(3);
    const g = await app.gateways.get(SYSTEM, id);
    expect(g.acked_seq).toBe(3);
    expect(g.last_seq).toBe(3);
  });

  it('acks the highest contiguous seq and sacks the ranges above a gap', async () => {
    const { id, c, inbox } = await gateway();
    await c.publishAsync(topic(id, 'events'), batch(id, [event(1), event(2)]), { qos: 1 });
    await inbox.next((a) => a.ack === 2);
    // an alarm that jumped the queue, and a later run, with 3 and 6 missing
    await c.publishAsync(topic(id, 'events'), batch(id, [event(4), event(5), event(7)]), { qos: 1 });
    const gap = await inbox.next((a) => a.sack !== undefined);
    expect(gap.ack).toBe(2);
    expect(gap.sack).toEqual([
      [4, 5],
      [7, 7],
    ]);
    await c.publishAsync(topic(id, 'events'), batch(id, [event(3)]), { qos: 1 });
    const filled = await inbox.next((a) => a.ack === 5);
    expect(filled.sack).toEqual([[7, 7]]);
    await c.publishAsync(topic(id, 'events'), batch(id, [event(6)]), { qos: 1 });
    const all = await inbox.next((a) => a.ack === 7);
    expect(all.sack).toBeUndefined();
  });

  it('acks telemetry batches by tseq and stores each point once', async () => {
    const { id, c, inbox } = await gateway();
    const t = {
      gateway_id: id,
      tseq: 9,
      points: [
        { ts: 1, device: 'thermo', metric: 'temperature', value: 21.5 },
        { ts: 2, device: 'thermo', metric: 'humidity', value: 40 },
      ],
    };
    await c.publishAsync(topic(id, 'telemetry'), JSON.stringify(t), { qos: 1 });
    await c.publishAsync(topic(id, 'telemetry'), JSON.stringify(t), { qos: 1 });
    await waitFor(() => inbox.acks.filter((a) => a.tacks?.includes(9)).length >= 2);
    expect(await count(app, 'SELECT count(*) AS n FROM telemetry WHERE gateway_id = $1', [id])).toBe(2);
  });

  it('opens one alarm per partition, joins later signals, and keeps the most urgent priority', async () => {
    const { id, c, inbox } = await gateway();
    const changes: number[] = [];
    const off = app.alarms.bus.onAlarmChanged((ch) => {
      if (ch.alarm.gateway_id === id) changes.push(ch.alarm.event_count);
    });
    await c.publishAsync(
      topic(id, 'events'),
      batch(id, [
        event(1, { code: '130', priority: 2, text: 'burglary zone 3' }),
        event(2, { code: '401' }), // open/close: no alarm
        event(3, { code: '130', qualifier: 'restore', priority: 2 }), // a restore: no alarm
        event(4, { code: '110', priority: 1, partition: 2, text: 'fire' }),
      ]),
      { qos: 1 },
    );
    await inbox.next((a) => a.ack === 4);
    await c.publishAsync(
      topic(id, 'events'),
      batch(id, [event(5, { code: '121', priority: 1, text: 'duress' })]),
      {
        qos: 1,
      },
    );
    await inbox.next((a) => a.ack === 5);
    off();
    const alarms = (await app.alarms.list(SYSTEM, 'open')).filter((a) => a.gateway_id === id);
    expect(alarms).toHaveLength(2);
    const p1 = alarms.find((a) => a.partition === 1)!;
    expect(p1).toMatchObject({
      status: 'open',
      event_count: 2,
      priority: 1,
      code: '121',
      event_class: 'duress',
    });
    const p2 = alarms.find((a) => a.partition === 2)!;
    expect(p2).toMatchObject({ event_count: 1, priority: 1, event_class: 'fire' });
    expect(alarms[0]!.priority).toBeLessThanOrEqual(alarms[1]!.priority);
    const detail = await app.alarms.get(SYSTEM, p1.id);
    expect(detail.events.map((e) => e.seq)).toEqual([1, 5]);
    expect(changes.sort()).toEqual([1, 1, 2]);
  });

  it('lets exactly one of two concurrent claims win, then closes with a disposition', async () => {
    const { id, c, inbox } = await gateway();
    await c.publishAsync(topic(id, 'events'), batch(id, [event(1, { code: '130', priority: 2 })]), {
      qos: 1,
    });
    await inbox.next((a) => a.ack === 1);
    const alarm = (await app.alarms.list(SYSTEM, 'open')).find((a) => a.gateway_id === id)!;
    const ann = { id: 101, username: 'ann', display_name: 'Ann', role: 'operator' as const };
    const bob = { id: 102, username: 'bob', display_name: 'Bob', role: 'operator' as const };
    const results = await Promise.allSettled([
      app.alarms.claim(ann, alarm.id),
      app.alarms.claim(bob, alarm.id),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0] as PromiseRejectedResult).reason).toMatchObject({
      code: 'E_ALREADY_CLAIMED',
      statusCode: 409,
    });
    const winner = (won[0] as PromiseFulfilledResult<{ claimed_by: string }>).value.claimed_by;
    const loser = winner === 'ann' ? bob : ann;

    // a new signal joins the claimed alarm instead of opening another
    await c.publishAsync(topic(id, 'events'), batch(id, [event(2, { code: '131', priority: 2 })]), {
      qos: 1,
    });
    await inbox.next((a) => a.ack === 2);
    const joined = await app.alarms.get(SYSTEM, alarm.id);
    expect(joined.alarm).toMatchObject({ status: 'claimed', event_count: 2, claimed_by: winner });

    await expect(app.alarms.close(loser, alarm.id, 'real', null)).rejects.toMatchObject({
      code: 'E_ALREADY_CLAIMED',
    });
    const winnerP = winner === 'ann' ? ann : bob;
    const closed = await app.alarms.close(winnerP, alarm.id, 'false_user_error', 'customer called');
    expect(closed).toMatchObject({ status: 'closed', disposition: 'false_user_error', closed_by: winner });
    await expect(app.alarms.close(winnerP, alarm.id, 'real', null)).rejects.toMatchObject({
      code: 'E_CLOSED',
    });
    await expect(app.alarms.claim(ann, alarm.id)).rejects.toMatchObject({ code: 'E_CLOSED' });

    // after closing, the next signal opens a new alarm
    await c.publishAsync(topic(id, 'events'), batch(id, [event(3, { code: '130', priority: 2 })]), {
      qos: 1,
    });
    await inbox.next((a) => a.ack === 3);
    const open = (await app.alarms.list(SYSTEM, 'open')).filter((a) => a.gateway_id === id);
    expect(open).toHaveLength(1);
    expect(open[0]!.id).not.toBe(alarm.id);

    const audit = await app.audit.list(app.db, 'alarm', String(alarm.id));
    expect(audit.map((a) => a.action)).toEqual(['alarm.claim', 'alarm.close']);
    expect(await app.audit.verify(app.db)).toBeNull();
    await expect(app.db.query('UPDATE audit_log SET actor = $1', ['mallory'])).rejects.toThrow(/append-only/);
  });

  it('joins only the new alarm events of a batch that mixes resent and new ones', async () => {
    const { id, c, inbox } = await gateway();
    const first = event(1, { code: '130', priority: 2 });
    await c.publishAsync(topic(id, 'events'), batch(id, [first]), { qos: 1 });
    await inbox.next((a) => a.ack === 1);
    // a reconnect resends seq 1 together with new seqs 2 and 3
    await c.publishAsync(
      topic(id, 'events'),
      batch(id, [first, event(2, { code: '131', priority: 2 }), event(3, { code: '602', priority: 7 })]),
      { qos: 1 },
    );
    await inbox.next((a) => a.ack === 3);
    const alarm = (await app.alarms.list(SYSTEM, 'open')).find((a) => a.gateway_id === id)!;
    expect(alarm.event_count).toBe(2);
    expect((await app.alarms.get(SYSTEM, alarm.id)).events.map((e) => e.seq)).toEqual([1, 2]);
    expect(await count(app, 'SELECT count(*) AS n FROM events WHERE gateway_id = $1', [id])).toBe(3);
  });

  it('counts a reused seq with another event id as a conflict and still acks it', async () => {
    const { id, c, inbox } = await gateway();
    await c.publishAsync(topic(id, 'events'), batch(id, [event(1)]), { qos: 1 });
    await inbox.next((a) => a.ack === 1);
    const before = app.counters.get('ingest', 'E_SEQ_CONFLICT');
    await c.publishAsync(topic(id, 'events'), batch(id, [event(1)]), { qos: 1 });
    await waitFor(() => inbox.acks.length >= 2);
    expect(app.counters.get('ingest', 'E_SEQ_CONFLICT')).toBe(before + 1);
    expect(await count(app, 'SELECT count(*) AS n FROM events WHERE gateway_id = $1', [id])).toBe(1);
  });

  it('restores the ack watermark from the database after a restart', async () => {
    const dir = backend.name === 'pglite' ? mkdtempSync(join(tmpdir(), 'mertah-cloud-')) : null;
    const cfg: Partial<CloudConfig> = dir ? { dataDir: dir } : base;
    let a = await startCloud(cfg);
    const id = gwId();
    const secret = await provision(a, id);
    let c = await connectGateway(a, id, secret);
    let inbox = await ackInbox(c, id);
    await c.publishAsync(topic(id, 'events'), batch(id, [event(1), event(2), event(4)]), { qos: 1 });
    await inbox.next((x) => x.ack === 2 && x.sack !== undefined);
    c.end(true);
    await a.close();

    a = await startCloud(cfg);
    try {
      c = await connectGateway(a, id, secret);
      inbox = await ackInbox(c, id);
      await c.publishAsync(topic(id, 'events'), batch(id, [event(3)]), { qos: 1 });
      const ack = await inbox.next(() => true);
      expect(ack.ack).toBe(4);
      expect(ack.sack).toBeUndefined();
      c.end(true);
    } finally {
      await a.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });
});
