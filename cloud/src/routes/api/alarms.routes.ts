import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AlarmChange } from '../../plugins/app/monitoring/alarm-bus.js';
import { Alarm, Disposition, errors, StoredEvent } from './schemas.js';

const AlarmId = Type.Object({ id: Type.Integer({ minimum: 1 }) });

function sseMessage(c: AlarmChange): string {
  return `id: ${c.change_id}\nevent: alarm\ndata: ${JSON.stringify(c.alarm)}\n\n`;
}

export const alarmsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...streams]) end();
  });

  app.get(
    '/alarms',
    {
      schema: {
        tags: ['alarms'],
        summary: 'Alarms: open first, by priority then age',
        querystring: Type.Object({
          status: Type.Union([Type.Literal('open'), Type.Literal('closed'), Type.Literal('all')], {
            default: 'open',
          }),
          limit: Type.Integer({ minimum: 1, maximum: 5000, default: 500 }),
        }),
        response: { 200: Type.Object({ alarms: Type.Array(Alarm) }), ...errors(401, 403) },
      },
    },
    async (req) => ({ alarms: await app.alarms.list(req.principal, req.query.status, req.query.limit) }),
  );

  app.get(
    '/alarms/stream',
    {
      schema: {
        tags: ['alarms'],
        summary:
          'Server-sent events: `id: <change id>` / `event: alarm` / `data: <Alarm>`. With Last-Event-ID (header, or ' +
          'the last_event_id query parameter) the changes after it come first; without, the open alarms.',
        querystring: Type.Object({ last_event_id: Type.Optional(Type.Integer({ minimum: 0 })) }),
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{0,18}$' })) }),
        produces: ['text/event-stream'],
        response: { 200: Type.String({ description: 'text/event-stream' }), ...errors(401, 403) },
      },
    },
    async (req, reply) => {
      const headerId = req.headers['last-event-id'];
      const lastId = headerId ? Number(headerId) : (req.query.last_event_id ?? null);
      // Listen first and buffer, so nothing committed during the catch-up query is missed.
      const buffered: AlarmChange[] = [];
      let live: ((c: AlarmChange) => void) | null = null;
      const off = app.alarms.bus.onAlarmChanged((c) => (live ? live(c) : buffered.push(c)));
      let catchUp: AlarmChange[];
      try {
        catchUp = await app.alarms.catchUp(req.principal, lastId);
      } catch (err) {
        off();
        throw err;
      }

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write(': mertah alarm stream\nretry: 3000\n\n');
      let sent = lastId ?? 0;
      for (const c of catchUp) {
        res.write(sseMessage(c));
        sent = Math.max(sent, c.change_id);
      }
      live = (c) => {
        if (c.change_id <= sent) return;
        sent = c.change_id;
        res.write(sseMessage(c));
      };
      for (const c of buffered) live(c);

      const keepalive = setInterval(
        () => res.write(`: keepalive ${Date.now()}\n\n`),
        app.config.sseKeepaliveMs,
      );
      const end = () => {
        clearInterval(keepalive);
        off();
        streams.delete(end);
        if (!res.writableEnded) res.end();
      };
      streams.add(end);
      req.raw.on('close', end);
      res.on('error', end);
    },
  );

  app.get(
    '/alarms/:id',
    {
      schema: {
        tags: ['alarms'],
        summary: 'One alarm with its events',
        params: AlarmId,
        response: {
          200: Type.Object({ alarm: Alarm, events: Type.Array(StoredEvent) }),
          ...errors(401, 403, 404),
        },
      },
    },
    async (req) => app.alarms.get(req.principal, req.params.id),
  );

  app.post(
    '/alarms/:id/claim',
    {
      schema: {
        tags: ['alarms'],
        summary: 'Claim an open alarm; exactly one operator wins',
        params: AlarmId,
        response: { 200: Type.Object({ alarm: Alarm }), ...errors(401, 403, 404, 409) },
      },
    },
    async (req) => ({ alarm: await app.alarms.claim(req.principal, req.params.id) }),
  );

  app.post(
    '/alarms/:id/close',
    {
      schema: {
        tags: ['alarms'],
        summary: 'Close an alarm with a disposition',
        params: AlarmId,
        body: Type.Object(
          { disposition: Disposition, notes: Type.Optional(Type.String({ maxLength: 4000 })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ alarm: Alarm }), ...errors(400, 401, 403, 404, 409) },
      },
    },
    async (req) => ({
      alarm: await app.alarms.close(
        req.principal,
        req.params.id,
        req.body.disposition,
        req.body.notes ?? null,
      ),
    }),
  );
};
