import { MAX_PAYLOAD_BYTES, topic } from '@mertah/protocol';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudApp } from '../../../src/index.js';
import { SYSTEM } from '../../../src/plugins/app/auth/roles.js';
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

let app: CloudApp;
const clients: MqttClient[] = [];

beforeAll(async () => {
  app = await startCloud();
});
afterAll(async () => {
  for (const c of clients) c.end(true);
  await app?.close();
});

async function gateway(extra = {}): Promise<{ id: string; secret: string; c: MqttClient }> {
  const id = gwId();
  const secret = await provision(app, id);
  const c = await connectGateway(app, id, secret, extra);
  clients.push(c);
  return { id, secret, c };
}

/** Resolves when the client is disconnected by the broker. */
function closed(c: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    if (!c.connected) return resolve();
    c.once('close', () => resolve());
  });
}

const counter = (code: string) => app.counters.get('mqtt', code);
const ingestCounter = (code: string) => app.counters.get('ingest', code);

describe('broker authentication', () => {
  it('refuses a wrong secret, an unknown gateway and a client id that is not the username', async () => {
    const id = gwId();
    await provision(app, id);
    const before = counter('E_AUTH_BAD_CREDENTIALS');
    await expect(connectGateway(app, id, 'wrong-secret')).rejects.toThrow(
      /Bad username or password|Not authorized/i,
    );
    await expect(connectGateway(app, gwId(), 'whatever')).rejects.toThrow(
      /Bad username or password|Not authorized/i,
    );
    expect(counter('E_AUTH_BAD_CREDENTIALS')).toBe(before + 2);

    const beforeId = counter('E_AUTH_CLIENT_ID');
    await expect(connectGateway(app, id, 'x', { clientId: 'someone-else' })).rejects.toThrow(
      /Identifier rejected/i,
    );
    expect(counter('E_AUTH_CLIENT_ID')).toBe(beforeId + 1);
  });

  it('lets the right secret in, again and again (the verification is cached)', async () => {
    const { id, secret, c } = await gateway();
    c.end(true);
    const again = await connectGateway(app, id, secret);
    expect(again.connected).toBe(true);
    again.end(true);
  });
});

describe('topic ACL', () => {
  it('refuses a publish under another gateway and cuts that connection; the victim is unaffected', async () => {
    const a = await gateway();
    const b = await gateway();
    const bInbox = await ackInbox(b.c, b.id);
    const before = counter('E_PUBLISH_DENIED');
    const gone = closed(a.c);
    a.c.publish(topic(b.id, 'events'), batch(b.id, [event(1)]), { qos: 1 });
    await gone;
    expect(counter('E_PUBLISH_DENIED')).toBe(before + 1);
    expect(
      Number(
        (await app.db.query<{ n: unknown }>('SELECT count(*) AS n FROM events WHERE gateway_id = $1', [b.id]))
          .rows[0]!.n,
      ),
    ).toBe(0);
    await b.c.publishAsync(topic(b.id, 'events'), batch(b.id, [event(1)]), { qos: 1 });
    expect((await bInbox.next((x) => x.ack === 1)).ack).toBe(1);
  });

  it('refuses a gateway publishing on a cloud-side topic of its own (ack, cmd)', async () => {
    const a = await gateway();
    const before = counter('E_PUBLISH_DENIED');
    const gone = closed(a.c);
    a.c.publish(topic(a.id, 'ack'), JSON.stringify({ ack: 99, ts: 1 }), { qos: 1 });
    await gone;
    expect(counter('E_PUBLISH_DENIED')).toBe(before + 1);
  });

  it('refuses unknown topics and counts them separately', async () => {
    const a = await gateway();
    const before = counter('E_UNKNOWN_TOPIC');
    const gone = closed(a.c);
    a.c.publish('some/other/topic', 'hello', { qos: 1 });
    await gone;
    expect(counter('E_UNKNOWN_TOPIC')).toBe(before + 1);
  });

  it("refuses subscriptions to another gateway's topics and to wildcards, grants its own", async () => {
    const a = await gateway();
    const b = await gateway();
    const before = counter('E_SUBSCRIBE_DENIED');
    for (const t of [
      topic(b.id, 'ack'),
      topic(b.id, 'command'),
      'mertah/v1/gw/+/ack',
      '#',
      topic(a.id, 'events'),
    ]) {
      await expect(a.c.subscribeAsync(t, { qos: 1 })).rejects.toThrow(/Subscribe error/);
    }
    const granted = await a.c.subscribeAsync(topic(a.id, 'command'), { qos: 1 });
    expect(granted.map((g) => g.qos)).toEqual([1]);
    expect(counter('E_SUBSCRIBE_DENIED')).toBe(before + 5);
    expect(a.c.connected).toBe(true);
    // and b's acks never reach a
    const seen: string[] = [];
    a.c.on('message', (t) => seen.push(t));
    const bInbox = await ackInbox(b.c, b.id);
    await b.c.publishAsync(topic(b.id, 'events'), batch(b.id, [event(1)]), { qos: 1 });
    await bInbox.next((x) => x.ack === 1);
    expect(seen.filter((t) => t.includes(b.id))).toEqual([]);
  });
});

describe('payload checks', () => {
  it('counts malformed JSON, schema violations and a gateway_id mismatch; nothing is stored or acked', async () => {
    const { id, c } = await gateway();
    const inbox = await ackInbox(c, id);
    const before = {
      json: ingestCounter('E_NOT_JSON'),
      schema: ingestCounter('E_SCHEMA'),
      mismatch: ingestCounter('E_GATEWAY_MISMATCH'),
    };
    await c.publishAsync(topic(id, 'events'), '{"gateway_id": ', { qos: 1 });
    await c.publishAsync(
      topic(id, 'events'),
      JSON.stringify({ gateway_id: id, sent_at: 1, events: [{ seq: 1 }] }),
      {
        qos: 1,
      },
    );
    await c.publishAsync(topic(id, 'heartbeat'), JSON.stringify({ gateway_id: id }), { qos: 1 });
    await c.publishAsync(topic(id, 'events'), batch('gw-someone-else', [event(1)]), { qos: 1 });
    await waitFor(() => ingestCounter('E_GATEWAY_MISMATCH') === before.mismatch + 1);
    expect(ingestCounter('E_NOT_JSON')).toBe(before.json + 1);
    expect(ingestCounter('E_SCHEMA')).toBe(before.schema + 2);
    // the connection survives and good data still flows
    await c.publishAsync(topic(id, 'events'), batch(id, [event(1)]), { qos: 1 });
    expect((await inbox.next(() => true)).ack).toBe(1);
    expect(inbox.acks).toHaveLength(1);
    const health = await app.inject({ url: '/api/health' });
    expect(health.json().counters['ingest.E_NOT_JSON']).toBeGreaterThanOrEqual(1);
  });

  it('cuts a connection announcing a packet over the limit before buffering it; others keep flowing', async () => {
    const big = await gateway();
    const other = await gateway();
    const inbox = await ackInbox(other.c, other.id);
    const before = counter('E_TOO_LARGE');
    const gone = closed(big.c);
    big.c.publish(topic(big.id, 'events'), Buffer.alloc(MAX_PAYLOAD_BYTES + 100 * 1024, 0x20), { qos: 1 });
    await gone;
    expect(counter('E_TOO_LARGE')).toBe(before + 1);
    await other.c.publishAsync(topic(other.id, 'events'), batch(other.id, [event(1)]), { qos: 1 });
    expect((await inbox.next((x) => x.ack === 1)).ack).toBe(1);
  });

  it('refuses a payload just over MAX_PAYLOAD_BYTES in authorizePublish', async () => {
    const big = await gateway();
    const before = counter('E_TOO_LARGE');
    const gone = closed(big.c);
    big.c.publish(topic(big.id, 'events'), Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 0x20), { qos: 1 });
    await gone;
    expect(counter('E_TOO_LARGE')).toBe(before + 1);
    expect(app.broker.aedes.closed).toBe(false);
  });
});

describe('status and will', () => {
  it('marks a gateway online from its retained status and offline from its will', async () => {
    const id = gwId();
    const secret = await provision(app, id);
    const c = mqtt.connect(`mqtt://127.0.0.1:${app.broker.ports.mqtt}`, {
      clientId: id,
      username: id,
      password: secret,
      reconnectPeriod: 0,
      will: {
        topic: topic(id, 'status'),
        payload: Buffer.from(JSON.stringify({ gateway_id: id, state: 'offline', ts: Date.now() })),
        qos: 1,
        retain: true,
      },
    });
    await new Promise<void>((r) => c.once('connect', () => r()));
    await c.publishAsync(
      topic(id, 'status'),
      JSON.stringify({ gateway_id: id, state: 'online', ts: Date.now() + 1, version: '0.1.0' }),
      { qos: 1, retain: true },
    );
    await waitFor(async () => (await app.gateways.get(SYSTEM, id)).online);
    await c.publishAsync(
      topic(id, 'heartbeat'),
      JSON.stringify({
        gateway_id: id,
        ts: Date.now(),
        uptime_s: 5,
        interval_s: 60,
        last_seq: 12,
        outbox_events: 0,
        outbox_telemetry: 0,
      }),
      { qos: 1 },
    );
    await waitFor(async () => (await app.gateways.get(SYSTEM, id)).last_seq === 12);
    // an unclean end: the broker publishes the will
    c.stream.destroy();
    await waitFor(async () => !(await app.gateways.get(SYSTEM, id)).online);
    const g = await app.gateways.get(SYSTEM, id);
    expect(g.last_seen_at).not.toBeNull();
    c.end(true);
  });
});
