import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AD2_MAX_LINE,
  type Ad2Message,
  type Ad2ParseResult,
  parseAd2Line,
} from '../../../src/drivers/alarmdecoder/ad2.parser.js';
import { corporaDir } from '../../support/corpus.js';

interface Sample {
  line: string;
  expect: string | Record<string, unknown>;
}

const samples = (
  JSON.parse(readFileSync(join(corporaDir, 'alarm_panel_serial_samples.json'), 'utf8')) as {
    A_alarmdecoder_ad2: { lines: Sample[] };
  }
).A_alarmdecoder_ad2.lines;

function message(r: Ad2ParseResult): Ad2Message {
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
  return r.message;
}

// `type` may be a union member's alternative ('expander' | 'relay'), so match by assignability.
type Of<T extends Ad2Message['type']> = Ad2Message & { type: T };
function parsed<T extends Ad2Message['type']>(line: string, type: T): Of<T> {
  const m = message(parseAd2Line(line));
  expect(m.type).toBe(type);
  return m as Of<T>;
}

/** One check per corpus sample, in corpus order: what alarmdecoder's own tests expect of that line. */
const checks: Array<(s: Sample) => void> = [
  (s) => {
    const m = parsed(s.line, 'keypad');
    const e = s.expect as Record<string, unknown>;
    expect(m.ready).toBe(e.ready);
    expect(m.ac_power).toBe(e.ac_power);
    expect(m.numeric_code).toBe(e.numeric_code);
    expect(`0x${m.mask.toString(16).padStart(8, '0')}`).toBe(e.mask);
    expect(m.text).toBe(e.text);
    expect(m.system_fault).toBe(e.system_fault);
    expect(m.panel_type).toBe('ademco');
  },
  (s) => {
    const m = parsed(s.line, 'keypad');
    expect(m.kpm).toBe(true);
    const plain = parsed(s.line.slice('!KPM:'.length), 'keypad');
    expect({ ...m, kpm: false }).toEqual(plain);
  },
  (s) => {
    const m = parsed(s.line, 'keypad');
    expect(m).toMatchObject({ armed_away: true, armed_home: false, ready: false });
  },
  (s) => expect(parsed(s.line, 'keypad')).toMatchObject({ zone_bypassed: true, armed_away: false }),
  (s) => expect(parsed(s.line, 'keypad')).toMatchObject({ chime_on: true, zone_bypassed: false }),
  (s) => expect(parsed(s.line, 'keypad')).toMatchObject({ battery_low: true, chime_on: false }),
  (s) => expect(parsed(s.line, 'keypad').text.trim()).toBe('Hit * for faults'),
  (s) => {
    const m = parsed(s.line, 'keypad');
    expect(m).toMatchObject({ fault_zone: (s.expect as { zone_fault: number }).zone_fault, ac_power: true });
    expect(m.armed_home).toBe(false);
    expect(m.backlight_on).toBe(true);
  },
  // Zone restore by a skipped fault cycle is keypad-stateful (alarmdecoder's zone tracker);
  // the pure parser reports the faulted zone of each message, from which a tracker infers it.
  (s) => expect(parsed(s.line, 'keypad').fault_zone).toBe(4),
  (s) => expect(parsed(s.line, 'relay')).toEqual({ type: 'relay', address: 12, channel: 1, value: true }),
  (s) => {
    const e = s.expect as Record<string, string>;
    expect(parsed(s.line, 'lrr')).toMatchObject({
      version: 1,
      event_data: e.event_data,
      partition: Number(e.partition),
      event_type: e.event_type,
      report_code: null,
    });
  },
  (s) => {
    const m = parsed(s.line, 'lrr');
    expect(m.event_type).toBe('CANCEL');
    expect(m.cid).toEqual({ code: '406', qualifier: 'new' }); // cancel, not a panic
  },
  (s) => {
    const m = parsed(s.line, 'lrr');
    expect(m).toMatchObject({ version: 2, event_data: '001', partition: 1, report_code: 'ff' });
    expect(m.cid).toEqual({ code: '406', qualifier: 'new' });
  },
  (s) => {
    const m = parsed(s.line, 'lrr');
    expect(m.event_type.startsWith('CID_')).toBe(true);
    expect(m.cid).toEqual({ code: '401', qualifier: 'restore' });
    expect(m.report_code).toBe((s.expect as Record<string, string>).report_code);
  },
  (s) => {
    const m = parsed(s.line, 'config');
    expect(m.values.MODE).toBe('A');
    expect(Number(m.values.ADDRESS)).toBe(18);
    expect(`0x${m.values.CONFIGBITS}`).toBe((s.expect as Record<string, string>).configbits);
    expect(m.values.DEDUPLICATE).toBe('N');
  },
  (s) => expect(parsed(s.line, 'sending')).toEqual({ type: 'sending', done: true }),
  (s) => expect(parseAd2Line(s.line)).toMatchObject({ ok: false, code: 'E_AD2_EMPTY' }),
];

describe('AD2 parser', () => {
  it('has a check for every corpus sample', () => {
    expect(samples.length).toBe(checks.length);
  });

  for (const [i, s] of samples.entries()) {
    it(`corpus line ${i}: ${s.line.slice(0, 40) || '(empty)'}`, () => {
      checks[i]?.(s);
    });
  }

  it('parses expander, RFX loops and bits, and version lines', () => {
    expect(parsed('!EXP:07,01,01', 'expander')).toEqual({
      type: 'expander',
      address: 7,
      channel: 1,
      value: true,
    });
    expect(parsed('!EXP:07,01,00\r', 'expander').value).toBe(false);
    const rfx = parsed('!RFX:0180036,80', 'rfx');
    expect(rfx).toMatchObject({ serial: '0180036', battery_low: false, supervision: false });
    expect(rfx.loops).toEqual([true, false, false, false]);
    expect(parsed('!RFX:0180036,20', 'rfx').loops).toEqual([false, true, false, false]);
    expect(parsed('!RFX:0180036,40', 'rfx').loops).toEqual([false, false, true, false]);
    expect(parsed('!RFX:0180036,10', 'rfx').loops).toEqual([false, false, false, true]);
    expect(parsed('!RFX:0180036,06', 'rfx')).toMatchObject({ battery_low: true, supervision: true });
    expect(parsed('!VER:ffffffff,V2.2a.8.2,TX;RX;LRR', 'version')).toEqual({
      type: 'version',
      serial: 'ffffffff',
      version: 'V2.2a.8.2',
      capabilities: ['TX', 'RX', 'LRR'],
    });
    expect(parsed('!LRR:003,1,CID_1130,ff', 'lrr').cid).toEqual({ code: '130', qualifier: 'new' });
  });

  it('rejects malformed and unknown lines with a code', () => {
    const code = (l: string) => {
      const r = parseAd2Line(l);
      return r.ok ? 'ok' : r.code;
    };
    expect(code('   ')).toBe('E_AD2_EMPTY');
    expect(code('hello')).toBe('E_AD2_UNKNOWN');
    expect(code('!XYZ:1,2')).toBe('E_AD2_UNKNOWN');
    expect(code('!EXP:07,01')).toBe('E_AD2_MALFORMED');
    expect(code('!EXP:07,01,05')).toBe('E_AD2_MALFORMED');
    expect(code('!RFX:0180036,zz')).toBe('E_AD2_MALFORMED');
    expect(code('!LRR:001,1,CID_9401,ff')).toBe('E_AD2_MALFORMED');
    expect(code('!LRR:001,x,CANCEL')).toBe('E_AD2_MALFORMED');
    expect(code('[0000000000000000----],000,[f7],"x"')).toBe('E_AD2_MALFORMED');
    expect(code('[00000000\x0000000000----],000,[f707000600e5800c0c020000],"x"')).toBe('E_AD2_MALFORMED');
    expect(code('!CONFIG>MODE')).toBe('E_AD2_MALFORMED');
    expect(code('!VER:')).toBe('E_AD2_MALFORMED');
    expect(code('x'.repeat(AD2_MAX_LINE + 1))).toBe('E_AD2_TOO_LONG');
  });

  it('never throws on arbitrary strings or bytes, and always returns a result or a known code', () => {
    const codes = new Set(['E_AD2_EMPTY', 'E_AD2_TOO_LONG', 'E_AD2_UNKNOWN', 'E_AD2_MALFORMED']);
    const prefixes = fc.constantFrom(
      '',
      '!EXP:',
      '!REL:',
      '!RFX:',
      '!LRR:',
      '!KPM:',
      '[',
      '!CONFIG>',
      '!VER:',
    );
    const total = (line: string) => {
      const r = parseAd2Line(line);
      if (!r.ok) expect(codes.has(r.code)).toBe(true);
    };
    fc.assert(
      fc.property(prefixes, fc.string({ maxLength: 200 }), (p, s) => total(p + s)),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => total(Buffer.from(b).toString('latin1'))),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(
        prefixes,
        fc.array(fc.stringMatching(/^[0-9A-Za-z_]{0,8}$/), { maxLength: 6 }),
        (p, parts) => total(p + parts.join(',')),
      ),
      { numRuns: 2000 },
    );
  });
});
