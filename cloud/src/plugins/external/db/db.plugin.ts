import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { CloudConfig } from '../env.plugin.js';
import type { Db } from './db.types.js';
import { migrate } from './migrate.js';
import { openPglite } from './pglite.db.js';
import { openPostgres } from './postgres.db.js';

declare module 'fastify' {
  interface FastifyInstance {
    db: Db;
  }
}

/** PostgreSQL when DATABASE_URL is set, else PGlite on disk (or in memory without a data dir). */
export async function openDb(config: CloudConfig): Promise<Db> {
  if (config.databaseUrl) return openPostgres(config.databaseUrl);
  return openPglite(config.dataDir ? join(config.dataDir, 'pglite') : null, config.pgliteTemplate);
}

export const dbPlugin = fp(
  async (app: FastifyInstance) => {
    const log = app.log.child({ component: 'db' });
    const db = await openDb(app.config);
    try {
      const applied = await migrate(db);
      log.info({ driver: db.driver, applied }, 'database ready');
    } catch (err) {
      await db.close();
      throw err;
    }
    app.decorate('db', db);
    app.addHook('onClose', async () => {
      await db.close();
    });
  },
  { name: 'db', dependencies: ['env'] },
);
