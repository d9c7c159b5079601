import { type Command, topic } from '@mertah/protocol';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudApp } from '../../../src/index.js';
import { ackInbox, batch, connectGateway, event, gwId, startCloud, tokenFor } from '../../support/cloud.js';

let app: CloudApp;
let admin: string;
let op: string;
const clients: MqttClient[] = [];

beforeAll(async () => {
  app = await startCloud();
  admin = await tokenFor(app, 'admin1', 'admin');
  op = await tokenFor(app, 'op1', 'operator');
});
afterAll(async () => {
  for (const c of clients) c.end(true);
  await app?.close();
});

const as = (t: string) => ({ authorization: `Bearer ${t}` });

async function provisioned(): Promise<{ id: string; c: MqttClient }> {
  const id = gwId();
  const r = await app.inject({
    method: 'POST',
    url: '/api/gateways',
    headers: as(admin),
    payload: { gateway_id: id, name: 'Flat 3' },
  });
  expect(r.statusCode).toBe(201);
  const { secret } = r.json();
  const c = await connectGateway(app, id, secret);
  clients.push(c);
  return { id, c };
}

describe('gateways', () => {
  it('provisions once (409 E_EXISTS after), stores only a hash, lists watermarks', async () => {
    const { id, c } = await provisioned();
    const dup = await app.inject({
      method: 'POST',
      url: '/api/gateways',
      headers: as(admin),
      payload: { gateway_id: id },
    });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().code).toBe('E_EXISTS');
    const badId = await app.inject({
      method: 'POST',
      url: '/api/gateways',
      headers: as(admin),
      payload: { gateway_id: 'NO' },
    });
    expect(badId.json().code).toBe('E_VALIDATION');
    const h = await app.db.query<{ secret_hash: string }>('SELECT secret_hash FROM gateways WHERE id = $1', [
      id,
    ]);
    expect(h.rows[0]!.secret_hash).toMatch(/^\$argon2id\$/);

    const inbox = await ackInbox(c, id);
    await c.publishAsync(topic(id, 'events'), batch(id, [event(1), event(2)]), { qos: 1 });
    await inbox.next((a) => a.ack === 2);
    const list = await app.inject({ url: '/api/gateways', headers: as(op) });
    const g = list.json().gateways.find((x: { gateway_id: string }) => x.gateway_id === id);
    expect(g).toMatchObject({ gateway_id: id, name: 'Flat 3', last_seq: 2, acked_seq: 2 });

    const ev = await app.inject({
      url: `/api/events?gateway_id=${id}&after_seq=1&limit=10`,
      headers: as(op),
    });
    expect(ev.json().events.map((e: { seq: number }) => e.seq)).toEqual([2]);
    expect(ev.json().events[0]).toMatchObject({
      gateway_id: id,
      code: '401',
      alarm_id: null,
      received_at: expect.any(String),
    });
  });
});

describe('commands', () => {
  it('publishes a command on the gateway cmd topic and waits for the result', async () => {
    const { id, c } = await provisioned();
    await c.subscribeAsync(topic(id, 'command'), { qos: 1 });
    c.on('message', (t, payload) => {
      if (t !== topic(id, 'command')) return;
      const cmd = JSON.parse(payload.toString()) as Command;
      c.publish(
        topic(id, 'commandResult'),
        JSON.stringify({ command_id: cmd.command_id, ok: true, ts: Date.now(), data: { mode: cmd.mode } }),
        {
          qos: 1,
        },
      );
    });
    const r = await app.inject({
      method: 'POST',
      url: `/api/gateways/${id}/commands?wait=5`,
      headers: as(op),
      payload: { type: 'arm', partition: 1, mode: 'armed_away' },
    });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ status: 'ok', result: { ok: true, data: { mode: 'armed_away' } } });
    const got = await app.inject({ url: `/api/commands/${r.json().command_id}`, headers: as(op) });
    expect(got.json()).toMatchObject({ gateway_id: id, type: 'arm', status: 'ok', issued_by: 'op1' });
  });

  it('answers 202 sent without wait; config_push needs a supervisor; unknown gateway is 404', async () => {
    const { id } = await provisioned();
    const r = await app.inject({
      method: 'POST',
      url: `/api/gateways/${id}/commands`,
      headers: as(op),
      payload: { type: 'siren_test' },
    });
    expect(r.statusCode).toBe(202);
    expect(r.json()).toEqual({ command_id: expect.any(String), status: 'sent' });
    const push = await app.inject({
      method: 'POST',
      url: `/api/gateways/${id}/commands`,
      headers: as(op),
      payload: { type: 'config_push' },
    });
    expect(push.statusCode).toBe(403);
    const none = await app.inject({
      method: 'POST',
      url: '/api/gateways/gw-nope/commands',
      headers: as(op),
      payload: { type: 'disarm' },
    });
    expect(none.statusCode).toBe(404);
    const audit = await app.db.query<{ action: string }>(
      'SELECT action FROM audit_log WHERE target_id = $1 ORDER BY id',
      [id],
    );
    expect(audit.rows.map((x) => x.action)).toEqual(['gateway.provision', 'command.siren_test']);
  });
});
