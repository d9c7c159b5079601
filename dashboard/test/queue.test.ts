import { describe, expect, it } from 'vitest';
import type { Alarm } from '../src/lib/api';
import {
  type AlarmMap,
  ageBand,
  applyChange,
  applyList,
  compareAlarms,
  formatAge,
  queueOf,
  severityOf,
  TOMBSTONE_MS,
} from '../src/lib/queue';
import { safeNext } from '../src/lib/nav';

const T0 = Date.parse('2025-01-01T03:00:00Z');

function alarm(id: string, over: Partial<Alarm> = {}): Alarm {
  const iso = new Date(T0).toISOString();
  return {
    id,
    gateway_id: 'gw-1',
    partition: 1,
    status: 'open',
    priority: 2,
    event_class: 'burglary',
    code: '130',
    zone: 3,
    text: 'Burglary',
    event_count: 1,
    first_event_at: iso,
    last_event_at: iso,
    opened_at: iso,
    claimed_by: null,
    claimed_at: null,
    closed_by: null,
    closed_at: null,
    disposition: null,
    notes: null,
    ...over,
  };
}

describe('queue merge', () => {
  it('merges stream changes by id and never lets an older copy win', () => {
    const m: AlarmMap = new Map();
    expect(applyChange(m, alarm('a'), 1)).toEqual({ isNew: true, changed: true });
    expect(applyChange(m, alarm('a'), 2)).toEqual({ isNew: false, changed: true }); // replay: same copy
    expect(applyChange(m, alarm('a', { status: 'claimed', claimed_by: 'op' }), 3).changed).toBe(true);
    expect(applyChange(m, alarm('a'), 4).changed).toBe(false); // late open copy
    expect(queueOf(m).map((a) => a.status)).toEqual(['claimed']);
    expect(applyChange(m, alarm('a', { status: 'closed' }), 5).changed).toBe(true);
    expect(queueOf(m)).toEqual([]);
    expect(applyChange(m, alarm('a', { status: 'claimed' }), 6).changed).toBe(false); // closed is final
  });

  it('counts more signals as newer', () => {
    const m: AlarmMap = new Map();
    applyChange(m, alarm('a', { event_count: 3 }), 1);
    expect(applyChange(m, alarm('a', { event_count: 2 }), 2).changed).toBe(false);
    expect(applyChange(m, alarm('a', { event_count: 4 }), 3).changed).toBe(true);
  });

  it('reconciles a re-fetched list without losing what the stream brought meanwhile', () => {
    const m: AlarmMap = new Map();
    applyChange(m, alarm('gone'), 1); // closed while we were disconnected
    applyChange(m, alarm('kept'), 1);
    applyChange(m, alarm('late', { status: 'claimed' }), 20); // stream, after the fetch left
    applyChange(m, alarm('fresh'), 20); // stream, after the fetch left, not in the list
    applyChange(m, alarm('closedLive', { status: 'closed' }), 20);
    applyList(
      m,
      [alarm('kept', { event_count: 2 }), alarm('late'), alarm('closedLive'), alarm('new')],
      10,
      30,
    );
    const q = queueOf(m);
    expect(q.map((a) => a.id).sort()).toEqual(['fresh', 'kept', 'late', 'new']);
    expect(q.find((a) => a.id === 'kept')!.event_count).toBe(2);
    expect(q.find((a) => a.id === 'late')!.status).toBe('claimed');
  });

  it('prunes tombstones of closed alarms after a while', () => {
    const m: AlarmMap = new Map();
    applyChange(m, alarm('x', { status: 'closed' }), 0);
    applyList(m, [], 0, TOMBSTONE_MS + 1);
    expect(m.size).toBe(0);
  });
});

describe('queue order and looks', () => {
  it('sorts by priority, then oldest first', () => {
    const list = [
      alarm('b2-new', { priority: 2, opened_at: new Date(T0 + 5000).toISOString() }),
      alarm('b2-old', { priority: 2 }),
      alarm('fire', { priority: 1, opened_at: new Date(T0 + 9000).toISOString() }),
      alarm('tamper', { priority: 4 }),
    ];
    expect(list.sort(compareAlarms).map((a) => a.id)).toEqual(['fire', 'b2-old', 'b2-new', 'tamper']);
  });

  it('colours classes by severity', () => {
    expect(
      ['fire', 'co', 'panic', 'burglary', 'tamper', 'environmental', 'trouble', 'x'].map(severityOf),
    ).toEqual(['life', 'life', 'life', 'burglary', 'warning', 'warning', 'trouble', 'trouble']);
  });

  it('ages alarms', () => {
    const opened = new Date(T0).toISOString();
    expect(ageBand(opened, T0 + 30_000)).toBe('fresh');
    expect(ageBand(opened, T0 + 90_000)).toBe('waiting');
    expect(ageBand(opened, T0 + 200_000)).toBe('late');
    expect(ageBand(opened, T0 + 400_000)).toBe('overdue');
    expect(formatAge(opened, T0 + 42_000)).toBe('42s');
    expect(formatAge(opened, T0 + 185_000)).toBe('3m 05s');
    expect(formatAge(opened, T0 + 2 * 3600_000 + 600_000)).toBe('2h 10m');
  });

  it('only follows local paths after login', () => {
    expect(safeNext('/alarms/1')).toBe('/alarms/1');
    expect(safeNext('//evil.example')).toBe('/');
    expect(safeNext('https://evil.example')).toBe('/');
    expect(safeNext('/login?next=/x')).toBe('/');
    expect(safeNext(null)).toBe('/');
  });
});
