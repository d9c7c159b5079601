import { request } from 'node:http';
import { topic } from '@mertah/protocol';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudApp } from '../../../src/index.js';
import {
  ackInbox,
  batch,
  connectGateway,
  event,
  gwId,
  login,
  provision,
  startCloud,
  tokenFor,
  waitFor,
} from '../../support/cloud.js';

let app: CloudApp;
let port: number;
let opToken: string;
const clients: MqttClient[] = [];

beforeAll(async () => {
  app = await startCloud({ sseKeepaliveMs: 300 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  port = typeof addr === 'object' && addr ? addr.port : 0;
  opToken = await tokenFor(app, 'op-sse', 'operator');
});
afterAll(async () => {
  for (const c of clients) c.end(true);
  await app?.close();
});

interface SseMessage {
  id: string | undefined;
  event: string | undefined;
  data: string;
}

/** A real EventSource-like reader over an HTTP socket. */
function openStream(headers: Record<string, string>): Promise<{
  messages: SseMessage[];
  comments: string[];
  status: number;
  close(): void;
}> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/alarms/stream', headers }, (res) => {
      const messages: SseMessage[] = [];
      const comments: string[] = [];
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i = buf.indexOf('\n\n');
        while (i >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const m: SseMessage = { id: undefined, event: undefined, data: '' };
          let isMessage = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line);
            else if (line.startsWith('id: ')) m.id = line.slice(4);
            else if (line.startsWith('event: ')) m.event = line.slice(7);
            else if (line.startsWith('data: ')) {
              m.data += line.slice(6);
              isMessage = true;
            }
          }
          if (isMessage) messages.push(m);
          i = buf.indexOf('\n\n');
        }
      });
      res.on('error', () => {});
      resolve({ messages, comments, status: res.statusCode ?? 0, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

async function gatewayWithAlarm(code = '130'): Promise<{ id: string; c: MqttClient; alarmId: number }> {
  const id = gwId();
  const c = await connectGateway(app, id, await provision(app, id));
  clients.push(c);
  const inbox = await ackInbox(c, id);
  await c.publishAsync(topic(id, 'events'), batch(id, [event(1, { code, priority: 2 })]), { qos: 1 });
  await inbox.next((a) => a.ack === 1);
  const list = await app.inject({ url: '/api/alarms', headers: { authorization: `Bearer ${opToken}` } });
  const alarm = list.json().alarms.find((a: { gateway_id: string }) => a.gateway_id === id);
  return { id, c, alarmId: alarm.id };
}

describe('alarm stream (SSE)', () => {
  it('sends open alarms first, then live changes, keepalive comments, and catches up from Last-Event-ID', async () => {
    const first = await gatewayWithAlarm();
    const s1 = await openStream({ authorization: `Bearer ${opToken}` });
    expect(s1.status).toBe(200);
    await waitFor(() => s1.messages.some((m) => JSON.parse(m.data).id === first.alarmId));
    const initial = s1.messages.find((m) => JSON.parse(m.data).id === first.alarmId)!;
    expect(initial.event).toBe('alarm');
    expect(Number(initial.id)).toBeGreaterThan(0);

    // live: a new alarm and a claim
    const second = await gatewayWithAlarm('110');
    await waitFor(() => s1.messages.some((m) => JSON.parse(m.data).id === second.alarmId));
    const claim = await app.inject({
      method: 'POST',
      url: `/api/alarms/${second.alarmId}/claim`,
      headers: { authorization: `Bearer ${opToken}` },
    });
    expect(claim.statusCode).toBe(200);
    await waitFor(() => s1.messages.some((m) => JSON.parse(m.data).status === 'claimed'));
    const ids = s1.messages.map((m) => Number(m.id));
    const live = ids.slice(ids.length - 2);
    expect(live[1]).toBeGreaterThan(live[0]!);
    await waitFor(() => s1.comments.some((c) => c.startsWith(': keepalive')));
    const lastSeen = s1.messages.at(-1)!.id!;
    s1.close();

    // while disconnected: two more changes
    const third = await gatewayWithAlarm('120');
    const close = await app.inject({
      method: 'POST',
      url: `/api/alarms/${second.alarmId}/close`,
      headers: { authorization: `Bearer ${opToken}` },
      payload: { disposition: 'test', notes: 'walk test' },
    });
    expect(close.statusCode).toBe(200);

    const s2 = await openStream({ authorization: `Bearer ${opToken}`, 'last-event-id': lastSeen });
    await waitFor(() => s2.messages.length >= 2);
    const caught = s2.messages.map((m) => JSON.parse(m.data));
    expect(caught.map((a) => [a.id, a.status])).toEqual([
      [third.alarmId, 'open'],
      [second.alarmId, 'closed'],
    ]);
    expect(s2.messages.every((m) => Number(m.id) > Number(lastSeen))).toBe(true);
    s2.close();
  });

  it('needs a signed-in operator', async () => {
    const s = await openStream({});
    expect(s.status).toBe(401);
    s.close();
  });

  it('works with the session cookie (what a browser EventSource sends)', async () => {
    const pw = await (await import('../../support/cloud.js')).addUser(app, 'cookie-op', 'operator');
    const { cookie } = await login(app, 'cookie-op', pw);
    const s = await openStream({ cookie });
    expect(s.status).toBe(200);
    s.close();
  });
});

describe('alarm routes', () => {
  it('claims over HTTP: two concurrent claims, exactly one 200 and one 409', async () => {
    const { alarmId } = await gatewayWithAlarm();
    const a = await tokenFor(app, 'race-a', 'operator');
    const b = await tokenFor(app, 'race-b', 'operator');
    const [r1, r2] = await Promise.all(
      [a, b].map((t) =>
        app.inject({
          method: 'POST',
          url: `/api/alarms/${alarmId}/claim`,
          headers: { authorization: `Bearer ${t}` },
        }),
      ),
    );
    expect([r1!.statusCode, r2!.statusCode].sort()).toEqual([200, 409]);
    const lost = r1!.statusCode === 409 ? r1! : r2!;
    expect(lost.json().code).toBe('E_ALREADY_CLAIMED');
  });

  it('gets an alarm with its events, validates dispositions, and 404s unknown ids', async () => {
    const { id, alarmId } = await gatewayWithAlarm();
    const auth = { authorization: `Bearer ${opToken}` };
    const r = await app.inject({ url: `/api/alarms/${alarmId}`, headers: auth });
    expect(r.statusCode).toBe(200);
    expect(r.json().alarm).toMatchObject({
      id: alarmId,
      gateway_id: id,
      status: 'open',
      event_class: 'burglary',
    });
    expect(r.json().events).toHaveLength(1);
    expect(r.json().events[0]).toMatchObject({ seq: 1, code: '130', alarm_id: alarmId, gateway_id: id });
    const bad = await app.inject({
      method: 'POST',
      url: `/api/alarms/${alarmId}/close`,
      headers: auth,
      payload: { disposition: 'because' },
    });
    expect(bad.json().code).toBe('E_VALIDATION');
    expect((await app.inject({ url: '/api/alarms/999999', headers: auth })).json().code).toBe('E_NOT_FOUND');
    const closed = await app.inject({
      method: 'POST',
      url: `/api/alarms/${alarmId}/close`,
      headers: auth,
      payload: { disposition: 'real' },
    });
    expect(closed.json().alarm).toMatchObject({ status: 'closed', disposition: 'real', closed_by: 'op-sse' });
    const again = await app.inject({
      method: 'POST',
      url: `/api/alarms/${alarmId}/close`,
      headers: auth,
      payload: { disposition: 'real' },
    });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('E_CLOSED');
    const all = await app.inject({ url: '/api/alarms?status=closed', headers: auth });
    expect(all.json().alarms.map((a: { id: number }) => a.id)).toContain(alarmId);
  });
});
