import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Controller, type GatewayConfig, parseConfig } from '../src/index.js';
import { FakeCloud } from './support/cloud.js';
import { testLogger } from './support/log.js';
import { tempDir } from './support/tmp.js';
import { waitFor } from './support/wait.js';

const GW = 'gw-controller';

describe('controller', () => {
  let tmp: ReturnType<typeof tempDir>;
  let cloud: FakeCloud;
  let controller: Controller | null;
  let config: GatewayConfig;

  beforeEach(async () => {
    tmp = tempDir();
    cloud = new FakeCloud(GW);
    await cloud.start();
    config = parseConfig({
      gateway_id: GW,
      data_dir: tmp.dir,
      cloud: { url: cloud.url, secret: 'x' },
      premises_broker: { embedded: { host: '127.0.0.1', port: 0 } },
      premises: {
        version: 3,
        entry_delay_s: 1,
        exit_delay_s: 0,
        siren_time_s: 1,
        zones: [
          { zone: 1, name: 'Front door', type: 'entry_exit', device: 'front_door' },
          { zone: 2, name: 'Kitchen leak', type: 'water_24h', device: 'kitchen_leak' },
        ],
      },
    });
    controller = null;
  });
  afterEach(async () => {
    await controller?.stop();
    await cloud.stop();
    tmp.cleanup();
  });

  it('runs the flow sensor -> alarm -> outbox -> cloud, keeps going past a failing driver, and resumes after a restart', async () => {
    const failing = {
      name: 'broken',
      start: async () => {
        throw new Error('no such serial port');
      },
      stop: async () => {},
    };
    controller = new Controller({ config, logger: testLogger, tickMs: 50, extraDrivers: [failing] });
    await controller.start();
    expect(controller.premisesPort).toBeGreaterThan(0);
    const online = await waitFor(() => cloud.statuses.find((s) => s.state === 'online'));
    expect(online).toMatchObject({ config_version: 3, partitions: [{ partition: 1, mode: 'disarmed' }] });

    await cloud.command({ command_id: 'arm-1', type: 'arm', partition: 1, mode: 'armed_away' });
    await waitFor(() => cloud.results.find((r) => r.command_id === 'arm-1'));
    expect(cloud.results[0]).toMatchObject({ ok: true });

    const z2m = await mqtt.connectAsync(`mqtt://127.0.0.1:${controller.premisesPort}`, { clientId: 'z2m' });
    await z2m.publishAsync('zigbee2mqtt/front_door', JSON.stringify({ contact: false, battery: '97.00' }), {
      qos: 1,
    });
    await z2m.publishAsync('zigbee2mqtt/front_door', JSON.stringify({ contact: false }), { qos: 1 }); // redelivery
    const burglary = await waitFor(() => cloud.events.find((e) => e.code === '130'), 5000, 'burglary');
    expect(burglary).toMatchObject({
      zone: 1,
      device: 'front_door',
      qualifier: 'new',
      priority: 2,
      partition: 1,
    });
    await z2m.publishAsync('zigbee2mqtt/kitchen_leak', JSON.stringify({ water_leak: true }), { qos: 1 });
    await waitFor(() => cloud.events.find((e) => e.code === '154'), 5000, 'leak');
    await waitFor(() => controller!.outbox.counts().events === 0, 5000, 'acked');
    expect(cloud.events.filter((e) => e.code === '130')).toHaveLength(1);
    expect(cloud.events.map((e) => e.seq)).toEqual(cloud.events.map((_, i) => i + 1));
    await z2m.endAsync();
    expect(controller.outbox.counts().telemetry + controller.outbox.counts().last_tseq).toBeGreaterThan(0);

    await controller.stop();
    await waitFor(() => cloud.statuses.at(-1)?.state === 'offline');
    controller = new Controller({ config, logger: testLogger, tickMs: 50 });
    await controller.start();
    expect(controller.alarm.status()).toMatchObject([{ partition: 1, mode: 'armed_away' }]); // restored from the db
    // Online is announced only once the gateway's subscriptions are in place.
    await waitFor(() => cloud.statuses.at(-1)?.state === 'online');
    await cloud.command({ command_id: 'disarm-1', type: 'disarm', partition: 1 });
    await waitFor(() => cloud.events.find((e) => e.code === '401' && e.qualifier === 'new'), 5000, 'opening');
    expect(cloud.events.find((e) => e.code === '406')).toBeDefined(); // disarmed after an alarm: cancel
    expect(cloud.events.map((e) => e.seq)).toEqual(cloud.events.map((_, i) => i + 1)); // counter resumed
  });
});
