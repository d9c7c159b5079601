import { describe, expect, it } from 'vitest';
import { AlarmMachine, type AlarmState } from '../../src/index.js';
import {
  ALICE,
  BOB,
  DURESS,
  INSTALLER,
  MIN,
  PANEL,
  PANEL_ZONES,
  Panel,
  S,
  T0,
  WRONG,
} from './panel.fixture.js';

const H = 60 * MIN;

describe('panel: modes and per-mode timings', () => {
  it('vacation arms like away, with its own exit and entry delays and mode flag', () => {
    const p = new Panel().arm('armed_vacation', 1);
    expect(p.mode()).toBe('armed_vacation');
    expect(p.at(119).phase()).toBe('arming');
    expect(p.at(120).phase()).toBe('armed');
    p.open(3); // followers guard in vacation (away semantics)
    expect(p.codes()).toEqual(['401-', '130+3']);
    p.close(3).disarm().clear().arm('armed_vacation', 1).at(300).open(1);
    expect(p.at(344).phase()).toBe('pending');
    expect(p.at(345).codes()).toContain('130+1');
  });

  it('night uses its own delays; a zone override wins over the mode', () => {
    const p = new Panel().arm('armed_night', 1);
    expect(p.at(9).phase()).toBe('arming');
    expect(p.at(10).phase()).toBe('armed');
    p.open(1);
    expect(p.at(24).phase()).toBe('pending');
    expect(p.at(25).codes()).toEqual(['401-', '130+1']);
    const q = new Panel().arm('armed_night', 1).at(20).open(13); // side door: entry_delay_s 5
    expect(q.at(24).phase()).toBe('pending');
    expect(q.at(25).codes()).toEqual(['401-', '130+13']);
  });

  it('away uses the premises delays', () => {
    const p = new Panel().arm('armed_away', 1);
    expect(p.at(59).phase()).toBe('arming');
    p.at(60).open(1);
    expect(p.at(89).phase()).toBe('pending');
    expect(p.at(90).phase()).toBe('triggered');
  });

  for (const mode of ['armed_home', 'armed_night']) {
    it(`${mode} bypasses interior followers and home_bypass zones, not perimeter ones`, () => {
      const p = new Panel().arm(mode, 1).at(100).open(3, 12);
      expect(p.codes()).toEqual(['401-']);
      p.open(2);
      expect(p.codes()).toEqual(['401-', '130+2']);
    });
  }

  it('away guards home_bypass zones', () => {
    const p = new Panel().arm('armed_away', 1).at(100).open(12);
    expect(p.codes()).toEqual(['401-', '130+12']);
  });
});

describe('panel: partitions', () => {
  it('commands address one partition or all of them', () => {
    const p = new Panel().arm('armed_away', 2);
    expect([p.mode(1), p.mode(2)]).toEqual(['disarmed', 'armed_away']);
    p.at(100).open(2); // partition 1 is disarmed
    expect(p.codes()).toEqual(['401-']);
    p.open(21);
    expect(p.codes()).toEqual(['401-', '130+21']);
    expect(p.events().at(-1)!.partition).toBe(2);
    expect(p.sirens()).toEqual([{ partition: 2, on: true }]);
    p.close(2).arm('armed_home');
    expect(p.mode(1)).toBe('armed_home');
    expect(p.mode(2)).toBe('armed_home');
    p.disarm();
    expect([p.mode(1), p.mode(2)]).toEqual(['disarmed', 'disarmed']);
    expect(p.sirens().at(-1)).toEqual({ partition: 2, on: false });
  });

  it('an unknown partition is refused', () => {
    const p = new Panel().arm('armed_away', 9);
    expect(p.lastResult).toMatchObject({ ok: false, code: 'E_UNKNOWN_PARTITION' });
  });
});

describe('panel: zone types', () => {
  const cases: Array<[number, string, boolean]> = [
    [4, '110', true],
    [5, '154', false],
    [6, '151', true],
    [7, '162', true],
    [8, '120', true],
    [9, '100', false],
    [10, '137', false],
  ];
  for (const [zone, code, siren] of cases) {
    it(`24-hour zone ${zone}: ${code} while disarmed and armed, siren ${siren}`, () => {
      const p = new Panel().pulse(zone);
      expect(p.codes()).toEqual([`${code}+${zone}`, `${code}-${zone}`]);
      expect(p.sirens().length > 0).toBe(siren);
      p.disarm().arm('armed_night', 1).at(100).clear().pulse(zone);
      expect(p.codes()).toEqual([`${code}+${zone}`, `${code}-${zone}`]);
    });
  }

  it('chime chimes only while disarmed and never raises an event', () => {
    const p = new Panel().open(11).close(11).arm('armed_away', 1).at(100).open(11);
    expect(p.effects.filter((e) => e.kind === 'chime')).toEqual([{ kind: 'chime', partition: 1, zone: 11 }]);
    expect(p.codes()).toEqual(['401-']);
  });
});

describe('panel: arming with open zones, bypass', () => {
  it('answers E_ZONE_OPEN at once with the open zones, and changes nothing', () => {
    const p = new Panel().open(1, 3).arm('armed_away', 1);
    expect(p.lastResult).toEqual({
      ok: false,
      code: 'E_ZONE_OPEN',
      message: 'cannot arm: zones open: 1, 3',
      data: { zones: [1, 3] },
    });
    expect(p.mode()).toBe('disarmed');
    expect(p.effects).toEqual([]);
  });

  it('force-arm bypasses the open zones with 570, they stay silent, disarm restores them', () => {
    const p = new Panel().open(2).arm('armed_away', 1, true);
    expect(p.lastResult).toMatchObject({ ok: true, data: { bypassed: [2] } });
    expect(p.codes()).toEqual(['570+2', '401-']);
    expect(p.events()[0]!.data).toMatchObject({ forced: true });
    p.at(100).close(2).open(2);
    expect(p.codes()).toEqual(['570+2', '401-']);
    p.disarm();
    expect(p.codes()).toEqual(['570+2', '401-', '401+', '570-2']);
  });

  it('explicit bypass and unbypass while disarmed; a bypassed open zone does not stop arming', () => {
    const p = new Panel();
    p.send({ type: 'bypass', zones: [2, 3], bypass: true, user: 'op' });
    expect(p.lastResult).toEqual({ ok: true, data: { zones: [2, 3] } });
    p.send({ type: 'bypass', zones: [3], bypass: false, user: 'op' });
    expect(p.codes()).toEqual(['570+2', '570+3', '570-3']);
    p.open(2).arm('armed_away', 1);
    expect(p.lastResult).toMatchObject({ ok: true });
    p.at(100).close(2).open(2);
    expect(p.codes()).toEqual(['570+2', '570+3', '570-3', '401-']);
    p.open(3);
    expect(p.codes().at(-1)).toBe('130+3');
    p.disarm();
    expect(p.codes().slice(-3)).toEqual(['401+', '406+', '570-2']);
    expect(p.state.partitions['1']!.bypassed).toEqual([]);
  });

  it('bypass is refused while armed, for 24-hour zones, and for unknown zones; all or nothing', () => {
    const p = new Panel();
    p.send({ type: 'bypass', zones: [2, 4], bypass: true, user: 'op' });
    expect(p.lastResult).toMatchObject({ ok: false, code: 'E_NOT_BYPASSABLE', data: { zones: [4] } });
    p.send({ type: 'bypass', zones: [10], bypass: true, user: 'op' });
    expect(p.lastResult).toMatchObject({ ok: false, code: 'E_NOT_BYPASSABLE' });
    p.send({ type: 'bypass', zones: [99], bypass: true, user: 'op' });
    expect(p.lastResult).toMatchObject({ ok: false, code: 'E_UNKNOWN_ZONE' });
    p.send({ type: 'bypass', zones: [2], bypass: true, partition: 2, user: 'op' });
    expect(p.lastResult).toMatchObject({ ok: false, code: 'E_UNKNOWN_ZONE' });
    expect(p.effects).toEqual([]);
    p.arm('armed_away', 1).send({ type: 'bypass', zones: [2], bypass: true, user: 'op' });
    expect(p.lastResult).toMatchObject({ ok: false, code: 'E_ARMED' });
  });

  it('only the installer can bypass a tamper zone; it then stays silent until disarm', () => {
    const p = new Panel().key(ALICE, 'bypass', { zones: [10] });
    expect(p.lastResult).toMatchObject({ ok: false, code: 'E_NOT_BYPASSABLE' });
    p.key(INSTALLER, 'bypass', { zones: [10] });
    expect(p.lastResult).toMatchObject({ ok: true });
    p.pulse(10);
    expect(p.codes()).toEqual(['570+10']);
    p.disarm().pulse(10);
    expect(p.codes()).toEqual(['570+10', '570-10', '137+10', '137-10']);
  });
});

describe('panel: confirmed alarms', () => {
  it('a second, different burglary zone within the window raises 139 once', () => {
    const p = new Panel().arm('armed_away', 1).at(100).open(2);
    p.at(100 + 29 * 60).open(12);
    p.at(100 + 29 * 60 + 1).open(3);
    expect(p.codes()).toEqual(['401-', '130+2', '130+12', '139+12', '130+3']);
    expect(p.events()[3]!.data).toEqual({ first_zone: 2 });
  });

  it('the same zone twice, or a second zone after the window, is not a confirmation', () => {
    const p = new Panel().arm('armed_away', 1).at(100).pulse(2).pulse(2);
    expect(p.codes().filter((c) => c.startsWith('139'))).toEqual([]);
    p.at(100 + 31 * 60).open(12); // the window has run out: 12 opens a new window
    expect(p.codes().filter((c) => c.startsWith('139'))).toEqual([]);
    p.at(100 + 40 * 60).open(3);
    expect(p.codes().filter((c) => c.startsWith('139'))).toEqual(['139+3']);
  });

  it('the window is configurable and restarts with each armed period', () => {
    const m = new AlarmMachine({ ...PANEL, confirm_window_s: 60 });
    const p = new Panel(m).arm('armed_away', 1).at(100).open(2).at(161).open(12);
    expect(p.codes().filter((c) => c.startsWith('139'))).toEqual([]);
    p.close(2, 12).disarm().arm('armed_away', 1).at(300).open(2).at(310).open(12);
    expect(p.codes().filter((c) => c.startsWith('139'))).toEqual(['139+12']);
  });
});

describe('panel: swinger shutdown', () => {
  it('after swinger_limit alarms a zone reports 377 once and goes silent until disarm', () => {
    const p = new Panel().arm('armed_away', 1).at(100);
    for (let i = 0; i < 5; i++) p.pulse(2);
    expect(p.codes()).toEqual(['401-', '130+2', '130-2', '130+2', '130-2', '130+2', '130-2', '377+2']);
    p.open(12); // other zones still report (and confirm the alarm)
    expect(p.codes().slice(-2)).toEqual(['130+12', '139+12']);
    p.close(12).disarm();
    expect(p.codes().slice(-3)).toEqual(['401+', '406+', '377-2']);
    p.arm('armed_away', 1).at(500).pulse(2);
    expect(p.codes().slice(-2)).toEqual(['130+2', '130-2']);
  });

  it('the limit is configurable; 24-hour zones are never shut down', () => {
    const m = new AlarmMachine({ ...PANEL, swinger_limit: 1 });
    const p = new Panel(m).arm('armed_away', 1).at(100).pulse(2).pulse(2);
    expect(p.codes()).toEqual(['401-', '130+2', '130-2', '377+2']);
    for (let i = 0; i < 4; i++) p.pulse(4);
    expect(p.codes().filter((c) => c === '110+4')).toHaveLength(4);
  });
});

describe('panel: siren and restores', () => {
  it('the siren stops after siren_time_s; a valid disarm always silences', () => {
    const p = new Panel().arm('armed_away', 1).at(100).open(2);
    expect(p.sirens()).toEqual([{ partition: 1, on: true }]);
    expect(p.m.nextDeadline(p.state)).toBe(T0 + 280 * S);
    p.at(279);
    expect(p.sirens()).toHaveLength(1);
    p.at(280);
    expect(p.sirens()).toEqual([
      { partition: 1, on: true },
      { partition: 1, on: false },
    ]);
    p.open(12);
    expect(p.sirens().at(-1)).toEqual({ partition: 1, on: true });
    p.key(ALICE, 'disarm');
    expect(p.sirens().at(-1)).toEqual({ partition: 1, on: false });
    expect(p.phase()).toBe('disarmed');
  });

  it('every alarmed zone restores when it closes, delayed ones included', () => {
    const p = new Panel().arm('armed_away', 1).at(100).open(1, 3).at(130).open(2);
    expect(p.codes()).toEqual(['401-', '130+1', '130+3', '139+3', '130+2']);
    p.close(3, 2, 1);
    expect(p.codes().slice(-3)).toEqual(['130-3', '130-2', '130-1']);
  });
});

describe('panel: keypad codes', () => {
  it('a user with permissions arms and disarms; the event carries the user', () => {
    const p = new Panel().key(ALICE, 'arm', { mode: 'armed_home', partition: 1 });
    expect(p.mode()).toBe('armed_home');
    expect(p.events()[0]!.data).toEqual({ user: 'alice', mode: 'armed_home' });
    p.key(ALICE, 'disarm', { partition: 1 });
    expect(p.mode()).toBe('disarmed');
    expect(p.codes()).toEqual(['401-', '401+']);
  });

  it('permissions are enforced per action', () => {
    const p = new Panel().key(BOB, 'arm', { partition: 1 });
    expect(p.mode()).toBe('armed_away');
    p.key(BOB, 'disarm');
    expect(p.lastResult).toMatchObject({ ok: false, code: 'E_FORBIDDEN' });
    p.disarm().key(BOB, 'bypass', { zones: [2] });
    expect(p.lastResult).toMatchObject({ ok: false, code: 'E_FORBIDDEN' });
    p.key(ALICE, 'bypass', { zones: [2] });
    p.key(ALICE, 'unbypass', { zones: [2] });
    expect(p.codes().slice(-2)).toEqual(['570+2', '570-2']);
  });

  it('schedules are honoured in local time, including windows over midnight', () => {
    const cleaner = { kind: 'user' as const, user: 'cleaner' };
    const guard = { kind: 'user' as const, user: 'guard' };
    const p = new Panel(); // Wednesday 13:00 local (UTC+1)
    p.key(cleaner, 'arm', { partition: 1 });
    expect(p.lastResult).toMatchObject({ ok: true });
    p.key(guard, 'disarm', { partition: 1 });
    expect(p.lastResult).toMatchObject({ ok: false, code: 'E_OUTSIDE_SCHEDULE' });
    p.at(5 * 3600).key(cleaner, 'disarm', { partition: 1 }); // 18:00 local
    expect(p.lastResult).toMatchObject({ ok: false, code: 'E_OUTSIDE_SCHEDULE' });
    p.at(10 * 3600).key(guard, 'disarm', { partition: 1 }); // Wednesday 23:00
    expect(p.lastResult).toMatchObject({ ok: true });
    p.at(16 * 3600).key(guard, 'arm', { partition: 1 }); // Thursday 05:00, Wednesday's window
    expect(p.lastResult).toMatchObject({ ok: true });
    p.at(18 * 3600).key(guard, 'disarm', { partition: 1 }); // Thursday 07:00
    expect(p.lastResult).toMatchObject({ ok: false, code: 'E_OUTSIDE_SCHEDULE' });
    p.at(34 * 3600).key(guard, 'disarm', { partition: 1 }); // Thursday 23:00: not a guard day
    expect(p.lastResult).toMatchObject({ ok: false, code: 'E_OUTSIDE_SCHEDULE' });
  });

  it('locks out after 5 wrong codes for 5 minutes with one 461; a right code resets the count', () => {
    const p = new Panel();
    for (let i = 0; i < 4; i++) p.key(WRONG, 'disarm');
    expect(p.lastResult).toMatchObject({ ok: false, code: 'E_BAD_CODE' });
    p.key(ALICE, 'arm', { partition: 1 }).key(ALICE, 'disarm');
    for (let i = 0; i < 4; i++) p.key(WRONG, 'disarm');
    expect(p.codes().filter((c) => c.startsWith('461'))).toEqual([]);
    p.key(WRONG, 'disarm');
    expect(p.lastResult).toMatchObject({ ok: false, code: 'E_LOCKED_OUT', data: { until: T0 + 300 * S } });
    expect(p.codes().filter((c) => c.startsWith('461'))).toEqual(['461+']);
    expect(p.events().at(-1)!.data).toEqual({ attempts: 5 });
    p.at(299).key(ALICE, 'arm').key(WRONG, 'arm');
    expect(p.lastResult).toMatchObject({ ok: false, code: 'E_LOCKED_OUT' });
    expect(p.mode()).toBe('disarmed');
    expect(p.codes().filter((c) => c.startsWith('461'))).toHaveLength(1);
    p.at(300).key(ALICE, 'arm', { partition: 1 });
    expect(p.mode()).toBe('armed_away');
  });

  it('lockout attempts and length are configurable', () => {
    const m = new AlarmMachine({ ...PANEL, lockout_attempts: 2, lockout_s: 10 });
    const p = new Panel(m).key(WRONG, 'arm').key(WRONG, 'arm');
    expect(p.lastResult).toMatchObject({ code: 'E_LOCKED_OUT', data: { until: T0 + 10 * S } });
    expect(p.m.nextDeadline(p.state)).toBe(T0 + 10 * S);
    p.at(10).key(WRONG, 'arm');
    expect(p.lastResult).toMatchObject({ code: 'E_BAD_CODE' });
  });

  it('a duress code disarms exactly like a normal code and silently adds 121', () => {
    const normal = new Panel().arm('armed_away', 1).at(100).open(2).clear().key(ALICE, 'disarm');
    const duress = new Panel().arm('armed_away', 1).at(100).open(2).clear().key(DURESS, 'disarm');
    expect(duress.lastResult).toEqual(normal.lastResult);
    expect(duress.sirens()).toEqual(normal.sirens());
    expect(duress.codes()).toEqual([...normal.codes(), '121+']);
    expect(duress.events().at(-1)!.data).toEqual({ user: 'alice_duress' });
    expect(duress.mode()).toBe('disarmed');
  });

  it('a duress code works even during a lockout', () => {
    const p = new Panel().arm('armed_away', 1);
    for (let i = 0; i < 5; i++) p.key(WRONG, 'disarm');
    p.key(DURESS, 'disarm');
    expect(p.lastResult).toMatchObject({ ok: true });
    expect(p.mode()).toBe('disarmed');
    expect(p.codes().at(-1)).toBe('121+');
  });

  it('the installer code bypasses but cannot arm or disarm', () => {
    const p = new Panel().key(INSTALLER, 'arm');
    expect(p.lastResult).toMatchObject({ ok: false, code: 'E_FORBIDDEN' });
    p.key(INSTALLER, 'bypass', { zones: [2] });
    expect(p.lastResult).toMatchObject({ ok: true, data: { zones: [2] } });
  });

  it('a code for a user no longer configured is refused', () => {
    const p = new Panel().key({ kind: 'user', user: 'ghost' }, 'arm');
    expect(p.lastResult).toMatchObject({ ok: false, code: 'E_BAD_CODE' });
  });
});

describe('panel: auto-arm', () => {
  // 22:00 local (UTC+1) on weekdays = 21:00 UTC = T0 + 9 h on Wednesday.
  it('arms the partition at the scheduled local time with 403', () => {
    const p = new Panel().at(9 * 3600 - 1);
    expect(p.mode(2)).toBe('disarmed');
    p.at(9 * 3600);
    expect(p.mode(2)).toBe('armed_away');
    expect(p.codes()).toEqual(['403-']);
    expect(p.events()[0]).toMatchObject({ partition: 2, data: { user: 'auto', mode: 'armed_away' } });
    expect(p.mode(1)).toBe('disarmed');
    p.at(9 * 3600 + 60);
    expect(p.codes()).toEqual(['403-']);
  });

  it('reports 455 and stays disarmed when a zone is open', () => {
    const p = new Panel().open(21).at(9 * 3600 + 5);
    expect(p.mode(2)).toBe('disarmed');
    expect(p.codes()).toEqual(['455+']);
    expect(p.events()[0]!.data).toEqual({ zones: [21], mode: 'armed_away' });
    p.at(9 * 3600 + 600);
    expect(p.codes()).toEqual(['455+']);
  });

  it('skips other days, armed partitions, and occurrences missed by more than the grace', () => {
    const sat = Date.UTC(2025, 0, 4, 12); // Saturday
    const p = new Panel(undefined, sat);
    p.now = sat + 10 * H;
    p.send({ type: 'tick' });
    expect(p.mode(2)).toBe('disarmed');
    const armed = new Panel()
      .arm('armed_home', 2)
      .clear()
      .at(9 * 3600 + 1);
    expect(armed.mode(2)).toBe('armed_home');
    expect(armed.codes()).toEqual([]);
    const late = new Panel().at(9 * 3600 + 16 * 60);
    expect(late.mode(2)).toBe('disarmed');
    expect(late.codes()).toEqual([]);
    late.at(9 * 3600 + 24 * 3600); // Thursday's occurrence runs normally
    expect(late.mode(2)).toBe('armed_away');
  });

  it('a machine started after today’s time does not arm retroactively, nor after a restart', () => {
    const start = T0 + 9 * H + 60 * S;
    const p = new Panel(undefined, start);
    expect(p.mode(2)).toBe('disarmed');
    p.send({ type: 'tick' });
    expect(p.mode(2)).toBe('disarmed');
    const q = new Panel().at(9 * 3600).disarm(2);
    const restored = q.m.reconcile(JSON.parse(JSON.stringify(q.state)), q.now);
    const t = q.m.next(restored, { type: 'tick' }, q.now + 60 * S);
    expect(t.effects).toEqual([]);
  });
});

describe('panel: persistence', () => {
  it('older (v1) stored states load with safe defaults for the new fields', () => {
    const m = new AlarmMachine(PANEL);
    const v1 = {
      v: 1,
      partitions: {
        '1': {
          mode: 'armed_away',
          since: T0,
          exit_ms: 60_000,
          exit_done: false,
          pending_since: null,
          entry_ms: 0,
          pending_zones: [],
          triggered_since: null,
          siren_until: null,
          siren_on: false,
          bypassed: [2, 999],
          user: 'op',
        },
      },
      zones: { '2': { open: true, alarmed: false } },
      troubles: { x: { battery_low: true } },
    };
    const s = m.reconcile(v1, T0 + 1000);
    expect(s.v).toBe(2);
    expect(s.partitions['1']).toMatchObject({ mode: 'armed_away', bypassed: [2], trips: {}, shutdown: [] });
    expect(s.partitions['2']!.mode).toBe('disarmed');
    expect(s.keypad).toEqual({ wrong: 0, locked_until: null });
    expect(s.troubles).toEqual({ x: { battery_low: true } });
    const t = m.next(s, { type: 'tick' }, T0 + 60_000);
    expect(m.status(t.state, T0 + 60_000)[0]!.state).toBe('armed');
  });

  it('unreadable stored shapes load as a fresh disarmed state and never throw', () => {
    const m = new AlarmMachine(PANEL);
    const fresh = m.initial(T0);
    for (const junk of [null, 42, 'x', [], { partitions: 7 }, { partitions: { '1': { mode: 'lol' } } }]) {
      const s: AlarmState = m.reconcile(junk, T0);
      expect(s.partitions['1']!.mode).toBe('disarmed');
      expect(s.zones).toEqual(fresh.zones);
      expect(() => m.next(s, { type: 'zone', zone: 2, open: true }, T0)).not.toThrow();
    }
  });

  it('a restart in the middle of an entry delay, a swinger count and a lockout resumes exactly', () => {
    const live = new Panel().arm('armed_away', 1).at(100).pulse(2).pulse(2).pulse(2).at(400).open(1);
    for (let i = 0; i < 5; i++) live.key(WRONG, 'disarm');
    const copy = new Panel();
    copy.now = live.now;
    copy.state = live.m.reconcile(JSON.parse(JSON.stringify(live.state)), live.now);
    expect(live.phase()).toBe('pending');
    for (const r of [live, copy]) r.clear().pulse(2).at(429).at(430).key(ALICE, 'disarm').at(700);
    expect(copy.effects).toEqual(live.effects);
    expect(copy.state).toEqual(live.state);
    // the lockout still refuses alice's code, so the alarm runs its course
    expect(live.codes()).toEqual(['377+2', '130+1', '139+1']);
    expect(live.sirens()).toEqual([
      { partition: 1, on: true },
      { partition: 1, on: false },
    ]);
  });

  it('the zone list of the fixture is consistent', () => {
    expect(new Set(PANEL_ZONES.map((z) => z.zone)).size).toBe(PANEL_ZONES.length);
  });
});
