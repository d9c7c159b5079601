import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { GatewaysService } from './gateways.service.js';

declare module 'fastify' {
  interface FastifyInstance {
    gateways: GatewaysService;
  }
}

export const gatewaysPlugin = fp(
  async (app: FastifyInstance) => {
    app.decorate(
      'gateways',
      new GatewaysService(app.db, app.audit, app.log.child({ component: 'gateways' })),
    );
  },
  { name: 'gateways', dependencies: ['db', 'audit'] },
);
