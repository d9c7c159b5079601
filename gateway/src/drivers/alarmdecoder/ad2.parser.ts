/**
 * A pure, total parser of the lines an AlarmDecoder-compatible (AD2) interface writes on its
 * serial port. Every input string gives either a typed message or a coded error; it never throws.
 */

export type Ad2ErrorCode = 'E_AD2_EMPTY' | 'E_AD2_TOO_LONG' | 'E_AD2_UNKNOWN' | 'E_AD2_MALFORMED';

/** Longest line the AD2 writes is well under this; anything longer is noise. */
export const AD2_MAX_LINE = 1024;

export type Ad2PanelType = 'ademco' | 'dsc' | 'unknown';

export interface Ad2KeypadMessage {
  type: 'keypad';
  /** The line came with the `!KPM:` prefix. */
  kpm: boolean;
  bitfield: string;
  ready: boolean;
  armed_away: boolean;
  armed_home: boolean;
  backlight_on: boolean;
  programming_mode: boolean;
  beeps: number;
  zone_bypassed: boolean;
  ac_power: boolean;
  chime_on: boolean;
  alarm_event_occurred: boolean;
  alarm_sounding: boolean;
  battery_low: boolean;
  entry_delay_off: boolean;
  fire_alarm: boolean;
  check_zone: boolean;
  perimeter_only: boolean;
  /** -1 = no system fault reported. */
  system_fault: number;
  panel_type: Ad2PanelType;
  numeric_code: string;
  /** A zone the keypad reports as faulted ("FAULT nn" with the zone in the numeric code), or null. */
  fault_zone: number | null;
  raw: string;
  /** The keypad address mask (raw panel data, hex digits 3..10). */
  mask: number;
  text: string;
}

export interface Ad2ExpanderMessage {
  type: 'expander' | 'relay';
  address: number;
  channel: number;
  /** true = faulted / relay on. */
  value: boolean;
}

export interface Ad2RfxMessage {
  type: 'rfx';
  serial: string;
  value: number;
  battery_low: boolean;
  supervision: boolean;
  /** Loops 1..4 at indexes 0..3; true = faulted. */
  loops: [boolean, boolean, boolean, boolean];
}

export interface Ad2LrrMessage {
  type: 'lrr';
  /** v1: `!LRR:data,partition,TYPE`; v2: `!LRR:data,partition,CID_qxyz,report`. */
  version: 1 | 2;
  /** Zone or user number, as sent (3 digits). */
  event_data: string;
  partition: number;
  event_type: string;
  /** The Contact ID code and qualifier when known (v2 CID reports, or a known v1 type). */
  cid: { code: string; qualifier: 'new' | 'restore' } | null;
  report_code: string | null;
}

export interface Ad2SendingMessage {
  type: 'sending';
  done: boolean;
}

export interface Ad2ConfigMessage {
  type: 'config';
  values: Record<string, string>;
}

export interface Ad2VersionMessage {
  type: 'version';
  serial: string;
  version: string;
  capabilities: string[];
}

export type Ad2Message =
  | Ad2KeypadMessage
  | Ad2ExpanderMessage
  | Ad2RfxMessage
  | Ad2LrrMessage
  | Ad2SendingMessage
  | Ad2ConfigMessage
  | Ad2VersionMessage;

export type Ad2ParseResult =
  | { ok: true; message: Ad2Message }
  | { ok: false; code: Ad2ErrorCode; message: string };

const fail = (code: Ad2ErrorCode, message: string): Ad2ParseResult => ({ ok: false, code, message });
const ok = (message: Ad2Message): Ad2ParseResult => ({ ok: true, message });

const PRINTABLE = /^[\x20-\x7e]*$/;
const KEYPAD = /^\[([0-9A-Za-z-]{18,24})\],([0-9A-Fa-f]{3}),\[([0-9A-Fa-f]*)\],"(.*)"$/;
const TWO_OR_THREE = /^\d{1,3}$/;

/**
 * LRR v1 event types and the Contact ID event each one stands for. Types missing here are
 * parsed with `cid: null` (the driver logs and counts them).
 */
export const LRR_V1_CID: Readonly<Record<string, { code: string; qualifier: 'new' | 'restore' }>> = {
  ALARM_PANIC: { code: '120', qualifier: 'new' },
  ALARM_FIRE: { code: '110', qualifier: 'new' },
  ALARM_ENTRY: { code: '134', qualifier: 'new' },
  ALARM_AUX: { code: '100', qualifier: 'new' },
  ALARM_AUDIBLE: { code: '130', qualifier: 'new' },
  ALARM_SILENT: { code: '122', qualifier: 'new' },
  ALARM_PERIMETER: { code: '131', qualifier: 'new' },
  ALARM_EXIT_ERROR: { code: '374', qualifier: 'new' },
  TROUBLE: { code: '300', qualifier: 'new' },
  TROUBLE_RESTORE: { code: '300', qualifier: 'restore' },
  BYPASS: { code: '570', qualifier: 'new' },
  BYPASS_RESTORE: { code: '570', qualifier: 'restore' },
  ACLOSS: { code: '301', qualifier: 'new' },
  AC_RESTORE: { code: '301', qualifier: 'restore' },
  LOWBAT: { code: '302', qualifier: 'new' },
  LOWBAT_RESTORE: { code: '302', qualifier: 'restore' },
  RFLOWBAT: { code: '384', qualifier: 'new' },
  RFLOWBAT_RESTORE: { code: '384', qualifier: 'restore' },
  TEST: { code: '601', qualifier: 'new' },
  TEST_RESTORE: { code: '601', qualifier: 'restore' },
  // Contact ID 401: qualifier 1 = opening (disarm), 3 = closing (arm).
  OPEN: { code: '401', qualifier: 'new' },
  ARM_AWAY: { code: '401', qualifier: 'restore' },
  ARM_STAY: { code: '441', qualifier: 'restore' },
  CANCEL: { code: '406', qualifier: 'new' },
};

/** Parses one line (without its line terminator; a trailing CR is tolerated). */
export function parseAd2Line(input: string): Ad2ParseResult {
  if (typeof input !== 'string') return fail('E_AD2_MALFORMED', 'not a string');
  if (input.length > AD2_MAX_LINE) return fail('E_AD2_TOO_LONG', `line longer than ${AD2_MAX_LINE}`);
  const line = input.replace(/\r+$/, '').trim();
  if (line === '') return fail('E_AD2_EMPTY', 'empty line');
  if (!PRINTABLE.test(line)) return fail('E_AD2_MALFORMED', 'non-printable characters');

  if (line.startsWith('[')) return parseKeypad(line, false);
  if (line.startsWith('!KPM:')) return parseKeypad(line.slice(5), true);
  if (line.startsWith('!EXP:')) return parseExpander(line.slice(5), 'expander');
  if (line.startsWith('!REL:')) return parseExpander(line.slice(5), 'relay');
  if (line.startsWith('!RFX:')) return parseRfx(line.slice(5));
  if (line.startsWith('!LRR:')) return parseLrr(line.slice(5));
  if (line.startsWith('!Sending')) return ok({ type: 'sending', done: line.endsWith('done') });
  if (line.startsWith('!CONFIG>')) return parseConfig(line.slice(8));
  if (line.startsWith('!VER:')) return parseVersion(line.slice(5));
  return fail('E_AD2_UNKNOWN', `unknown line type: ${JSON.stringify(line.slice(0, 16))}`);
}

function parseKeypad(body: string, kpm: boolean): Ad2ParseResult {
  const m = KEYPAD.exec(body);
  if (!m) return fail('E_AD2_MALFORMED', 'keypad message: expected [bits],nnn,[raw],"text"');
  const [, bitfield = '', numeric = '', raw = '', text = ''] = m;
  if (raw.length < 10) return fail('E_AD2_MALFORMED', 'keypad message: raw panel data too short');
  const bit = (n: number) => bitfield[n - 1] === '1';
  const hexAt = (n: number) => {
    const c = bitfield[n - 1] ?? '0';
    return /^[0-9A-Fa-f]$/.test(c) ? Number.parseInt(c, 16) : 0;
  };
  const faultChar = bitfield[16] ?? '0';
  const system_fault = /^[1-9A-Fa-f]$/.test(faultChar) ? Number.parseInt(faultChar, 16) : -1;
  const panelChar = bitfield[17];
  const panel_type: Ad2PanelType = panelChar === 'A' ? 'ademco' : panelChar === 'D' ? 'dsc' : 'unknown';
  const ready = bit(1);
  const fault = !ready && /^FAULT\b/i.test(text.trim()) && /^\d{3}$/.test(numeric);
  return ok({
    type: 'keypad',
    kpm,
    bitfield,
    ready,
    armed_away: bit(2),
    armed_home: bit(3),
    backlight_on: bit(4),
    programming_mode: bit(5),
    beeps: hexAt(6),
    zone_bypassed: bit(7),
    ac_power: bit(8),
    chime_on: bit(9),
    alarm_event_occurred: bit(10),
    alarm_sounding: bit(11),
    battery_low: bit(12),
    entry_delay_off: bit(13),
    fire_alarm: bit(14),
    check_zone: bit(15),
    perimeter_only: bit(16),
    system_fault,
    panel_type,
    numeric_code: numeric,
    fault_zone: fault ? Number.parseInt(numeric, 10) : null,
    raw,
    mask: Number.parseInt(raw.slice(2, 10), 16),
    text,
  });
}

function parseExpander(body: string, type: 'expander' | 'relay'): Ad2ParseResult {
  const parts = body.split(',');
  if (parts.length !== 3 || !parts.every((p) => TWO_OR_THREE.test(p))) {
    return fail('E_AD2_MALFORMED', `${type}: expected address,channel,value`);
  }
  const [address, channel, value] = parts.map((p) => Number.parseInt(p, 10)) as [number, number, number];
  if (value !== 0 && value !== 1) return fail('E_AD2_MALFORMED', `${type}: value must be 00 or 01`);
  return ok({ type, address, channel, value: value === 1 });
}

function parseRfx(body: string): Ad2ParseResult {
  const parts = body.split(',');
  const [serial = '', hex = ''] = parts;
  if (parts.length !== 2 || !/^[0-9A-Za-z]{1,16}$/.test(serial) || !/^[0-9A-Fa-f]{2}$/.test(hex)) {
    return fail('E_AD2_MALFORMED', 'rfx: expected serial,hh');
  }
  const value = Number.parseInt(hex, 16);
  const bit = (n: number) => (value & (1 << (n - 1))) !== 0;
  return ok({
    type: 'rfx',
    serial,
    value,
    battery_low: bit(2),
    supervision: bit(3),
    // The AD2 packs the loops out of order: loop 1 = bit 8, 2 = bit 6, 3 = bit 7, 4 = bit 5.
    loops: [bit(8), bit(6), bit(7), bit(5)],
  });
}

function parseLrr(body: string): Ad2ParseResult {
  const parts = body.split(',');
  if (parts.length !== 3 && parts.length !== 4) {
    return fail('E_AD2_MALFORMED', 'lrr: expected data,partition,type[,report]');
  }
  const [event_data = '', partitionText = '', event_type = '', report = ''] = parts;
  if (!/^[0-9A-Fa-f]{1,4}$/.test(event_data)) return fail('E_AD2_MALFORMED', 'lrr: bad event data');
  if (!/^\d{1,2}$/.test(partitionText)) return fail('E_AD2_MALFORMED', 'lrr: bad partition');
  if (!/^[A-Z0-9_]{1,32}$/.test(event_type)) return fail('E_AD2_MALFORMED', 'lrr: bad event type');
  const partition = Number.parseInt(partitionText, 10);
  if (parts.length === 3) {
    return ok({
      type: 'lrr',
      version: 1,
      event_data,
      partition,
      event_type,
      cid: LRR_V1_CID[event_type] ?? null,
      report_code: null,
    });
  }
  if (!/^[0-9A-Fa-f]{1,2}$/.test(report)) return fail('E_AD2_MALFORMED', 'lrr: bad report code');
  let cid: Ad2LrrMessage['cid'] = null;
  if (event_type.startsWith('CID_')) {
    const m = /^CID_([136])(\d{3})$/.exec(event_type);
    if (!m) return fail('E_AD2_MALFORMED', 'lrr: CID type must be CID_<1|3|6><3 digits>');
    cid = { code: m[2] ?? '', qualifier: m[1] === '3' ? 'restore' : 'new' };
  }
  return ok({ type: 'lrr', version: 2, event_data, partition, event_type, cid, report_code: report });
}

function parseConfig(body: string): Ad2ParseResult {
  const values: Record<string, string> = {};
  for (const pair of body.split('&')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) return fail('E_AD2_MALFORMED', 'config: expected KEY=VALUE pairs');
    const key = pair.slice(0, eq);
    if (!/^[A-Z_]{1,32}$/.test(key)) return fail('E_AD2_MALFORMED', 'config: bad key');
    values[key] = pair.slice(eq + 1);
  }
  return ok({ type: 'config', values });
}

function parseVersion(body: string): Ad2ParseResult {
  const parts = body.split(',');
  const [serial = '', version = '', caps = ''] = parts;
  if (parts.length < 2 || parts.length > 3 || serial === '' || version === '') {
    return fail('E_AD2_MALFORMED', 'version: expected serial,version[,capabilities]');
  }
  return ok({ type: 'version', serial, version, capabilities: caps === '' ? [] : caps.split(';') });
}
