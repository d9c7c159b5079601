import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudApp } from '../../../src/index.js';
import { addUser, gwId, login, startCloud, tokenFor } from '../../support/cloud.js';

let app: CloudApp;
let opPassword: string;

beforeAll(async () => {
  app = await startCloud({
    loginRateLimit: 5,
    demo: true,
    demoPassword: 'demo-pass',
    demoToken: 'demo-token-1',
  });
  opPassword = await addUser(app, 'olga', 'operator');
});
afterAll(async () => {
  await app?.close();
});

describe('sessions', () => {
  it('logs in with a cookie (httpOnly, SameSite=Strict), answers me, and logs out', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: 'olga', password: opPassword },
    });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.user).toEqual({
      id: expect.any(Number),
      username: 'olga',
      display_name: 'olga',
      role: 'operator',
    });
    expect(body.csrf_token).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    const setCookie = String(r.headers['set-cookie']);
    expect(setCookie).toMatch(/mertah_session=/);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    const cookie = `mertah_session=${r.cookies[0]!.value}`;

    const me = await app.inject({ url: '/api/auth/me', headers: { cookie } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toEqual({ user: body.user, csrf_token: body.csrf_token });

    const out = await app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { cookie, 'x-csrf-token': body.csrf_token },
    });
    expect(out.statusCode).toBe(204);
    const after = await app.inject({ url: '/api/auth/me', headers: { cookie } });
    expect(after.statusCode).toBe(401);
    expect(after.json()).toEqual({ code: 'E_UNAUTHENTICATED', message: expect.any(String) });
  });

  it('refuses a wrong password with E_BAD_CREDENTIALS', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: 'olga', password: 'nope' },
    });
    expect(r.statusCode).toBe(401);
    expect(r.json().code).toBe('E_BAD_CREDENTIALS');
    const u = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: 'nobody', password: 'x' },
    });
    expect(u.json().code).toBe('E_BAD_CREDENTIALS');
  });

  it('requires x-csrf-token on non-GET requests made with the cookie', async () => {
    const { cookie, csrf } = await login(app, 'demo', 'demo-pass');
    const payload = { gateway_id: gwId() };
    const none = await app.inject({ method: 'POST', url: '/api/gateways', headers: { cookie }, payload });
    expect(none.statusCode).toBe(403);
    expect(none.json().code).toBe('E_CSRF');
    const wrong = await app.inject({
      method: 'POST',
      url: '/api/gateways',
      headers: { cookie, 'x-csrf-token': 'forged' },
      payload,
    });
    expect(wrong.json().code).toBe('E_CSRF');
    const ok = await app.inject({
      method: 'POST',
      url: '/api/gateways',
      headers: { cookie, 'x-csrf-token': csrf },
      payload,
    });
    expect(ok.statusCode).toBe(201);
    // GET needs no CSRF header, and signing in again with a live cookie needs none either
    expect((await app.inject({ url: '/api/gateways', headers: { cookie } })).statusCode).toBe(200);
    const again = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      headers: { cookie },
      payload: { username: 'demo', password: 'demo-pass' },
    });
    expect(again.statusCode).toBe(200);
  });
});

describe('tokens and roles', () => {
  it('accepts the demo Bearer token (no CSRF needed) and refuses unknown tokens', async () => {
    const me = await app.inject({ url: '/api/auth/me', headers: { authorization: 'Bearer demo-token-1' } });
    expect(me.json().user).toMatchObject({ username: 'demo', role: 'admin', display_name: 'Demo Operator' });
    const r = await app.inject({
      method: 'POST',
      url: '/api/gateways',
      headers: { authorization: 'Bearer demo-token-1' },
      payload: { gateway_id: gwId() },
    });
    expect(r.statusCode).toBe(201);
    const bad = await app.inject({ url: '/api/gateways', headers: { authorization: 'Bearer not-a-token' } });
    expect(bad.statusCode).toBe(401);
    const stored = await app.db.query<{ token_hash: string }>('SELECT token_hash FROM api_tokens');
    expect(stored.rows.map((x) => x.token_hash)).not.toContain('demo-token-1');
  });

  it('lets only admins provision gateways (403 for operator and supervisor, 401 anonymous)', async () => {
    const op = await tokenFor(app, 'op1', 'operator');
    const sup = await tokenFor(app, 'sup1', 'supervisor');
    for (const t of [op, sup]) {
      const r = await app.inject({
        method: 'POST',
        url: '/api/gateways',
        headers: { authorization: `Bearer ${t}` },
        payload: { gateway_id: gwId() },
      });
      expect(r.statusCode).toBe(403);
      expect(r.json().code).toBe('E_FORBIDDEN');
    }
    const anon = await app.inject({ method: 'POST', url: '/api/gateways', payload: { gateway_id: gwId() } });
    expect(anon.statusCode).toBe(401);
    // reading is for every role
    expect(
      (await app.inject({ url: '/api/gateways', headers: { authorization: `Bearer ${op}` } })).statusCode,
    ).toBe(200);
    expect((await app.inject({ url: '/api/alarms' })).statusCode).toBe(401);
  });
});

describe('login rate limit', () => {
  it('answers 429 E_RATE_LIMITED after too many attempts from one address', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await app.inject({
        method: 'POST',
        url: '/api/auth/login',
        remoteAddress: '10.9.9.9',
        payload: { username: 'olga', password: 'wrong' },
      });
      codes.push(r.statusCode);
      if (r.statusCode === 429) expect(r.json().code).toBe('E_RATE_LIMITED');
    }
    expect(codes.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(codes.slice(5)).toEqual([429, 429, 429]);
    // another address is not affected
    const other = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      remoteAddress: '10.9.9.10',
      payload: { username: 'olga', password: opPassword },
    });
    expect(other.statusCode).toBe(200);
  });
});

describe('API surface', () => {
  it('serves the OpenAPI document and validates bodies with E_VALIDATION', async () => {
    const doc = await app.inject({ url: '/api/docs/json' });
    expect(doc.statusCode).toBe(200);
    const paths = Object.keys(doc.json().paths);
    for (const p of [
      '/api/health',
      '/api/auth/login',
      '/api/alarms/{id}/claim',
      '/api/alarms/stream',
      '/api/gateways/{id}/commands',
    ]) {
      expect(paths).toContain(p);
    }
    const r = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      remoteAddress: '10.7.7.7',
      payload: { username: '' },
    });
    expect(r.statusCode).toBe(400);
    expect(r.json().code).toBe('E_VALIDATION');
    const nf = await app.inject({ url: '/api/nothing-here' });
    expect(nf.statusCode).toBe(404);
    expect(nf.json().code).toBe('E_NOT_FOUND');
  });
});
