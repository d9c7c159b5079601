#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { destination, pino } from 'pino';
import { boundPorts, buildApp, createLogger } from './app.js';
import { AuditRepository } from './plugins/app/audit/audit.repository.js';
import { AuthService } from './plugins/app/auth/auth.service.js';
import { randomToken } from './plugins/app/auth/passwords.js';
import { ROLES, type Role, SYSTEM } from './plugins/app/auth/roles.js';
import { GatewaysService } from './plugins/app/gateways/gateways.service.js';
import { openDb } from './plugins/external/db/db.plugin.js';
import type { Db } from './plugins/external/db/db.types.js';
import { migrate } from './plugins/external/db/migrate.js';
import { loadConfig } from './plugins/external/env.plugin.js';

const USAGE = `usage:
  mertah-cloud                                   start the cloud (see docs/contracts.md for the environment)
  mertah-cloud migrate                           apply database migrations and exit
  mertah-cloud gateway add <gateway_id> [--name N]   provision a gateway; prints {"gateway_id","secret"}
  mertah-cloud user add <username> --role operator|supervisor|admin [--name N] [--password P]
`;

async function withDb<T>(fn: (db: Db, applied: string[]) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const db = await openDb(config);
  try {
    const applied = await migrate(db);
    return await fn(db, applied);
  } finally {
    await db.close();
  }
}

async function serve(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  const app = await buildApp({ config, logger: log });
  await app.listen({ host: config.host, port: config.port });
  // The ready line is part of the process contract (docs/contracts.md): printed whatever the level.
  log.child({}, { level: 'info' }).info({ ...boundPorts(app), db: app.db.driver }, 'ready');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    const force = setTimeout(() => {
      log.error('shutdown took too long; exiting');
      process.exit(1);
    }, 15_000);
    force.unref();
    app.close().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      role: { type: 'string' },
      password: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [cmd, sub, arg] = positionals;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  // Subcommands print their answer on stdout; logs go to stderr.
  const log = pino({ level: process.env.LOG_LEVEL || 'warn' }, destination(2));
  if (!cmd) {
    await serve();
    return -1; // keep running
  }
  if (cmd === 'migrate' && !sub) {
    const applied = await withDb(async (_db, applied) => applied);
    process.stdout.write(`${JSON.stringify({ applied })}\n`);
    return 0;
  }
  if (cmd === 'gateway' && sub === 'add' && arg) {
    const out = await withDb((db) =>
      new GatewaysService(db, new AuditRepository(), log).provision(SYSTEM, arg, values.name ?? ''),
    );
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return 0;
  }
  if (cmd === 'user' && sub === 'add' && arg) {
    const role = values.role as Role;
    if (!ROLES.includes(role)) throw new Error(`--role must be one of ${ROLES.join(', ')}`);
    const password = values.password ?? randomToken(12);
    await withDb((db) =>
      new AuthService(db, new AuditRepository(), log).upsertUser(SYSTEM, {
        username: arg,
        display_name: values.name ?? arg,
        role,
        password,
      }),
    );
    process.stdout.write(
      `${JSON.stringify({ username: arg, role, ...(values.password ? {} : { password }) })}\n`,
    );
    return 0;
  }
  process.stderr.write(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    const e = err as { code?: string; message?: string };
    process.stderr.write(
      `${JSON.stringify({ code: e.code ?? 'E_FAILED', message: e.message ?? String(err) })}\n`,
    );
    process.exit(1);
  },
);
