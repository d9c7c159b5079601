import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { GatewayId } from '@mertah/protocol';
import { Type } from '@sinclair/typebox';
import { CommandBody, CommandView, errors, Gateway, GatewayConfigView } from './schemas.js';

export const gatewaysRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/gateways',
    {
      schema: {
        tags: ['gateways'],
        summary: 'Every gateway with its link state and delivery watermarks',
        response: { 200: Type.Object({ gateways: Type.Array(Gateway) }), ...errors(401, 403) },
      },
    },
    async (req) => ({ gateways: await app.gateways.list(req.principal) }),
  );

  app.post(
    '/gateways',
    {
      schema: {
        tags: ['gateways'],
        summary: 'Provision a gateway (admin); the secret is shown this once',
        body: Type.Object(
          { gateway_id: GatewayId, name: Type.Optional(Type.String({ maxLength: 128 })) },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ gateway_id: Type.String(), secret: Type.String() }),
          ...errors(400, 401, 403, 409),
        },
      },
    },
    async (req, reply) => {
      const out = await app.gateways.provision(req.principal, req.body.gateway_id, req.body.name ?? '');
      return reply.code(201).send(out);
    },
  );

  app.put(
    '/gateways/:id/config',
    {
      schema: {
        tags: ['gateways'],
        summary: 'Push a premises config (supervisor); the cloud assigns its version and publishes it',
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        body: Type.Unknown({ description: 'a PremisesConfig (protocol schema); its version is ignored' }),
        response: { 200: GatewayConfigView, ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => app.gatewayConfig.put(req.principal, req.params.id, req.body),
  );

  app.get(
    '/gateways/:id/config',
    {
      schema: {
        tags: ['gateways'],
        summary: 'Desired and applied config; ?format=file: the desired premises config as a JSON file',
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        querystring: Type.Object({ format: Type.Optional(Type.Literal('file')) }),
        response: { 200: GatewayConfigView, ...errors(401, 403, 404) },
      },
    },
    async (req, reply) => {
      if (req.query.format === 'file') {
        const f = await app.gatewayConfig.file(req.principal, req.params.id);
        return reply
          .header('content-disposition', `attachment; filename="${f.name}"`)
          .type('application/json; charset=utf-8')
          .send(f.text as never); // already JSON: a string with a JSON content type is sent as is
      }
      return app.gatewayConfig.get(req.principal, req.params.id);
    },
  );

  app.post(
    '/gateways/:id/commands',
    {
      schema: {
        tags: ['commands'],
        summary: 'Send a command to a gateway; with ?wait=<s>, wait that long for its result',
        params: Type.Object({ id: Type.String() }),
        querystring: Type.Object({ wait: Type.Optional(Type.Number({ minimum: 0, maximum: 60 })) }),
        body: CommandBody,
        response: {
          200: Type.Object({
            command_id: Type.String(),
            status: CommandView.properties.status,
            result: Type.Unknown(),
          }),
          202: Type.Object({ command_id: Type.String(), status: CommandView.properties.status }),
          ...errors(400, 401, 403, 404),
        },
      },
    },
    async (req, reply) => {
      const c = await app.commands.send(req.principal, req.params.id, req.body, req.query.wait ?? 0);
      if (c.status === 'sent') return reply.code(202).send({ command_id: c.command_id, status: c.status });
      return reply.code(200).send({ command_id: c.command_id, status: c.status, result: c.result });
    },
  );

  app.get(
    '/commands/:id',
    {
      schema: {
        tags: ['commands'],
        summary: 'A command and its result',
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        response: { 200: CommandView, ...errors(401, 403, 404) },
      },
    },
    async (req) => app.commands.get(req.principal, req.params.id),
  );
};
