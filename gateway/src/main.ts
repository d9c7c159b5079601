#!/usr/bin/env node
import { parseArgs } from 'node:util';
import pino from 'pino';
import { ConfigError, loadConfig } from './config/config.loader.js';
import { Controller } from './controller.js';
import { SdNotifier } from './system/sd-notify.js';

/** Exit code for a configuration problem: systemd should not restart-loop on it. */
const EX_CONFIG = 78;
/**
 * Exit code when the data directory is read-only, full or failing at start (EX_IOERR): not
 * in RestartPreventExitStatus, so systemd retries; a remount or freed space lets it start.
 */
const EX_IOERR = 74;
const STORAGE_ERRORS = new Set(['E_OUTBOX_READONLY', 'E_OUTBOX_FULL', 'E_OUTBOX_IO']);

async function main(): Promise<void> {
  if (process.argv[2] === 'config') {
    const { runConfigCli } = await import('./config/config.cli.js');
    process.exitCode = runConfigCli(process.argv.slice(3), {
      out: (s) => process.stdout.write(s),
      err: (s) => process.stderr.write(s),
    });
    return;
  }
  const bootLog = pino({ base: { component: 'main' } });
  let configPath: string | undefined;
  try {
    configPath = parseArgs({ options: { config: { type: 'string', short: 'c' } } }).values.config;
  } catch (err) {
    bootLog.fatal(
      { code: 'E_USAGE', err: (err as Error).message },
      'usage: mertah-gateway --config <file.json>',
    );
    process.exit(2);
  }
  if (!configPath) {
    bootLog.fatal({ code: 'E_USAGE' }, 'usage: mertah-gateway --config <file.json>');
    process.exit(2);
  }
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(configPath);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const issue of err.issues) bootLog.fatal({ code: err.code, path: issue.path }, issue.message);
      process.exit(EX_CONFIG);
    }
    throw err;
  }
  const logger = pino({ level: config.log_level, base: { gateway_id: config.gateway_id } });
  const controller = new Controller({ config, logger });
  const notifier = new SdNotifier({ logger });
  const status = () => {
    const c = controller.outbox.counts();
    const link = controller.uplink?.connected ? 'online' : 'offline';
    return `cloud ${link}; outbox ${c.events} events, ${c.telemetry} telemetry`;
  };
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) process.exit(1); // second signal: give up waiting
    stopping = true;
    logger.info({ signal }, 'stopping');
    await notifier.stopping(`stopping on ${signal}`);
    await controller.stop();
    logger.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('uncaughtException', (err) => {
    logger.fatal({ err, code: 'E_UNCAUGHT' }, 'uncaught exception');
    logger.flush();
    process.exit(1);
  });
  try {
    await controller.start();
  } catch (err) {
    const e = err as Error & { code?: string };
    logger.fatal({ err: e.message, code: e.code ?? 'E_START' }, 'gateway could not start');
    await controller.stop();
    process.exit(e.code === 'E_OUTBOX_OPEN' ? EX_CONFIG : STORAGE_ERRORS.has(e.code ?? '') ? EX_IOERR : 1);
  }
  // The ready line is part of the process contract (docs/contracts.md): printed whatever the level.
  logger
    .child({}, { level: 'info' })
    .info({ gateway_id: config.gateway_id, premises_port: controller.premisesPort }, 'ready');
  // READY=1 once the controller serves; WATCHDOG=1 pings from this event loop from now on.
  await notifier.ready(status);
}

void main();
