import { join } from 'node:path';
import { Fleet } from '@mertah/device-sim';
import { afterAll, describe, expect, it } from 'vitest';
import { startPostgres } from '../../cloud/test/support/postgres.js';
import { type CloudHandle, startCloud, tmp, waitFor } from './support.js';

const GATEWAYS = Number(process.env.MERTAH_FLEET_GATEWAYS ?? 20);
const CHANGES = Number(process.env.MERTAH_FLEET_CHANGES ?? 500);
const BURST_MS = Number(process.env.MERTAH_FLEET_BURST_MS ?? 20_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Backend = 'pglite' | 'postgresql';

describe.each<Backend>(['pglite', 'postgresql'])('exactly once under faults (%s)', (backend) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  it(`${GATEWAYS} gateways x ${CHANGES} sensor changes; cloud SIGKILLed twice, every gateway once`, async () => {
    const dir = tmp(`fleet-${backend}`);
    let databaseUrl: string | undefined;
    if (backend === 'postgresql') {
      const pg = await startPostgres();
      cleanups.push(() => pg.stop());
      databaseUrl = pg.url;
    }
    const cloud: CloudHandle = await startCloud({ dataDir: join(dir, 'cloud'), databaseUrl });
    cleanups.push(() => cloud.proc.close());
    const fleet = new Fleet({
      cloudHttpUrl: cloud.http,
      cloudMqttUrl: cloud.mqtt,
      token: cloud.token,
      gateways: GATEWAYS,
      workDir: join(dir, 'gateways'),
      idPrefix: `fl-${backend.slice(0, 2)}`,
      heartbeatS: 30,
    });
    cleanups.push(() => fleet.stop());
    await fleet.start();

    const t0 = Date.now();
    const at = (ms: number) => sleep(Math.max(0, t0 + ms - Date.now()));
    const chaos = [
      // The cloud dies twice in the middle of the burst, with no chance to flush or ack.
      (async () => {
        await at(BURST_MS * 0.25);
        await cloud.crashAndRestart(800);
        await at(BURST_MS * 0.6);
        await cloud.crashAndRestart(800);
      })(),
      // Every gateway dies once, at its own moment, and comes back.
      ...fleet.members.map(async (m, i) => {
        await at(BURST_MS * (0.1 + (0.75 * i) / GATEWAYS));
        await m.process.kill();
        await sleep(300 + ((i * 37) % 500));
        await m.process.start();
      }),
    ];
    await Promise.all([fleet.burst(CHANGES, BURST_MS), ...chaos]);
    expect(cloud.proc.exits).toBe(2);
    for (const m of fleet.members) expect(m.process.exits).toBe(1);

    await waitFor(
      `every gateway fully acknowledged (premises broker errors: ${JSON.stringify(fleet.brokerErrors)})`,
      async () => {
        const { gateways } = await fleet.cloud.gateways();
        const ours = gateways.filter((g) => fleet.members.some((m) => m.gatewayId === g.gateway_id));
        return ours.length === GATEWAYS && ours.every((g) => g.acked_seq >= CHANGES);
      },
      120_000,
      500,
    );
    await sleep(1500); // late duplicates, if any, would land now
    if (fleet.brokerErrors.length) console.log('premises broker errors', JSON.stringify(fleet.brokerErrors));

    for (const m of fleet.members) {
      expect(m.changes).toBe(CHANGES);
      const events = await fleet.cloud.allEvents(m.gatewayId);
      // Exactly the events sent: one per sensor change, each once, in sequence order.
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: CHANGES }, (_, k) => k + 1));
      expect(new Set(events.map((e) => e.event_id)).size).toBe(CHANGES);
      expect(events.every((e) => e.code === '154' && e.zone === 1)).toBe(true);
      // The sensor went wet, dry, wet, ...: the alarm and its restore alternate in order.
      expect(events.map((e) => e.qualifier)).toEqual(
        Array.from({ length: CHANGES }, (_, k) => (k % 2 === 0 ? 'new' : 'restore')),
      );
    }
  }, 300_000);
});
