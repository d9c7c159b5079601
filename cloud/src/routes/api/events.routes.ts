import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errors, StoredEvent } from './schemas.js';

export const eventsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/events',
    {
      schema: {
        tags: ['events'],
        summary: 'Stored events: newest first, or by seq after after_seq',
        querystring: Type.Object({
          gateway_id: Type.Optional(Type.String({ maxLength: 64 })),
          limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
          after_seq: Type.Optional(Type.Integer({ minimum: 0 })),
        }),
        response: { 200: Type.Object({ events: Type.Array(StoredEvent) }), ...errors(400, 401, 403) },
      },
    },
    async (req) => ({ events: await app.events.list(req.principal, req.query) }),
  );
};
