import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ModbusIoModule } from '@mertah/device-sim';
import ModbusSerial from 'modbus-serial';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Controller,
  EventBus,
  type EventDraft,
  MAX_READ,
  type ModbusDeviceSettings,
  ModbusDriver,
  type ModbusSettings,
  type ModbusTable,
  modbusConfigIssues,
  nextThresholdState,
  parseConfig,
  planReads,
  type SensorMessage,
} from '../../src/index.js';
import { FakeCloud } from '../support/cloud.js';
import { testLogger } from '../support/log.js';
import { tempDir } from '../support/tmp.js';
import { waitFor } from '../support/wait.js';

const TABLES: ModbusTable[] = ['discrete_input', 'coil', 'input_register', 'holding_register'];

describe('planReads (read coalescing)', () => {
  it('reads contiguous addresses of one table in one request', () => {
    const plan = planReads([
      { table: 'discrete_input', address: 2 },
      { table: 'discrete_input', address: 0 },
      { table: 'discrete_input', address: 1 },
      { table: 'discrete_input', address: 5 },
      { table: 'input_register', address: 5 },
      { table: 'input_register', address: 6 },
      { table: 'coil', address: 0 },
    ]);
    expect(plan).toEqual([
      { table: 'discrete_input', start: 0, count: 3 },
      { table: 'discrete_input', start: 5, count: 1 },
      { table: 'coil', start: 0, count: 1 },
      { table: 'input_register', start: 5, count: 2 },
    ]);
  });

  it('covers every point exactly once, reads nothing else, respects limits, and is minimal', () => {
    const point = fc.record({
      table: fc.constantFrom(...TABLES),
      address: fc.integer({ min: 0, max: 400 }),
    });
    const limits = fc.record({
      discrete_input: fc.integer({ min: 1, max: 2000 }),
      coil: fc.integer({ min: 1, max: 2000 }),
      input_register: fc.integer({ min: 1, max: 125 }),
      holding_register: fc.integer({ min: 1, max: 125 }),
    });
    fc.assert(
      fc.property(
        fc.array(point, { maxLength: 300 }),
        fc.oneof(fc.constant(MAX_READ), limits),
        (pts, lim) => {
          const plan = planReads(pts, lim);
          for (const t of TABLES) {
            const wanted = new Set(pts.filter((p) => p.table === t).map((p) => p.address));
            const reqs = plan.filter((r) => r.table === t);
            const read: number[] = [];
            for (const r of reqs) {
              expect(r.count).toBeGreaterThanOrEqual(1);
              expect(r.count).toBeLessThanOrEqual(lim[t]);
              for (let a = r.start; a < r.start + r.count; a++) read.push(a);
            }
            // every wanted address once, nothing unwanted
            expect(read.slice().sort((a, b) => a - b)).toEqual([...wanted].sort((a, b) => a - b));
            // minimal: one request per run of contiguous addresses, split only at the limit
            const sorted = [...wanted].sort((a, b) => a - b);
            let expected = 0;
            let run = 0;
            sorted.forEach((a, i) => {
              if (i > 0 && a === sorted[i - 1]! + 1) run++;
              else {
                if (run > 0) expected += Math.ceil(run / lim[t]);
                run = 1;
              }
            });
            if (run > 0) expected += Math.ceil(run / lim[t]);
            expect(reqs).toHaveLength(expected);
          }
        },
      ),
    );
  });
});

describe('thresholds with hysteresis', () => {
  it('does not flap inside the band', () => {
    const p = { low_threshold: 5, high_threshold: 30, hysteresis: 1 };
    const values = [20, 4.9, 5.5, 4.5, 5.9, 6, 31, 29.5, 30.5, 29, 20];
    const states: string[] = [];
    let s: 'normal' | 'low' | 'high' = 'normal';
    for (const v of values) {
      s = nextThresholdState(s, v, p);
      states.push(s);
    }
    expect(states).toEqual([
      'normal',
      'low',
      'low',
      'low',
      'low',
      'normal',
      'high',
      'high',
      'high',
      'normal',
      'normal',
    ]);
  });

  it('reports cross-field config problems all at once', () => {
    const settings: ModbusSettings = {
      siren_output: 'nope',
      devices: [
        {
          name: 'io',
          transport: 'tcp',
          port: 502,
          unit_id: 1,
          poll_ms: 1000,
          timeout_ms: 1000,
          retries: 2,
          telemetry_ms: 0,
          points: [
            { name: 'a', table: 'input_register', address: 0, kind: 'zone' },
            { name: 'a', table: 'discrete_input', address: 1, kind: 'output' },
            { name: 't', table: 'coil', address: 2, kind: 'analog', low_threshold: 9, high_threshold: 1 },
          ],
        },
      ],
    };
    expect(modbusConfigIssues(settings).map((i) => i.path)).toEqual([
      '/modbus/devices/0/host',
      '/modbus/devices/0/points/0/table',
      '/modbus/devices/0/points/1/name',
      '/modbus/devices/0/points/1/table',
      '/modbus/devices/0/points/2/table',
      '/modbus/devices/0/points/2/low_threshold',
      '/modbus/siren_output',
    ]);
  });
});

function device(
  sim: ModbusIoModule,
  over: Partial<ModbusDeviceSettings> & Pick<ModbusDeviceSettings, 'name' | 'points'>,
): ModbusDeviceSettings {
  return {
    transport: 'tcp',
    host: '127.0.0.1',
    port: sim.port,
    unit_id: 1,
    poll_ms: 25,
    timeout_ms: 150,
    retries: 1,
    telemetry_ms: 60_000,
    ...over,
  };
}

describe('ModbusDriver over Modbus TCP', () => {
  let sim: ModbusIoModule;
  let bus: EventBus;
  let driver: ModbusDriver | null;
  let messages: SensorMessage[];
  let events: EventDraft[];
  const owner = {};

  beforeEach(async () => {
    sim = new ModbusIoModule();
    await sim.start();
    bus = new EventBus(testLogger);
    messages = [];
    events = [];
    bus.onSensorMessage(owner, (m) => {
      messages.push(m);
    });
    driver = null;
  });
  afterEach(async () => {
    await driver?.stop();
    bus.removeListeners(owner);
    await sim.stop();
  });

  function startDriver(settings: ModbusSettings): Promise<void> {
    driver = new ModbusDriver({
      settings,
      bus,
      events: {
        enqueue: async (d) => {
          events.push(...d);
        },
      },
      zones: [
        { zone: 1, name: 'Back door', type: 'entry_exit', partition: 1, device: 'io1/back_door' },
        { zone: 2, name: 'Boiler room smoke', type: 'fire_24h', partition: 2, device: 'boiler_smoke' },
      ],
      logger: testLogger,
    });
    return driver.start();
  }

  const zoneReadings = (device: string) =>
    messages.filter((m) => m.device === device && m.readings.length > 0).map((m) => m.readings);

  it('turns discrete inputs into zone open/close readings, coalescing the reads', async () => {
    sim.setInput(1, true); // normally-closed loop: 1 = closed
    await startDriver({
      devices: [
        device(sim, {
          name: 'io1',
          points: [
            { name: 'back_door', table: 'discrete_input', address: 0, kind: 'zone' },
            { name: 'smoke', table: 'discrete_input', address: 1, kind: 'zone', zone: 2, active_low: true },
            { name: 'spare', table: 'discrete_input', address: 2, kind: 'zone' },
          ],
        }),
      ],
    });
    await waitFor(() => zoneReadings('io1/back_door').length > 0, 5000, 'first poll');
    // unknown -> known is reported once: closed, and the smoke loop (active low) is clear
    expect(zoneReadings('io1/back_door')).toEqual([[{ attribute: 'contact_open', active: false }]]);
    expect(zoneReadings('boiler_smoke')).toEqual([[{ attribute: 'smoke', active: false }]]);

    sim.setInput(0, true);
    await waitFor(() => zoneReadings('io1/back_door').length === 2, 5000, 'open');
    expect(zoneReadings('io1/back_door')[1]).toEqual([{ attribute: 'contact_open', active: true }]);
    sim.setInput(0, false);
    sim.setInput(1, false); // loop cut: smoke
    await waitFor(() => zoneReadings('io1/back_door').length === 3, 5000, 'close');
    expect(zoneReadings('io1/back_door')[2]).toEqual([{ attribute: 'contact_open', active: false }]);
    await waitFor(() => zoneReadings('boiler_smoke').length === 2, 5000, 'smoke');
    expect(zoneReadings('boiler_smoke')[1]).toEqual([{ attribute: 'smoke', active: true }]);

    // three contiguous inputs: one FC 2 request per poll, never one per point
    expect(sim.requests.length).toBeGreaterThanOrEqual(3);
    expect(sim.requests.every((r) => r.fc === 2 && r.address === 0 && r.count === 3)).toBe(true);
    expect(driver!.counters().zone_changes).toBe(6);
  });

  it('scales registers into telemetry and raises a threshold event with its restore, without flapping', async () => {
    sim.setRegister(10, 215); // 21.5 °C
    sim.setHoldingRegister(11, 0xffec); // -20 signed -> -2.0 bar offset +1 -> -1
    await startDriver({
      devices: [
        device(sim, {
          name: 'io1',
          points: [
            {
              name: 'freezer_temp',
              table: 'input_register',
              address: 10,
              kind: 'analog',
              scale: 0.1,
              unit: '°C',
              metric: 'temperature',
              high_threshold: 30,
              low_threshold: 5,
              hysteresis: 1,
            },
            {
              name: 'pressure',
              table: 'holding_register',
              address: 11,
              kind: 'analog',
              signed: true,
              scale: 0.1,
              offset: 1,
            },
          ],
        }),
      ],
    });
    const telemetry = () => messages.flatMap((m) => m.telemetry);
    await waitFor(() => telemetry().length >= 2, 5000, 'telemetry');
    expect(messages[0]).toMatchObject({ source: 'modbus', device: 'io1' });
    expect(telemetry()).toEqual([
      { metric: 'temperature', value: 21.5 },
      { metric: 'pressure', value: -1 },
    ]);
    expect(events).toEqual([]);

    const polls = () => driver!.status()[0]!.polls;
    const settle = async () => {
      const p = polls();
      await waitFor(() => polls() >= p + 2, 5000, 'two polls');
    };
    sim.setRegister(10, 305); // 30.5 > 30: high
    await waitFor(() => events.length === 1, 5000, 'high');
    expect(events[0]).toMatchObject({
      code: '158',
      qualifier: 'new',
      device: 'io1/freezer_temp',
      priority: 3,
    });
    expect(events[0]!.data).toMatchObject({ point: 'freezer_temp', value: 30.5, unit: '°C' });
    sim.setRegister(10, 295); // inside the band (29..30): still high, no restore
    await settle();
    sim.setRegister(10, 302);
    await settle();
    expect(events).toHaveLength(1);
    sim.setRegister(10, 285); // 28.5 <= 29: restore
    await waitFor(() => events.length === 2, 5000, 'restore');
    expect(events[1]).toMatchObject({ code: '158', qualifier: 'restore' });
    sim.setRegister(10, 40); // 4.0 < 5: low temperature
    await waitFor(() => events.length === 3, 5000, 'low');
    expect(events[2]).toMatchObject({ code: '159', qualifier: 'new' });
    expect(
      telemetry()
        .filter((t) => t.metric === 'temperature')
        .map((t) => t.value),
    ).toEqual([21.5, 30.5, 29.5, 30.2, 28.5, 4]);
    // one FC 4 and one FC 3 per poll
    expect(new Set(sim.requests.map((r) => `${r.fc}:${r.address}:${r.count}`))).toEqual(
      new Set(['4:10:1', '3:11:1']),
    );
  });

  it('writes output coils, and refuses unknown outputs with a code', async () => {
    await startDriver({
      devices: [
        device(sim, {
          name: 'io1',
          points: [
            { name: 'siren', table: 'coil', address: 3, kind: 'output' },
            { name: 'door', table: 'discrete_input', address: 0, kind: 'zone' },
          ],
        }),
      ],
    });
    await driver!.writeOutput('io1/siren', true);
    expect(sim.getCoil(3)).toBe(true);
    await driver!.writeOutput('siren', false);
    expect(sim.getCoil(3)).toBe(false);
    await expect(driver!.writeOutput('valve', true)).rejects.toMatchObject({
      code: 'E_MODBUS_UNKNOWN_OUTPUT',
    });
    sim.injectException(4, { table: 'coil' });
    await expect(driver!.writeOutput('siren', true)).rejects.toMatchObject({
      code: 'E_MODBUS_DEVICE_FAILURE',
      exception: 4,
    });
    expect(driver!.counters()).toMatchObject({
      writes: 2,
      errors: { E_MODBUS_UNKNOWN_OUTPUT: 1, E_MODBUS_DEVICE_FAILURE: 1 },
    });
  });

  it('counts exception codes and timeouts per code and keeps polling the other devices', async () => {
    sim.injectException(2, { unit: 1, table: 'input_register' }); // illegal data address
    sim.injectException(6, { unit: 1, table: 'holding_register' }); // busy (retried)
    sim.injectException(11, { unit: 3 }); // gateway target failed to respond
    sim.silence({ unit: 2 });
    await startDriver({
      devices: [
        device(sim, {
          name: 'bad_map',
          unit_id: 1,
          points: [
            { name: 'door', table: 'discrete_input', address: 0, kind: 'zone' },
            { name: 'level', table: 'input_register', address: 0, kind: 'analog' },
            { name: 'setpoint', table: 'holding_register', address: 0, kind: 'analog' },
          ],
        }),
        device(sim, {
          name: 'dead',
          unit_id: 2,
          points: [{ name: 'door', table: 'discrete_input', address: 0, kind: 'zone' }],
        }),
        device(sim, {
          name: 'behind_gw',
          unit_id: 3,
          points: [{ name: 'door', table: 'discrete_input', address: 0, kind: 'zone' }],
        }),
        device(sim, {
          name: 'good',
          unit_id: 4,
          points: [{ name: 'door', table: 'discrete_input', address: 0, kind: 'zone' }],
        }),
      ],
    });
    await waitFor(() => (driver!.counters().errors.E_MODBUS_TIMEOUT ?? 0) >= 1, 5000, 'timeout');
    await waitFor(() => driver!.status().find((d) => d.name === 'dead')?.online === false, 5000, 'dead');
    // the healthy unit was polled all along and reports its input
    sim.setInput(0, true, 4);
    await waitFor(
      () => zoneReadings('good/door').some((r) => r[0]?.active === true),
      5000,
      'good device still polled',
    );
    const c = driver!.counters();
    expect(c.errors.E_MODBUS_ILLEGAL_ADDRESS).toBeGreaterThanOrEqual(1);
    expect(c.errors.E_MODBUS_BUSY).toBeGreaterThanOrEqual(1);
    expect(c.errors.E_MODBUS_GATEWAY_TARGET).toBeGreaterThanOrEqual(1);
    expect(c.retries).toBeGreaterThanOrEqual(3); // busy, timeout and gateway target are retried
    const status = Object.fromEntries(driver!.status().map((d) => [d.name, d]));
    // an exception is an answer: the module is online, only those registers are unknown
    expect(status.bad_map).toMatchObject({ online: true });
    expect(status.dead).toMatchObject({ online: false, last_error: 'E_MODBUS_TIMEOUT' });
    expect(status.behind_gw).toMatchObject({ online: false, last_error: 'E_MODBUS_GATEWAY_TARGET' });
    expect(status.good).toMatchObject({ online: true, last_error: null });
    // the bad map's discrete input still works; its failed registers send nothing
    expect(zoneReadings('bad_map/door')).toEqual([[{ attribute: 'contact_open', active: false }]]);
    expect(messages.filter((m) => m.device === 'bad_map' && m.telemetry.length > 0)).toEqual([]);
    // silent units never had their zones reported (unknown, not closed)
    expect(zoneReadings('dead/door')).toEqual([]);
    expect(
      events
        .filter((e) => e.code === '333')
        .map((e) => [e.device, e.qualifier])
        .sort(),
    ).toEqual([
      ['behind_gw', 'new'],
      ['dead', 'new'],
    ]);
  });

  it('reports a module that stops answering once, keeps its zones unknown, and reports it back', async () => {
    sim.setInput(0, true);
    await startDriver({
      devices: [
        device(sim, {
          name: 'io1',
          points: [{ name: 'back_door', table: 'discrete_input', address: 0, kind: 'zone', zone: 1 }],
        }),
      ],
    });
    await waitFor(() => zoneReadings('io1/back_door').length === 1, 5000, 'first reading');
    expect(driver!.status()[0]!.online).toBe(true);

    await sim.stop();
    await waitFor(() => driver!.status()[0]!.online === false, 5000, 'offline');
    const polls = driver!.status()[0]!.polls;
    await waitFor(() => driver!.status()[0]!.polls >= polls + 3, 5000, 'polls while offline');
    expect(driver!.counters()).toMatchObject({ offline: 1, online: 0 });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ code: '333', qualifier: 'new', device: 'io1', partition: 1 });
    expect(zoneReadings('io1/back_door')).toHaveLength(1); // no "closed" was made up

    await sim.start(); // same port
    await waitFor(() => driver!.status()[0]!.online === true, 5000, 'back online');
    await waitFor(() => zoneReadings('io1/back_door').length === 2, 5000, 'reported again');
    // the first answer after being unknown is reported in full, even though it did not change
    expect(zoneReadings('io1/back_door')[1]).toEqual([{ attribute: 'contact_open', active: true }]);
    expect(events.map((e) => [e.code, e.qualifier])).toEqual([
      ['333', 'new'],
      ['333', 'restore'],
    ]);
    expect(driver!.counters()).toMatchObject({ offline: 1, online: 1 });
    expect(driver!.counters().errors.E_MODBUS_CONNECT).toBeGreaterThanOrEqual(1);
  });
});

describe('controller with Modbus', () => {
  let tmp: ReturnType<typeof tempDir>;
  let cloud: FakeCloud;
  let sim: ModbusIoModule;
  let controller: Controller | null = null;

  beforeEach(async () => {
    tmp = tempDir();
    cloud = new FakeCloud('gw-modbus');
    await cloud.start();
    sim = new ModbusIoModule();
    await sim.start();
  });
  afterEach(async () => {
    await controller?.stop();
    await sim.stop();
    await cloud.stop();
    tmp.cleanup();
  });

  it('a wired zone trips the alarm, the siren coil follows, temperature becomes an event', async () => {
    const config = parseConfig({
      gateway_id: 'gw-modbus',
      data_dir: tmp.dir,
      cloud: { url: cloud.url, secret: 'x' },
      premises_broker: { embedded: { host: '127.0.0.1', port: 0 } },
      premises: {
        version: 1,
        exit_delay_s: 0,
        siren_time_s: 600,
        zones: [{ zone: 1, name: 'Warehouse door', type: 'instant', device: 'io1/door' }],
      },
      modbus: {
        siren_output: 'io1/siren',
        devices: [
          {
            name: 'io1',
            transport: 'tcp',
            host: '127.0.0.1',
            port: sim.port,
            unit_id: 1,
            poll_ms: 25,
            points: [
              { name: 'door', table: 'discrete_input', address: 0, kind: 'zone', zone: 1 },
              { name: 'siren', table: 'coil', address: 0, kind: 'output' },
              {
                name: 'cold_room',
                table: 'input_register',
                address: 0,
                kind: 'analog',
                scale: 0.1,
                metric: 'temperature',
                low_threshold: -30,
                high_threshold: 8,
              },
            ],
          },
        ],
      },
    });
    sim.setRegister(0, 40);
    controller = new Controller({ config, logger: testLogger, tickMs: 50 });
    await controller.start();
    expect(controller.modbus).not.toBeNull();
    await waitFor(() => controller!.modbus!.status()[0]?.online, 5000, 'online');
    await expect(
      controller.onCommand({
        command_id: 'a',
        type: 'arm',
        partition: 1,
        mode: 'armed_away',
        issued_by: 'u',
        issued_at: Date.now(),
        expires_at: Date.now() + 60_000,
      }),
    ).resolves.toMatchObject({ ok: true });

    sim.setInput(0, true);
    const burglary = await waitFor(() => cloud.events.find((e) => e.code === '130'), 5000, 'burglary');
    expect(burglary).toMatchObject({ zone: 1, device: 'io1/door', qualifier: 'new' });
    await waitFor(() => sim.getCoil(0), 5000, 'siren coil on');

    await controller.onCommand({
      command_id: 'd',
      type: 'disarm',
      partition: 1,
      issued_by: 'u',
      issued_at: Date.now(),
      expires_at: Date.now() + 60_000,
    });
    await waitFor(() => !sim.getCoil(0), 5000, 'siren coil off');

    sim.setRegister(0, 95); // 9.5 °C > 8
    const hot = await waitFor(() => cloud.events.find((e) => e.code === '158'), 5000, 'high temp');
    expect(hot).toMatchObject({ qualifier: 'new', device: 'io1/cold_room' });
  });
});

describe('ModbusDriver over Modbus RTU (socat pseudo-terminal pair)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let socat: ChildProcess;
  let server: InstanceType<typeof ModbusSerial.ServerSerial> | null = null;
  let driver: ModbusDriver | null = null;

  beforeEach(async () => {
    tmp = tempDir();
    const [a, b] = [join(tmp.dir, 'gw'), join(tmp.dir, 'module')];
    socat = spawn('socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' });
    await waitFor(() => existsSync(a) && existsSync(b), 5000, 'pty pair');
  });
  afterEach(async () => {
    await driver?.stop();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    socat.kill('SIGTERM');
    tmp.cleanup();
  });

  it('reads a wired zone from an RTU slave and writes its coil', async () => {
    const inputs = new Map<number, boolean>();
    const coils = new Map<number, boolean>();
    await new Promise<void>((resolve, reject) => {
      server = new ModbusSerial.ServerSerial(
        {
          getDiscreteInput: (addr: number) => inputs.get(addr) ?? false,
          getCoil: (addr: number) => coils.get(addr) ?? false,
          setCoil: (addr: number, v: boolean) => {
            coils.set(addr, v);
          },
        },
        {
          path: join(tmp.dir, 'module'),
          baudRate: 9600,
          unitID: 7,
          openCallback: (err) => (err ? reject(err) : resolve()),
        },
      );
    });
    const bus = new EventBus(testLogger);
    const messages: SensorMessage[] = [];
    bus.onSensorMessage(bus, (m) => {
      messages.push(m);
    });
    driver = new ModbusDriver({
      settings: {
        devices: [
          {
            name: 'rtu1',
            transport: 'rtu',
            path: join(tmp.dir, 'gw'),
            baud_rate: 9600,
            port: 502,
            unit_id: 7,
            poll_ms: 50,
            timeout_ms: 500,
            retries: 2,
            telemetry_ms: 60_000,
            points: [
              { name: 'door', table: 'discrete_input', address: 0, kind: 'zone' },
              { name: 'relay', table: 'coil', address: 1, kind: 'output' },
            ],
          },
        ],
      },
      bus,
      events: { enqueue: async () => {} },
      zones: [],
      logger: testLogger,
    });
    await driver.start();
    await waitFor(() => messages.length === 1, 5000, 'first reading');
    inputs.set(0, true);
    await waitFor(() => messages.length === 2, 5000, 'open');
    expect(messages.map((m) => [m.device, m.readings])).toEqual([
      ['rtu1/door', [{ attribute: 'contact_open', active: false }]],
      ['rtu1/door', [{ attribute: 'contact_open', active: true }]],
    ]);
    await driver.writeOutput('rtu1/relay', true);
    expect(coils.get(1)).toBe(true);
  });
});
