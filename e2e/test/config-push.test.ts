import { join } from 'node:path';
import type { Zigbee2MqttEmulator } from '@mertah/device-sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CloudHandle,
  type PremisesHandle,
  SseReader,
  startCloud,
  startPremises,
  tmp,
  waitFor,
} from './support.js';

describe('a premises config pushed from the cloud', () => {
  const dir = tmp('e2e-config');
  let cloud: CloudHandle;
  let premises: PremisesHandle;
  let emulator: Zigbee2MqttEmulator;
  const gatewayId = 'gw-e2e-config';
  const zones = [{ zone: 1, name: 'Front door', type: 'entry_exit', partition: 1, device: 'front_door' }];

  const http = (path: string, init: RequestInit = {}) =>
    fetch(`${cloud.http}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${cloud.token}`, 'content-type': 'application/json' },
    });

  beforeAll(async () => {
    cloud = await startCloud({ dataDir: join(dir, 'cloud') });
    premises = await startPremises({
      dir,
      http: cloud.http,
      token: cloud.token,
      mqttUrl: cloud.mqtt,
      gatewayId,
      premises: { version: 0, entry_delay_s: 1, exit_delay_s: 1, siren_time_s: 60, zones },
      devices: [
        ['front_door', 'contact'],
        ['bathroom_leak', 'water_leak'],
      ],
    });
    emulator = premises.emulator;
  });

  afterAll(async () => {
    await premises?.close();
    await cloud?.proc.close();
  });

  it('adds a zone: the gateway applies it, the API shows the applied version, and the new zone alarms', async () => {
    const body = {
      version: 0,
      entry_delay_s: 1,
      exit_delay_s: 1,
      siren_time_s: 60,
      heartbeat_s: 30,
      zones: [
        ...zones,
        { zone: 7, name: 'Bathroom leak', type: 'water_24h', partition: 1, device: 'bathroom_leak' },
      ],
    };
    const put = await http(`/api/gateways/${gatewayId}/config`, {
      method: 'PUT',
      body: JSON.stringify(body),
    });
    expect(put.status, await put.clone().text()).toBe(200);
    const version = ((await put.json()) as { desired: { version: number } }).desired.version;
    expect(version).toBe(1);

    const view = await waitFor('config applied', async () => {
      const v = (await (await http(`/api/gateways/${gatewayId}/config`)).json()) as {
        applied_version: number | null;
        applied: { version: number; ok: boolean } | null;
      };
      return v.applied_version === version ? v : null;
    });
    expect(view.applied).toMatchObject({ version, ok: true });

    const sse = new SseReader(`${cloud.http}/api/alarms/stream`, { authorization: `Bearer ${cloud.token}` });
    try {
      await emulator.update('bathroom_leak', { water_leak: true });
      const msg = await sse.waitFor((m) => m.event === 'alarm' && JSON.parse(m.data).code === '154', 15_000);
      expect(JSON.parse(msg.data)).toMatchObject({ zone: 7, gateway_id: gatewayId });
    } finally {
      sse.close();
    }
  });
});
