import { contactId, defaultPriority } from '@mertah/protocol';
import type { Logger } from 'pino';
import { SerialPort } from 'serialport';
import type { AlarmInput, EventDraft } from '../alarm/alarm.types.js';
import type { SerialPanelZoneSettings } from '../config/config.schema.js';
import {
  AD2_MAX_LINE,
  type Ad2ErrorCode,
  type Ad2ExpanderMessage,
  type Ad2KeypadMessage,
  type Ad2LrrMessage,
  type Ad2Message,
  type Ad2RfxMessage,
  parseAd2Line,
} from './alarmdecoder/ad2.parser.js';

export type SerialPanelErrorCode =
  | Ad2ErrorCode
  | 'E_SERIAL_CONFIG'
  | 'E_SERIAL_OPEN'
  | 'E_SERIAL_PORT'
  | 'E_SERIAL_DISCONNECTED'
  | 'E_SERIAL_OVERLONG'
  | 'E_SERIAL_PARTIAL'
  | 'E_SERIAL_NOISE'
  | 'E_SERIAL_COMMIT'
  | 'E_SERIAL_LRR_UNMAPPED';

export interface SerialPanelDriverOptions {
  path: string;
  baudRate: number;
  zones: SerialPanelZoneSettings[];
  /** Feeds an input to the alarm machine; resolves once what it caused is committed. */
  submit: (input: AlarmInput) => Promise<unknown>;
  /** Stores an event the panel itself decided on (Contact ID reports); resolves once committed. */
  report: (event: EventDraft) => Promise<unknown>;
  logger: Logger;
  clock?: () => number;
  /** Reopen backoff: base * 2^attempt, capped. */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  maxLineBytes?: number;
}

export interface SerialPanelCounters {
  opens: number;
  open_failures: number;
  disconnects: number;
  port_errors: number;
  bytes: number;
  lines: number;
  messages: number;
  /** Lines that did not parse, total and by error code. */
  invalid: number;
  invalid_by_code: Partial<Record<Ad2ErrorCode, number>>;
  overlong_lines: number;
  /** Unterminated data dropped when the port closed. */
  partial_lines: number;
  zone_inputs: number;
  trouble_inputs: number;
  events: number;
  lrr_unmapped: number;
  commit_failures: number;
}

/** The panel's last keypad status. */
export interface PanelStatus {
  ts: number;
  ready: boolean;
  armed_away: boolean;
  armed_home: boolean;
  alarm_sounding: boolean;
  alarm_event_occurred: boolean;
  fire_alarm: boolean;
  ac_power: boolean;
  battery_low: boolean;
  zone_bypassed: boolean;
  text: string;
}

/** Last RF bits of a sensor; supervision has no alarm input yet, so it lives here and in the log. */
export interface RfSensorStatus {
  ts: number;
  value: number;
  battery_low: boolean;
  supervision: boolean;
}

const NEWLINE = 0x0a;
/** This many unparseable lines in a row suggest the wrong baud rate. */
const NOISE_RUN = 10;

/**
 * A wired alarm panel behind an AlarmDecoder-compatible (AD2) interface on a serial line.
 * Expander and RF zone loops mapped in the config become zone inputs of the alarm machine,
 * RF low battery becomes a trouble input, `!LRR` Contact ID reports are stored as events
 * (the panel already decided they are alarms) and keypad messages are kept as the panel's
 * last status. Bad bytes and lost devices are counted and logged; the port reopens with backoff.
 */
export class SerialPanelDriver {
  readonly counters: SerialPanelCounters = {
    opens: 0,
    open_failures: 0,
    disconnects: 0,
    port_errors: 0,
    bytes: 0,
    lines: 0,
    messages: 0,
    invalid: 0,
    invalid_by_code: {},
    overlong_lines: 0,
    partial_lines: 0,
    zone_inputs: 0,
    trouble_inputs: 0,
    events: 0,
    lrr_unmapped: 0,
    commit_failures: 0,
  };
  /** The panel's last keypad status, or null before the first keypad message. */
  status: PanelStatus | null = null;
  readonly rfSensors = new Map<string, RfSensorStatus>();
  private port: SerialPort | null = null;
  private log: Logger | null = null;
  private stopping = true;
  private attempt = 0;
  private reopenTimer: NodeJS.Timeout | null = null;
  private chunks: Buffer[] = [];
  private pending = 0;
  private discarding = false;
  private noiseRun = 0;
  private work: Promise<void> = Promise.resolve();
  private readonly zoneState = new Map<number, boolean>();
  private readonly batteryState = new Map<string, boolean>();

  constructor(private readonly opts: SerialPanelDriverOptions) {}

  get name(): string {
    return 'serial-panel';
  }

  /** True while the port is open. */
  get connected(): boolean {
    return this.port?.isOpen ?? false;
  }

  /**
   * Checks the zone map and opens the port. A device that is not there yet is not fatal: it is
   * logged and retried with backoff. A zone map that cannot work throws (E_SERIAL_CONFIG).
   */
  async start(): Promise<void> {
    this.log = this.opts.logger.child({ component: 'serial-panel', path: this.opts.path });
    const problems = zoneMapProblems(this.opts.zones);
    if (problems.length > 0) {
      const err = new Error(`E_SERIAL_CONFIG: ${problems.join('; ')}`);
      this.log.error({ code: 'E_SERIAL_CONFIG', problems }, 'invalid serial panel zone map');
      throw err;
    }
    this.stopping = false;
    await this.open();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = null;
    const port = this.port;
    this.port = null;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    await this.work;
  }

  private now(): number {
    return (this.opts.clock ?? Date.now)();
  }

  private open(): Promise<void> {
    const log = this.log!;
    const port = new SerialPort({ path: this.opts.path, baudRate: this.opts.baudRate, autoOpen: false });
    this.port = port;
    port.on('data', (chunk: Buffer) => {
      if (this.port === port) this.onData(chunk);
    });
    port.on('error', (err: Error) => {
      this.counters.port_errors++;
      log.warn({ code: 'E_SERIAL_PORT', err: err.message }, 'serial port error');
    });
    port.on('close', (err?: Error | null) => {
      if (this.port !== port || this.stopping) return;
      this.counters.disconnects++;
      log.warn({ code: 'E_SERIAL_DISCONNECTED', err: err?.message }, 'serial device disconnected');
      this.dropPartial();
      this.scheduleReopen();
    });
    return new Promise<void>((resolve) => {
      port.open((err) => {
        if (this.stopping || this.port !== port) {
          if (!err) port.close(() => {});
          resolve();
          return;
        }
        if (err) {
          this.counters.open_failures++;
          log.warn(
            { code: 'E_SERIAL_OPEN', err: err.message, attempt: this.attempt },
            'cannot open serial port',
          );
          this.scheduleReopen();
        } else {
          this.counters.opens++;
          this.attempt = 0;
          log.info({ baud_rate: this.opts.baudRate }, 'serial port open');
        }
        resolve();
      });
    });
  }

  private scheduleReopen(): void {
    if (this.stopping || this.reopenTimer) return;
    const base = this.opts.backoffBaseMs ?? 250;
    const cap = this.opts.backoffCapMs ?? 10_000;
    const delay = Math.min(cap, base * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 20);
    // The old port keeps its listeners: they ignore it now, and an 'error' never goes unhandled.
    this.port = null;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = null;
      if (!this.stopping) void this.open();
    }, delay);
    this.reopenTimer.unref?.();
  }

  private dropPartial(): void {
    if (this.pending > 0 || this.discarding) {
      this.counters.partial_lines++;
      this.log!.warn({ code: 'E_SERIAL_PARTIAL', bytes: this.pending }, 'partial line dropped');
    }
    this.chunks = [];
    this.pending = 0;
    this.discarding = false;
  }

  /** Splits bytes into lines, dropping any line longer than the cap without buffering it. */
  private onData(chunk: Buffer): void {
    this.counters.bytes += chunk.length;
    const max = this.opts.maxLineBytes ?? AD2_MAX_LINE;
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, start);
      const end = nl === -1 ? chunk.length : nl;
      if (!this.discarding) {
        this.chunks.push(chunk.subarray(start, end));
        this.pending += end - start;
        if (this.pending > max) {
          this.counters.overlong_lines++;
          this.log!.warn({ code: 'E_SERIAL_OVERLONG', max }, 'overlong line dropped');
          this.chunks = [];
          this.pending = 0;
          this.discarding = true;
        }
      }
      if (nl === -1) break;
      if (this.discarding) this.discarding = false;
      else {
        const line = Buffer.concat(this.chunks).toString('latin1');
        this.chunks = [];
        this.pending = 0;
        this.onLine(line);
      }
      start = nl + 1;
    }
  }

  private onLine(line: string): void {
    this.counters.lines++;
    const r = parseAd2Line(line);
    if (!r.ok) {
      if (r.code === 'E_AD2_EMPTY') return;
      this.counters.invalid++;
      this.counters.invalid_by_code[r.code] = (this.counters.invalid_by_code[r.code] ?? 0) + 1;
      this.log!.warn({ code: r.code, err: r.message, bytes: line.length }, 'invalid panel line');
      if (++this.noiseRun === NOISE_RUN) {
        this.log!.error(
          { code: 'E_SERIAL_NOISE', baud_rate: this.opts.baudRate },
          'panel lines keep failing to parse: check the baud rate and the cable',
        );
      }
      return;
    }
    this.noiseRun = 0;
    this.counters.messages++;
    const message = r.message;
    // Keep the panel's order: each message is handled after the previous one is committed.
    this.work = this.work.then(() => this.handle(message));
  }

  private async handle(m: Ad2Message): Promise<void> {
    try {
      switch (m.type) {
        case 'keypad':
          this.onKeypad(m);
          break;
        case 'expander':
          await this.onExpander(m);
          break;
        case 'rfx':
          await this.onRfx(m);
          break;
        case 'lrr':
          await this.onLrr(m);
          break;
        case 'relay':
          this.log!.debug({ address: m.address, channel: m.channel, on: m.value }, 'relay changed');
          break;
        default:
          this.log!.debug({ type: m.type }, 'panel message');
      }
    } catch (err) {
      this.counters.commit_failures++;
      this.log!.error(
        { code: 'E_SERIAL_COMMIT', err: (err as Error).message, type: m.type },
        'not committed',
      );
    }
  }

  private onKeypad(m: Ad2KeypadMessage): void {
    const prev = this.status;
    const next: PanelStatus = {
      ts: this.now(),
      ready: m.ready,
      armed_away: m.armed_away,
      armed_home: m.armed_home,
      alarm_sounding: m.alarm_sounding,
      alarm_event_occurred: m.alarm_event_occurred,
      fire_alarm: m.fire_alarm,
      ac_power: m.ac_power,
      battery_low: m.battery_low,
      zone_bypassed: m.zone_bypassed,
      text: m.text.trim(),
    };
    this.status = next;
    const keys = [
      'armed_away',
      'armed_home',
      'alarm_sounding',
      'fire_alarm',
      'ac_power',
      'battery_low',
    ] as const;
    if (!prev || keys.some((k) => prev[k] !== next[k])) {
      this.log!.info({ panel: { ...next, ts: undefined } }, 'panel status');
    }
  }

  private async setZone(zone: number, open: boolean): Promise<void> {
    if (this.zoneState.get(zone) === open) return;
    await this.opts.submit({ type: 'zone', zone, open });
    this.zoneState.set(zone, open);
    this.counters.zone_inputs++;
  }

  private async onExpander(m: Ad2ExpanderMessage): Promise<void> {
    for (const z of this.opts.zones) {
      if (z.expander?.address === m.address && z.expander.channel === m.channel)
        await this.setZone(z.zone, m.value);
    }
  }

  private async onRfx(m: Ad2RfxMessage): Promise<void> {
    const prev = this.rfSensors.get(m.serial);
    this.rfSensors.set(m.serial, {
      ts: this.now(),
      value: m.value,
      battery_low: m.battery_low,
      supervision: m.supervision,
    });
    if (prev && prev.supervision !== m.supervision) {
      this.log!.info({ rf_serial: m.serial, supervision: m.supervision }, 'RF supervision bit changed');
    }
    for (const z of this.opts.zones) {
      if (z.rf_serial === m.serial) await this.setZone(z.zone, m.loops[(z.loop ?? 1) - 1] ?? false);
    }
    if (this.batteryState.get(m.serial) !== m.battery_low) {
      // The first report of a healthy battery is not news; a low one always is.
      if (m.battery_low || this.batteryState.has(m.serial)) {
        await this.opts.submit({
          type: 'trouble',
          device: `ad2_rf_${m.serial}`,
          trouble: 'battery_low',
          active: m.battery_low,
        });
        this.counters.trouble_inputs++;
      }
      this.batteryState.set(m.serial, m.battery_low);
    }
  }

  private async onLrr(m: Ad2LrrMessage): Promise<void> {
    if (!m.cid) {
      this.counters.lrr_unmapped++;
      this.log!.warn(
        { code: 'E_SERIAL_LRR_UNMAPPED', event_type: m.event_type },
        'LRR report without a Contact ID',
      );
      return;
    }
    const { code, qualifier } = m.cid;
    const number = /^\d+$/.test(m.event_data) ? Number.parseInt(m.event_data, 10) : null;
    // Open/close and access codes (4xx) carry a user number; the others a zone.
    const isUser = code.startsWith('4');
    await this.opts.report({
      ts: this.now(),
      code,
      qualifier,
      partition: Math.max(1, m.partition),
      zone: isUser || number === 0 ? null : number,
      device: 'ad2_panel',
      priority: defaultPriority(code),
      text: contactId(code)?.description ?? `Contact ID ${code}`,
      data: {
        source: 'ad2_lrr',
        event_type: m.event_type,
        event_data: m.event_data,
        ...(isUser && number !== null ? { user: number } : {}),
        ...(m.report_code ? { report_code: m.report_code } : {}),
      },
    });
    this.counters.events++;
  }
}

/** What is wrong with a serial zone map (empty = fine). Pure. */
export function zoneMapProblems(zones: readonly SerialPanelZoneSettings[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const [i, z] of zones.entries()) {
    if ((z.expander ? 1 : 0) + (z.rf_serial !== undefined ? 1 : 0) !== 1) {
      problems.push(`zones/${i}: set exactly one of expander or rf_serial`);
      continue;
    }
    if (z.loop !== undefined && z.rf_serial === undefined) problems.push(`zones/${i}: loop needs rf_serial`);
    const key = z.expander
      ? `exp:${z.expander.address}:${z.expander.channel}`
      : `rf:${z.rf_serial}:${z.loop ?? 1}`;
    if (seen.has(key)) problems.push(`zones/${i}: input mapped twice`);
    seen.add(key);
  }
  return problems;
}
