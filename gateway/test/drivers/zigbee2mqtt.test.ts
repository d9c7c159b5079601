import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  EventBus,
  parseDevicePayload,
  PremisesBroker,
  routeTopic,
  type SensorMessage,
  Zigbee2MqttDriver,
} from '../../src/index.js';
import { concreteTopic, z2mRecord, z2mRecords } from '../support/corpus.js';
import { testLogger } from '../support/log.js';

describe('zigbee2mqtt payload mapping', () => {
  it('reads contact true as CLOSED and false as OPEN; linkquality 0 is a value', () => {
    const closed = parseDevicePayload(z2mRecord('contact-mccgq11lm-closed').payload);
    expect(closed.readings).toEqual([{ attribute: 'contact_open', active: false }]);
    const open = parseDevicePayload(z2mRecord('contact-mccgq11lm-open').payload);
    expect(open.readings).toEqual([{ attribute: 'contact_open', active: true }]);
    expect(open.telemetry).toEqual([{ metric: 'linkquality', value: 0 }]);
  });

  it('never takes null for normal: keypad nulls are counted as unknown', () => {
    const p = parseDevicePayload(z2mRecord('keypad-xhk1ue-arm-day-zones').payload);
    expect(p.readings).toEqual([{ attribute: 'occupancy', active: true }]);
    expect(p.unknown).toBe(3); // battery_low, contact, tamper
    expect(p.telemetry.map((t) => t.metric).sort()).toEqual([
      'battery',
      'linkquality',
      'temperature',
      'voltage',
    ]);
  });

  it('maps a leak sensor and a smoke detector test button (smoke stays false)', () => {
    const leak = parseDevicePayload(z2mRecord('leak-sjcgq11lm-dry').payload);
    expect(leak.readings).toEqual([
      { attribute: 'water_leak', active: false },
      { attribute: 'tamper', active: false },
      { attribute: 'battery_low', active: false },
    ]);
    const smoke = parseDevicePayload(z2mRecord('smoke-jtyj-gd-01lm-test-button').payload);
    expect(smoke.readings).toEqual([{ attribute: 'smoke', active: false }]);
  });

  it('accepts battery as a numeric string and flags wrong types', () => {
    const p = parseDevicePayload({ battery: '100.00', humidity: 55.5, gas: 'yes', temperature: 'warm' });
    expect(p.telemetry).toEqual([
      { metric: 'battery', value: 100 },
      { metric: 'humidity', value: 55.5 },
    ]);
    expect(p.badFields).toEqual(['gas', 'temperature']);
  });

  it('routes device topics and ignores set/get/availability and bridge topics', () => {
    expect(routeTopic('zigbee2mqtt', 'zigbee2mqtt/Siren Hall')).toEqual({
      kind: 'device',
      device: 'Siren Hall',
    });
    expect(routeTopic('zigbee2mqtt', 'zigbee2mqtt/floor1/door')).toEqual({
      kind: 'device',
      device: 'floor1/door',
    });
    for (const t of [
      'zigbee2mqtt/a/set',
      'zigbee2mqtt/a/get',
      'zigbee2mqtt/a/availability',
      'zigbee2mqtt/a/set/state',
      'other/a',
    ]) {
      expect(routeTopic('zigbee2mqtt', t).kind).toBe('ignore');
    }
    expect(routeTopic('zigbee2mqtt', 'zigbee2mqtt/bridge/state').kind).toBe('bridge');
  });
});

describe('zigbee2mqtt driver on a real broker', () => {
  let broker: PremisesBroker;
  let publisher: MqttClient;
  let bus: EventBus;
  let driver: Zigbee2MqttDriver | null;
  let received: SensorMessage[];

  const newDriver = () =>
    new Zigbee2MqttDriver({
      url: broker.url,
      baseTopic: 'zigbee2mqtt',
      clientId: 'mertah-gw-test',
      bus,
      logger: testLogger,
      retryMs: () => 10,
    });

  beforeEach(async () => {
    broker = new PremisesBroker({ host: '127.0.0.1', port: 0, logger: testLogger });
    await broker.start();
    bus = new EventBus(testLogger);
    received = [];
    publisher = await mqtt.connectAsync(broker.url, { clientId: 'z2m' });
  });
  afterEach(async () => {
    await driver?.stop();
    await publisher.endAsync();
    await broker.stop();
  });

  const waitFor = async (what: () => boolean, ms = 5000) => {
    const until = Date.now() + ms;
    while (!what()) {
      if (Date.now() > until) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('turns every real corpus payload into sensor messages and survives garbage', async () => {
    bus.onSensorMessage(bus, (m) => {
      received.push(m);
    });
    driver = newDriver();
    await driver.start();
    await publisher.publishAsync('zigbee2mqtt/bridge/state', 'online', { qos: 1 });
    await publisher.publishAsync('zigbee2mqtt/door0', 'not json', { qos: 1 });
    await publisher.publishAsync('zigbee2mqtt/door0', '[1,2]', { qos: 1 });
    await publisher.publishAsync('zigbee2mqtt/door0', 'null', { qos: 1 });
    const records = z2mRecords();
    for (const r of records) {
      await publisher.publishAsync(concreteTopic(r.topic), JSON.stringify(r.payload), { qos: 1 });
    }
    const devices = records.filter((r) => !r.topic.endsWith('/set'));
    await waitFor(() => received.length === devices.length);
    expect(driver.counters).toMatchObject({ invalid: 3, ignored: 3, sensor_messages: devices.length });
    expect(received.map((m) => m.device)).toEqual(
      devices.map((r) => concreteTopic(r.topic).slice('zigbee2mqtt/'.length)),
    );
    expect(received[1]).toMatchObject({
      device: 'door0',
      readings: [{ attribute: 'contact_open', active: true }],
    });
  });

  it('acknowledges a message only after it is committed: an uncommitted one comes back after a crash', async () => {
    let block = true;
    const firstRun: string[] = [];
    bus.onSensorMessage(bus, (m) => {
      firstRun.push(m.device);
      if (block && m.device === 'door_b') return new Promise<void>(() => {}); // never commits
    });
    driver = newDriver();
    await driver.start();
    await publisher.publishAsync('zigbee2mqtt/door_a', JSON.stringify({ contact: false }), { qos: 1 });
    await publisher.publishAsync('zigbee2mqtt/door_b', JSON.stringify({ contact: false }), { qos: 1 });
    await waitFor(() => firstRun.includes('door_b'));
    await driver.stop(); // the gateway dies while door_b is being processed
    bus.removeListeners(bus);
    block = false;
    bus.onSensorMessage(bus, (m) => {
      received.push(m);
    });
    driver = newDriver(); // same client id: the broker kept the session
    await driver.start();
    await waitFor(() => received.length >= 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(received.map((m) => m.device)).toEqual(['door_b']); // door_a was acked, door_b redelivered
  });

  it('retries a failed commit and acknowledges only once it succeeds', async () => {
    let attempts = 0;
    bus.onSensorMessage(bus, () => {
      attempts++;
      if (attempts < 3) throw new Error('disk full');
    });
    driver = newDriver();
    await driver.start();
    await publisher.publishAsync('zigbee2mqtt/leak', JSON.stringify({ water_leak: true }), { qos: 1 });
    await waitFor(() => attempts === 3);
    expect(driver.counters.commit_failures).toBe(2);
  });
});
