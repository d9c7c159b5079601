import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { Controller, parseConfig } from '../../src/index.js';
import { testLogger } from '../support/log.js';
import { tempDir } from '../support/tmp.js';
import { waitFor } from '../support/wait.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const MIN = 60_000;

describe('supervision service through the controller and a real premises broker', () => {
  it('raises 381 for a silent device (grade 3) and for availability offline, restores when it reports', async () => {
    const tmp = tempDir();
    let now = T0;
    const config = parseConfig({
      gateway_id: 'gw-supervision',
      data_dir: tmp.dir,
      cloud: { url: 'mqtt://127.0.0.1:1', secret: 'x' },
      premises_broker: { embedded: { host: '127.0.0.1', port: 0 } },
      supervision: { grade: 3 },
      premises: {
        version: 1,
        zones: [
          { zone: 1, name: 'Front door', type: 'entry_exit', device: 'front_door' },
          { zone: 2, name: 'Kitchen leak', type: 'water_24h', device: 'kitchen_leak' },
        ],
      },
    });
    const controller = new Controller({ config, logger: testLogger, clock: () => now, tickMs: 50 });
    let z2m: MqttClient | null = null;
    const supervisionEvents = () =>
      controller.outbox
        .nextBatch(1000)
        .filter((e) => e.code === '381')
        .map((e) => `${e.device}:${e.qualifier}`);
    try {
      await controller.start();
      const supervision = controller.supervision!;
      z2m = await mqtt.connectAsync(`mqtt://127.0.0.1:${controller.premisesPort}`, { clientId: 'z2m' });
      const state = (device: string, payload: object) =>
        z2m!.publishAsync(`zigbee2mqtt/${device}`, JSON.stringify(payload), { qos: 1 });

      now = T0 + 19 * MIN;
      await state('kitchen_leak', { water_leak: false, battery: 90 });
      await waitFor(() => supervision.snapshot().kitchen_leak?.last_seen === now, 5000, 'leak seen');
      now = T0 + 20 * MIN + 1; // the door has been silent for more than 20 min (grade 3)
      await supervision.check();
      expect(supervisionEvents()).toEqual(['front_door:new']);
      await supervision.check(); // no change, no second event
      expect(supervisionEvents()).toEqual(['front_door:new']);

      await state('front_door', { contact: true, linkquality: 0 }); // reports again: restore
      await waitFor(() => supervisionEvents().length === 2, 5000, 'restore');
      expect(supervisionEvents()).toEqual(['front_door:new', 'front_door:restore']);

      // zigbee2mqtt's availability: JSON and plain-string forms
      await z2m.publishAsync('zigbee2mqtt/kitchen_leak/availability', '{"state":"offline"}', { qos: 1 });
      await waitFor(() => supervisionEvents().length === 3, 5000, 'offline');
      await z2m.publishAsync('zigbee2mqtt/kitchen_leak/availability', 'online', { qos: 1 });
      await waitFor(() => supervisionEvents().length === 4, 5000, 'online');
      expect(supervisionEvents()).toEqual([
        'front_door:new',
        'front_door:restore',
        'kitchen_leak:new',
        'kitchen_leak:restore',
      ]);
    } finally {
      await z2m?.endAsync(true);
      await controller.stop();
      tmp.cleanup();
    }
  });
});
