import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DesiredConfig, stableJson, topic } from '@mertah/protocol';
import type { MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import type { CloudApp } from '../../../src/index.js';
import { connectGateway, gwId, provision, startCloud, tokenFor, waitFor } from '../../support/cloud.js';

const dir = mkdtempSync(join(tmpdir(), 'mertah-gwconfig-'));
const apps: CloudApp[] = [];
const clients: MqttClient[] = [];
afterAll(async () => {
  for (const c of clients) c.end(true);
  for (const a of apps) await a.close();
  rmSync(dir, { recursive: true, force: true });
});

const as = (t: string) => ({ authorization: `Bearer ${t}` });

const premises = (zones: number[]) => ({
  version: 99, // ignored: the cloud assigns versions
  entry_delay_s: 10,
  exit_delay_s: 20,
  siren_time_s: 60,
  heartbeat_s: 30,
  zones: zones.map((z) => ({
    zone: z,
    name: `Zone ${z}`,
    type: 'instant',
    partition: 1,
    device: `dev-${z}`,
  })),
});

/** Subscribes as the gateway and resolves with the first (retained) desired config. */
async function desiredOnSubscribe(c: MqttClient, id: string): Promise<{ d: DesiredConfig; retain: boolean }> {
  const got = new Promise<{ d: DesiredConfig; retain: boolean }>((resolve) => {
    c.on('message', (t, payload, packet) => {
      if (t === topic(id, 'configDesired'))
        resolve({ d: JSON.parse(payload.toString()), retain: packet.retain });
    });
  });
  await c.subscribeAsync(topic(id, 'configDesired'), { qos: 1 });
  return got;
}

async function start(): Promise<CloudApp> {
  const a = await startCloud({ dataDir: dir });
  apps.push(a);
  return a;
}

describe('gateway config', () => {
  it('assigns versions, retains desired configs, shows applied results and survives a restart', async () => {
    let app = await start();
    const id = gwId();
    const secret = await provision(app, id);
    const sup = await tokenFor(app, 'sup-cfg', 'supervisor');
    const op = await tokenFor(app, 'op-cfg', 'operator');

    const forbidden = await app.inject({
      method: 'PUT',
      url: `/api/gateways/${id}/config`,
      headers: as(op),
      payload: premises([1]),
    });
    expect(forbidden.statusCode).toBe(403);
    const bad = await app.inject({
      method: 'PUT',
      url: `/api/gateways/${id}/config`,
      headers: as(sup),
      payload: { ...premises([1]), entry_delay_s: -1, zones: [{ zone: 0 }] },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('E_VALIDATION');
    expect(bad.json().message).toContain('/entry_delay_s');
    expect(bad.json().message).toContain('/zones/0');
    const missing = await app.inject({
      method: 'PUT',
      url: '/api/gateways/gw-nobody/config',
      headers: as(sup),
      payload: premises([1]),
    });
    expect(missing.statusCode).toBe(404);

    for (const zones of [[1], [1, 2]]) {
      const r = await app.inject({
        method: 'PUT',
        url: `/api/gateways/${id}/config`,
        headers: as(sup),
        payload: premises(zones),
      });
      expect(r.statusCode).toBe(200);
    }
    const view = await app.inject({ url: `/api/gateways/${id}/config`, headers: as(op) });
    expect(view.json()).toMatchObject({
      desired: { version: 2, created_by: 'sup-cfg' },
      applied_version: null,
    });
    expect(view.json().desired.config.version).toBe(2);

    const c = await connectGateway(app, id, secret);
    clients.push(c);
    const first = await desiredOnSubscribe(c, id);
    expect(first.retain).toBe(true);
    expect(first.d.version).toBe(2);
    expect(first.d.config.zones.map((z) => z.zone)).toEqual([1, 2]);

    await c.publishAsync(
      topic(id, 'configApplied'),
      JSON.stringify({
        version: 2,
        ok: false,
        errors: [{ path: '/config/zones/1', message: 'nope' }],
        ts: 1,
      }),
      { qos: 1 },
    );
    const failed = await waitFor(async () => {
      const v = (await app.inject({ url: `/api/gateways/${id}/config`, headers: as(op) })).json();
      return v.applied ? v : null;
    });
    expect(failed.applied).toMatchObject({ version: 2, ok: false, errors: [{ path: '/config/zones/1' }] });
    expect(failed.applied_version).toBeNull();
    await c.publishAsync(topic(id, 'configApplied'), JSON.stringify({ version: 2, ok: true, ts: 2 }), {
      qos: 1,
    });
    await waitFor(async () => {
      const v = (await app.inject({ url: `/api/gateways/${id}/config`, headers: as(op) })).json();
      return v.applied_version === 2;
    });

    const file = await app.inject({ url: `/api/gateways/${id}/config?format=file`, headers: as(op) });
    expect(file.statusCode).toBe(200);
    expect(file.headers['content-disposition']).toBe(`attachment; filename="${id}-config-v2.json"`);
    expect(file.body).toBe(stableJson(view.json().desired.config));
    expect(file.body.split('\n')[1]).toBe('  "entry_delay_s": 10,');

    const audit = await app.db.query<{ n: string }>(
      "SELECT count(*) AS n FROM audit_log WHERE action = 'gateway.config' AND target_id = $1",
      [id],
    );
    expect(Number(audit.rows[0]!.n)).toBe(2);

    c.end(true);
    await app.close();
    apps.length = 0;
    app = await start();
    const again = await connectGateway(app, id, secret);
    clients.push(again);
    const after = await desiredOnSubscribe(again, id);
    expect(after.retain).toBe(true);
    expect(after.d.version).toBe(2);
    const next = await app.inject({
      method: 'PUT',
      url: `/api/gateways/${id}/config`,
      headers: as(sup),
      payload: premises([1, 2, 3]),
    });
    expect(next.json().desired.version).toBe(3);
  });
});
