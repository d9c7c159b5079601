import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stableJson } from '@mertah/protocol';
import { ConfigError, loadConfig, parseConfig } from './config.loader.js';
import { PremisesStore, writeFileAtomic } from './premises.store.js';
import { validatePremises } from './premises.validate.js';

/** Exit codes: 0 ok, 2 usage, 78 (EX_CONFIG) an invalid or unreadable config. */
const EX_USAGE = 2;
const EX_CONFIG = 78;

export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

const USAGE =
  'usage: mertah-gateway config export --config <file.json>\n' +
  '       mertah-gateway config import <premises.json> --config <file.json>';

/**
 * `config export`: the effective premises config (the applied cloud config in data_dir when
 * at least as new as the file's, else the file's) as stable JSON on stdout.
 * `config import`: validates a premises file (every error with its path) and writes it as the
 * config file's `premises`, atomically; it takes effect at the next start when its version is
 * not below the applied one.
 */
export function runConfigCli(args: string[], io: CliIo): number {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (err) {
    io.err(`E_USAGE ${(err as Error).message}\n${USAGE}\n`);
    return EX_USAGE;
  }
  const { values, positionals } = parsed;
  const [action, file] = positionals;
  if (!values.config || (action !== 'export' && action !== 'import') || (action === 'import') !== !!file) {
    io.err(`E_USAGE\n${USAGE}\n`);
    return EX_USAGE;
  }
  try {
    const config = loadConfig(values.config);
    if (action === 'export') {
      io.out(stableJson(new PremisesStore(resolve(config.data_dir)).effective(config.premises)));
      return 0;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file!, 'utf8'));
    } catch (err) {
      io.err(`E_CONFIG_READ ${file}: ${(err as Error).message}\n`);
      return EX_CONFIG;
    }
    const r = validatePremises(raw);
    if (!r.ok) {
      for (const i of r.issues) io.err(`E_CONFIG_INVALID ${i.path} ${i.message}\n`);
      return EX_CONFIG;
    }
    const whole = JSON.parse(readFileSync(values.config, 'utf8')) as Record<string, unknown>;
    whole.premises = r.value;
    parseConfig(whole); // the whole file stays valid
    writeFileAtomic(values.config, `${JSON.stringify(whole, null, 2)}\n`);
    io.out(`imported premises version ${r.value.version} (${r.value.zones.length} zones)\n`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const i of err.issues) io.err(`${err.code} ${i.path} ${i.message}\n`);
      return EX_CONFIG;
    }
    throw err;
  }
}

function parse(args: string[]) {
  return parseArgs({ args, allowPositionals: true, options: { config: { type: 'string', short: 'c' } } });
}
