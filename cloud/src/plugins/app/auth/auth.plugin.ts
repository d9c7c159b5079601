import cookie from '@fastify/cookie';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AuthErrors, AuthService } from './auth.service.js';
import type { Principal } from './roles.js';

export const SESSION_COOKIE = 'mertah_session';

declare module 'fastify' {
  interface FastifyInstance {
    auth: AuthService;
  }
  interface FastifyRequest {
    /** The signed-in staff member, or null. */
    principal: Principal | null;
    /** How: a session cookie (then non-GET requests need the CSRF header) or a Bearer token. */
    authVia: 'cookie' | 'bearer' | null;
    csrfToken: string | null;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Resolves who is calling on every /api request. Authorisation (which role may do what)
 * is checked in the services; the CSRF rule for cookie sessions is checked here.
 */
export const authPlugin = fp(
  async (app: FastifyInstance) => {
    await app.register(cookie);
    const auth = new AuthService(app.db, app.audit, app.log.child({ component: 'auth' }));
    app.decorate('auth', auth);
    app.decorateRequest('principal', null);
    app.decorateRequest('authVia', null);
    app.decorateRequest('csrfToken', null);

    app.addHook('onRequest', async (req: FastifyRequest) => {
      if (!req.url.startsWith('/api/')) return;
      // Signing in starts a new session whatever cookie is present (a SameSite=Strict cookie
      // never rides on a cross-site request, so this opens no CSRF hole).
      if (req.method === 'POST' && req.url.split('?')[0] === '/api/auth/login') return;
      const header = req.headers.authorization;
      if (header?.startsWith('Bearer ')) {
        const p = await auth.bearer(header.slice(7).trim());
        if (!p) throw AuthErrors.unauthenticated();
        req.principal = p;
        req.authVia = 'bearer';
        return;
      }
      const token = req.cookies[SESSION_COOKIE];
      if (!token) return;
      const s = await auth.session(token);
      if (!s) return; // expired or logged out: anonymous
      req.principal = s.user;
      req.authVia = 'cookie';
      req.csrfToken = s.csrf_token;
      if (!SAFE_METHODS.has(req.method) && req.headers['x-csrf-token'] !== s.csrf_token) {
        throw AuthErrors.csrf();
      }
    });
  },
  { name: 'auth', dependencies: ['db', 'audit'] },
);
