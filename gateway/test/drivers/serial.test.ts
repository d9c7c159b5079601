import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AlarmDecoderPanel } from '@mertah/device-sim';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AlarmInput, EventDraft } from '../../src/alarm/alarm.types.js';
import { SerialPanelDriver, zoneMapProblems } from '../../src/drivers/serial.js';
import { Controller, parseConfig } from '../../src/index.js';
import { testLogger } from '../support/log.js';
import { tempDir } from '../support/tmp.js';
import { waitFor } from '../support/wait.js';

/** A socat pseudo-terminal pair: `gw` for the gateway, `panel` for the emulator. */
class PtyPair {
  proc: ChildProcess | null = null;
  readonly gw: string;
  readonly panel: string;

  constructor(dir: string) {
    this.gw = join(dir, 'gw');
    this.panel = join(dir, 'panel');
  }

  async start(): Promise<void> {
    if (spawnSync('socat', ['-V']).error) {
      throw new Error('socat is required for the serial tests (Debian: apt-get install socat)');
    }
    rmSync(this.gw, { force: true });
    rmSync(this.panel, { force: true });
    const proc = spawn(
      'socat',
      ['-d', '-d', `pty,raw,echo=0,link=${this.gw}`, `pty,raw,echo=0,link=${this.panel}`],
      { stdio: 'ignore' },
    );
    this.proc = proc;
    await waitFor(() => existsSync(this.gw) && existsSync(this.panel), 5000, 'socat pty links');
  }

  /** The device is unplugged: socat exits and its ptys vanish. */
  async kill(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  }
}

describe('SerialPanelDriver over a real pty pair', () => {
  let tmp: ReturnType<typeof tempDir>;
  let pty: PtyPair;
  let panel: AlarmDecoderPanel;
  let driver: SerialPanelDriver;
  let inputs: AlarmInput[];
  let events: EventDraft[];

  beforeEach(async () => {
    tmp = tempDir('mertah-serial-');
    pty = new PtyPair(tmp.dir);
    await pty.start();
    panel = new AlarmDecoderPanel({ path: pty.panel });
    await panel.open();
    inputs = [];
    events = [];
    driver = new SerialPanelDriver({
      path: pty.gw,
      baudRate: 115_200,
      zones: [
        { zone: 3, expander: { address: 7, channel: 1 } },
        { zone: 4, rf_serial: '0180036', loop: 2 },
      ],
      submit: async (i) => {
        inputs.push(i);
      },
      report: async (e) => {
        events.push(e);
      },
      logger: testLogger,
      backoffBaseMs: 20,
      backoffCapMs: 100,
    });
  });

  afterEach(async () => {
    await driver.stop();
    await panel.close();
    await pty.kill();
    tmp.cleanup();
  });

  it('turns mapped expander and RF zones into zone inputs, RF low battery into a trouble, LRR into events', async () => {
    await driver.start();
    expect(driver.connected).toBe(true);

    await panel.faultZone(7, 2); // not mapped
    await panel.faultZone(7, 1);
    await waitFor(() => inputs.length === 1, 3000, 'zone open');
    expect(inputs[0]).toEqual({ type: 'zone', zone: 3, open: true });
    await panel.faultZone(7, 1); // repeated state: no new input
    await panel.restoreZone(7, 1);
    await waitFor(() => inputs.length === 2, 3000, 'zone close');
    expect(inputs[1]).toEqual({ type: 'zone', zone: 3, open: false });

    await panel.rfx('0180036', { loop2: true, battery_low: true });
    await waitFor(() => inputs.length === 4, 3000, 'rf zone + trouble');
    expect(inputs.slice(2)).toEqual([
      { type: 'zone', zone: 4, open: true },
      { type: 'trouble', device: 'ad2_rf_0180036', trouble: 'battery_low', active: true },
    ]);
    await panel.rfx('0180036', { loop1: true, supervision: true }); // loop 1 is not mapped
    await waitFor(() => inputs.length === 6, 3000, 'rf restore');
    expect(inputs.slice(4)).toEqual([
      { type: 'zone', zone: 4, open: false },
      { type: 'trouble', device: 'ad2_rf_0180036', trouble: 'battery_low', active: false },
    ]);
    expect(driver.rfSensors.get('0180036')).toMatchObject({ supervision: true, battery_low: false });

    await panel.lrr('130', 1, 5);
    await panel.lrr('401', 2, 7, 3);
    await waitFor(() => events.length === 2, 3000, 'lrr events');
    expect(events[0]).toMatchObject({ code: '130', qualifier: 'new', partition: 1, zone: 5, priority: 2 });
    expect(events[1]).toMatchObject({ code: '401', qualifier: 'restore', partition: 2, zone: null });
    expect(events[1]?.data).toMatchObject({ user: 7, report_code: 'ff' });

    await panel.keypadStatus({ ready: false, armed_away: true, ac_power: false, text: 'ARMED ***AWAY***' });
    await waitFor(() => driver.status?.armed_away, 3000, 'keypad status');
    expect(driver.status).toMatchObject({
      ready: false,
      armed_away: true,
      ac_power: false,
      text: 'ARMED ***AWAY***',
    });
    expect(driver.counters).toMatchObject({ invalid: 0, zone_inputs: 4, trouble_inputs: 2, events: 2 });
  });

  it('counts garbage, bad lines and overlong lines and keeps working', async () => {
    await driver.start();
    await panel.garbage(Buffer.from([0xff, 0x00, 0xfe, 0x80, 0x1b, 0x7f]));
    await panel.line(''); // ends the garbage line
    await panel.line('!EXP:07,0'); // cut-off line
    await panel.line('\x8f\xa0~~~'); // what a wrong baud rate looks like
    await panel.line('x'.repeat(5000));
    await panel.faultZone(7, 1);
    await waitFor(() => inputs.length === 1, 3000, 'zone after garbage');
    expect(inputs[0]).toEqual({ type: 'zone', zone: 3, open: true });
    expect(driver.counters.invalid).toBe(3);
    expect(driver.counters.invalid_by_code).toEqual({ E_AD2_MALFORMED: 3 });
    expect(driver.counters.overlong_lines).toBe(1);
    expect(driver.connected).toBe(true);
  });

  it('reopens with backoff after the device is unplugged, dropping the partial line', async () => {
    await driver.start();
    await panel.faultZone(7, 1);
    await waitFor(() => inputs.length === 1, 3000, 'first fault');
    const before = driver.counters.bytes;
    await panel.writeRaw('!EXP:07,01,0'); // unterminated when the cable goes
    await waitFor(() => driver.counters.bytes > before, 3000, 'partial bytes');

    await panel.close();
    await pty.kill();
    await waitFor(() => driver.counters.disconnects + driver.counters.port_errors > 0, 5000, 'disconnect');
    await waitFor(() => driver.counters.open_failures > 0, 5000, 'failed reopen');
    expect(driver.connected).toBe(false);
    expect(driver.counters.partial_lines).toBe(1);

    await pty.start();
    await panel.open();
    await waitFor(() => driver.counters.opens === 2, 5000, 'reopened');
    await panel.restoreZone(7, 1);
    await waitFor(() => inputs.length === 2, 3000, 'restore after reopen');
    expect(inputs[1]).toEqual({ type: 'zone', zone: 3, open: false });
    expect(driver.counters.invalid).toBe(0);
  });

  it('refuses a zone map that cannot work', async () => {
    expect(zoneMapProblems([{ zone: 1 }])).toEqual(['zones/0: set exactly one of expander or rf_serial']);
    expect(
      zoneMapProblems([
        { zone: 1, rf_serial: '1', loop: 1 },
        { zone: 2, rf_serial: '1' },
        { zone: 3, expander: { address: 7, channel: 1 }, loop: 2 },
      ]),
    ).toEqual(['zones/1: input mapped twice', 'zones/2: loop needs rf_serial']);
    const bad = new SerialPanelDriver({
      path: pty.gw,
      baudRate: 115_200,
      zones: [{ zone: 1 }],
      submit: async () => {},
      report: async () => {},
      logger: testLogger,
    });
    await expect(bad.start()).rejects.toThrow(/E_SERIAL_CONFIG/);
  });
});

describe('controller with a serial panel', () => {
  let tmp: ReturnType<typeof tempDir>;
  let pty: PtyPair;
  let panel: AlarmDecoderPanel;
  let controller: Controller | null = null;

  beforeEach(async () => {
    tmp = tempDir('mertah-serial-ctl-');
    pty = new PtyPair(tmp.dir);
    await pty.start();
    panel = new AlarmDecoderPanel({ path: pty.panel });
    await panel.open();
  });

  afterEach(async () => {
    await controller?.stop();
    controller = null;
    await panel.close();
    await pty.kill();
    tmp.cleanup();
  });

  it('raises a 130 burglary when an armed-away premises has a serial zone faulted, and stores LRR reports', async () => {
    const config = parseConfig({
      gateway_id: 'gw-serial',
      data_dir: join(tmp.dir, 'data'),
      cloud: { url: 'mqtt://127.0.0.1:1', secret: 'x' }, // no cloud: events wait in the outbox
      premises_broker: { embedded: { host: '127.0.0.1', port: 0 } },
      premises: {
        version: 1,
        exit_delay_s: 0,
        zones: [{ zone: 9, name: 'Back door', type: 'instant', device: 'ad2_zone_9' }],
      },
      serial_panel: { path: pty.gw, zones: [{ zone: 9, expander: { address: 7, channel: 1 } }] },
    });
    expect(config.serial_panel?.baud_rate).toBe(115_200);
    controller = new Controller({ config, logger: testLogger, tickMs: 50 });
    await controller.start();
    const serial = controller.drivers.find((d) => d.name === 'serial-panel') as SerialPanelDriver;
    expect(serial.connected).toBe(true);

    expect(
      await controller.alarm.submit({ type: 'arm', mode: 'armed_away', partition: 1, user: 'test' }),
    ).toMatchObject({ ok: true });
    await panel.faultZone(7, 1);
    const burglary = await waitFor(
      () => controller!.outbox.nextBatch(100).find((e) => e.code === '130'),
      5000,
      'burglary',
    );
    expect(burglary).toMatchObject({ zone: 9, qualifier: 'new', partition: 1, priority: 2 });

    await panel.lrr('110', 1, 12);
    const fire = await waitFor(
      () => controller!.outbox.nextBatch(100).find((e) => e.code === '110'),
      5000,
      'fire',
    );
    expect(fire).toMatchObject({ zone: 12, qualifier: 'new', device: 'ad2_panel' });
  });
});
