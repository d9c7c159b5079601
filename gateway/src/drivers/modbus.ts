import { contactId, defaultPriority, type ZoneConfig, type ZoneType } from '@mertah/protocol';
import ModbusSerial from 'modbus-serial';
import type { Logger } from 'pino';
import type { EventDraft } from '../alarm/alarm.types.js';
import type { ModbusDeviceSettings, ModbusPointSettings, ModbusSettings } from '../config/config.schema.js';
import type { EventBus } from '../event-bus.js';
import type { SensorAttribute, SensorMessage, TelemetryReading } from './sensor.types.js';

// CommonJS module whose typings declare a default export; `.default` is the class either way.
const ModbusClient = ModbusSerial.default;
type ModbusClient = InstanceType<typeof ModbusSerial.default>;

/** The closed set of this driver's error codes. */
export type ModbusErrorCode =
  | 'E_MODBUS_ILLEGAL_FUNCTION' // exception 1
  | 'E_MODBUS_ILLEGAL_ADDRESS' // exception 2
  | 'E_MODBUS_ILLEGAL_VALUE' // exception 3
  | 'E_MODBUS_DEVICE_FAILURE' // exception 4
  | 'E_MODBUS_ACKNOWLEDGE' // exception 5
  | 'E_MODBUS_BUSY' // exception 6
  | 'E_MODBUS_NEGATIVE_ACK' // exception 7
  | 'E_MODBUS_PARITY' // exception 8
  | 'E_MODBUS_GATEWAY_PATH' // exception 10
  | 'E_MODBUS_GATEWAY_TARGET' // exception 11
  | 'E_MODBUS_EXCEPTION' // any other exception code
  | 'E_MODBUS_TIMEOUT'
  | 'E_MODBUS_CONNECT'
  | 'E_MODBUS_BAD_RESPONSE'
  | 'E_MODBUS_CONFIG'
  | 'E_MODBUS_UNKNOWN_OUTPUT'
  | 'E_MODBUS_STOPPED';

const EXCEPTION_CODES: Readonly<Record<number, ModbusErrorCode>> = {
  1: 'E_MODBUS_ILLEGAL_FUNCTION',
  2: 'E_MODBUS_ILLEGAL_ADDRESS',
  3: 'E_MODBUS_ILLEGAL_VALUE',
  4: 'E_MODBUS_DEVICE_FAILURE',
  5: 'E_MODBUS_ACKNOWLEDGE',
  6: 'E_MODBUS_BUSY',
  7: 'E_MODBUS_NEGATIVE_ACK',
  8: 'E_MODBUS_PARITY',
  10: 'E_MODBUS_GATEWAY_PATH',
  11: 'E_MODBUS_GATEWAY_TARGET',
};

/** Errors worth another attempt within the same poll. */
const RETRYABLE: ReadonlySet<ModbusErrorCode> = new Set([
  'E_MODBUS_TIMEOUT',
  'E_MODBUS_CONNECT',
  'E_MODBUS_BUSY',
  'E_MODBUS_ACKNOWLEDGE',
  'E_MODBUS_GATEWAY_TARGET',
]);

/** Errors meaning nothing answered (the device, or the gateway in front of it). */
const NO_ANSWER: ReadonlySet<ModbusErrorCode> = new Set([
  'E_MODBUS_TIMEOUT',
  'E_MODBUS_CONNECT',
  'E_MODBUS_GATEWAY_TARGET',
  'E_MODBUS_GATEWAY_PATH',
]);

export class ModbusError extends Error {
  constructor(
    readonly code: ModbusErrorCode,
    message: string,
    readonly exception: number | null = null,
  ) {
    super(`${code}: ${message}`);
    this.name = 'ModbusError';
  }
}

/** Maps whatever modbus-serial (or the socket) threw to one of our codes. */
export function classifyModbusError(err: unknown): ModbusError {
  if (err instanceof ModbusError) return err;
  const e = (err ?? {}) as { modbusCode?: unknown; errno?: unknown; code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (typeof e.modbusCode === 'number') {
    return new ModbusError(EXCEPTION_CODES[e.modbusCode] ?? 'E_MODBUS_EXCEPTION', message, e.modbusCode);
  }
  const errno = String(e.errno ?? e.code ?? '');
  if (errno === 'ETIMEDOUT' || message === 'Timed out') return new ModbusError('E_MODBUS_TIMEOUT', message);
  if (
    ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOENT', 'EACCES'].includes(
      errno,
    ) ||
    /not open|closed/i.test(message)
  ) {
    return new ModbusError('E_MODBUS_CONNECT', message);
  }
  return new ModbusError('E_MODBUS_BAD_RESPONSE', message);
}

// ---------------------------------------------------------------------------------------------
// Read planning (pure)

export type ModbusTable = ModbusPointSettings['table'];

export interface ReadRequest {
  table: ModbusTable;
  start: number;
  count: number;
}

/** The protocol's per-request limits: 2000 bits (FC 1/2), 125 registers (FC 3/4). */
export const MAX_READ: Readonly<Record<ModbusTable, number>> = {
  discrete_input: 2000,
  coil: 2000,
  input_register: 125,
  holding_register: 125,
};

const TABLE_ORDER: readonly ModbusTable[] = ['discrete_input', 'coil', 'input_register', 'holding_register'];

/**
 * Coalesces the addresses to read into as few requests as possible: contiguous addresses of
 * one table go in one request (up to the protocol's limit); nothing unrequested is read.
 */
export function planReads(
  points: ReadonlyArray<{ table: ModbusTable; address: number }>,
  limits: Readonly<Record<ModbusTable, number>> = MAX_READ,
): ReadRequest[] {
  const out: ReadRequest[] = [];
  for (const table of TABLE_ORDER) {
    const addrs = [...new Set(points.filter((p) => p.table === table).map((p) => p.address))].sort(
      (a, b) => a - b,
    );
    let cur: ReadRequest | null = null;
    for (const a of addrs) {
      if (cur && a === cur.start + cur.count && cur.count < limits[table]) cur.count++;
      else {
        cur = { table, start: a, count: 1 };
        out.push(cur);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Config checks a JSON schema cannot express

export interface ModbusConfigIssue {
  path: string;
  message: string;
}

/** Cross-field rules: transport fields, table per kind, unique names, thresholds, siren output. */
export function modbusConfigIssues(settings: ModbusSettings, base = '/modbus'): ModbusConfigIssue[] {
  const issues: ModbusConfigIssue[] = [];
  const devices = new Set<string>();
  settings.devices.forEach((d, i) => {
    const p = `${base}/devices/${i}`;
    if (devices.has(d.name)) issues.push({ path: `${p}/name`, message: `duplicate device ${d.name}` });
    devices.add(d.name);
    if (d.transport === 'tcp' && !d.host) issues.push({ path: `${p}/host`, message: 'required for tcp' });
    if (d.transport === 'rtu' && !d.path) issues.push({ path: `${p}/path`, message: 'required for rtu' });
    const names = new Set<string>();
    d.points.forEach((pt, j) => {
      const pp = `${p}/points/${j}`;
      if (names.has(pt.name)) issues.push({ path: `${pp}/name`, message: `duplicate point ${pt.name}` });
      names.add(pt.name);
      const bit = pt.table === 'discrete_input' || pt.table === 'coil';
      if (pt.kind === 'zone' && !bit) {
        issues.push({ path: `${pp}/table`, message: 'a zone is a discrete_input or coil' });
      }
      if (pt.kind === 'analog' && bit) {
        issues.push({ path: `${pp}/table`, message: 'an analog point is an input or holding register' });
      }
      if (pt.kind === 'output' && pt.table !== 'coil') {
        issues.push({ path: `${pp}/table`, message: 'an output is a coil' });
      }
      if (
        pt.low_threshold !== undefined &&
        pt.high_threshold !== undefined &&
        pt.low_threshold >= pt.high_threshold
      ) {
        issues.push({ path: `${pp}/low_threshold`, message: 'must be below high_threshold' });
      }
      for (const key of ['low_code', 'high_code'] as const) {
        const code = pt[key];
        if (code !== undefined && !contactId(code)) {
          issues.push({ path: `${pp}/${key}`, message: `unknown Contact ID code ${code}` });
        }
      }
    });
  });
  if (settings.siren_output !== undefined) {
    const found = findOutputs(settings.devices, settings.siren_output);
    if (found.length !== 1) {
      issues.push({
        path: `${base}/siren_output`,
        message:
          found.length === 0
            ? `no output point ${settings.siren_output}`
            : `${settings.siren_output} is ambiguous: use "device/point"`,
      });
    }
  }
  return issues;
}

function findOutputs(
  devices: readonly ModbusDeviceSettings[],
  name: string,
): Array<{ device: ModbusDeviceSettings; point: ModbusPointSettings }> {
  const slash = name.indexOf('/');
  const devName = slash >= 0 ? name.slice(0, slash) : null;
  const pointName = slash >= 0 ? name.slice(slash + 1) : name;
  const found: Array<{ device: ModbusDeviceSettings; point: ModbusPointSettings }> = [];
  for (const device of devices) {
    if (devName !== null && device.name !== devName) continue;
    for (const point of device.points) {
      if (point.kind === 'output' && point.name === pointName) found.push({ device, point });
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Value mapping (pure)

/** The attribute a wired dry contact reports, from the type of the zone it drives. */
const WIRED_ATTRIBUTE: Readonly<Partial<Record<ZoneType, SensorAttribute>>> = {
  fire_24h: 'smoke',
  water_24h: 'water_leak',
  gas_24h: 'gas',
  co_24h: 'carbon_monoxide',
  tamper_24h: 'tamper',
};

export function wiredAttribute(zoneType: ZoneType | undefined): SensorAttribute {
  return (zoneType && WIRED_ATTRIBUTE[zoneType]) ?? 'contact_open';
}

/** raw register (uint16 or int16) * scale + offset. */
export function scaleRegister(raw: number, point: ModbusPointSettings): number {
  const v = point.signed && raw >= 0x8000 ? raw - 0x10000 : raw;
  const scaled = v * (point.scale ?? 1) + (point.offset ?? 0);
  return Number(scaled.toPrecision(12));
}

export type ThresholdState = 'normal' | 'low' | 'high';

/**
 * Threshold state with hysteresis: enter low below low_threshold, leave it only at
 * low_threshold + hysteresis or above (mirrored for high), so a value hovering at a
 * threshold does not flap.
 */
export function nextThresholdState(
  prev: ThresholdState,
  value: number,
  point: Pick<ModbusPointSettings, 'low_threshold' | 'high_threshold' | 'hysteresis'>,
): ThresholdState {
  const h = point.hysteresis ?? DEFAULT_HYSTERESIS;
  const { low_threshold: lo, high_threshold: hi } = point;
  if (prev === 'low' && lo !== undefined && value < lo + h) return 'low';
  if (prev === 'high' && hi !== undefined && value > hi - h) return 'high';
  if (lo !== undefined && value < lo) return 'low';
  if (hi !== undefined && value > hi) return 'high';
  return 'normal';
}

export const DEFAULT_HYSTERESIS = 0.5;

/** Contact ID codes for a threshold: temperatures get 159/158, anything else 150 (24 h auxiliary). */
export function thresholdCode(point: ModbusPointSettings, side: 'low' | 'high'): string {
  const explicit = side === 'low' ? point.low_code : point.high_code;
  if (explicit) return explicit;
  const metric = point.metric ?? point.name;
  if (/temp/.test(metric)) return side === 'low' ? '159' : '158';
  return '150';
}

/** Contact ID 333, "Expansion Module Failure": what a silent I/O module is to a panel. */
export const MODULE_FAILURE_CODE = '333';

// ---------------------------------------------------------------------------------------------
// The driver

interface EventSink {
  enqueue(drafts: EventDraft[]): Promise<unknown>;
}

export interface ModbusDriverOptions {
  settings: ModbusSettings;
  bus: EventBus;
  /** Where threshold and module-failure events go (the outbox). */
  events: EventSink;
  /** Premises zones: a point's zone number gives its device name and attribute. */
  zones: readonly ZoneConfig[];
  logger: Logger;
  clock?: () => number;
}

export interface ModbusDeviceStatus {
  name: string;
  online: boolean | null;
  last_error: ModbusErrorCode | null;
  polls: number;
}

export interface ModbusCounters {
  polls: number;
  requests: number;
  retries: number;
  writes: number;
  zone_changes: number;
  telemetry_points: number;
  threshold_events: number;
  offline: number;
  online: number;
  config_errors: number;
  /** Failed requests by code (after retries, one per failed request). */
  errors: Partial<Record<ModbusErrorCode, number>>;
}

interface PointState {
  /** Last value reported for a zone; null = unknown (never read, or device offline). */
  bit: boolean | null;
  value: number | null;
  sentAt: number;
  threshold: ThresholdState;
}

interface DeviceRuntime {
  cfg: ModbusDeviceSettings;
  plan: ReadRequest[];
  client: ModbusClient | null;
  chain: Promise<unknown>;
  online: boolean | null;
  lastError: ModbusErrorCode | null;
  polls: number;
  points: Map<string, PointState>;
  timer: NodeJS.Timeout | null;
  wake: (() => void) | null;
  loop: Promise<void> | null;
  partition: number;
}

/**
 * Polls Modbus TCP/RTU devices from a register map: wired zones become sensor messages (as
 * zigbee2mqtt's do), registers become telemetry and threshold events, coils can be written.
 * Each device has its own schedule and connection; a device that stops answering is reported
 * once and its zones become unknown (never assumed closed).
 */
export class ModbusDriver {
  readonly name = 'modbus';
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly devices = new Map<string, DeviceRuntime>();
  private running = false;
  private readonly c: ModbusCounters = {
    polls: 0,
    requests: 0,
    retries: 0,
    writes: 0,
    zone_changes: 0,
    telemetry_points: 0,
    threshold_events: 0,
    offline: 0,
    online: 0,
    config_errors: 0,
    errors: {},
  };

  constructor(private readonly opts: ModbusDriverOptions) {
    this.log = opts.logger.child({ component: 'modbus' });
    this.clock = opts.clock ?? Date.now;
  }

  async start(): Promise<void> {
    const issues = modbusConfigIssues(this.opts.settings);
    const bad = new Set<number>();
    for (const i of issues) {
      this.c.config_errors++;
      this.count('E_MODBUS_CONFIG');
      this.log.error({ path: i.path, code: 'E_MODBUS_CONFIG' }, i.message);
      const m = /^\/modbus\/devices\/(\d+)/.exec(i.path);
      if (m) bad.add(Number(m[1]));
    }
    this.running = true;
    this.opts.settings.devices.forEach((cfg, i) => {
      if (bad.has(i)) {
        this.log.error({ device: cfg.name, code: 'E_MODBUS_CONFIG' }, 'device not polled: invalid config');
        return;
      }
      const zonePoint = cfg.points.find((p) => p.kind === 'zone' && p.zone !== undefined);
      const rt: DeviceRuntime = {
        cfg,
        plan: planReads(cfg.points.filter((p) => p.kind !== 'output')),
        client: null,
        chain: Promise.resolve(),
        online: null,
        lastError: null,
        polls: 0,
        points: new Map(
          cfg.points.map((p) => [p.name, { bit: null, value: null, sentAt: 0, threshold: 'normal' }]),
        ),
        timer: null,
        wake: null,
        loop: null,
        partition: this.opts.zones.find((z) => z.zone === zonePoint?.zone)?.partition ?? 1,
      };
      this.devices.set(cfg.name, rt);
      rt.loop = this.run(rt);
    });
    this.log.info({ devices: [...this.devices.keys()] }, 'modbus polling started');
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const rt of this.devices.values()) {
      if (rt.timer) clearTimeout(rt.timer);
      rt.wake?.();
    }
    await Promise.all([...this.devices.values()].map((rt) => rt.loop));
    await Promise.all([...this.devices.values()].map((rt) => rt.chain.catch(() => {})));
    for (const rt of this.devices.values()) this.closeClient(rt);
    this.devices.clear();
  }

  counters(): ModbusCounters {
    return { ...this.c, errors: { ...this.c.errors } };
  }

  status(): ModbusDeviceStatus[] {
    return [...this.devices.values()].map((rt) => ({
      name: rt.cfg.name,
      online: rt.online,
      last_error: rt.lastError,
      polls: rt.polls,
    }));
  }

  /**
   * Switches an output coil ("device/point", or a point name unique among outputs). Resolves
   * once the device confirmed the write; rejects with a ModbusError otherwise.
   */
  async writeOutput(name: string, on: boolean): Promise<void> {
    if (!this.running) throw new ModbusError('E_MODBUS_STOPPED', 'driver is not running');
    const found = findOutputs(
      [...this.devices.values()].map((d) => d.cfg),
      name,
    );
    if (found.length !== 1) {
      this.count('E_MODBUS_UNKNOWN_OUTPUT');
      throw new ModbusError(
        'E_MODBUS_UNKNOWN_OUTPUT',
        found.length === 0 ? `no output ${name}` : `${name} is ambiguous`,
      );
    }
    const { device, point } = found[0]!;
    const rt = this.devices.get(device.name)!;
    try {
      await this.request(rt, `write ${point.name}`, async (client) => {
        await client.writeCoil(point.address, on);
      });
      this.c.writes++;
      this.log.info({ device: device.name, point: point.name, on }, 'output written');
    } catch (err) {
      const e = classifyModbusError(err);
      this.log.error({ device: device.name, point: point.name, on, code: e.code }, 'output write failed');
      throw e;
    }
  }

  // -------------------------------------------------------------------------------------------

  private async run(rt: DeviceRuntime): Promise<void> {
    while (this.running) {
      const t0 = performance.now();
      try {
        await this.pollOnce(rt);
      } catch (err) {
        // pollOnce handles its own errors; this is a bug guard so the loop never dies.
        this.log.error({ device: rt.cfg.name, err: (err as Error).message }, 'poll failed');
      }
      if (!this.running) break;
      const wait = Math.max(0, rt.cfg.poll_ms - (performance.now() - t0));
      await new Promise<void>((resolve) => {
        rt.wake = resolve;
        rt.timer = setTimeout(resolve, wait);
      });
      rt.wake = null;
      rt.timer = null;
    }
  }

  private async pollOnce(rt: DeviceRuntime): Promise<void> {
    if (rt.plan.length === 0) return; // outputs only: nothing to poll, writes report their own errors
    rt.polls++;
    this.c.polls++;
    const bits = new Map<string, boolean[]>();
    const regs = new Map<string, number[]>();
    let answered = 0;
    let silent = 0;
    let firstError: ModbusError | null = null;
    for (const req of rt.plan) {
      if (!this.running) return;
      try {
        const data = await this.request(rt, `read ${req.table} ${req.start}+${req.count}`, (client) =>
          readTable(client, req),
        );
        answered++;
        if (req.table === 'discrete_input' || req.table === 'coil') bits.set(key(req), data as boolean[]);
        else regs.set(key(req), data as number[]);
      } catch (err) {
        const e = classifyModbusError(err);
        firstError ??= e;
        if (NO_ANSWER.has(e.code)) silent++;
        else answered++;
        this.log.warn(
          {
            device: rt.cfg.name,
            unit_id: rt.cfg.unit_id,
            table: req.table,
            address: req.start,
            count: req.count,
            code: e.code,
            exception: e.exception,
          },
          'modbus read failed',
        );
      }
    }
    if (!this.running) return;
    rt.lastError = firstError?.code ?? null;
    if (answered === 0 && silent > 0) {
      await this.setOnline(rt, false, firstError);
      return;
    }
    await this.setOnline(rt, true, null);
    await this.publish(rt, bits, regs);
  }

  /** One request on the device's serial chain, with its timeout and retries; counts failures. */
  private request<T>(rt: DeviceRuntime, what: string, fn: (client: ModbusClient) => Promise<T>): Promise<T> {
    const attempt = async (): Promise<T> => {
      let last: ModbusError | null = null;
      for (let i = 0; i <= rt.cfg.retries; i++) {
        if (i > 0) this.c.retries++;
        if (!this.running) throw new ModbusError('E_MODBUS_STOPPED', 'driver stopped');
        try {
          const client = await this.connect(rt);
          this.c.requests++;
          return await fn(client);
        } catch (err) {
          last = classifyModbusError(err);
          if (last.code === 'E_MODBUS_TIMEOUT' || last.code === 'E_MODBUS_CONNECT') this.closeClient(rt);
          if (!RETRYABLE.has(last.code)) break;
        }
      }
      if (last!.code !== 'E_MODBUS_STOPPED') this.count(last!.code);
      this.log.debug({ device: rt.cfg.name, what, code: last!.code }, 'modbus request failed');
      throw last!;
    };
    const p = rt.chain.then(attempt, attempt);
    rt.chain = p.catch(() => {});
    return p;
  }

  private async connect(rt: DeviceRuntime): Promise<ModbusClient> {
    if (rt.client?.isOpen) return rt.client;
    this.closeClient(rt);
    const client = new ModbusClient();
    client.on('error', (err) =>
      this.log.debug({ device: rt.cfg.name, err: (err as Error)?.message }, 'modbus port error'),
    );
    const { cfg } = rt;
    const connecting =
      cfg.transport === 'tcp'
        ? client.connectTCP(cfg.host!, { port: cfg.port, timeout: cfg.timeout_ms })
        : client.connectRTUBuffered(cfg.path!, { baudRate: cfg.baud_rate ?? 9600 });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        connecting,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new ModbusError('E_MODBUS_TIMEOUT', 'connect timed out')),
            cfg.timeout_ms,
          );
        }),
      ]);
    } catch (err) {
      connecting.catch(() => {});
      safeClose(client);
      const e = classifyModbusError(err);
      throw e.code === 'E_MODBUS_BAD_RESPONSE' ? new ModbusError('E_MODBUS_CONNECT', e.message) : e;
    } finally {
      clearTimeout(timer);
    }
    client.setID(cfg.unit_id);
    client.setTimeout(cfg.timeout_ms);
    rt.client = client;
    return client;
  }

  private closeClient(rt: DeviceRuntime): void {
    if (rt.client) safeClose(rt.client);
    rt.client = null;
  }

  private async setOnline(rt: DeviceRuntime, online: boolean, err: ModbusError | null): Promise<void> {
    const was = rt.online;
    rt.online = online;
    if (was === online) return;
    if (!online) {
      this.c.offline++;
      // Unknown, not closed: forget what was reported so the first answer is reported in full.
      for (const s of rt.points.values()) {
        s.bit = null;
        s.value = null;
        s.threshold = 'normal';
      }
      this.log.warn(
        { device: rt.cfg.name, unit_id: rt.cfg.unit_id, code: err?.code ?? null },
        'modbus device offline: its zones are unknown',
      );
      await this.emitEvent(
        rt,
        MODULE_FAILURE_CODE,
        'new',
        null,
        `Modbus device ${rt.cfg.name} not answering`,
      );
    } else if (was === false) {
      this.c.online++;
      this.log.info({ device: rt.cfg.name, unit_id: rt.cfg.unit_id }, 'modbus device back online');
      await this.emitEvent(
        rt,
        MODULE_FAILURE_CODE,
        'restore',
        null,
        `Modbus device ${rt.cfg.name} answering`,
      );
    } else {
      this.log.info({ device: rt.cfg.name, unit_id: rt.cfg.unit_id }, 'modbus device online');
    }
  }

  private async publish(
    rt: DeviceRuntime,
    bits: Map<string, boolean[]>,
    regs: Map<string, number[]>,
  ): Promise<void> {
    const now = this.clock();
    const zoneMessages = new Map<string, SensorMessage>();
    const telemetry: TelemetryReading[] = [];
    for (const point of rt.cfg.points) {
      if (point.kind === 'output') continue;
      const req = rt.plan.find(
        (r) => r.table === point.table && point.address >= r.start && point.address < r.start + r.count,
      );
      if (!req) continue;
      const state = rt.points.get(point.name)!;
      if (point.kind === 'zone') {
        const raw = bits.get(key(req))?.[point.address - req.start];
        if (raw === undefined) continue; // this request failed: stay as last reported
        const active = point.active_low ? !raw : raw;
        if (state.bit === active) continue;
        state.bit = active;
        this.c.zone_changes++;
        const { device, attribute } = this.zoneTarget(rt.cfg, point);
        const msg = zoneMessages.get(device) ?? {
          source: 'modbus',
          device,
          ts: now,
          readings: [],
          telemetry: [],
        };
        msg.readings.push({ attribute, active });
        zoneMessages.set(device, msg);
      } else {
        const raw = regs.get(key(req))?.[point.address - req.start];
        if (raw === undefined) continue;
        const value = scaleRegister(raw, point);
        const metric = point.metric ?? point.name;
        if (state.value !== value || now - state.sentAt >= rt.cfg.telemetry_ms) {
          telemetry.push({ metric, value });
          state.sentAt = now;
        }
        state.value = value;
        await this.checkThreshold(rt, point, state, value);
      }
    }
    for (const msg of zoneMessages.values()) {
      const ok = await this.opts.bus.emitSensorMessage(msg);
      if (!ok) this.forget(rt, msg.device);
    }
    if (telemetry.length > 0) {
      this.c.telemetry_points += telemetry.length;
      const ok = await this.opts.bus.emitSensorMessage({
        source: 'modbus',
        device: rt.cfg.name,
        ts: now,
        readings: [],
        telemetry,
      });
      if (!ok) for (const s of rt.points.values()) s.value = null;
    }
  }

  /** A message whose consequences were not committed is sent again on the next poll. */
  private forget(rt: DeviceRuntime, device: string): void {
    for (const p of rt.cfg.points) {
      if (p.kind === 'zone' && this.zoneTarget(rt.cfg, p).device === device)
        rt.points.get(p.name)!.bit = null;
    }
  }

  private zoneTarget(
    cfg: ModbusDeviceSettings,
    point: ModbusPointSettings,
  ): { device: string; attribute: SensorAttribute } {
    const own = `${cfg.name}/${point.name}`;
    const zone =
      point.zone !== undefined
        ? this.opts.zones.find((z) => z.zone === point.zone)
        : this.opts.zones.find((z) => z.device === own);
    return { device: zone?.device ?? own, attribute: wiredAttribute(zone?.type) };
  }

  private async checkThreshold(
    rt: DeviceRuntime,
    point: ModbusPointSettings,
    state: PointState,
    value: number,
  ): Promise<void> {
    if (point.low_threshold === undefined && point.high_threshold === undefined) return;
    const prev = state.threshold;
    const next = nextThresholdState(prev, value, point);
    if (next === prev) return;
    state.threshold = next;
    const unit = point.unit ? ` ${point.unit}` : '';
    if (prev !== 'normal') {
      const code = thresholdCode(point, prev);
      await this.emitEvent(rt, code, 'restore', point, `${point.name} back to ${value}${unit}`, value);
    }
    if (next !== 'normal') {
      const code = thresholdCode(point, next);
      const limit = next === 'low' ? point.low_threshold : point.high_threshold;
      await this.emitEvent(
        rt,
        code,
        'new',
        point,
        `${point.name} ${value}${unit} ${next === 'low' ? 'below' : 'above'} ${limit}${unit}`,
        value,
      );
    }
  }

  private async emitEvent(
    rt: DeviceRuntime,
    code: string,
    qualifier: 'new' | 'restore',
    point: ModbusPointSettings | null,
    text: string,
    value?: number,
  ): Promise<void> {
    if (point) this.c.threshold_events++;
    const draft: EventDraft = {
      ts: this.clock(),
      code,
      qualifier,
      partition: rt.partition,
      zone: point?.zone ?? null,
      device: point ? `${rt.cfg.name}/${point.name}` : rt.cfg.name,
      priority: defaultPriority(code),
      text: `${contactId(code)?.description ?? code}: ${text}`,
      data: {
        source: 'modbus',
        unit_id: rt.cfg.unit_id,
        ...(point ? { point: point.name, value, unit: point.unit ?? null } : {}),
      },
    };
    try {
      await this.opts.events.enqueue([draft]);
      this.log.info({ device: draft.device, code, qualifier }, draft.text);
    } catch (err) {
      this.log.error(
        { device: draft.device, code, qualifier, err: (err as Error).message },
        'event not stored',
      );
    }
  }

  private count(code: ModbusErrorCode): void {
    this.c.errors[code] = (this.c.errors[code] ?? 0) + 1;
  }
}

function key(r: ReadRequest): string {
  return `${r.table}:${r.start}`;
}

/** One read, with the response checked against the request (the trust boundary). */
async function readTable(client: ModbusClient, req: ReadRequest): Promise<boolean[] | number[]> {
  switch (req.table) {
    case 'discrete_input':
    case 'coil': {
      const r =
        req.table === 'coil'
          ? await client.readCoils(req.start, req.count)
          : await client.readDiscreteInputs(req.start, req.count);
      if (
        !Array.isArray(r?.data) ||
        r.data.length < req.count ||
        r.data.some((b) => typeof b !== 'boolean')
      ) {
        throw new ModbusError('E_MODBUS_BAD_RESPONSE', `expected ${req.count} bits`);
      }
      return r.data.slice(0, req.count);
    }
    default: {
      const r =
        req.table === 'input_register'
          ? await client.readInputRegisters(req.start, req.count)
          : await client.readHoldingRegisters(req.start, req.count);
      if (
        !Array.isArray(r?.data) ||
        r.data.length !== req.count ||
        r.data.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffff)
      ) {
        throw new ModbusError('E_MODBUS_BAD_RESPONSE', `expected ${req.count} registers`);
      }
      return r.data;
    }
  }
}

function safeClose(client: ModbusClient): void {
  try {
    client.close(() => {});
  } catch {
    // already closed
  }
}
