import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Db, Queryable, QueryResult } from './db.types.js';

function wrap(q: PGlite | Transaction): Queryable {
  return {
    async query<R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
      const r = await q.query<R>(sql, params as unknown[] | undefined);
      return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
    },
  };
}

/** PGlite: PostgreSQL compiled to WASM, in this process. dataDir null = in memory. */
export async function openPglite(dataDir: string | null, template: string | null = null): Promise<Db> {
  const unlock = dataDir ? lock(dataDir) : () => {};
  let pg: PGlite;
  try {
    if (dataDir) pg = await PGlite.create(dataDir);
    else if (template) pg = await PGlite.create({ loadDataDir: new Blob([readFileSync(template)]) });
    else pg = await PGlite.create();
  } catch (err) {
    unlock();
    throw err;
  }
  const base = wrap(pg);
  const db: Db & { pglite: PGlite } = {
    driver: 'pglite',
    pglite: pg,
    query: base.query,
    transaction: (fn) => pg.transaction((tx) => fn(wrap(tx))),
    exec: async (sql) => {
      await pg.exec(sql);
    },
    close: async () => {
      await pg.close();
      unlock();
    },
  };
  return db;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** PGlite is one process's database: refuse a second opener (e.g. the CLI next to a running cloud). */
function lock(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, '..', 'pglite.lock');
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
  } catch {
    const pid = Number(readFileSync(file, 'utf8'));
    if (pid !== process.pid && Number.isInteger(pid) && pid > 0 && alive(pid)) {
      throw new Error(
        `the embedded database in ${dataDir} is in use by process ${pid}; stop it first (or use the HTTP API)`,
      );
    }
    writeFileSync(file, String(process.pid));
  }
  return () => rmSync(file, { force: true });
}

/** Writes a tarball of the database, for `openPglite(null, file)`. */
export async function dumpPglite(db: Db, file: string): Promise<void> {
  const pg = (db as Db & { pglite?: PGlite }).pglite;
  if (!pg) throw new Error('not a PGlite database');
  const blob = await pg.dumpDataDir('none');
  writeFileSync(file, Buffer.from(await blob.arrayBuffer()));
}
