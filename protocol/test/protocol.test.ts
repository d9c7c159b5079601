import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CONTACT_ID,
  EventBatch,
  WireParser,
  classOf,
  defaultPriority,
  gatewayMayPublish,
  gatewayMaySubscribe,
  isAlarmEvent,
  parseTopic,
  siaCode,
  topic,
} from '../src/index.js';

const corpora = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'corpora');

describe('Contact ID table', () => {
  it('holds every code of the reference list with its SIA mapping', () => {
    const csv = join(corpora, 'contact_id_event_codes.csv');
    if (!existsSync(csv)) throw new Error(`reference corpora not found at ${corpora}`);
    const codes = readFileSync(csv, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',')[0]);
    expect(CONTACT_ID.size).toBe(codes.length);
    for (const c of codes) expect(CONTACT_ID.has(c as string)).toBe(true);
    const mapping = JSON.parse(readFileSync(join(corpora, 'cid_to_sia_mapping.json'), 'utf8')).mapping;
    expect(siaCode('130', 'new')).toBe(mapping['130']['1']);
    expect(siaCode('130', 'restore')).toBe(mapping['130']['3']);
    expect(siaCode('110', 'new')).toBe('FA');
  });

  it('ranks life safety above burglary above tamper above trouble above tests', () => {
    expect(classOf('110')).toBe('fire');
    expect(classOf('121')).toBe('duress');
    expect(classOf('130')).toBe('burglary');
    expect(classOf('137')).toBe('tamper');
    expect(classOf('154')).toBe('environmental');
    expect(classOf('381')).toBe('supervision');
    expect(classOf('602')).toBe('test');
    expect(classOf('624')).toBe('trouble');
    expect(defaultPriority('624')).toBe(5);
    const p = (c: string) => defaultPriority(c);
    expect(p('110')).toBeLessThan(p('130'));
    expect(p('130')).toBeLessThan(p('137'));
    expect(p('137')).toBeLessThan(p('301'));
    expect(p('301')).toBeLessThan(p('602'));
    expect(isAlarmEvent('130', 'new')).toBe(true);
    expect(isAlarmEvent('130', 'restore')).toBe(false);
    expect(isAlarmEvent('602', 'new')).toBe(false);
  });
});

describe('topics', () => {
  it('round-trips and confines a gateway to its own topics', () => {
    expect(topic('gw-001', 'events')).toBe('mertah/v1/gw/gw-001/events');
    expect(parseTopic('mertah/v1/gw/gw-001/cmd/result')).toEqual({
      gatewayId: 'gw-001',
      name: 'commandResult',
    });
    expect(parseTopic('mertah/v1/gw/gw-001/nope')).toBeNull();
    expect(parseTopic('mertah/v1/gw/GW!/events')).toBeNull();
    expect(gatewayMayPublish('gw-001', 'mertah/v1/gw/gw-001/events')).toBe(true);
    expect(gatewayMayPublish('gw-001', 'mertah/v1/gw/gw-002/events')).toBe(false);
    expect(gatewayMayPublish('gw-001', 'mertah/v1/gw/gw-001/ack')).toBe(false);
    expect(gatewayMaySubscribe('gw-001', 'mertah/v1/gw/gw-001/ack')).toBe(true);
    expect(gatewayMaySubscribe('gw-001', 'mertah/v1/gw/+/ack')).toBe(false);
    expect(gatewayMaySubscribe('gw-001', 'mertah/v1/gw/gw-002/cmd')).toBe(false);
  });
});

describe('wire parser', () => {
  const parser = new WireParser(EventBatch, 4096);
  const good = {
    gateway_id: 'gw-001',
    sent_at: 1,
    events: [
      {
        event_id: '0190f1e2-1111-7000-8000-000000000001',
        seq: 1,
        ts: 1,
        partition: 1,
        zone: 3,
        device: 'front_door',
        code: '130',
        qualifier: 'new',
        priority: 2,
        text: 'Burglary',
      },
    ],
  };

  it('accepts a valid batch and names every problem of a bad one', () => {
    expect(parser.parse(JSON.stringify(good)).ok).toBe(true);
    const bad = parser.parse(JSON.stringify({ ...good, events: [{ ...good.events[0], seq: 0, code: 'X' }] }));
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.code).toBe('E_SCHEMA');
      expect(bad.issues.length).toBeGreaterThanOrEqual(2);
    }
    const big = parser.parse('x'.repeat(5000));
    expect(big.ok === false && big.code).toBe('E_TOO_LARGE');
    const notJson = parser.parse('{');
    expect(notJson.ok === false && notJson.code).toBe('E_NOT_JSON');
  });

  it('never throws on arbitrary bytes (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const r = parser.parse(bytes);
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(parser.parse(JSON.stringify(v) ?? 'null').ok).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });
});
