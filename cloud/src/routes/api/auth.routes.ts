import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { SESSION_COOKIE } from '../../plugins/app/auth/auth.plugin.js';
import { AuthErrors, SESSION_TTL_MS } from '../../plugins/app/auth/auth.service.js';
import { errors, Session } from './schemas.js';

export const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/auth/login',
    {
      config: {
        rateLimit: {
          max: app.config.loginRateLimit,
          timeWindow: 60_000,
        },
      },
      schema: {
        tags: ['auth'],
        summary: 'Sign in; sets the session cookie and returns the CSRF token',
        body: Type.Object(
          {
            username: Type.String({ minLength: 1, maxLength: 128 }),
            password: Type.String({ maxLength: 1024 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Session, ...errors(400, 401, 429) },
      },
    },
    async (req, reply) => {
      const s = await app.auth.login(req.body.username, req.body.password);
      reply.setCookie(SESSION_COOKIE, s.token, {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure: 'auto',
        maxAge: SESSION_TTL_MS / 1000,
      });
      return { user: s.user, csrf_token: s.csrf_token };
    },
  );

  app.post(
    '/auth/logout',
    { schema: { tags: ['auth'], summary: 'Sign out', response: { 204: Type.Null(), ...errors(403) } } },
    async (req, reply) => {
      const token = req.cookies[SESSION_COOKIE];
      if (token) await app.auth.logout(token);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/auth/me',
    {
      schema: {
        tags: ['auth'],
        summary: 'Who is signed in (and the CSRF token for cookie sessions)',
        response: { 200: Session, ...errors(401) },
      },
    },
    async (req) => {
      if (!req.principal) throw AuthErrors.unauthenticated();
      return { user: req.principal, csrf_token: req.csrfToken ?? '' };
    },
  );
};
