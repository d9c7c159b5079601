import { join } from 'node:path';
import { CloudClient, type Zigbee2MqttEmulator } from '@mertah/device-sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CloudHandle,
  type PremisesHandle,
  SseReader,
  startCloud,
  startPremises,
  tmp,
} from './support.js';

describe('one alarm from sensor to operator', () => {
  const dir = tmp('e2e');
  let cloud: CloudHandle;
  let premises: PremisesHandle;
  let emulator: Zigbee2MqttEmulator;
  let api: CloudClient;
  const gatewayId = 'gw-e2e-0001';
  const entryDelayS = 2;

  beforeAll(async () => {
    cloud = await startCloud({ dataDir: join(dir, 'cloud') });
    api = new CloudClient(cloud.http, cloud.token);
    premises = await startPremises({
      dir,
      http: cloud.http,
      token: cloud.token,
      mqttUrl: cloud.mqtt,
      gatewayId,
      premises: {
        version: 1,
        entry_delay_s: entryDelayS,
        exit_delay_s: 1,
        siren_time_s: 60,
        heartbeat_s: 30,
        zones: [
          { zone: 1, name: 'Front door', type: 'entry_exit', partition: 1, device: 'front_door' },
          { zone: 2, name: 'Kitchen leak', type: 'water_24h', partition: 1, device: 'kitchen_leak' },
        ],
      },
      devices: [
        ['front_door', 'contact'],
        ['kitchen_leak', 'water_leak'],
      ],
    });
    emulator = premises.emulator;
  });

  afterAll(async () => {
    await premises?.close();
    await cloud?.proc.close();
  });

  it('a zigbee2mqtt door-open while armed away becomes a 130 burglary alarm in REST and SSE after the entry delay', async () => {
    const sse = new SseReader(`${cloud.http}/api/alarms/stream`, { authorization: `Bearer ${cloud.token}` });
    try {
      const armed = await api.command(gatewayId, { type: 'arm', partition: 1, mode: 'armed_away' }, 10);
      expect(armed.status).toBe('ok');
      await new Promise((r) => setTimeout(r, 1500)); // exit delay (1 s) runs out

      const opened = Date.now();
      await emulator.update('front_door', { contact: false }); // magnet away: door OPEN
      const msg = await sse.waitFor((m) => m.event === 'alarm' && JSON.parse(m.data).code === '130', 15_000);
      const elapsed = Date.now() - opened;
      const alarm = JSON.parse(msg.data);
      expect(alarm.gateway_id).toBe(gatewayId);
      expect(alarm.zone).toBe(1);
      expect(alarm.partition).toBe(1);
      expect(alarm.event_class).toBe('burglary');
      // Not before the entry delay ran out, and promptly after.
      expect(elapsed).toBeGreaterThanOrEqual(entryDelayS * 1000 - 100);
      expect(elapsed).toBeLessThan(entryDelayS * 1000 + 5000);

      const { alarms } = await api.alarms('open');
      const rest = alarms.find((a) => a.id === alarm.id);
      expect(rest).toMatchObject({ code: '130', zone: 1, gateway_id: gatewayId, status: 'open' });
      const events = await api.allEvents(gatewayId);
      const burglary = events.filter((e) => e.code === '130' && e.qualifier === 'new');
      expect(burglary).toHaveLength(1);
      expect(burglary[0]).toMatchObject({ zone: 1, device: 'front_door' });
    } finally {
      sse.close();
    }
  });

  it('a 24-hour water zone alarms while disarmed', async () => {
    const disarmed = await api.command(gatewayId, { type: 'disarm', partition: 1 }, 10);
    expect(disarmed.status).toBe('ok');
    // The operator works the burglary alarm to its end, so the leak opens a new one.
    for (const a of (await api.alarms('open')).alarms.filter((x) => x.gateway_id === gatewayId)) {
      await api.claim(a.id as number);
      await api.close(a.id as number, 'false_user_error', 'owner came home');
    }
    const sse = new SseReader(`${cloud.http}/api/alarms/stream`, { authorization: `Bearer ${cloud.token}` });
    try {
      await emulator.update('kitchen_leak', { water_leak: true });
      const msg = await sse.waitFor((m) => m.event === 'alarm' && JSON.parse(m.data).code === '154', 10_000);
      expect(JSON.parse(msg.data)).toMatchObject({ zone: 2, gateway_id: gatewayId });
    } finally {
      sse.close();
    }
  });
});
