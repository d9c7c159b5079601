import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudClient, GATEWAY_MAIN, ServiceProcess, Zigbee2MqttEmulator } from '@mertah/device-sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CloudHandle, SseReader, startCloud, tmp, waitFor } from './support.js';

describe('a premises config pushed from the cloud', () => {
  const dir = tmp('e2e-config');
  let cloud: CloudHandle;
  let gateway: ServiceProcess;
  let emulator: Zigbee2MqttEmulator;
  let api: CloudClient;
  const gatewayId = 'gw-e2e-config';
  const zones = [{ zone: 1, name: 'Front door', type: 'entry_exit', partition: 1, device: 'front_door' }];

  const http = (path: string, init: RequestInit = {}) =>
    fetch(`${cloud.http}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${cloud.token}`, 'content-type': 'application/json' },
    });

  beforeAll(async () => {
    cloud = await startCloud({ dataDir: join(dir, 'cloud') });
    api = new CloudClient(cloud.http, cloud.token);
    const { secret } = await api.provisionGateway(gatewayId, 'E2E config premises');
    const gwDir = join(dir, gatewayId);
    mkdirSync(gwDir, { recursive: true });
    const config = {
      gateway_id: gatewayId,
      data_dir: gwDir,
      cloud: { url: cloud.mqtt, secret, keepalive_s: 10 },
      premises_broker: { embedded: { host: '127.0.0.1', port: 0 }, base_topic: 'zigbee2mqtt' },
      premises: { version: 0, entry_delay_s: 1, exit_delay_s: 1, siren_time_s: 60, zones },
      log_level: 'warn',
    };
    const configPath = join(gwDir, 'gateway.json');
    writeFileSync(configPath, JSON.stringify(config));
    gateway = new ServiceProcess({
      name: 'gateway',
      command: process.execPath,
      args: [GATEWAY_MAIN, '--config', configPath],
      logFile: join(gwDir, 'gateway.log'),
    });
    const ready = await gateway.start();
    emulator = new Zigbee2MqttEmulator({ url: `mqtt://127.0.0.1:${ready.premises_port}`, qos: 1 });
    await emulator.start();
    await emulator.pair('front_door', 'contact');
    await emulator.pair('bathroom_leak', 'water_leak');
    await waitFor(
      'gateway online',
      async () => (await api.gateways()).gateways.find((g) => g.gateway_id === gatewayId)?.online,
    );
  });

  afterAll(async () => {
    await emulator?.stop();
    await gateway?.close();
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
