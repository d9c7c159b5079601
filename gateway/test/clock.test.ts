import { describe, expect, it } from 'vitest';
import {
  type AlarmEffect,
  AlarmMachine,
  type AlarmInput,
  type AlarmState,
  createClock,
  phaseOf,
} from '../src/index.js';
import { S, SETTINGS, T0 } from './support/premises.js';

const HOUR = 3600 * S;

/** Drives the pure machine with `now` from the given clock, as the alarm service does. */
function runWith(clock: () => number) {
  const machine = new AlarmMachine(SETTINGS); // entry 30 s, exit 60 s, siren 180 s
  let state: AlarmState = machine.initial(clock());
  const effects: AlarmEffect[] = [];
  const send = (input: AlarmInput) => {
    const t = machine.next(state, input, clock());
    state = t.state;
    effects.push(...t.effects);
  };
  return {
    send,
    tick: () => send({ type: 'tick' }),
    phase: () => phaseOf(state.partitions[1]!, clock()),
    siren: () => effects.filter((e) => e.kind === 'siren').map((e) => (e.kind === 'siren' ? e.on : null)),
    alarms: () => effects.flatMap((e) => (e.kind === 'event' && e.event.code === '130' ? [e.event] : [])),
  };
}

describe('createClock', () => {
  it('advances with the monotonic source and ignores wall-clock steps after start', () => {
    let wall = T0;
    let mono = 12_345.6;
    const clock = createClock(
      () => wall,
      () => mono,
    );
    expect(clock()).toBe(T0);
    mono += 1500;
    expect(clock()).toBe(T0 + 1500);
    wall += HOUR; // NTP steps the clock forward
    expect(clock()).toBe(T0 + 1500);
    wall -= 2 * HOUR; // and back
    mono += 500;
    expect(clock()).toBe(T0 + 2000);
  });

  it('keeps the entry delay and the siren limit when the wall clock jumps mid entry delay', () => {
    let wall = T0;
    let mono = 0;
    const r = runWith(
      createClock(
        () => wall,
        () => mono,
      ),
    );
    r.send({ type: 'arm', partition: 1, mode: 'armed_away', user: 'test' });
    mono += 61 * S;
    r.tick();
    expect(r.phase()).toBe('armed');
    r.send({ type: 'zone', zone: 1, open: true }); // front door: the 30 s entry delay starts
    expect(r.phase()).toBe('pending');

    wall += HOUR; // NTP step forward 10 s into the delay: a Date.now() clock would alarm at once
    mono += 10 * S;
    r.tick();
    expect(r.phase()).toBe('pending');
    wall -= 2 * HOUR; // a step back: a Date.now() clock would hold the delay for two hours
    mono += 19 * S; // 29 s into the delay
    r.tick();
    expect(r.phase()).toBe('pending');
    expect(r.alarms()).toEqual([]);
    mono += 1 * S; // 30 s: the alarm, exactly on time
    r.tick();
    expect(r.phase()).toBe('triggered');
    expect(r.alarms()).toHaveLength(1);
    expect(r.siren()).toEqual([true]);

    wall += 5 * HOUR;
    mono += 179 * S;
    r.tick();
    expect(r.siren()).toEqual([true]); // still sounding at 179 s
    mono += 1 * S;
    r.tick();
    expect(r.siren()).toEqual([true, false]); // siren_time_s = 180, whatever the wall clock did
  });

  it('a wall-clock-only clock fails the same scenario (the test can tell the difference)', () => {
    let wall = T0;
    const r = runWith(() => wall);
    r.send({ type: 'arm', partition: 1, mode: 'armed_away', user: 'test' });
    wall += 61 * S;
    r.tick();
    r.send({ type: 'zone', zone: 1, open: true });
    wall += HOUR + 10 * S; // the NTP step lands in the entry delay
    r.tick();
    expect(r.alarms()).toHaveLength(1); // 10 s into a 30 s delay
    expect(r.phase()).not.toBe('pending');
  });
});
