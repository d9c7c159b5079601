import pg from 'pg';
import type { Db, Queryable, QueryResult } from './db.types.js';

/** A real PostgreSQL through a pg Pool. */
export async function openPostgres(url: string, max = 10): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', () => {
    // an idle client lost its connection; the pool replaces it on the next checkout
  });
  const client = await pool.connect(); // fail fast when the server is unreachable
  client.release();
  const query = async <R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> => {
    const r = await pool.query(sql, params as unknown[] | undefined);
    return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
  };
  return {
    driver: 'postgres',
    query,
    async transaction(fn) {
      const c = await pool.connect();
      const tx: Queryable = {
        async query<R>(sql: string, params?: unknown[]) {
          const r = await c.query(sql, params as unknown[] | undefined);
          return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
        },
      };
      try {
        await c.query('BEGIN');
        const out = await fn(tx);
        await c.query('COMMIT');
        c.release();
        return out;
      } catch (err) {
        try {
          await c.query('ROLLBACK');
          c.release();
        } catch {
          c.release(true);
        }
        throw err;
      }
    },
    exec: async (sql) => {
      await pool.query(sql);
    },
    close: () => pool.end(),
  };
}
