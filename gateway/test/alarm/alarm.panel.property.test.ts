import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AlarmEffect,
  type AlarmInput,
  AlarmMachine,
  type AlarmState,
  type CodeCheck,
} from '../../src/index.js';
import { ALICE, BOB, DURESS, INSTALLER, PANEL, PANEL_ZONES, S, T0, WRONG } from './panel.fixture.js';

/** Small limits so that swinger shutdown, confirmation and lockout happen often. */
const machine = new AlarmMachine({ ...PANEL, swinger_limit: 2, confirm_window_s: 600, lockout_attempts: 3 });
const zoneIds = PANEL_ZONES.map((z) => z.zone);
const BURGLARY = PANEL_ZONES.filter((z) =>
  ['entry_exit', 'instant', 'interior_follower'].includes(z.type),
).map((z) => z.zone);
const ZONE_24H = PANEL_ZONES.filter((z) => z.type.endsWith('_24h')).map((z) => z.zone);
const ALARM_CODE = new Map(
  PANEL_ZONES.map((z) => [
    z.zone,
    {
      fire_24h: '110',
      water_24h: '154',
      gas_24h: '151',
      co_24h: '162',
      panic_24h: '120',
      medical_24h: '100',
      tamper_24h: '137',
      chime: '',
    }[z.type as string] ?? '130',
  ]),
);

const modeArb = fc.constantFrom('armed_away', 'armed_home', 'armed_night', 'armed_vacation');
const partArb = fc.constantFrom(undefined, 1, 2, 9);
const authArb: fc.Arbitrary<CodeCheck> = fc.constantFrom(
  ALICE,
  BOB,
  DURESS,
  INSTALLER,
  WRONG,
  WRONG,
  { kind: 'user', user: 'cleaner' },
  { kind: 'user', user: 'guard' },
);
const zonesArb = fc.subarray([1, 2, 3, 4, 10, 12, 20, 21, 99], { maxLength: 3 });

const inputArb: fc.Arbitrary<AlarmInput> = fc.oneof(
  {
    weight: 12,
    // burglary zones more often than the rest, so armed periods see many trips
    arbitrary: fc.record({
      type: fc.constant('zone' as const),
      zone: fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(2, 2, 2, ...BURGLARY) },
        fc.constantFrom(...zoneIds),
      ),
      open: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('arm' as const),
      mode: modeArb,
      partition: fc.constantFrom(undefined, 1, 1, 2, 9),
      force: fc.constantFrom(true, true, false),
      user: fc.constant('op'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('disarm' as const),
      partition: partArb,
      user: fc.constant('op'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('bypass' as const),
      zones: zonesArb,
      bypass: fc.boolean(),
      partition: partArb,
      user: fc.constant('op'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('keypad' as const),
      action: fc.constantFrom('arm' as const, 'disarm' as const, 'bypass' as const, 'unbypass' as const),
      auth: authArb,
      mode: modeArb,
      partition: partArb,
      zones: zonesArb,
      force: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ type: 'tick' as const }) },
);
/** Seconds elapsed before each input: mostly short, sometimes hours (schedules, auto-arm). */
const dtArb = fc.oneof(
  { weight: 9, arbitrary: fc.integer({ min: 0, max: 120 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 6 * 3600 }) },
);
const scriptArb = fc.array(fc.tuple(dtArb, inputArb), { maxLength: 60, size: 'max' });

interface Played {
  state: AlarmState;
  now: number;
  effects: AlarmEffect[];
}

function play(
  script: Array<[number, AlarmInput]>,
  from?: Played,
  onStep?: (s: AlarmState, fx: AlarmEffect[], i: AlarmInput, now: number) => void,
): Played {
  let state = from?.state ?? machine.initial(T0);
  let now = from?.now ?? T0;
  const effects: AlarmEffect[] = [];
  for (const [dt, input] of script) {
    now += dt * S;
    const t = machine.next(state, input, now);
    state = t.state;
    effects.push(...t.effects);
    onStep?.(state, t.effects, input, now);
  }
  return { state, now, effects };
}

const RUNS = { numRuns: 250 };

describe('full panel properties', () => {
  it('never throws and always yields a state every partition and zone is in', () => {
    fc.assert(
      fc.property(scriptArb, (script) => {
        const { state } = play(script);
        expect(Object.keys(state.partitions).sort()).toEqual(['1', '2']);
        expect(
          Object.keys(state.zones)
            .map(Number)
            .sort((a, b) => a - b),
        ).toEqual(zoneIds);
      }),
      RUNS,
    );
  });

  it('a 24-hour zone always alarms whatever the mode, unless it is an installer-bypassed tamper zone', () => {
    fc.assert(
      fc.property(scriptArb, fc.constantFrom(...ZONE_24H), (script, zone) => {
        const { state, now } = play(script);
        const closed = machine.next(state, { type: 'zone', zone, open: false }, now);
        const t = machine.next(closed.state, { type: 'zone', zone, open: true }, now + S);
        const news = t.effects.filter(
          (e) => e.kind === 'event' && e.event.zone === zone && e.event.code === ALARM_CODE.get(zone),
        );
        const bypassed = closed.state.partitions['1']!.bypassed.includes(zone);
        if (bypassed) expect(zone).toBe(10);
        expect(news).toHaveLength(bypassed ? 0 : 1);
      }),
      RUNS,
    );
  });

  it('a valid disarm (cloud, permitted user, or duress) always silences the siren for good', () => {
    const disarms: fc.Arbitrary<AlarmInput> = fc.constantFrom<AlarmInput>(
      { type: 'disarm', user: 'op' },
      { type: 'arm', mode: 'disarmed', user: 'op' },
      { type: 'keypad', action: 'disarm', auth: DURESS },
      { type: 'keypad', action: 'disarm', auth: ALICE },
    );
    fc.assert(
      fc.property(scriptArb, disarms, (script, input) => {
        const { state, now } = play(script);
        const locked = state.keypad.locked_until !== null && now < state.keypad.locked_until;
        fc.pre(!(input.type === 'keypad' && input.auth === ALICE && locked));
        const sounding = Object.values(state.partitions).filter((p) => p.siren_on).length;
        const t = machine.next(state, input, now);
        expect(t.result).toMatchObject({ ok: true });
        for (const p of Object.values(t.state.partitions)) expect(p.siren_on).toBe(false);
        expect(machine.status(t.state, now).map((p) => p.state)).toEqual(['disarmed', 'disarmed']);
        expect(t.effects.filter((e) => e.kind === 'siren' && !e.on)).toHaveLength(sounding);
        expect(t.effects.filter((e) => e.kind === 'siren' && e.on)).toEqual([]);
        const later = machine.next(t.state, { type: 'tick' }, now + 3600 * S);
        expect(later.effects.filter((e) => e.kind === 'siren' && e.on)).toEqual([]);
      }),
      RUNS,
    );
  });

  it('a duress disarm always emits 121 and never turns a siren on', () => {
    fc.assert(
      fc.property(scriptArb, partArb, (script, partition) => {
        const { state, now } = play(script);
        const t = machine.next(state, { type: 'keypad', action: 'disarm', auth: DURESS, partition }, now);
        const duress = t.effects.filter((e) => e.kind === 'event' && e.event.code === '121');
        expect(duress).toHaveLength(1);
        expect(t.effects.filter((e) => e.kind === 'siren' && e.on)).toEqual([]);
      }),
      RUNS,
    );
  });

  it('no event is emitted twice for one trip; confirmations and swinger reports once per armed period', () => {
    fc.assert(
      fc.property(scriptArb, (script) => {
        const opens = new Map<number, number>();
        const prev = new Map<number, boolean | null>();
        const perZone = new Map<number, string[]>();
        const periodCodes = new Map<string, number>(); // per partition and armed period
        const period = new Map<number, number>();
        play(script, undefined, (state, fx, input) => {
          if (input.type === 'zone') {
            if (input.open && prev.get(input.zone) !== true)
              opens.set(input.zone, (opens.get(input.zone) ?? 0) + 1);
            prev.set(input.zone, input.open);
          }
          for (const e of fx) {
            if (e.kind !== 'event') continue;
            const ev = e.event;
            if (ev.code === '401' && ev.qualifier === 'new')
              period.set(ev.partition, (period.get(ev.partition) ?? 0) + 1);
            if (ev.zone !== null && ev.code === ALARM_CODE.get(ev.zone)) {
              const list = perZone.get(ev.zone) ?? [];
              list.push(ev.qualifier);
              perZone.set(ev.zone, list);
            }
            if ((ev.code === '139' || ev.code === '377') && ev.qualifier === 'new') {
              const key = `${ev.code}/${ev.partition}/${period.get(ev.partition) ?? 0}/${ev.code === '377' ? ev.zone : ''}`;
              periodCodes.set(key, (periodCodes.get(key) ?? 0) + 1);
            }
          }
          expect(state).toBeDefined();
        });
        for (const [zone, list] of perZone) {
          expect(list.filter((q) => q === 'new').length).toBeLessThanOrEqual(opens.get(zone) ?? 0);
          list.forEach((q, i) => {
            expect(q).toBe(i % 2 === 0 ? 'new' : 'restore');
          });
        }
        for (const n of periodCodes.values()) expect(n).toBe(1);
      }),
      RUNS,
    );
  });

  it('a restart (serialize, deserialize) at any point yields the same future effects and state', () => {
    fc.assert(
      fc.property(scriptArb, scriptArb, (a, b) => {
        const before = play(a);
        const live = play(b, before);
        const restored = machine.reconcile(JSON.parse(JSON.stringify(before.state)), before.now);
        const resumed = play(b, { state: restored, now: before.now, effects: [] });
        expect(resumed.effects).toEqual(live.effects);
        expect(resumed.state).toEqual(live.state);
      }),
      RUNS,
    );
  });

  it('a redelivered identical zone state changes nothing', () => {
    fc.assert(
      fc.property(scriptArb, fc.constantFrom(...zoneIds), fc.boolean(), (script, zone, open) => {
        const { state, now } = play(script);
        const once = machine.next(state, { type: 'zone', zone, open }, now);
        const twice = machine.next(once.state, { type: 'zone', zone, open }, now);
        expect(twice.effects).toEqual([]);
        expect(twice.state).toEqual(once.state);
      }),
      RUNS,
    );
  });
});
