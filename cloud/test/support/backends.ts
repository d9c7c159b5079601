import { afterAll, beforeAll } from 'vitest';
import type { CloudConfig } from '../../src/index.js';
import { freshPostgresDb } from './cloud.js';
import { startPostgres } from './postgres.js';

export interface Backend {
  name: 'pglite' | 'postgres';
  /** Config for a new, empty database of this kind. */
  fresh(): Promise<Partial<CloudConfig>>;
}

/**
 * The two database implementations, for `describe.each(backends())`. The PostgreSQL
 * cluster starts once per test file and is removed at the end.
 */
export function backends(): Backend[] {
  let cluster: { url: string; stop(): Promise<void> } | null = null;
  beforeAll(async () => {
    cluster = await startPostgres();
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  return [
    { name: 'pglite', fresh: async () => ({}) },
    {
      name: 'postgres',
      fresh: async () => {
        if (!cluster) throw new Error('PostgreSQL did not start');
        return { databaseUrl: await freshPostgresDb(cluster.url) };
      },
    },
  ];
}
