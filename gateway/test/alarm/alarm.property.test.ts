import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AlarmEffect, type AlarmInput, AlarmMachine, type AlarmState } from '../../src/index.js';
import { S, SETTINGS, T0, ZONES } from '../support/premises.js';

const machine = new AlarmMachine(SETTINGS);
const zoneIds = ZONES.map((z) => z.zone);
const ZONE_24H = new Set(ZONES.filter((z) => z.type.endsWith('_24h')).map((z) => z.zone));

const inputArb: fc.Arbitrary<AlarmInput> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      type: fc.constant('zone' as const),
      zone: fc.constantFrom(...zoneIds),
      open: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('arm' as const),
      mode: fc.constantFrom('armed_away', 'armed_home', 'armed_night'),
      force: fc.boolean(),
      user: fc.constant('u'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('disarm' as const), user: fc.constant('u') }) },
  { weight: 2, arbitrary: fc.constant({ type: 'tick' as const }) },
);
/** Inputs with the seconds elapsed before each (up to 10 minutes). */
const scriptArb = fc.array(fc.tuple(fc.integer({ min: 0, max: 600 }), inputArb), { maxLength: 60 });

function play(
  script: Array<[number, AlarmInput]>,
  onStep?: (s: AlarmState, fx: AlarmEffect[], i: AlarmInput) => void,
) {
  let state = machine.initial(T0);
  let now = T0;
  const all: AlarmEffect[] = [];
  for (const [dt, input] of script) {
    now += dt * S;
    const t = machine.next(state, input, now);
    state = t.state;
    all.push(...t.effects);
    onStep?.(state, t.effects, input);
  }
  return { state, effects: all, now };
}

describe('alarm machine properties', () => {
  it('a 24-hour zone always alarms, whatever the mode and history', () => {
    fc.assert(
      fc.property(scriptArb, fc.constantFrom(...ZONE_24H), (script, zone) => {
        const { state, now } = play(script);
        const closed = machine.next(state, { type: 'zone', zone, open: false }, now);
        const t = machine.next(closed.state, { type: 'zone', zone, open: true }, now + S);
        const news = t.effects.filter(
          (e) => e.kind === 'event' && e.event.zone === zone && e.event.qualifier === 'new',
        );
        expect(news).toHaveLength(1);
      }),
      { numRuns: 300 },
    );
  });

  it('disarm always silences the siren', () => {
    fc.assert(
      fc.property(scriptArb, (script) => {
        const { state, now } = play(script);
        const sounding = state.partitions['1']!.siren_on;
        const t = machine.next(state, { type: 'disarm', user: 'u' }, now);
        expect(t.state.partitions['1']!.siren_on).toBe(false);
        expect(machine.status(t.state, now)[0]!.state).toBe('disarmed');
        const sirens = t.effects.filter((e) => e.kind === 'siren');
        if (sounding) expect(sirens.at(-1)).toMatchObject({ on: false });
        // and nothing turns it back on later without a new trip
        const later = machine.next(t.state, { type: 'tick' }, now + 3600 * S);
        expect(later.effects.filter((e) => e.kind === 'siren' && e.on)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('no alarm is reported twice for one trip, and restores alternate with alarms', () => {
    fc.assert(
      fc.property(scriptArb, (script) => {
        const opens = new Map<number, number>();
        const prev = new Map<number, boolean | null>();
        const { effects } = play(script, (_s, _fx, input) => {
          if (input.type === 'zone') {
            if (input.open && prev.get(input.zone) !== true)
              opens.set(input.zone, (opens.get(input.zone) ?? 0) + 1);
            prev.set(input.zone, input.open);
          }
        });
        const perZone = new Map<number, string[]>();
        for (const e of effects) {
          if (
            e.kind !== 'event' ||
            e.event.zone === null ||
            !['130', '110', '154', '151', '162', '120', '100', '137'].includes(e.event.code)
          ) {
            continue;
          }
          const list = perZone.get(e.event.zone) ?? [];
          list.push(e.event.qualifier);
          perZone.set(e.event.zone, list);
        }
        for (const [zone, list] of perZone) {
          const news = list.filter((q) => q === 'new').length;
          expect(news).toBeLessThanOrEqual(opens.get(zone) ?? 0);
          list.forEach((q, i) => {
            expect(q).toBe(i % 2 === 0 ? 'new' : 'restore');
          });
        }
        for (const z of ZONE_24H)
          expect((perZone.get(z) ?? []).filter((q) => q === 'new').length).toBe(opens.get(z) ?? 0);
      }),
      { numRuns: 500 },
    );
  });

  it('a redelivered identical input changes nothing', () => {
    fc.assert(
      fc.property(scriptArb, fc.constantFrom(...zoneIds), fc.boolean(), (script, zone, open) => {
        const { state, now } = play(script);
        const once = machine.next(state, { type: 'zone', zone, open }, now);
        const twice = machine.next(once.state, { type: 'zone', zone, open }, now);
        expect(twice.effects).toEqual([]);
        expect(twice.state).toEqual(once.state);
      }),
      { numRuns: 300 },
    );
  });

  it('a stored and restored state behaves exactly like the live one', () => {
    fc.assert(
      fc.property(scriptArb, scriptArb, (a, b) => {
        const live = play([...a, ...b]);
        let state = machine.reconcile(JSON.parse(JSON.stringify(play(a).state)) as AlarmState, T0);
        let now = T0 + a.reduce((n, [dt]) => n + dt * S, 0);
        for (const [dt, input] of b) {
          now += dt * S;
          state = machine.next(state, input, now).state;
        }
        expect(state).toEqual(live.state);
      }),
      { numRuns: 200 },
    );
  });
});
