import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { hashCode } from '../../src/alarm/alarm.codes.js';
import type { KeypadEntry } from '../../src/alarm/alarm.service.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Controller,
  EventBus,
  keypadCommand,
  parseAvailability,
  parseConfig,
  parseDevicePayload,
  PremisesBroker,
  routeTopic,
  type SensorMessage,
  sirenWarning,
  Zigbee2MqttDriver,
} from '../../src/index.js';
import { concreteTopic, z2mRecord, z2mRecords } from '../support/corpus.js';
import { testLogger } from '../support/log.js';
import { tempDir } from '../support/tmp.js';

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
    expect(smoke.readings[0]).toEqual({ attribute: 'smoke', active: false });
  });

  it('derives RF low battery from a battery percentage (string too) with hysteresis', () => {
    const low = (battery: unknown) =>
      parseDevicePayload({ smoke: false, battery }).readings.find((r) => r.attribute === 'battery_low');
    expect(low(14)).toEqual({ attribute: 'battery_low', active: true });
    expect(low('9.00')).toEqual({ attribute: 'battery_low', active: true });
    expect(low(17)).toBeUndefined(); // between the thresholds: keep the last verdict
    expect(low('100.00')).toEqual({ attribute: 'battery_low', active: false });
    expect(low(null)).toBeUndefined();
    // a device's own battery_low wins, and null there stays unknown
    expect(parseDevicePayload({ battery: 5, battery_low: false }).readings).toEqual([
      { attribute: 'battery_low', active: false },
    ]);
    expect(parseDevicePayload({ battery: 5, battery_low: null }).readings).toEqual([]);
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
    for (const t of ['zigbee2mqtt/a/set', 'zigbee2mqtt/a/get', 'zigbee2mqtt/a/set/state', 'other/a']) {
      expect(routeTopic('zigbee2mqtt', t).kind).toBe('ignore');
    }
    expect(routeTopic('zigbee2mqtt', 'zigbee2mqtt/bridge/state').kind).toBe('bridge');
    expect(routeTopic('zigbee2mqtt', 'zigbee2mqtt/floor1/door/availability')).toEqual({
      kind: 'availability',
      device: 'floor1/door',
    });
  });

  it('reads availability as JSON or a plain string', () => {
    expect(parseAvailability(Buffer.from('{"state":"online"}'))).toBe(true);
    expect(parseAvailability(Buffer.from('{"state":"offline"}'))).toBe(false);
    expect(parseAvailability(Buffer.from('offline'))).toBe(false);
    expect(parseAvailability(Buffer.from('online'))).toBe(true);
    for (const bad of ['{"state":null}', '{not json', 'maybe', '']) {
      expect(parseAvailability(Buffer.from(bad))).toBeNull();
    }
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
    // Each device's messages in publish order (devices do not wait for each other).
    const names = devices.map((r) => concreteTopic(r.topic).slice('zigbee2mqtt/'.length));
    expect(received.map((m) => m.device).sort()).toEqual([...names].sort());
    for (const name of new Set(names)) {
      expect(received.filter((m) => m.device === name).map((m) => m.readings)).toEqual(
        devices
          .filter((r) => concreteTopic(r.topic).endsWith(`/${name}`))
          .map((r) => parseDevicePayload(r.payload).readings),
      );
    }
    expect(received.filter((m) => m.device === 'door0')[1]).toMatchObject({
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

  it('never blocks other devices behind an uncommitted message; acks stay in arrival order', async () => {
    let block = true;
    const firstRun: string[] = [];
    bus.onSensorMessage(bus, (m) => {
      firstRun.push(m.device);
      if (block && m.device === 'leak') return new Promise<void>(() => {}); // storage stuck
    });
    driver = newDriver();
    await driver.start();
    await publisher.publishAsync('zigbee2mqtt/leak', JSON.stringify({ water_leak: true }), { qos: 1 });
    await publisher.publishAsync('zigbee2mqtt/smoke', JSON.stringify({ smoke: true }), { qos: 1 });
    await waitFor(() => firstRun.includes('smoke')); // the fire is not stuck behind the leak
    expect(firstRun).toEqual(['leak', 'smoke']);
    expect(driver.unacked).toBe(2); // smoke is committed, but its PUBACK waits for the leak's
    await driver.stop();
    bus.removeListeners(bus);
    block = false;
    bus.onSensorMessage(bus, (m) => {
      received.push(m);
    });
    driver = newDriver();
    await driver.start();
    await waitFor(() => received.length >= 2);
    expect(received.map((m) => m.device).sort()).toEqual(['leak', 'smoke']); // both redelivered
    await waitFor(() => driver!.unacked === 0);
    await driver.stop();
    received = [];
    driver = newDriver();
    await driver.start();
    await new Promise((r) => setTimeout(r, 200));
    expect(received).toEqual([]); // acked: nothing comes back a third time
  });

  it("applies one device's messages in order while an earlier one retries", async () => {
    let failures = 0;
    bus.onSensorMessage(bus, (m) => {
      if (m.readings[0]?.active && failures++ < 3) throw new Error('disk full');
      received.push(m);
    });
    driver = newDriver();
    await driver.start();
    await publisher.publishAsync('zigbee2mqtt/leak', JSON.stringify({ water_leak: true }), { qos: 1 });
    await publisher.publishAsync('zigbee2mqtt/leak', JSON.stringify({ water_leak: false }), { qos: 1 });
    await waitFor(() => received.length === 2);
    expect(received.map((m) => m.readings[0]?.active)).toEqual([true, false]); // restore last
    await waitFor(() => driver!.unacked === 0);
  });

  it('sends keypad arm/disarm actions to the alarm with their code, never logging the code', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
    const entries: KeypadEntry[] = [];
    driver = new Zigbee2MqttDriver({
      url: broker.url,
      baseTopic: 'zigbee2mqtt',
      clientId: 'mertah-gw-keypad',
      bus,
      logger,
      keypad: async (e) => {
        entries.push(e);
        return { ok: true };
      },
    });
    await driver.start();
    const rec = z2mRecord('keypad-xhk1ue-arm-day-zones');
    const send = (payload: Record<string, unknown>) =>
      publisher.publishAsync('zigbee2mqtt/keypad', JSON.stringify(payload), { qos: 1 });
    await send(rec.payload);
    await send({ ...rec.payload, action: 'arm_all_zones', action_code: '9876' });
    await send({ ...rec.payload, action: 'arm_night_zones', action_code: 4321 });
    await send({ ...rec.payload, action: 'disarm', action_code: '1234' });
    await send({ ...rec.payload, action: 'disarm', action_code: null }); // no code: refused
    await send({ ...rec.payload, action: 'panic', action_code: null });
    await waitFor(() => entries.length === 4 && driver!.unacked === 0);
    expect(entries).toEqual([
      { code: '1234', action: 'arm', mode: 'armed_home' },
      { code: '9876', action: 'arm', mode: 'armed_away' },
      { code: '4321', action: 'arm', mode: 'armed_night' },
      { code: '1234', action: 'disarm' },
    ]);
    await waitFor(() => lines.some((l) => l.includes('E_Z2M_PANIC_UNROUTED')));
    expect(lines.some((l) => l.includes('E_Z2M_KEYPAD_NO_CODE'))).toBe(true);
    expect(lines.filter((l) => l.includes('"keypad command"'))).toHaveLength(4);
    // everything logged but pino's own time/pid/hostname (digits that could match by chance)
    const logged = lines
      .map((l) => {
        const { time: _t, pid: _p, hostname: _h, ...rest } = JSON.parse(l) as Record<string, unknown>;
        return JSON.stringify(rest);
      })
      .join('\n');
    for (const pin of ['1234', '9876', '4321']) expect(logged).not.toContain(pin);
    expect(keypadCommand({ action: 'emergency' })).toEqual({ kind: 'panic' });
    expect(keypadCommand({ action: 'vibration' })).toBeNull();
    expect(keypadCommand({ action: null })).toBeNull();
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

describe('zigbee2mqtt keypad through the controller', () => {
  it('arms and disarms the real alarm from a keypad action with a user code', async () => {
    const tmp = tempDir();
    const config = parseConfig({
      gateway_id: 'gw-keypad',
      data_dir: tmp.dir,
      cloud: { url: 'mqtt://127.0.0.1:1', secret: 'x' },
      premises_broker: { embedded: { host: '127.0.0.1', port: 0 } },
      premises: {
        version: 1,
        exit_delay_s: 0,
        zones: [{ zone: 1, name: 'Front door', type: 'entry_exit', device: 'front_door' }],
        users: [
          {
            user: 'alice',
            name: 'Alice',
            code_hash: await hashCode('2580', { N: 1024 }),
            permissions: ['arm', 'disarm'],
          },
        ],
      },
    });
    const controller = new Controller({ config, logger: testLogger, tickMs: 50 });
    let keypad: MqttClient | null = null;
    try {
      await controller.start();
      keypad = await mqtt.connectAsync(`mqtt://127.0.0.1:${controller.premisesPort}`, { clientId: 'z2m' });
      const base = z2mRecord('keypad-xhk1ue-arm-day-zones').payload;
      const press = (action: string, code: string) =>
        keypad!.publishAsync(
          'zigbee2mqtt/hall_keypad',
          JSON.stringify({ ...base, action, action_code: code }),
          {
            qos: 1,
          },
        );
      await press('arm_all_zones', '0000'); // wrong code: refused
      await press('arm_all_zones', '2580');
      await waitForState(() => controller.alarm.status()[0]?.mode === 'armed_away');
      await press('disarm', '2580');
      await waitForState(() => controller.alarm.status()[0]?.mode === 'disarmed');
    } finally {
      await keypad?.endAsync(true);
      await controller.stop();
      tmp.cleanup();
    }
  });
});

async function waitForState(what: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!what()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('zigbee2mqtt sirens through the controller', () => {
  it("sounds the configured zigbee sirens with the alarm's siren effect, through <siren>/set", async () => {
    const tmp = tempDir();
    const config = parseConfig({
      gateway_id: 'gw-sirens',
      data_dir: tmp.dir,
      cloud: { url: 'mqtt://127.0.0.1:1', secret: 'x' },
      premises_broker: { embedded: { host: '127.0.0.1', port: 0 } },
      zigbee_sirens: ['Siren Hall', 'siren_garden'],
      premises: {
        version: 1,
        siren_time_s: 90,
        zones: [{ zone: 1, name: 'Hall smoke', type: 'fire_24h', device: 'hall_smoke' }],
      },
    });
    const controller = new Controller({ config, logger: testLogger, tickMs: 50 });
    let z2m: MqttClient | null = null;
    try {
      await controller.start();
      z2m = await mqtt.connectAsync(`mqtt://127.0.0.1:${controller.premisesPort}`, { clientId: 'z2m' });
      const sets: Array<{ topic: string; body: unknown }> = [];
      z2m.on('message', (topic, body) => void sets.push({ topic, body: JSON.parse(body.toString()) }));
      await z2m.subscribeAsync('zigbee2mqtt/+/set', { qos: 1 });
      await z2m.publishAsync('zigbee2mqtt/hall_smoke', JSON.stringify({ smoke: true, battery: '100.00' }), {
        qos: 1,
      });
      await waitForState(() => sets.length === 2);
      const warning = { warning: { mode: 'burglar', level: 'very_high', strobe: true, duration: 90 } };
      expect(sets.sort((a, b) => a.topic.localeCompare(b.topic))).toEqual([
        { topic: 'zigbee2mqtt/Siren Hall/set', body: warning },
        { topic: 'zigbee2mqtt/siren_garden/set', body: warning },
      ]);
      expect(sirenWarning(false, 90)).toEqual({ warning: { mode: 'stop', strobe: false, duration: 0 } });
    } finally {
      await z2m?.endAsync(true);
      await controller.stop();
      tmp.cleanup();
    }
  });

  it('refuses a device command while the premises broker is not connected', async () => {
    const driver = new Zigbee2MqttDriver({
      url: 'mqtt://127.0.0.1:1',
      baseTopic: 'zigbee2mqtt',
      clientId: 'mertah-gw-offline',
      bus: new EventBus(testLogger),
      logger: testLogger,
    });
    await driver.start(50);
    try {
      await expect(driver.set('siren', sirenWarning(true, 10))).rejects.toMatchObject({
        code: 'E_Z2M_NOT_CONNECTED',
      });
    } finally {
      await driver.stop();
    }
  });
});
