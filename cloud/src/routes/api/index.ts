import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { alarmsRoutes } from './alarms.routes.js';
import { authRoutes } from './auth.routes.js';
import { eventsRoutes } from './events.routes.js';
import { gatewaysRoutes } from './gateways.routes.js';
import { healthRoutes } from './health.routes.js';

/** Every HTTP route, under /api. */
export const apiRoutes = fp(
  async (app: FastifyInstance) => {
    await app.register(
      async (api) => {
        await api.register(healthRoutes);
        await api.register(authRoutes);
        await api.register(gatewaysRoutes);
        await api.register(eventsRoutes);
        await api.register(alarmsRoutes);
      },
      { prefix: '/api' },
    );
  },
  { name: 'api-routes', dependencies: ['auth', 'gateways', 'commands', 'monitoring', 'ingest', 'http'] },
);
