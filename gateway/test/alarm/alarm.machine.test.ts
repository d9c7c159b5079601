import { describe, expect, it } from 'vitest';
import {
  type AlarmEffect,
  AlarmMachine,
  type AlarmInput,
  type AlarmState,
  type EventDraft,
} from '../../src/index.js';
import { S, SETTINGS, T0, ZONES } from '../support/premises.js';

const machine = new AlarmMachine(SETTINGS);

/** A little driver for the pure machine with an injected clock. */
class Run {
  state: AlarmState;
  now = T0;
  effects: AlarmEffect[] = [];
  lastResult: unknown;
  constructor(
    readonly m = machine,
    state?: AlarmState,
  ) {
    this.state = state ?? m.initial(T0);
  }
  send(input: AlarmInput): AlarmEffect[] {
    const t = this.m.next(this.state, input, this.now);
    this.state = t.state;
    this.effects.push(...t.effects);
    this.lastResult = t.result;
    return t.effects;
  }
  at(seconds: number): this {
    this.now = T0 + seconds * S;
    this.send({ type: 'tick' });
    return this;
  }
  open(zone: number) {
    return this.send({ type: 'zone', zone, open: true });
  }
  close(zone: number) {
    return this.send({ type: 'zone', zone, open: false });
  }
  arm(mode = 'armed_away', force = false) {
    return this.send({ type: 'arm', mode, force, user: 'alice' });
  }
  disarm() {
    return this.send({ type: 'disarm', user: 'alice' });
  }
  events(): EventDraft[] {
    return this.effects.filter((e) => e.kind === 'event').map((e) => e.event);
  }
  codes(): string[] {
    return this.events().map((e) => `${e.code}${e.qualifier === 'new' ? '+' : '-'}${e.zone ?? ''}`);
  }
  phase(): string {
    return this.m.status(this.state, this.now)[0]!.state;
  }
  siren(): boolean | undefined {
    const s = this.effects.filter((e) => e.kind === 'siren');
    return s.length ? (s[s.length - 1] as { on: boolean }).on : undefined;
  }
}

describe('alarm machine: arming and delays', () => {
  it('arms with an exit delay, then is armed; 401 closing carries the user', () => {
    const r = new Run();
    r.arm();
    expect(r.lastResult).toEqual({ ok: true, data: { bypassed: [] } });
    expect(r.phase()).toBe('arming');
    const closing = r.events()[0]!;
    expect(closing).toMatchObject({ code: '401', qualifier: 'restore', partition: 1, priority: 6 });
    expect(closing.data).toEqual({ user: 'alice', mode: 'armed_away' });
    r.at(59);
    expect(r.phase()).toBe('arming');
    r.at(60);
    expect(r.phase()).toBe('armed');
  });

  it('entry door while armed: pending for the entry delay, then 130 and siren', () => {
    const r = new Run();
    r.arm();
    r.at(100);
    r.open(1);
    expect(r.phase()).toBe('pending');
    expect(r.codes()).toEqual(['401-']);
    r.at(129);
    expect(r.phase()).toBe('pending');
    r.at(130);
    expect(r.phase()).toBe('triggered');
    expect(r.codes()).toEqual(['401-', '130+1']);
    const alarm = r.events()[1]!;
    expect(alarm).toMatchObject({ ts: T0 + 130 * S, priority: 2, device: 'front_door', partition: 1 });
    expect(r.siren()).toBe(true);
    r.close(1);
    expect(r.codes()).toEqual(['401-', '130+1', '130-1']);
  });

  it('disarming during the entry delay: 401 opening, no alarm, no cancel', () => {
    const r = new Run();
    r.arm();
    r.at(100).open(1);
    r.at(110).disarm();
    r.at(500);
    expect(r.codes()).toEqual(['401-', '401+']);
    expect(r.events()[1]!.data).toEqual({ user: 'alice' });
    expect(r.phase()).toBe('disarmed');
  });

  it('disarming during an alarm: 401, 406 cancel and siren off', () => {
    const r = new Run();
    r.arm();
    r.at(100).open(2);
    expect(r.codes()).toEqual(['401-', '130+2']);
    expect(r.siren()).toBe(true);
    r.at(120).disarm();
    expect(r.codes()).toEqual(['401-', '130+2', '401+', '406+']);
    expect(r.siren()).toBe(false);
    r.close(2);
    expect(r.codes()).toEqual(['401-', '130+2', '401+', '406+', '130-2']);
  });

  it('the siren stops after siren_time and the partition is armed again', () => {
    const r = new Run();
    r.arm();
    r.at(100).open(2);
    r.at(279);
    expect(r.siren()).toBe(true);
    r.at(280);
    expect(r.siren()).toBe(false);
    expect(r.phase()).toBe('armed');
  });

  it('instant zones trip immediately, even during the exit delay', () => {
    const r = new Run();
    r.arm();
    r.at(10).open(2);
    expect(r.codes()).toEqual(['401-', '130+2']);
  });

  it('entry/exit and follower zones are ignored while walking out', () => {
    const r = new Run();
    r.arm();
    r.at(10).open(1);
    r.open(3);
    r.at(20).close(1);
    r.close(3);
    r.at(200);
    expect(r.codes()).toEqual(['401-']);
  });

  it('an entry/exit zone still open when the exit delay ends starts the entry delay', () => {
    const r = new Run();
    r.arm();
    r.at(10).open(1);
    r.at(60);
    expect(r.phase()).toBe('pending');
    r.at(90);
    expect(r.codes()).toEqual(['401-', '130+1']);
    expect(r.events()[1]!.ts).toBe(T0 + 90 * S);
  });

  it('interior follower: delayed while the entry delay runs, instant otherwise', () => {
    const a = new Run();
    a.arm();
    a.at(100).open(1);
    a.at(105).open(3);
    expect(a.codes()).toEqual(['401-']);
    a.at(130);
    // two different burglary zones within the confirmation window: a confirmed alarm (139)
    expect(a.codes()).toEqual(['401-', '130+1', '130+3', '139+3']);

    const b = new Run();
    b.arm();
    b.at(100).open(3);
    expect(b.codes()).toEqual(['401-', '130+3']);
  });

  it('interior followers are bypassed in armed_home and armed_night', () => {
    for (const mode of ['armed_home', 'armed_night']) {
      const r = new Run();
      r.arm(mode);
      r.at(100).open(3);
      expect(r.codes()).toEqual(['401-']);
      r.open(2);
      expect(r.codes()).toEqual(['401-', '130+2']);
    }
  });

  it('a zone closed again before the entry delay ends is reported then restored', () => {
    const r = new Run();
    r.arm();
    r.at(100).open(1);
    r.at(101).close(1);
    r.at(130);
    expect(r.codes()).toEqual(['401-', '130+1', '130-1']);
  });

  it('zone entry_delay_s and exit_delay_s override the premises delays', () => {
    const m = new AlarmMachine({
      ...SETTINGS,
      zones: [
        {
          zone: 1,
          name: 'Garage',
          type: 'entry_exit',
          partition: 1,
          device: 'g',
          entry_delay_s: 5,
          exit_delay_s: 90,
        },
      ],
    });
    const r = new Run(m);
    r.arm();
    r.at(89);
    expect(r.phase()).toBe('arming');
    r.at(90);
    expect(r.phase()).toBe('armed');
    r.at(100).open(1);
    r.at(105);
    expect(r.codes()).toEqual(['401-', '130+1']);
  });

  it('a second trip after a restore is a second alarm; a repeated state is not', () => {
    const r = new Run();
    r.arm();
    r.at(100).open(2);
    r.open(2);
    r.open(2);
    r.close(2);
    r.close(2);
    r.open(2);
    expect(r.codes()).toEqual(['401-', '130+2', '130-2', '130+2']);
  });

  it('chime zones only chime, and only while disarmed', () => {
    const r = new Run();
    r.open(11);
    r.arm();
    r.at(100);
    r.close(11);
    r.open(11);
    expect(r.codes()).toEqual(['401-']);
    expect(r.effects.filter((e) => e.kind === 'chime')).toHaveLength(1);
  });
});

describe('alarm machine: 24-hour zones', () => {
  const cases: Array<[number, string, number, boolean]> = [
    [4, '110', 1, true],
    [5, '154', 3, false],
    [6, '151', 1, true],
    [7, '162', 1, true],
    [8, '120', 1, true],
    [9, '100', 1, false],
    [10, '137', 4, false],
  ];
  for (const [zone, code, priority, siren] of cases) {
    it(`zone ${zone} reports ${code} in every mode and restores on close`, () => {
      for (const mode of ['disarmed', 'armed_away', 'armed_home', 'armed_night']) {
        const r = new Run();
        if (mode !== 'disarmed') r.arm(mode);
        r.at(5).open(zone);
        const alarm = r.events().find((e) => e.code === code)!;
        expect(alarm).toMatchObject({ qualifier: 'new', zone, priority });
        expect(r.siren()).toBe(siren ? true : undefined);
        r.close(zone);
        expect(
          r
            .events()
            .filter((e) => e.code === code)
            .map((e) => e.qualifier),
        ).toEqual(['new', 'restore']);
      }
    });
  }

  it('disarming while a fire alarm sounds (already disarmed) cancels and silences', () => {
    const r = new Run();
    r.open(4);
    r.disarm();
    expect(r.codes()).toEqual(['110+4', '406+']);
    expect(r.siren()).toBe(false);
  });
});

describe('alarm machine: arming with open zones', () => {
  it('refuses with E_ZONE_OPEN listing the zones, and changes nothing', () => {
    const r = new Run();
    r.open(2);
    r.open(1);
    const before = r.state;
    r.arm();
    expect(r.lastResult).toMatchObject({ ok: false, code: 'E_ZONE_OPEN', data: { zones: [1, 2] } });
    expect(r.state).toEqual(before);
    expect(r.events()).toEqual([]);
  });

  it('an open follower does not stop armed_home', () => {
    const r = new Run();
    r.open(3);
    r.arm('armed_home');
    expect(r.lastResult).toMatchObject({ ok: true });
  });

  it('force bypasses the open zones and reports 570; disarm restores the bypass', () => {
    const r = new Run();
    r.open(2);
    r.arm('armed_away', true);
    expect(r.lastResult).toEqual({ ok: true, data: { bypassed: [2] } });
    expect(r.codes()).toEqual(['570+2', '401-']);
    r.at(100).close(2);
    r.open(2);
    expect(r.codes()).toEqual(['570+2', '401-']);
    r.disarm();
    expect(r.codes()).toEqual(['570+2', '401-', '401+', '570-2']);
  });

  it('rejects unknown partitions and unsupported modes', () => {
    const r = new Run();
    r.send({ type: 'arm', mode: 'armed_away', partition: 9, user: 'u' });
    expect(r.lastResult).toMatchObject({ ok: false, code: 'E_UNKNOWN_PARTITION' });
    r.send({ type: 'arm', mode: 'armed_party', user: 'u' });
    expect(r.lastResult).toMatchObject({ ok: false, code: 'E_UNSUPPORTED_MODE' });
  });
});

describe('alarm machine: persistence and restarts', () => {
  it('a restored state resumes the entry delay exactly', () => {
    const r = new Run();
    r.arm();
    r.at(100).open(1);
    const stored = JSON.parse(JSON.stringify(r.state)) as AlarmState;
    const again = new Run(machine, machine.reconcile(stored, T0 + 300 * S));
    again.now = T0 + 300 * S; // the gateway was down for 200 s
    again.send({ type: 'tick' });
    const alarm = again.events()[0]!;
    expect(alarm).toMatchObject({ code: '130', zone: 1, ts: T0 + 130 * S });
    // the siren window (130 s + 180 s) is still running at 300 s
    expect(again.siren()).toBe(true);
    expect(machine.nextDeadline(again.state)).toBe(T0 + 310 * S);
  });

  it('after a long outage the siren stays off but the alarm is reported', () => {
    const r = new Run();
    r.arm();
    r.at(100).open(1);
    const again = new Run(machine, structuredClone(r.state));
    again.at(10_000);
    expect(again.codes()).toEqual(['130+1']);
    expect(again.siren()).toBeUndefined();
  });

  it('reconcile adds new zones and drops removed ones', () => {
    const r = new Run();
    r.arm();
    const fewer = new AlarmMachine({ ...SETTINGS, zones: ZONES.slice(0, 2) });
    const s = fewer.reconcile(r.state, T0);
    expect(Object.keys(s.zones)).toEqual(['1', '2']);
    expect(s.partitions['1']!.mode).toBe('armed_away');
    expect(machine.reconcile(s, T0).zones['5']).toEqual({ open: null, alarmed: false });
  });

  it('never mutates the state it is given', () => {
    const r = new Run();
    const frozen = JSON.stringify(r.state);
    machine.next(r.state, { type: 'arm', mode: 'armed_away', user: 'u' }, T0);
    expect(JSON.stringify(r.state)).toBe(frozen);
  });
});

describe('alarm machine: device troubles', () => {
  it('battery_low reports 384 once and restores', () => {
    const r = new Run();
    for (const active of [true, true, false, false]) {
      r.send({ type: 'trouble', device: 'front_door', trouble: 'battery_low', active });
    }
    expect(r.codes()).toEqual(['384+1', '384-1']);
  });
});
