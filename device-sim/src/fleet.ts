import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import type { ZoneConfig } from '@mertah/protocol';
import { CloudClient } from './cloud-client.js';
import { GATEWAY_MAIN } from './paths.js';
import { ServiceProcess } from './service-process.js';
import { Zigbee2MqttEmulator } from './z2m-emulator.js';

export interface FleetOptions {
  cloudHttpUrl: string;
  cloudMqttUrl: string;
  /** Bearer token of a staff user allowed to provision gateways. */
  token: string;
  gateways: number;
  workDir: string;
  idPrefix?: string;
  /** How a gateway process is started; defaults to node on gateway/dist/main.js. */
  gatewayCommand?: [string, ...string[]];
  heartbeatS?: number;
  outbox?: { max_records?: number; batch_size?: number; window?: number };
  logLevel?: string;
}

export interface FleetMember {
  index: number;
  gatewayId: string;
  secret: string;
  configPath: string;
  process: ServiceProcess;
  emulator: Zigbee2MqttEmulator;
  /** Sensor state changes published so far (each one must become exactly one event). */
  changes: number;
}

const LEAK_DEVICE = 'leak';

/**
 * N premises, each a real gateway process with its own outbox, fed by its own emulated
 * zigbee2mqtt through one shared premises broker (a base topic per premises). The broker
 * lives in this process, so it outlives gateway crashes and queues QoS 1 sensor messages
 * for their persistent sessions, as Mosquitto does on a real Pi.
 */
export class Fleet {
  readonly members: FleetMember[] = [];
  private broker: Aedes | null = null;
  private server: Server | null = null;
  premisesPort = 0;
  readonly cloud: CloudClient;

  constructor(private readonly opts: FleetOptions) {
    this.cloud = new CloudClient(opts.cloudHttpUrl, opts.token);
  }

  async start(): Promise<void> {
    mkdirSync(this.opts.workDir, { recursive: true });
    this.broker = await Aedes.createBroker();
    this.server = createServer(this.broker.handle);
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.premisesPort = (this.server.address() as AddressInfo).port;

    const prefix = this.opts.idPrefix ?? 'fleet';
    for (let i = 0; i < this.opts.gateways; i++) {
      const gatewayId = `${prefix}-${String(i + 1).padStart(4, '0')}`;
      const { secret } = await this.cloud.provisionGateway(gatewayId, `Fleet premises ${i + 1}`);
      const dataDir = join(this.opts.workDir, gatewayId);
      mkdirSync(dataDir, { recursive: true });
      const zones: ZoneConfig[] = [{ zone: 1, name: 'Kitchen leak', type: 'water_24h', partition: 1, device: LEAK_DEVICE }];
      const config = {
        gateway_id: gatewayId,
        data_dir: dataDir,
        cloud: { url: this.opts.cloudMqttUrl, secret, keepalive_s: 10 },
        premises_broker: { url: `mqtt://127.0.0.1:${this.premisesPort}`, base_topic: `z2m-${gatewayId}` },
        outbox: { max_records: 200_000, batch_size: 500, window: 5000, ...this.opts.outbox },
        premises: {
          version: 1,
          entry_delay_s: 30,
          exit_delay_s: 60,
          siren_time_s: 180,
          heartbeat_s: this.opts.heartbeatS ?? 30,
          zones,
        },
        log_level: this.opts.logLevel ?? 'warn',
      };
      const configPath = join(dataDir, 'gateway.json');
      writeFileSync(configPath, JSON.stringify(config, null, 2), { mode: 0o600 });
      const [cmd, ...args] = this.opts.gatewayCommand ?? [process.execPath, GATEWAY_MAIN];
      const proc = new ServiceProcess({
        name: gatewayId,
        command: cmd,
        args: [...args, '--config', configPath],
        logFile: join(dataDir, 'gateway.log'),
        readyTimeoutMs: 30_000,
      });
      const emulator = new Zigbee2MqttEmulator({
        url: `mqtt://127.0.0.1:${this.premisesPort}`,
        baseTopic: `z2m-${gatewayId}`,
        qos: 1,
        clientId: `z2m-${gatewayId}`,
      });
      this.members.push({ index: i, gatewayId, secret, configPath, process: proc, emulator, changes: 0 });
    }
    await Promise.all(this.members.map((m) => m.process.start()));
    for (const m of this.members) {
      await m.emulator.start();
      // Paired with its resting state (dry): no state change, so no event.
      await m.emulator.pair(LEAK_DEVICE, 'water_leak');
    }
  }

  /** Flips the leak sensor: wet -> a 154 alarm, dry -> its restore. One change, one event. */
  async toggle(m: FleetMember): Promise<void> {
    const wet = m.emulator.get(LEAK_DEVICE)?.state.water_leak === true;
    await m.emulator.update(LEAK_DEVICE, { water_leak: !wet });
    m.changes++;
  }

  /**
   * Sends `changes` sensor changes to every premises, paced to last about `durationMs`,
   * while `during` runs (kills, restarts) alongside.
   */
  async burst(changes: number, durationMs: number): Promise<void> {
    const gap = durationMs / changes;
    await Promise.all(
      this.members.map(async (m) => {
        const t0 = Date.now();
        for (let k = 0; k < changes; k++) {
          await this.toggle(m);
          const due = t0 + (k + 1) * gap - Date.now();
          if (due > 0) await new Promise((r) => setTimeout(r, due));
        }
      }),
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.emulator.stop().catch(() => {})));
    await Promise.all(this.members.map((m) => m.process.close()));
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    await new Promise<void>((r) => (this.broker ? this.broker.close(() => r()) : r()));
  }
}
