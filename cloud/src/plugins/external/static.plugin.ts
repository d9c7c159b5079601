import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * The console (a static SPA build) at `/`; unknown GET paths outside /api fall back to
 * index.html. Everything else that matches no route is a JSON 404.
 */
export const staticPlugin = fp(
  async (app: FastifyInstance) => {
    const dir = app.config.dashboardDir;
    const spa = Boolean(dir && existsSync(join(dir, 'index.html')));
    if (spa && dir) {
      await app.register(fastifyStatic, { root: dir, prefix: '/', wildcard: true, index: ['index.html'] });
    } else {
      app.log.child({ component: 'static' }).info({ dir }, 'no console build; serving the API only');
    }
    app.setNotFoundHandler((req, reply) => {
      const path = req.url.split('?')[0] ?? '';
      const api = path === '/api' || path.startsWith('/api/');
      if (spa && !api && (req.method === 'GET' || req.method === 'HEAD')) {
        return reply.type('text/html').sendFile('index.html');
      }
      return reply.code(404).send({ code: 'E_NOT_FOUND', message: `no route ${req.method} ${path}` });
    });
  },
  { name: 'static', dependencies: ['env', 'http'] },
);
