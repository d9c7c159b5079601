import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
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
  /**
   * The premises broker zigbee2mqtt and the gateways meet on: Mosquitto (what a Pi runs
   * beside zigbee2mqtt; the default) or aedes in this process.
   */
  premisesBroker?: 'mosquitto' | 'aedes';
  mosquittoPath?: string;
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
 * outlives gateway crashes and queues QoS 1 sensor messages for the gateways' persistent
 * sessions, as Mosquitto does beside zigbee2mqtt on a real Pi.
 */
export class Fleet {
  readonly members: FleetMember[] = [];
  private broker: Aedes | null = null;
  private server: Server | null = null;
  private mosquitto: ChildProcess | null = null;
  premisesPort = 0;
  /** Connection errors the premises broker saw, by client id (for diagnosis). */
  readonly brokerErrors: Array<{ client: string; error: string; at: number }> = [];
  readonly cloud: CloudClient;

  constructor(private readonly opts: FleetOptions) {
    this.cloud = new CloudClient(opts.cloudHttpUrl, opts.token);
  }

  async start(): Promise<void> {
    mkdirSync(this.opts.workDir, { recursive: true });
    if ((this.opts.premisesBroker ?? 'mosquitto') === 'mosquitto') await this.startMosquitto();
    else await this.startAedes();

    const prefix = this.opts.idPrefix ?? 'fleet';
    for (let i = 0; i < this.opts.gateways; i++) {
      const gatewayId = `${prefix}-${String(i + 1).padStart(4, '0')}`;
      const { secret } = await this.cloud.provisionGateway(gatewayId, `Fleet premises ${i + 1}`);
      const dataDir = join(this.opts.workDir, gatewayId);
      mkdirSync(dataDir, { recursive: true });
      const zones: ZoneConfig[] = [
        { zone: 1, name: 'Kitchen leak', type: 'water_24h', partition: 1, device: LEAK_DEVICE },
      ];
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
        readyTimeoutMs: 90_000,
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

  private async startAedes(): Promise<void> {
    this.broker = await Aedes.createBroker();
    const note = (client: { id?: string } | null, err: Error) =>
      this.brokerErrors.push({ client: client?.id ?? '?', error: err.message, at: Date.now() });
    this.broker.on('clientError', note);
    this.broker.on('connectionError', note);
    this.server = createServer(this.broker.handle);
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.premisesPort = (this.server.address() as AddressInfo).port;
  }

  private async startMosquitto(): Promise<void> {
    const bin = this.opts.mosquittoPath ?? '/usr/sbin/mosquitto';
    if (!existsSync(bin)) {
      throw new Error(
        `Mosquitto not found at ${bin}: install Debian's mosquitto package (apt-get install mosquitto)`,
      );
    }
    this.premisesPort = await freePort();
    const conf = join(this.opts.workDir, 'mosquitto.conf');
    writeFileSync(
      conf,
      [
        `listener ${this.premisesPort} 127.0.0.1`,
        'allow_anonymous true',
        'persistence false',
        'max_queued_messages 100000',
        'max_inflight_messages 100',
        'set_tcp_nodelay true',
        `log_dest file ${join(this.opts.workDir, 'mosquitto.log')}`,
        '',
      ].join('\n'),
    );
    this.mosquitto = spawn(bin, ['-c', conf], { stdio: 'ignore' });
    const t0 = Date.now();
    while (!(await canConnect(this.premisesPort))) {
      if (this.mosquitto.exitCode !== null) throw new Error(`mosquitto exited (${this.mosquitto.exitCode})`);
      if (Date.now() - t0 > 10_000) throw new Error('mosquitto did not start listening within 10 s');
      await new Promise((r) => setTimeout(r, 50));
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
    const m = this.mosquitto;
    if (m && m.exitCode === null) {
      await new Promise<void>((r) => {
        m.once('exit', () => r());
        m.kill('SIGTERM');
      });
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
