import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stableJson } from '@mertah/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runConfigCli } from '../../src/config/config.cli.js';
import { PremisesStore } from '../../src/index.js';
import { tempDir } from '../support/tmp.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', '..');

/** In process, through the same entry point main.ts dispatches `config ...` to. */
function cli(...args: string[]) {
  let out = '';
  let err = '';
  const code = runConfigCli(args, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

/** The real binary. */
function bin(...args: string[]) {
  const r = spawnSync(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', join(here, '..', '..', 'src', 'main.ts'), 'config', ...args],
    { cwd: repoRoot, encoding: 'utf8' },
  );
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('config export / import', () => {
  let tmp: ReturnType<typeof tempDir>;
  let configPath: string;
  const premises = {
    zones: [{ zone: 1, name: 'Door', type: 'instant', device: 'door' }],
    version: 2,
    exit_delay_s: 5,
  };

  beforeEach(() => {
    tmp = tempDir();
    configPath = join(tmp.dir, 'gateway.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        gateway_id: 'gw-cli-cfg',
        data_dir: tmp.dir,
        cloud: { url: 'mqtt://127.0.0.1:1', secret: 'x' },
        premises,
      }),
    );
  });
  afterEach(() => tmp.cleanup());

  it('exports stable, key-sorted JSON; the applied cloud config wins when newer', () => {
    const a = bin('export', '--config', configPath);
    expect(a.code).toBe(0);
    const parsed = JSON.parse(a.out);
    expect(a.out).toBe(stableJson(parsed));
    expect(a.out.split('\n').slice(1, 3)).toEqual(['  "entry_delay_s": 30,', '  "exit_delay_s": 5,']);
    expect(parsed.version).toBe(2);

    new PremisesStore(tmp.dir).save({ ...parsed, version: 9, zones: [] });
    const b = cli('export', '--config', configPath);
    expect(JSON.parse(b.out)).toMatchObject({ version: 9, zones: [] });
  });

  it('imports a valid premises file atomically and reports every error of an invalid one', () => {
    const bad = join(tmp.dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({ version: 3, entry_delay_s: -1, zones: [premises.zones[0], premises.zones[0]] }),
    );
    const before = readFileSync(configPath, 'utf8');
    const r = cli('import', bad, '--config', configPath);
    expect(r.code).toBe(78);
    expect(r.err).toContain('E_CONFIG_INVALID /entry_delay_s');
    expect(readFileSync(configPath, 'utf8')).toBe(before);

    const dup = join(tmp.dir, 'dup.json');
    writeFileSync(dup, JSON.stringify({ version: 3, zones: [premises.zones[0], premises.zones[0]] }));
    const d = cli('import', dup, '--config', configPath);
    expect(d.code).toBe(78);
    expect(d.err).toContain('E_CONFIG_INVALID /zones/1/zone');

    const good = join(tmp.dir, 'good.json');
    const exported = cli('export', '--config', configPath).out;
    writeFileSync(good, exported.replace('"version": 2', '"version": 4'));
    const g = cli('import', good, '--config', configPath);
    expect(g.code).toBe(0);
    expect(JSON.parse(readFileSync(configPath, 'utf8')).premises.version).toBe(4);
    expect(JSON.parse(cli('export', '--config', configPath).out).version).toBe(4);

    expect(cli('import', '--config', configPath).code).toBe(2);
  });
});
