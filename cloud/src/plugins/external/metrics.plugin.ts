import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counters } from '../../lib/metrics.js';

declare module 'fastify' {
  interface FastifyInstance {
    counters: Counters;
  }
}

export const metricsPlugin = fp(
  async (app: FastifyInstance) => {
    app.decorate('counters', new Counters());
  },
  { name: 'metrics' },
);
