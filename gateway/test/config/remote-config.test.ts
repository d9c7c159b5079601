import type { ConfigApplied } from '@mertah/protocol';
import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Controller, type GatewayConfig, parseConfig } from '../../src/index.js';
import { FakeCloud } from '../support/cloud.js';
import { testLogger } from '../support/log.js';
import { tempDir } from '../support/tmp.js';
import { waitFor } from '../support/wait.js';

const GW = 'gw-remote-config';

const zone = (n: number, device: string) => ({ zone: n, name: `Zone ${n}`, type: 'instant', device });

describe('cloud-managed config', () => {
  let tmp: ReturnType<typeof tempDir>;
  let cloud: FakeCloud;
  let controller: Controller | null;
  let config: GatewayConfig;
  let applied: ConfigApplied[];

  const desired = (version: number, premises: Record<string, unknown>) =>
    cloud.client.publishAsync(
      cloud.topic('config/desired'),
      JSON.stringify({
        version,
        config: { version, entry_delay_s: 0, exit_delay_s: 0, zones: [], ...premises },
        ts: Date.now(),
      }),
      { qos: 1, retain: true },
    );
  const start = async () => {
    controller = new Controller({ config, logger: testLogger, tickMs: 50 });
    await controller.start();
  };

  beforeEach(async () => {
    tmp = tempDir();
    cloud = new FakeCloud(GW);
    await cloud.start();
    applied = [];
    cloud.client.on('message', (t, p) => {
      if (t === cloud.topic('config/applied')) applied.push(JSON.parse(p.toString()));
    });
    config = parseConfig({
      gateway_id: GW,
      data_dir: tmp.dir,
      cloud: { url: cloud.url, secret: 'x' },
      premises_broker: { embedded: { host: '127.0.0.1', port: 0 } },
      siren_test_s: 1,
      premises: { version: 1, entry_delay_s: 0, exit_delay_s: 0, zones: [zone(1, 'door')] },
    });
    controller = null;
  });
  afterEach(async () => {
    await controller?.stop();
    await cloud.stop();
    tmp.cleanup();
  });

  it('refuses an invalid config with every error and changes nothing', async () => {
    await start();
    await waitFor(() => cloud.statuses.find((s) => s.state === 'online'));
    await desired(2, {
      entry_delay_s: 9999,
      zones: [zone(1, 'door'), zone(1, 'window'), { zone: 3, name: 'x', type: 'laser', device: 'y' }],
    });
    const bad = await waitFor(() => applied.find((a) => a.version === 2), 5000, 'applied v2');
    expect(bad.ok).toBe(false);
    const paths = bad.errors!.map((e) => e.path);
    expect(paths).toContain('/config/entry_delay_s');
    expect(paths.some((p) => p.startsWith('/config/zones/2/type'))).toBe(true);

    // schema-valid but semantically wrong: every semantic error is reported too
    await desired(3, {
      zones: [zone(1, 'door'), zone(1, 'window')],
      users: [{ user: 'a', name: 'A', code_hash: 'scrypt$bad', permissions: ['arm'] }],
      auto_arm: [{ partition: 7, time: '22:00', mode: 'armed_away' }],
    });
    const bad3 = await waitFor(() => applied.find((a) => a.version === 3), 5000, 'applied v3');
    expect(bad3.ok).toBe(false);
    expect(bad3.errors!.map((e) => e.path).sort()).toEqual([
      '/config/auto_arm/0/partition',
      '/config/users/0/code_hash',
      '/config/zones/1/zone',
    ]);
    expect(controller!.premises.version).toBe(1);
    expect(controller!.machine.zonesOfDevice('window')).toEqual([]);
    expect(cloud.statuses.at(-1)?.config_version).toBe(1);
  });

  it('applies a valid config atomically, survives a restart, ignores old versions and refuses while armed', async () => {
    // retained before the gateway connects: delivered on subscribe
    await desired(5, { zones: [zone(1, 'door'), zone(2, 'window')] });
    await start();
    const ok = await waitFor(() => applied.find((a) => a.version === 5), 5000, 'applied v5');
    expect(ok).toMatchObject({ ok: true });
    expect(ok.errors).toBeUndefined();
    await waitFor(() => cloud.statuses.find((s) => s.config_version === 5), 5000, 'status v5');
    expect(controller!.machine.zonesOfDevice('window').map((z) => z.zone)).toEqual([2]);

    // an older version (or the same one re-delivered) is ignored silently
    await desired(4, { zones: [] });
    await cloud.command({ command_id: 'push-1', type: 'config_push' });
    await waitFor(() => cloud.results.find((r) => r.command_id === 'push-1'));
    expect(cloud.results.find((r) => r.command_id === 'push-1')).toMatchObject({
      ok: true,
      data: { config_version: 5 },
    });
    expect(applied.filter((a) => a.version === 4)).toEqual([]);
    expect(applied.filter((a) => a.version === 5)).toHaveLength(2); // config_push re-sent it
    expect(controller!.premises.version).toBe(5);

    // survives a gateway restart (the retained v4 is below the stored v5)
    await controller!.stop();
    await start();
    expect(controller!.premises.version).toBe(5);
    expect(controller!.machine.zonesOfDevice('window').map((z) => z.zone)).toEqual([2]);
    await waitFor(
      () => new Set(cloud.statuses.filter((s) => s.config_version === 5).map((s) => s.boot_id)).size === 2,
      5000,
      'status after restart',
    );

    // the new zone is live: tripping it while armed raises its alarm
    await cloud.command({ command_id: 'arm-1', type: 'arm', partition: 1, mode: 'armed_away' });
    const arm = await waitFor(() => cloud.results.find((r) => r.command_id === 'arm-1'));
    expect(arm).toMatchObject({ ok: true });
    await waitFor(() => controller!.alarm.status()[0]?.state === 'armed', 5000, 'armed');

    // while armed, a new config is refused with E_ARMED and nothing changes
    await desired(6, { zones: [zone(1, 'door')] });
    const armed = await waitFor(() => applied.find((a) => a.version === 6), 5000, 'applied v6');
    expect(armed).toMatchObject({ ok: false, errors: [{ path: '/' }] });
    expect(armed.errors![0]!.message).toMatch(/^E_ARMED/);
    expect(controller!.premises.version).toBe(5);

    const z2m = await mqtt.connectAsync(`mqtt://127.0.0.1:${controller!.premisesPort}`, { clientId: 'z2m' });
    await z2m.publishAsync('zigbee2mqtt/window', JSON.stringify({ contact: false }), { qos: 1 });
    const alarm = await waitFor(
      () => cloud.events.find((e) => e.code === '130' && e.zone === 2),
      5000,
      '130',
    );
    expect(alarm).toMatchObject({ device: 'window', qualifier: 'new' });
    await z2m.endAsync();
  });

  it('sounds the siren for a siren_test and turns it off again', async () => {
    await start();
    await waitFor(() => cloud.statuses.find((s) => s.state === 'online'));
    const sirens: boolean[] = [];
    controller!.bus.onSiren(sirens, (s) => {
      sirens.push(s.on);
    });
    await cloud.command({ command_id: 'siren-1', type: 'siren_test' });
    const r = await waitFor(() => cloud.results.find((x) => x.command_id === 'siren-1'));
    expect(r).toMatchObject({ ok: true, data: { siren_s: 1 } });
    expect(sirens).toEqual([true]);
    await waitFor(() => sirens.length === 2, 5000, 'siren off');
    expect(sirens).toEqual([true, false]);
  });
});
