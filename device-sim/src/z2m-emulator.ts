import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { type DeviceKind, PROFILES } from './devices.js';

export interface EmulatedDevice {
  friendly_name: string;
  kind: DeviceKind;
  ieee_address: string;
  state: Record<string, unknown>;
}

export interface Z2mEmulatorOptions {
  /** The premises broker zigbee2mqtt publishes to, e.g. mqtt://127.0.0.1:1884. */
  url: string;
  /** zigbee2mqtt's mqtt.base_topic. */
  baseTopic?: string;
  /** zigbee2mqtt's mqtt.qos for device messages (0 by default in zigbee2mqtt). */
  qos?: 0 | 1;
  /** last_seen setting of zigbee2mqtt: ISO_8601, epoch, or disable. */
  lastSeen?: 'ISO_8601' | 'epoch' | 'disable';
  clientId?: string;
}

function ieee(): string {
  return `0x${randomBytes(8).toString('hex')}`;
}

/**
 * Speaks zigbee2mqtt's MQTT interface: retained `bridge/state` with a last will,
 * retained `bridge/devices`, `bridge/event` on pairing, and one message per device state
 * change carrying the device's whole cached state, as zigbee2mqtt does.
 */
export class Zigbee2MqttEmulator {
  readonly baseTopic: string;
  private client: MqttClient | null = null;
  private readonly devices = new Map<string, EmulatedDevice>();
  published = 0;

  constructor(private readonly opts: Z2mEmulatorOptions) {
    this.baseTopic = opts.baseTopic ?? 'zigbee2mqtt';
  }

  async start(): Promise<void> {
    const client = mqtt.connect(this.opts.url, {
      clientId: this.opts.clientId ?? `zigbee2mqtt_${randomBytes(4).toString('hex')}`,
      reconnectPeriod: 500,
      connectTimeout: 5000,
      will: {
        topic: `${this.baseTopic}/bridge/state`,
        payload: Buffer.from('{"state":"offline"}'),
        qos: 1,
        retain: true,
      },
    });
    this.client = client;
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.publishAsync(`${this.baseTopic}/bridge/state`, JSON.stringify({ state: 'online' }), {
      qos: 1,
      retain: true,
    });
    await this.publishDevices();
  }

  async stop(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (!c) return;
    await c
      .publishAsync(`${this.baseTopic}/bridge/state`, JSON.stringify({ state: 'offline' }), {
        qos: 1,
        retain: true,
      })
      .catch(() => {});
    await c.endAsync();
  }

  list(): EmulatedDevice[] {
    return [...this.devices.values()];
  }

  get(name: string): EmulatedDevice | undefined {
    return this.devices.get(name);
  }

  /** Pairs a device: bridge/event device_joined + interview, then the new bridge/devices. */
  async pair(friendlyName: string, kind: DeviceKind, announce = true): Promise<EmulatedDevice> {
    const dev: EmulatedDevice = {
      friendly_name: friendlyName,
      kind,
      ieee_address: ieee(),
      state: { ...PROFILES[kind].initial },
    };
    this.devices.set(friendlyName, dev);
    if (announce && this.client) {
      const p = PROFILES[kind];
      await this.pub('bridge/event', {
        type: 'device_joined',
        data: { friendly_name: friendlyName, ieee_address: dev.ieee_address },
      });
      await this.pub('bridge/event', {
        type: 'device_interview',
        data: {
          friendly_name: friendlyName,
          status: 'successful',
          ieee_address: dev.ieee_address,
          supported: true,
          definition: { model: p.model, vendor: p.vendor, description: p.description },
        },
      });
      await this.publishDevices();
      await this.publishState(dev);
    }
    return dev;
  }

  /** Changes some of a device's state and publishes the whole state, as zigbee2mqtt does. */
  async update(friendlyName: string, change: Record<string, unknown>): Promise<void> {
    const dev = this.devices.get(friendlyName);
    if (!dev) throw new Error(`unknown device ${friendlyName}`);
    Object.assign(dev.state, change);
    await this.publishState(dev);
  }

  /** Publishes a raw payload on a device topic (for robustness tests: nulls, strings...). */
  async raw(subtopic: string, payload: string | Buffer, qos: 0 | 1 = this.opts.qos ?? 0): Promise<void> {
    if (!this.client) throw new Error('emulator not started');
    await this.client.publishAsync(`${this.baseTopic}/${subtopic}`, payload, { qos });
    this.published++;
  }

  private async publishState(dev: EmulatedDevice): Promise<void> {
    const payload: Record<string, unknown> = { ...dev.state };
    const mode = this.opts.lastSeen ?? 'ISO_8601';
    if (mode === 'ISO_8601') payload.last_seen = new Date().toISOString();
    else if (mode === 'epoch') payload.last_seen = Date.now();
    await this.raw(dev.friendly_name, JSON.stringify(payload));
  }

  private async publishDevices(): Promise<void> {
    const list = [
      {
        ieee_address: '0x00124b0000000001',
        type: 'Coordinator',
        network_address: 0,
        supported: true,
        friendly_name: 'Coordinator',
        interviewing: false,
        interview_completed: true,
      },
      ...this.list().map((d, i) => {
        const p = PROFILES[d.kind];
        return {
          ieee_address: d.ieee_address,
          type: p.power_source === 'Battery' ? 'EndDevice' : 'Router',
          network_address: 1000 + i,
          supported: true,
          friendly_name: d.friendly_name,
          definition: {
            model: p.model,
            vendor: p.vendor,
            description: p.description,
            options: [],
            exposes: [],
          },
          power_source: p.power_source,
          model_id: p.model_id,
          interviewing: false,
          interview_completed: true,
        };
      }),
    ];
    if (!this.client) return;
    await this.client.publishAsync(`${this.baseTopic}/bridge/devices`, JSON.stringify(list), {
      qos: 1,
      retain: true,
    });
  }

  private async pub(sub: string, body: unknown): Promise<void> {
    if (!this.client) return;
    await this.client.publishAsync(`${this.baseTopic}/${sub}`, JSON.stringify(body), { qos: 0 });
  }
}
