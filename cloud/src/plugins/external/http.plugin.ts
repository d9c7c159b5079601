import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../../lib/errors.js';

/**
 * The HTTP surface around the routes: error shape, OpenAPI, rate limits, security headers.
 * Errors are `{code, message}`; 5xx answers carry no detail (it goes to the log).
 */
export const httpPlugin = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((err: FastifyError | AppError, req, reply) => {
      if (err instanceof AppError) {
        return reply.code(err.statusCode).send({ code: err.code, message: err.message });
      }
      if ((err as FastifyError).validation) {
        return reply.code(400).send({ code: 'E_VALIDATION', message: err.message });
      }
      const status = err.statusCode ?? 500;
      if (status === 429) return reply.code(429).send({ code: 'E_RATE_LIMITED', message: err.message });
      if (status >= 400 && status < 500) {
        return reply.code(status).send({ code: 'E_BAD_REQUEST', message: err.message });
      }
      req.log.error({ err }, 'request failed');
      return reply.code(500).send({ code: 'E_INTERNAL', message: 'internal error' });
    });

    app.addHook('onSend', async (_req, reply, payload) => {
      reply.header('x-content-type-options', 'nosniff');
      reply.header('x-frame-options', 'DENY');
      reply.header('referrer-policy', 'no-referrer');
      return payload;
    });

    await app.register(rateLimit, {
      global: false,
      errorResponseBuilder: (_req, ctx) =>
        Object.assign(new Error(`too many requests, retry in ${Math.ceil(ctx.ttl / 1000)} s`), {
          statusCode: 429,
          code: 'E_RATE_LIMITED',
        }),
    });

    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'Mertah cloud API',
          version: '1',
          description:
            'Monitoring API of the Mertah cloud. Authenticate with the session cookie from POST /api/auth/login ' +
            '(then send x-csrf-token on every non-GET request) or with Authorization: Bearer <token>. ' +
            'Errors are {code, message}.',
        },
        components: {
          securitySchemes: {
            session: { type: 'apiKey', in: 'cookie', name: 'mertah_session' },
            bearer: { type: 'http', scheme: 'bearer' },
          },
        },
        security: [{ session: [] }, { bearer: [] }],
      },
    });
    await app.register(swaggerUi, { routePrefix: '/api/docs' });
  },
  { name: 'http' },
);
