import { randomBytes } from 'node:crypto';
import { SerialPort } from 'serialport';

export interface AlarmDecoderPanelOptions {
  /** The panel side of the serial line (a device, or one end of a socat pty pair). */
  path: string;
  baudRate?: number;
}

export interface KeypadState {
  ready: boolean;
  armed_away: boolean;
  armed_home: boolean;
  ac_power: boolean;
  alarm_sounding: boolean;
  battery_low: boolean;
  fire_alarm: boolean;
  text: string;
}

export interface RfxBits {
  loop1?: boolean;
  loop2?: boolean;
  loop3?: boolean;
  loop4?: boolean;
  battery_low?: boolean;
  supervision?: boolean;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** The AD2's RF status byte: battery bit 2, supervision bit 3, loops 1..4 at bits 8, 6, 7, 5. */
export function rfxValue(bits: RfxBits): number {
  return (
    (bits.battery_low ? 0x02 : 0) |
    (bits.supervision ? 0x04 : 0) |
    (bits.loop4 ? 0x10 : 0) |
    (bits.loop2 ? 0x20 : 0) |
    (bits.loop3 ? 0x40 : 0) |
    (bits.loop1 ? 0x80 : 0)
  );
}

/** One AD2 keypad status line: [bitfield],nnn,[raw panel data],"32-char text". */
export function keypadLine(s: KeypadState, numeric = 0): string {
  const b = (v: boolean) => (v ? '1' : '0');
  const bits = `${b(s.ready)}${b(s.armed_away)}${b(s.armed_home)}1000${b(s.ac_power)}00${b(s.alarm_sounding)}${b(s.battery_low)}0${b(s.fire_alarm)}000A--`;
  const text = s.text.slice(0, 32).padEnd(32, ' ');
  return `[${bits}],${pad(numeric, 3)},[f707000600e5800c0c020000],"${text}"`;
}

/**
 * An alarm panel behind an AlarmDecoder (AD2) interface: writes the AD2's serial lines
 * (CRLF terminated) to a serial device path, e.g. one end of a socat pty pair.
 */
export class AlarmDecoderPanel {
  private port: SerialPort | null = null;
  private ticker: NodeJS.Timeout | null = null;
  written = 0;
  readonly keypad: KeypadState = {
    ready: true,
    armed_away: false,
    armed_home: false,
    ac_power: true,
    alarm_sounding: false,
    battery_low: false,
    fire_alarm: false,
    text: '****DISARMED****  Ready to Arm',
  };

  constructor(private readonly opts: AlarmDecoderPanelOptions) {}

  async open(): Promise<void> {
    const port = new SerialPort({
      path: this.opts.path,
      baudRate: this.opts.baudRate ?? 115_200,
      autoOpen: false,
    });
    port.on('error', () => {}); // the far end going away is normal for an emulator
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    this.port = port;
  }

  async close(): Promise<void> {
    this.stopKeypadTicks();
    const port = this.port;
    this.port = null;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  /** Writes raw bytes as they are (no terminator) and waits until they left. */
  async writeRaw(data: string | Buffer): Promise<void> {
    const port = this.port;
    if (!port) throw new Error('panel port is not open');
    await new Promise<void>((resolve, reject) => {
      port.write(data, (err) => (err ? reject(err) : port.drain((e) => (e ? reject(e) : resolve()))));
    });
    this.written++;
  }

  /** Writes one AD2 line with its CRLF. */
  line(text: string): Promise<void> {
    return this.writeRaw(`${text}\r\n`);
  }

  /** An expander zone faults: `!EXP:aa,cc,01`. */
  faultZone(address: number, channel: number): Promise<void> {
    return this.line(`!EXP:${pad(address, 2)},${pad(channel, 2)},01`);
  }

  /** An expander zone restores: `!EXP:aa,cc,00`. */
  restoreZone(address: number, channel: number): Promise<void> {
    return this.line(`!EXP:${pad(address, 2)},${pad(channel, 2)},00`);
  }

  /** An RF sensor report: `!RFX:sssssss,hh`. */
  rfx(serial: string, bits: RfxBits | number): Promise<void> {
    const value = typeof bits === 'number' ? bits : rfxValue(bits);
    return this.line(`!RFX:${serial},${value.toString(16).padStart(2, '0')}`);
  }

  /** A Contact ID report on the LRR: `!LRR:zzz,p,CID_qxyz,ff` (qualifier 1 new, 3 restore). */
  lrr(code: string, partition: number, zoneOrUser: number, qualifier: 1 | 3 | 6 = 1): Promise<void> {
    return this.line(`!LRR:${pad(zoneOrUser, 3)},${partition},CID_${qualifier}${code},ff`);
  }

  /** Writes the keypad status line once, after applying `change`. */
  keypadStatus(change: Partial<KeypadState> = {}, numeric = 0): Promise<void> {
    Object.assign(this.keypad, change);
    return this.line(keypadLine(this.keypad, numeric));
  }

  /** Repeats the keypad status line every `ms`, as a keypad bus does. */
  startKeypadTicks(ms = 4000): void {
    this.stopKeypadTicks();
    this.ticker = setInterval(() => {
      this.keypadStatus().catch(() => {});
    }, ms);
    this.ticker.unref?.();
  }

  stopKeypadTicks(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
  }

  /** Line noise: `n` random bytes, or the given bytes, with no terminator. */
  garbage(bytes: number | Buffer): Promise<void> {
    return this.writeRaw(typeof bytes === 'number' ? randomBytes(bytes) : bytes);
  }
}
