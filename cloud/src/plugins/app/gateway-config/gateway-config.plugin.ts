import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { GatewayConfigService } from './gateway-config.service.js';

declare module 'fastify' {
  interface FastifyInstance {
    gatewayConfig: GatewayConfigService;
  }
}

export const gatewayConfigPlugin = fp(
  async (app: FastifyInstance) => {
    const publish = (t: string, payload: string) => app.broker.publish(t, payload, { qos: 1, retain: true });
    const service = new GatewayConfigService(
      app.db,
      app.audit,
      publish,
      app.log.child({ component: 'gateway-config' }),
    );
    app.decorate('gatewayConfig', service);
    // Before the app is ready: a gateway connecting after start-up finds its desired config.
    await service.republishAll();
  },
  { name: 'gateway-config', dependencies: ['db', 'audit', 'broker'] },
);
