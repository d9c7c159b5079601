import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db } from './db.types.js';

/** cloud/migrations, from cloud/src/... and cloud/dist/... alike. */
export const MIGRATIONS_DIR = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  '..',
  'migrations',
);

/** Applies every migrations/*.sql not yet applied, in name order, each in its own transaction. */
export async function migrate(db: Db, dir = MIGRATIONS_DIR): Promise<string[]> {
  await db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
  );
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  const applied: string[] = [];
  for (const file of files) {
    const version = file.slice(0, -4);
    const sql = readFileSync(join(dir, file), 'utf8');
    const did = await db.transaction(async (tx) => {
      // Several cloud nodes may start at once: one migrates, the others wait and skip.
      await tx.query('SELECT pg_advisory_xact_lock(7345001)');
      const seen = await tx.query('SELECT 1 FROM schema_migrations WHERE version = $1', [version]);
      if (seen.rows.length) return false;
      for (const stmt of splitSql(sql)) await tx.query(stmt);
      await tx.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version]);
      return true;
    });
    if (did) applied.push(version);
  }
  return applied;
}

/** Splits a script on top-level semicolons, keeping $$ ... $$ bodies and comments intact. */
export function splitSql(sql: string): string[] {
  const out: string[] = [];
  let cur = '';
  let dollar = false;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i];
    if (!dollar && ch === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? sql.length : nl;
      cur += '\n';
      continue;
    }
    if (ch === '$' && sql[i + 1] === '$') {
      dollar = !dollar;
      cur += '$$';
      i++;
      continue;
    }
    if (ch === ';' && !dollar) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}
