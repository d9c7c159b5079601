import { describe, expect, it } from 'vitest';
import {
  AlarmMachine,
  AlarmService,
  type EventDraft,
  EventBus,
  hashCode,
  type Outbox,
} from '../../src/index.js';
import { testLogger } from '../support/log.js';
import { PANEL_ZONES, T0 } from './panel.fixture.js';

const FAST = { N: 1024 };

async function service() {
  const machine = new AlarmMachine({
    entry_delay_s: 30,
    exit_delay_s: 60,
    siren_time_s: 180,
    zones: PANEL_ZONES,
    users: [
      {
        user: 'alice',
        name: 'Alice',
        code_hash: await hashCode('1234', FAST),
        permissions: ['arm', 'disarm'],
      },
      { user: 'ad', name: 'Duress', code_hash: await hashCode('9111', FAST), permissions: [], duress: true },
    ],
    lockout_attempts: 2,
  });
  const events: EventDraft[] = [];
  const outbox = {
    loadState: () => null,
    enqueue: async (drafts: EventDraft[]) => {
      events.push(...drafts);
    },
  } as unknown as Outbox;
  const svc = new AlarmService({
    machine,
    outbox,
    bus: new EventBus(testLogger),
    logger: testLogger,
    clock: () => T0,
  });
  svc.start();
  return { svc, events };
}

describe('alarm service: keypad entries', () => {
  it('checks the code outside the machine and applies the verdict', async () => {
    const { svc, events } = await service();
    expect(await svc.keypad({ code: '1234', action: 'arm', mode: 'armed_away', partition: 1 })).toMatchObject(
      {
        ok: true,
      },
    );
    expect(svc.status()[0]).toMatchObject({ mode: 'armed_away' });
    expect(await svc.keypad({ code: '0000', action: 'disarm' })).toMatchObject({
      ok: false,
      code: 'E_BAD_CODE',
    });
    expect(await svc.keypad({ code: '0001', action: 'disarm' })).toMatchObject({
      ok: false,
      code: 'E_LOCKED_OUT',
    });
    expect(await svc.keypad({ code: '9111', action: 'disarm' })).toMatchObject({ ok: true });
    expect(svc.status()[0]).toMatchObject({ mode: 'disarmed' });
    expect(events.map((e) => e.code)).toEqual(['401', '461', '401', '121']);
  });
});
