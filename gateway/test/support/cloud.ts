import type { CommandResult, EventBatch, GatewayEvent, GatewayStatus } from '@mertah/protocol';
import mqtt, { type MqttClient } from 'mqtt';
import { PremisesBroker } from '../../src/index.js';
import { testLogger } from './log.js';

/** A minimal stand-in for the cloud: a real aedes broker and a client that collects and acks. */
export class FakeCloud {
  readonly broker = new PremisesBroker({ host: '127.0.0.1', port: 0, logger: testLogger });
  client!: MqttClient;
  events: GatewayEvent[] = [];
  statuses: GatewayStatus[] = [];
  results: CommandResult[] = [];
  autoAck = true;

  constructor(readonly gatewayId: string) {}

  topic(s: string) {
    return `mertah/v1/gw/${this.gatewayId}/${s}`;
  }

  get url() {
    return this.broker.url;
  }

  async start(): Promise<void> {
    await this.broker.start();
    this.client = await mqtt.connectAsync(this.broker.url, { clientId: 'fake-cloud' });
    this.client.on('message', (t, p) => {
      const v = JSON.parse(p.toString());
      if (t === this.topic('events')) {
        const b = v as EventBatch;
        this.events.push(...b.events);
        if (this.autoAck) {
          const max = Math.max(...this.events.map((e) => e.seq));
          this.client.publish(this.topic('ack'), JSON.stringify({ ack: max, ts: Date.now() }), { qos: 1 });
        }
      } else if (t === this.topic('status')) this.statuses.push(v);
      else if (t === this.topic('cmd/result')) this.results.push(v);
    });
    await this.client.subscribeAsync(`mertah/v1/gw/${this.gatewayId}/#`, { qos: 1 });
  }

  command(c: Record<string, unknown>): Promise<unknown> {
    const cmd = { issued_by: 'operator', issued_at: Date.now(), expires_at: Date.now() + 60_000, ...c };
    return this.client.publishAsync(this.topic('cmd'), JSON.stringify(cmd), { qos: 1 });
  }

  async stop(): Promise<void> {
    await this.client.endAsync(true);
    await this.broker.stop();
  }
}
