import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Command, ConfigApplied, PremisesConfig, TelemetryPoint } from '@mertah/protocol';
import type { Logger } from 'pino';
import { AlarmMachine } from './alarm/alarm.machine.js';
import { AlarmService } from './alarm/alarm.service.js';
import type { AlarmInput, CommandOutcome } from './alarm/alarm.types.js';
import { PremisesBroker } from './broker/premises-broker.js';
import { createClock } from './clock.js';
import type { GatewayConfig } from './config/config.schema.js';
import { PremisesStore } from './config/premises.store.js';
import { validatePremises } from './config/premises.validate.js';
import type { SensorAttribute, SensorMessage } from './drivers/sensor.types.js';
import { ModbusDriver } from './drivers/modbus.js';
import { SerialPanelDriver } from './drivers/serial.js';
import { sirenWarning, Zigbee2MqttDriver } from './drivers/zigbee2mqtt.js';
import { SupervisionService } from './supervision/supervision.service.js';
import { EventBus } from './event-bus.js';
import { Outbox } from './outbox/outbox.store.js';
import { Uplink } from './uplink/uplink.client.js';

export interface Driver {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ControllerOptions {
  config: GatewayConfig;
  logger: Logger;
  clock?: () => number;
  /** How often timers feed tick(now) to the alarm machine. */
  tickMs?: number;
  /** Extra options for the uplink (tests shorten backoff and resend times). */
  uplink?: { backoffBaseMs?: number; backoffCapMs?: number; resendAfterMs?: number };
  /** More drivers to run beside zigbee2mqtt (serial, Modbus, tests). */
  extraDrivers?: Driver[];
}

/** Which sensor attributes drive which zone types. */
const ZONE_ATTRIBUTES: Readonly<Record<string, readonly SensorAttribute[]>> = {
  entry_exit: ['contact_open', 'occupancy'],
  instant: ['contact_open', 'occupancy'],
  interior_follower: ['occupancy', 'contact_open'],
  chime: ['contact_open', 'occupancy'],
  fire_24h: ['smoke'],
  water_24h: ['water_leak'],
  gas_24h: ['gas'],
  co_24h: ['carbon_monoxide'],
  tamper_24h: ['tamper'],
  panic_24h: ['contact_open'],
  medical_24h: ['contact_open'],
};

/**
 * The composition root: starts the outbox, the embedded premises broker (if configured),
 * the alarm machine restored from the database, the drivers, the uplink and the tick timer,
 * in that order, and stops them in reverse. A failing driver is logged; the rest keep running.
 */
export class Controller {
  readonly bus: EventBus;
  readonly outbox: Outbox;
  readonly premisesStore: PremisesStore;
  /** The premises config in force: the applied one in data_dir, else the config file's. */
  premises: PremisesConfig;
  readonly alarm: AlarmService;
  readonly drivers: Driver[] = [];
  broker: PremisesBroker | null = null;
  uplink: Uplink | null = null;
  /** The Modbus driver when config has `modbus` (outputs: writeOutput). */
  modbus: ModbusDriver | null = null;
  /** The zigbee2mqtt driver, from start() (sirens: set()). */
  zigbee: Zigbee2MqttDriver | null = null;
  /** Device supervision (381), from start(). */
  supervision: SupervisionService | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly started: Array<{ name: string; stop: () => Promise<void> | void }> = [];

  constructor(private readonly opts: ControllerOptions) {
    const { config, logger } = opts;
    this.log = logger.child({ component: 'controller' });
    this.clock = opts.clock ?? createClock();
    this.bus = new EventBus(logger);
    this.outbox = new Outbox({
      dir: resolve(config.data_dir),
      gatewayId: config.gateway_id,
      maxRecords: config.outbox.max_records,
      logger,
      now: this.clock,
      onChange: (c) => this.bus.emitOutboxChanged({ events: c.events, telemetry: c.telemetry }),
    });
    this.premisesStore = new PremisesStore(resolve(config.data_dir));
    this.premises = this.premisesStore.effective(config.premises);
    this.alarm = new AlarmService({
      machine: new AlarmMachine(this.premises),
      outbox: this.outbox,
      bus: this.bus,
      logger,
      clock: this.clock,
    });
  }

  /** The alarm machine in force (replaced when a cloud config is applied). */
  get machine(): AlarmMachine {
    return this.alarm.current;
  }

  /** The port of the embedded premises broker, or null when zigbee2mqtt's own broker is used. */
  get premisesPort(): number | null {
    return this.broker?.port ?? null;
  }

  async start(): Promise<void> {
    const { config, logger } = this.opts;
    this.outbox.open();
    this.started.push({ name: 'outbox', stop: () => this.outbox.close() });

    const embedded = config.premises_broker.embedded;
    let premisesUrl = config.premises_broker.url;
    if (embedded) {
      const broker = new PremisesBroker({ host: embedded.host, port: embedded.port, logger });
      await broker.start();
      this.broker = broker;
      premisesUrl = broker.url;
      this.started.push({ name: 'premises-broker', stop: () => broker.stop() });
    }

    this.alarm.start();
    this.bus.onSensorMessage(this, (m) => this.onSensorMessage(m));
    this.bus.onSiren(this, (s) => {
      this.log.warn({ partition: s.partition, on: s.on }, s.on ? 'siren on' : 'siren off');
      const output = config.modbus?.siren_output;
      if (output && this.modbus) {
        // logged (with its code) by the driver; the machine keeps the siren state either way
        this.modbus.writeOutput(output, s.on).catch(() => {});
      }
      for (const siren of config.zigbee_sirens ?? []) {
        const warning = sirenWarning(s.on, Math.max(1, this.alarm.current.settings.siren_time_s));
        this.zigbee
          ?.set(siren, warning)
          .catch((err: Error & { code?: string }) =>
            this.log.error({ siren, on: s.on, err: err.message, code: err.code }, 'zigbee siren not reached'),
          );
      }
    });
    this.started.push({ name: 'alarm', stop: () => this.bus.removeListeners(this) });

    const supervision = new SupervisionService({
      devices: this.premises.zones.flatMap((z) =>
        z.device ? [{ device: z.device, zone: z.zone, partition: z.partition ?? 1, name: z.name }] : [],
      ),
      grade: config.supervision?.grade,
      intervalS: config.supervision?.interval_s,
      bus: this.bus,
      events: this.outbox,
      logger,
      clock: this.clock,
    });
    await supervision.start();
    this.supervision = supervision;
    this.started.push({ name: 'supervision', stop: () => supervision.stop() });

    this.zigbee = new Zigbee2MqttDriver({
      url: premisesUrl,
      baseTopic: config.premises_broker.base_topic,
      clientId: `mertah-${config.gateway_id}`,
      bus: this.bus,
      logger,
      clock: this.clock,
      keypad: (entry) => this.alarm.keypad(entry),
      availability: (device, online) => supervision.availability(device, online),
    });
    this.drivers.push(this.zigbee);
    if (config.modbus) {
      this.modbus = new ModbusDriver({
        settings: config.modbus,
        bus: this.bus,
        events: this.outbox,
        zones: config.premises.zones,
        logger,
        clock: this.clock,
      });
      this.drivers.push(this.modbus);
    }
    if (config.serial_panel) {
      this.drivers.push(
        new SerialPanelDriver({
          path: config.serial_panel.path,
          baudRate: config.serial_panel.baud_rate,
          zones: config.serial_panel.zones,
          submit: (input) => this.alarm.submit(input),
          report: (event) => this.outbox.enqueue([event]),
          logger,
          clock: this.clock,
        }),
      );
    }
    this.drivers.push(...(this.opts.extraDrivers ?? []));
    for (const d of this.drivers) {
      try {
        await d.start();
        this.started.push({ name: `driver:${d.name}`, stop: () => d.stop() });
      } catch (err) {
        this.log.error(
          { driver: d.name, err: (err as Error).message, code: 'E_DRIVER_START' },
          'driver failed',
        );
        await d.stop().catch(() => {});
      }
    }

    const uplink = new Uplink({
      gatewayId: config.gateway_id,
      url: config.cloud.url,
      secret: config.cloud.secret,
      caFile: config.cloud.ca_file,
      keepaliveS: config.cloud.keepalive_s,
      batchSize: config.outbox.batch_size,
      window: config.outbox.window,
      heartbeatS: this.premises.heartbeat_s,
      configVersion: this.premises.version,
      outbox: this.outbox,
      bus: this.bus,
      logger,
      clock: this.clock,
      onCommand: (cmd) => this.onCommand(cmd),
      onDesiredConfig: (version, raw) => this.applyDesired(version, raw),
      partitions: () => this.alarm.status(),
      ...this.opts.uplink,
    });
    uplink.start();
    this.uplink = uplink;
    this.started.push({ name: 'uplink', stop: () => uplink.stop() });

    const tickMs = this.opts.tickMs ?? 250;
    let failures = 0;
    let skipUntil = 0;
    this.tickTimer = setInterval(() => {
      if (performance.now() < skipUntil) return;
      this.alarm.tick().then(
        () => {
          failures = 0;
        },
        () => {
          // logged by the outbox; back off (capped at 30 s) so a full disk is not hammered
          skipUntil = performance.now() + Math.min(30_000, tickMs * 2 ** ++failures);
        },
      );
    }, tickMs);
    this.started.push({
      name: 'ticker',
      stop: () => {
        if (this.tickTimer) clearInterval(this.tickTimer);
      },
    });
    this.log.info({ parts: this.started.map((s) => s.name) }, 'gateway started');
  }

  async stop(): Promise<void> {
    while (this.started.length > 0) {
      const part = this.started.pop()!;
      try {
        await part.stop();
      } catch (err) {
        this.log.error({ part: part.name, err: (err as Error).message }, 'stop failed');
      }
    }
    this.log.info('gateway stopped');
  }

  /**
   * Applies a cloud DesiredConfig atomically: versions <= the applied one are ignored (null);
   * an invalid config (every error, paths under /config) or one arriving while a partition
   * is not disarmed (E_ARMED) changes nothing. On success the config is persisted in
   * data_dir first, then the alarm machine is replaced and the status shows the new version.
   */
  async applyDesired(version: number, raw: unknown): Promise<ConfigApplied | null> {
    const ts = () => this.clock();
    if (version <= this.premises.version) {
      this.log.info({ version, applied: this.premises.version }, 'desired config not newer; ignored');
      return null;
    }
    const r = validatePremises(raw);
    if (!r.ok) {
      const errors = r.issues
        .slice(0, 200)
        .map((i) => ({ path: `/config${i.path === '/' ? '' : i.path}`, message: i.message }));
      this.log.warn({ version, code: 'E_CONFIG_INVALID', errors }, 'desired config refused');
      return { version, ok: false, errors, ts: ts() };
    }
    const premises: PremisesConfig = { ...r.value, version };
    const out = await this.alarm.reconfigure(new AlarmMachine(premises), () =>
      this.premisesStore.save(premises),
    );
    if (!out.ok) {
      this.log.warn({ version, code: out.code }, out.message ?? 'desired config refused');
      return {
        version,
        ok: false,
        errors: [{ path: '/', message: `${out.code}: ${out.message}` }],
        ts: ts(),
      };
    }
    this.premises = premises;
    this.uplink?.setConfigVersion(version);
    this.log.info({ version, zones: premises.zones.length }, 'desired config applied');
    return { version, ok: true, ts: ts() };
  }

  /** Arm/disarm/bypass/siren_test/config_push from the cloud (authenticated upstream); resolves once committed. */
  onCommand(cmd: Command): Promise<CommandOutcome> {
    if (cmd.type === 'siren_test') {
      const s = this.opts.config.siren_test_s ?? 5;
      this.alarm.sirenTest(s * 1000, cmd.partition);
      return Promise.resolve({ ok: true, data: { siren_s: s } });
    }
    if (cmd.type === 'config_push') {
      // re-sends config/applied for the version in force, so the cloud can resync its view
      const version = this.premises.version;
      this.uplink?.publishConfigApplied({ version, ok: true, ts: this.clock() });
      return Promise.resolve({ ok: true, data: { config_version: version } });
    }
    const input: AlarmInput =
      cmd.type === 'disarm'
        ? { type: 'disarm', partition: cmd.partition, user: cmd.issued_by }
        : cmd.type === 'bypass'
          ? {
              type: 'bypass',
              zones: cmd.zones ?? [],
              bypass: true,
              partition: cmd.partition,
              user: cmd.issued_by,
            }
          : {
              type: 'arm',
              mode: cmd.mode ?? 'armed_away',
              partition: cmd.partition,
              force: cmd.force,
              user: cmd.issued_by,
            };
    return this.alarm.submit(input).then((r) => r ?? { ok: true });
  }

  /** Turns one driver message into alarm inputs and telemetry; resolves when all of it is committed. */
  async onSensorMessage(m: SensorMessage): Promise<void> {
    const work: Array<Promise<unknown>> = [];
    const zones = this.machine.zonesOfDevice(m.device);
    for (const r of m.readings) {
      if (r.attribute === 'battery_low') {
        work.push(
          this.alarm.submit({ type: 'trouble', device: m.device, trouble: 'battery_low', active: r.active }),
        );
      }
    }
    for (const z of zones) {
      // A zone follows the first of its attributes the message carries (contact before occupancy).
      const attr = ZONE_ATTRIBUTES[z.type]?.find((a) => m.readings.some((r) => r.attribute === a));
      const reading = m.readings.find((r) => r.attribute === attr);
      if (reading) work.push(this.alarm.submit({ type: 'zone', zone: z.zone, open: reading.active }));
    }
    if (m.telemetry.length > 0) {
      const points: TelemetryPoint[] = m.telemetry.map((t) => ({
        ts: m.ts,
        device: m.device,
        metric: t.metric,
        value: t.value,
      }));
      work.push(this.outbox.enqueueTelemetry(points));
    }
    await Promise.all(work);
  }
}
