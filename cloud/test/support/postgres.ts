import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Throwaway PostgreSQL 15 cluster on 127.0.0.1 and a free port; stop() removes it. */
export async function startPostgres(): Promise<{ url: string; stop(): Promise<void> }> {
  for (const b of ['initdb', 'pg_ctl']) {
    if (!existsSync(join(BIN, b))) {
      throw new Error(
        `PostgreSQL binaries not found in ${BIN} (need ${b}); install Debian's postgresql-15 or set PG_BIN`,
      );
    }
  }
  const root = process.getuid?.() === 0;
  // PostgreSQL refuses to run as root: then run its tools as the postgres OS user.
  const as = (cmd: string, args: string[]) =>
    root ? run('runuser', ['-u', 'postgres', '--', join(BIN, cmd), ...args]) : run(join(BIN, cmd), args);
  const dir = mkdtempSync(join(tmpdir(), 'mertah-pg-'));
  const data = join(dir, 'data');
  if (root) {
    const pgUser = await run('id', ['-u', 'postgres']).catch(() => {
      throw new Error('running as root but there is no "postgres" OS user to run PostgreSQL as');
    });
    const pgGroup = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(pgUser.stdout.trim()), Number(pgGroup.stdout.trim()));
  }
  chmodSync(dir, 0o700);
  const port = await freePort();
  await as('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  await as('pg_ctl', [
    '-D',
    data,
    '-l',
    join(dir, 'log'),
    '-w',
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`,
    'start',
  ]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      await as('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
