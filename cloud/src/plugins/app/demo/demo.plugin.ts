import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { randomToken } from '../auth/passwords.js';
import { SYSTEM } from '../auth/roles.js';

export const DEMO_USERNAME = 'demo';

/** The demo password: MERTAH_DEMO_PASSWORD, or generated once and kept in the data dir. */
function demoPassword(configured: string | null, dataDir: string | null): string {
  if (configured) return configured;
  if (!dataDir) return randomToken(12);
  const file = join(dataDir, 'demo-password');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const pw = randomToken(12);
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${pw}\n`, { mode: 0o600 });
  return pw;
}

/** MERTAH_DEMO=1: seeds the demo operator (role admin) and, if set, its API token. */
export const demoPlugin = fp(
  async (app: FastifyInstance) => {
    const { config } = app;
    if (!config.demo) return;
    const password = demoPassword(config.demoPassword, config.dataDir);
    const userId = await app.auth.upsertUser(SYSTEM, {
      username: DEMO_USERNAME,
      display_name: 'Demo Operator',
      role: 'admin',
      password,
    });
    if (config.demoToken) await app.auth.addToken(SYSTEM, userId, config.demoToken, 'demo');
    app.log.info({ username: DEMO_USERNAME, password, token: Boolean(config.demoToken) }, 'demo_login');
  },
  { name: 'demo', dependencies: ['auth', 'env'] },
);
