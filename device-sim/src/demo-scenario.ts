import type { CloudClient } from './cloud-client.js';
import type { DeviceKind } from './devices.js';
import type { Zigbee2MqttEmulator } from './z2m-emulator.js';

export interface DemoDevice {
  device: string;
  kind: DeviceKind;
}

/** The devices of the demo premises; the gateway's zones name them. */
export const DEMO_DEVICES: DemoDevice[] = [
  { device: 'front_door', kind: 'contact' },
  { device: 'hall_motion', kind: 'motion' },
  { device: 'kitchen_leak', kind: 'water_leak' },
  { device: 'living_smoke', kind: 'smoke' },
];

export interface DemoScenarioOptions {
  cloud: CloudClient;
  gatewayId: string;
  emulator: Zigbee2MqttEmulator;
  exitDelayS: number;
  entryDelayS: number;
  say: (msg: string) => void;
  signal?: AbortSignal;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new Error('aborted'));
    });
  });

/**
 * The story `npm start` tells: arm away from the cloud, the exit delay runs out, the front
 * door opens, the entry delay runs out with nobody disarming: a burglary alarm (Contact ID
 * 130) reaches the monitoring console.
 */
export async function runDemoScenario(o: DemoScenarioOptions): Promise<void> {
  const { cloud, gatewayId, emulator, say, signal } = o;
  for (const d of DEMO_DEVICES) if (!emulator.get(d.device)) await emulator.pair(d.device, d.kind);
  await sleep(1000, signal);

  // The gateway announces itself online once it can take commands.
  for (let i = 0; i < 60; i++) {
    const { gateways } = await cloud.gateways();
    if (gateways.find((g) => g.gateway_id === gatewayId)?.online) break;
    await sleep(500, signal);
  }
  // A fresh start: whatever a previous run left armed is disarmed first.
  await cloud.command(gatewayId, { type: 'disarm', partition: 1 }, 15);
  say('arming the premises (armed away) from the cloud');
  let res = await cloud.command(gatewayId, { type: 'arm', partition: 1, mode: 'armed_away' }, 15);
  if (res.status === 'failed') {
    say(`arm refused (${JSON.stringify(res.result)}), forcing`);
    res = await cloud.command(gatewayId, { type: 'arm', partition: 1, mode: 'armed_away', force: true }, 15);
  }
  say(`arm command: ${res.status}; exit delay ${o.exitDelayS} s`);
  await sleep((o.exitDelayS + 1) * 1000, signal);

  say('front door opens (zigbee2mqtt: {"contact": false}) - entry delay running');
  await emulator.update('front_door', { contact: false });
  await sleep(3000, signal);
  await emulator.update('front_door', { contact: true });
  await sleep(Math.max(0, o.entryDelayS - 3 + 1) * 1000, signal);

  for (let i = 0; i < 20; i++) {
    const { alarms } = await cloud.alarms('open');
    const mine = alarms.find((a) => a.gateway_id === gatewayId && a.code === '130');
    if (mine) {
      say(`burglary alarm #${mine.id} is in the monitoring queue (Contact ID 130, zone ${mine.zone})`);
      return;
    }
    await sleep(500, signal);
  }
  say('no burglary alarm reached the console: check the logs in data/logs');
}

/** Gentle background life: batteries, signal and temperature reported now and then. */
export function startTelemetry(emulator: Zigbee2MqttEmulator, everyMs = 30_000): () => void {
  const t = setInterval(() => {
    for (const d of emulator.list()) {
      const battery = Math.max(5, Number(d.state.battery ?? 100) - (Math.random() < 0.2 ? 1 : 0));
      const linkquality = Math.max(
        0,
        Math.min(255, Number(d.state.linkquality ?? 100) + Math.round(Math.random() * 20 - 10)),
      );
      emulator.update(d.friendly_name, { battery, linkquality }).catch(() => {});
    }
  }, everyMs);
  return () => clearInterval(t);
}
