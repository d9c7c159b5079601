import type {
  Command,
  CommandResult,
  EventBatch,
  GatewayStatus,
  Heartbeat,
  TelemetryBatch,
} from '@mertah/protocol';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  backoffDelay,
  type CommandOutcome,
  type EventDraft,
  EventBus,
  Outbox,
  PremisesBroker,
  Uplink,
  type UplinkOptions,
} from '../../src/index.js';
import { testLogger } from '../support/log.js';
import { tempDir } from '../support/tmp.js';
import { waitFor } from '../support/wait.js';

const GW = 'gw-uplink-test';
const T = (s: string) => `mertah/v1/gw/${GW}/${s}`;
const draft = (priority: number, code: string): EventDraft => ({
  ts: Date.now(),
  code,
  qualifier: 'new',
  partition: 1,
  zone: null,
  device: null,
  priority,
  text: code,
});

describe('backoff', () => {
  it('grows exponentially with jitter and is capped at 30 s', () => {
    expect(backoffDelay(0, 1000, 30_000, () => 0)).toBe(500);
    expect(backoffDelay(0, 1000, 30_000, () => 1)).toBe(1000);
    expect(backoffDelay(3, 1000, 30_000, () => 1)).toBe(8000);
    expect(backoffDelay(50, 1000, 30_000, () => 1)).toBe(30_000);
    expect(backoffDelay(50, 1000, 30_000, () => 0)).toBe(15_000);
  });
});

describe('uplink against a real broker playing the cloud', () => {
  let tmp: ReturnType<typeof tempDir>;
  let cloud: PremisesBroker;
  let cloudClient: MqttClient;
  let outbox: Outbox;
  let bus: EventBus;
  let uplink: Uplink | null;
  let batches: EventBatch[];
  let statuses: GatewayStatus[];
  let results: CommandResult[];
  let heartbeats: Heartbeat[];
  let telemetry: TelemetryBatch[];
  let commands: Command[];
  let users: Array<{ user?: string; pass?: string }>;

  const start = (over: Partial<UplinkOptions> = {}) => {
    uplink = new Uplink({
      gatewayId: GW,
      url: cloud.url,
      secret: 's3cret',
      caFile: null,
      keepaliveS: 30,
      batchSize: 10,
      window: 10,
      heartbeatS: 3600,
      outbox,
      bus,
      logger: testLogger,
      partitions: () => [{ partition: 1, mode: 'disarmed', state: 'disarmed' }],
      onCommand: async (cmd): Promise<CommandOutcome> => {
        commands.push(cmd);
        return cmd.force
          ? { ok: true }
          : { ok: false, code: 'E_ZONE_OPEN', message: 'zones open: 1', data: { zones: [1] } };
      },
      backoffBaseMs: 20,
      backoffCapMs: 100,
      ...over,
    });
    uplink.start();
    return uplink;
  };
  const ack = (a: number, sack?: Array<[number, number]>, tacks?: number[]) =>
    cloudClient.publishAsync(T('ack'), JSON.stringify({ ack: a, sack, tacks, ts: Date.now() }), { qos: 1 });
  const seqs = (b: EventBatch | undefined) => b?.events.map((e) => e.seq) ?? [];

  beforeEach(async () => {
    tmp = tempDir();
    outbox = new Outbox({
      dir: tmp.dir,
      gatewayId: GW,
      maxRecords: 100_000,
      logger: testLogger,
      onChange: (c) => bus.emitOutboxChanged(c),
    });
    outbox.open();
    bus = new EventBus(testLogger);
    uplink = null;
    batches = [];
    statuses = [];
    results = [];
    heartbeats = [];
    telemetry = [];
    commands = [];
    users = [];
    cloud = new PremisesBroker({ host: '127.0.0.1', port: 0, logger: testLogger });
    await cloud.start();
    cloud.aedes!.authenticate = (_client, username, password, done) => {
      users.push({ user: username, pass: password?.toString() });
      done(null, username === GW && password?.toString() === 's3cret');
    };
    cloudClient = await mqtt.connectAsync(cloud.url, { clientId: 'cloud', username: GW, password: 's3cret' });
    cloudClient.on('message', (t, p) => {
      const v = JSON.parse(p.toString());
      if (t === T('events')) batches.push(v);
      else if (t === T('status')) statuses.push(v);
      else if (t === T('cmd/result')) results.push(v);
      else if (t === T('heartbeat')) heartbeats.push(v);
      else if (t === T('telemetry')) telemetry.push(v);
    });
    await cloudClient.subscribeAsync(`mertah/v1/gw/${GW}/#`, { qos: 1 });
  });
  afterEach(async () => {
    await uplink?.stop();
    await cloudClient.endAsync(true);
    await cloud.stop();
    await outbox.close();
    tmp.cleanup();
  });

  it('deletes nothing before the cloud Ack, then exactly what it covers', async () => {
    await outbox.enqueue(Array.from({ length: 6 }, () => draft(6, '401')));
    start();
    await waitFor(() => batches.length === 1, 5000, 'a batch');
    expect(batches[0]).toMatchObject({ gateway_id: GW });
    expect(seqs(batches[0])).toEqual([1, 2, 3, 4, 5, 6]);
    await new Promise((r) => setTimeout(r, 200)); // PUBACKs have long been exchanged
    expect(outbox.counts().events).toBe(6);
    await ack(2, [[5, 5]]);
    await waitFor(() => outbox.counts().events === 3, 5000, 'partial ack');
    expect(outbox.nextBatch(10).map((e) => e.seq)).toEqual([3, 4, 6]);
    await ack(6);
    await waitFor(() => outbox.counts().events === 0, 5000, 'full ack');
  });

  it('resends everything unacked after a reconnect, with the same event ids', async () => {
    await outbox.enqueue(Array.from({ length: 4 }, () => draft(2, '130')));
    start();
    await waitFor(() => batches.length === 1);
    const first = batches[0]!.events.map((e) => e.event_id);
    const onlineBefore = statuses.filter((s) => s.state === 'online').length;
    expect(cloud.dropClient(GW)).toBe(true); // the link drops abruptly
    await waitFor(() => statuses.some((s) => s.state === 'offline'), 5000, 'last will');
    await waitFor(() => batches.length === 2, 5000, 'resend');
    expect(batches[1]!.events.map((e) => e.event_id)).toEqual(first);
    await waitFor(
      () => statuses.filter((s) => s.state === 'online').length > onlineBefore,
      5000,
      'online again',
    );
    expect(outbox.counts().events).toBe(4);
    await ack(4);
    await waitFor(() => outbox.counts().events === 0);
  });

  it('keeps at most `window` events in flight and sends alarms first when a backlog drains', async () => {
    await outbox.enqueue(Array.from({ length: 30 }, () => draft(6, '401')));
    start({ batchSize: 5, window: 10 });
    await waitFor(() => batches.length === 2);
    await new Promise((r) => setTimeout(r, 100));
    expect(batches).toHaveLength(2);
    expect(uplink!.inflightCount()).toBe(10);
    await outbox.enqueue([draft(1, '110')]); // a fire alarm behind 20 unsent events
    await new Promise((r) => setTimeout(r, 50));
    expect(batches).toHaveLength(2); // the window is full
    await ack(5);
    await waitFor(() => batches.length === 3);
    expect(seqs(batches[2])).toEqual([31, 11, 12, 13, 14]);
    expect(batches[2]!.events[0]).toMatchObject({ code: '110', priority: 1 });
  });

  it('resends when no ack comes in time, without a reconnect', async () => {
    await outbox.enqueue([draft(2, '130')]);
    start({ resendAfterMs: 300 });
    await waitFor(() => batches.length === 2, 5000, 'timed resend');
    expect(seqs(batches[1])).toEqual([1]);
  });

  it('publishes retained online status on connect with the partitions, and offline on stop', async () => {
    start();
    const online = await waitFor(() => statuses.find((s) => s.state === 'online'));
    expect(online).toMatchObject({
      gateway_id: GW,
      partitions: [{ partition: 1, mode: 'disarmed', state: 'disarmed' }],
    });
    await uplink!.stop();
    uplink = null;
    await waitFor(() => statuses.find((s) => s.state === 'offline'));
    const late = await mqtt.connectAsync(cloud.url, { clientId: 'late', username: GW, password: 's3cret' });
    const retained = new Promise<GatewayStatus>((r) =>
      late.on('message', (_t, p) => r(JSON.parse(p.toString()))),
    );
    await late.subscribeAsync(T('status'));
    expect((await retained).state).toBe('offline');
    await late.endAsync();
  });

  it('applies commands and answers on cmd/result; expired commands are refused', async () => {
    start();
    await waitFor(() => statuses.length > 0);
    const base = { type: 'arm', partition: 1, mode: 'armed_away', issued_by: 'op', issued_at: Date.now() };
    const send = (c: object) => cloudClient.publishAsync(T('cmd'), JSON.stringify(c), { qos: 1 });
    await send({ ...base, command_id: 'c1', expires_at: Date.now() + 60_000 });
    await send({ ...base, command_id: 'c2', force: true, expires_at: Date.now() + 60_000 });
    await send({ ...base, command_id: 'c3', expires_at: Date.now() - 1 });
    // siren_test and config_push are the controller's to carry out, like arm
    await send({
      ...base,
      command_id: 'c4',
      type: 'siren_test',
      force: true,
      expires_at: Date.now() + 60_000,
    });
    await send({ command_id: 'c5', type: 'arm' });
    await waitFor(() => results.length === 5);
    const by = Object.fromEntries(results.map((r) => [r.command_id, r]));
    expect(by.c1).toMatchObject({ ok: false, code: 'E_ZONE_OPEN', data: { zones: [1] } });
    expect(by.c2).toMatchObject({ ok: true });
    expect(by.c3).toMatchObject({ ok: false, code: 'E_EXPIRED' });
    expect(by.c4).toMatchObject({ ok: true });
    expect(by.c5).toMatchObject({ ok: false, code: 'E_BAD_COMMAND' });
    expect(commands.map((c) => c.command_id)).toEqual(['c1', 'c2', 'c4']);
    await send({ ...base, command_id: 'c2', force: true, expires_at: Date.now() + 60_000 }); // redelivered
    await waitFor(() => results.length === 6);
    expect(commands).toHaveLength(3);
  });

  it('sends heartbeats with outbox counts and telemetry batches acked by tseq', async () => {
    await outbox.enqueue([draft(6, '401')]);
    await outbox.enqueueTelemetry([{ ts: 1, device: 'd', metric: 'battery', value: 99 }]);
    start({ heartbeatS: 0.2 });
    const hb = await waitFor(() => heartbeats[0]);
    expect(hb).toMatchObject({
      gateway_id: GW,
      last_seq: 1,
      outbox_events: 1,
      outbox_telemetry: 1,
      interval_s: 0.2,
    });
    const tb = await waitFor(() => telemetry[0]);
    expect(tb).toMatchObject({
      gateway_id: GW,
      tseq: 1,
      points: [{ ts: 1, device: 'd', metric: 'battery', value: 99 }],
    });
    await ack(0, undefined, [1]);
    await waitFor(() => outbox.counts().telemetry === 0);
  });

  it('keeps retrying with backoff while the cloud refuses the credentials', async () => {
    start({ secret: 'wrong' });
    await waitFor(() => users.filter((u) => u.pass === 'wrong').length >= 3, 5000, 'three attempts');
    expect(users.filter((u) => u.pass === 'wrong').every((u) => u.user === GW)).toBe(true);
    expect(uplink!.connected).toBe(false);
    expect(uplink!.counters.connects).toBe(0);
  });
});
