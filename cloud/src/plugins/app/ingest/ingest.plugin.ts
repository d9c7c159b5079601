import { type TopicName, topicFilter } from '@mertah/protocol';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { EventsService } from './events.service.js';
import { IngestService } from './ingest.service.js';

declare module 'fastify' {
  interface FastifyInstance {
    ingest: IngestService;
    events: EventsService;
  }
}

const GATEWAY_TOPICS: TopicName[] = [
  'status',
  'heartbeat',
  'events',
  'telemetry',
  'commandResult',
  'configApplied',
];

export const ingestPlugin = fp(
  async (app: FastifyInstance) => {
    const ingest = new IngestService({
      db: app.db,
      gateways: app.gateways,
      alarms: app.alarms,
      commands: app.commands,
      counters: app.counters,
      log: app.log.child({ component: 'ingest' }),
      publish: (t, payload) => app.broker.publish(t, payload, { qos: 1 }),
      maxRows: app.config.ingestMaxRows,
    });
    for (const name of GATEWAY_TOPICS) {
      await app.broker.subscribe(topicFilter(name), (gatewayId, _topic, payload) =>
        ingest.handle(gatewayId, name, payload),
      );
    }
    app.decorate('ingest', ingest);
    app.decorate('events', new EventsService(app.db));
    // Runs after the broker's preClose (registered earlier): no new input, then drain.
    app.addHook('preClose', async () => {
      await ingest.stop();
    });
  },
  { name: 'ingest', dependencies: ['db', 'broker', 'gateways', 'monitoring', 'commands', 'metrics'] },
);
