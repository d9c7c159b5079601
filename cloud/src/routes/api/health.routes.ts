import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/health',
    {
      schema: {
        tags: ['health'],
        summary: 'Liveness, stores, broker, and the refusal counters',
        response: {
          200: Type.Object({
            status: Type.Literal('ok'),
            db: Type.Object({ driver: Type.String(), ok: Type.Boolean() }),
            mqtt: Type.Object({
              port: Type.Integer(),
              tls_port: Type.Union([Type.Integer(), Type.Null()]),
              clients: Type.Integer(),
            }),
            ingest: Type.Record(Type.String(), Type.Integer()),
            counters: Type.Record(Type.String(), Type.Integer()),
          }),
        },
      },
    },
    async () => {
      let ok = true;
      try {
        await app.db.query('SELECT 1');
      } catch {
        ok = false;
      }
      return {
        status: 'ok' as const,
        db: { driver: app.db.driver, ok },
        mqtt: {
          port: app.broker.ports.mqtt,
          tls_port: app.broker.ports.mqtts,
          clients: app.broker.connectedClients(),
        },
        ingest: { ...app.ingest.stats },
        counters: app.counters.snapshot(),
      };
    },
  );
};
