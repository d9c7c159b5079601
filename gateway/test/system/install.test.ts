import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/index.js';
import { tempDir } from '../support/tmp.js';

const here = dirname(fileURLToPath(import.meta.url));
const deployDir = join(here, '..', '..', '..', 'deploy', 'gateway');
const script = join(deployDir, 'install.sh');

function install(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync('bash', [script, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A built checkout as the installer sees it: package files and the two dist folders. */
function fakeCheckout(dir: string, version = '1'): string {
  const put = (p: string, text: string) => {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text);
  };
  put(
    'package.json',
    JSON.stringify({ name: 'mertah', private: true, workspaces: ['protocol', 'gateway', 'cloud'] }),
  );
  put('package-lock.json', '{"lockfileVersion":3}');
  for (const w of ['protocol', 'gateway', 'cloud'])
    put(`${w}/package.json`, JSON.stringify({ name: `@mertah/${w}` }));
  put('gateway/dist/main.js', `// gateway build ${version}\n`);
  put('protocol/dist/index.js', `// protocol build ${version}\n`);
  put('gateway/README.md', '# gateway\n');
  put('cloud/src/secret.ts', 'not for the gateway');
  return dir;
}

const list = (dir: string): string[] =>
  existsSync(dir)
    ? readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
        .sort()
    : [];

describe('deploy/gateway/install.sh', () => {
  let tmp: ReturnType<typeof tempDir>;
  let src: string;
  let stage: string;
  beforeEach(() => {
    tmp = tempDir();
    src = fakeCheckout(join(tmp.dir, 'src'));
    stage = join(tmp.dir, 'stage');
  });
  afterEach(() => tmp.cleanup());

  it('is valid bash', () => {
    expect(spawnSync('bash', ['-n', script]).status).toBe(0);
  });

  it('--dry-run prints every step of a real install and changes nothing', () => {
    const before = list(src);
    const r = install(['--dry-run', '--from', src, '--gateway-id', 'gw-pi-1']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /would run: useradd --system --user-group --groups dialout .* mertah-gateway|user mertah-gateway exists/,
    );
    expect(r.out).toContain('would run: npm ci --prefix /opt/mertah-gateway --omit=dev --workspace gateway');
    expect(r.out).toContain('would write /etc/systemd/system/mertah-gateway.service');
    expect(r.out).toMatch(
      /would write a config template to \/etc\/mertah-gateway\/gateway.json \(mode 600\)|exists: left as it is/,
    );
    expect(r.out).toContain('would run: systemctl enable mertah-gateway.service');
    expect(r.out).toContain('would run: systemctl restart mertah-gateway.service');
    expect(list(src)).toEqual(before);

    const staged = install(['--dry-run', '--root', stage, '--from', src]);
    expect(staged.code).toBe(0);
    expect(existsSync(stage)).toBe(false);
  });

  it('refuses a checkout that is not built, and a bad gateway id', () => {
    const r = install(['--dry-run', '--from', tmp.dir]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('build first (npx tsc -b gateway)');
    expect(install(['--dry-run', '--from', src, '--gateway-id', 'Bad Id']).err).toContain('must match');
  });

  it('installs into a staging root: code, unit, a valid config template (600), state dir; idempotent upgrade keeps the config', () => {
    const r = install(
      [
        '--root',
        stage,
        '--from',
        src,
        '--no-deps',
        '--gateway-id',
        'gw-pi-1',
        '--cloud-url',
        'mqtts://cloud.test:8883',
      ],
      {
        MERTAH_GATEWAY_SECRET: 's3cret',
      },
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const app = join(stage, 'opt', 'mertah-gateway');
    expect(readFileSync(join(app, 'gateway', 'dist', 'main.js'), 'utf8')).toContain('build 1');
    expect(existsSync(join(app, 'protocol', 'dist', 'index.js'))).toBe(true);
    expect(existsSync(join(app, 'cloud', 'package.json'))).toBe(true); // keeps npm ci in step with the lockfile
    expect(existsSync(join(app, 'cloud', 'src'))).toBe(false); // but no cloud code

    const unit = readFileSync(join(stage, 'etc', 'systemd', 'system', 'mertah-gateway.service'), 'utf8');
    const node = execFileSync('bash', ['-c', 'command -v node'], { encoding: 'utf8' }).trim();
    expect(unit).toContain(
      `ExecStart=${node} /opt/mertah-gateway/gateway/dist/main.js --config /etc/mertah-gateway/gateway.json`,
    );
    for (const line of [
      'Type=notify',
      'NotifyAccess=all',
      'WatchdogSec=30s',
      'Restart=always',
      'StateDirectory=mertah-gateway',
      'ProtectSystem=strict',
      'SupplementaryGroups=dialout',
      'RestartPreventExitStatus=78',
    ]) {
      expect(unit.split('\n')).toContain(line);
    }

    const confFile = join(stage, 'etc', 'mertah-gateway', 'gateway.json');
    expect(statSync(confFile).mode & 0o777).toBe(0o600);
    const config = parseConfig(JSON.parse(readFileSync(confFile, 'utf8')));
    expect(config).toMatchObject({
      gateway_id: 'gw-pi-1',
      data_dir: '/var/lib/mertah-gateway',
      cloud: { url: 'mqtts://cloud.test:8883', secret: 's3cret' },
    });
    expect(statSync(join(stage, 'var', 'lib', 'mertah-gateway')).mode & 0o777).toBe(0o700);

    // Upgrade: a new build replaces the code (stale files go), the edited config stays.
    writeFileSync(
      confFile,
      JSON.stringify({ ...JSON.parse(readFileSync(confFile, 'utf8')), log_level: 'debug' }),
    );
    writeFileSync(join(app, 'gateway', 'dist', 'stale.js'), '');
    fakeCheckout(src, '2');
    const again = install(['--root', stage, '--from', src, '--no-deps']);
    expect(again.code).toBe(0);
    expect(again.out).toContain('gateway.json exists: left as it is');
    expect(JSON.parse(readFileSync(confFile, 'utf8')).log_level).toBe('debug');
    expect(readFileSync(join(app, 'gateway', 'dist', 'main.js'), 'utf8')).toContain('build 2');
    expect(existsSync(join(app, 'gateway', 'dist', 'stale.js'))).toBe(false);
  });

  it('installs from a release tarball that ships node_modules, without npm', () => {
    mkdirSync(join(src, 'node_modules', 'pino'), { recursive: true });
    writeFileSync(join(src, 'node_modules', 'pino', 'package.json'), '{"name":"pino"}');
    const tarball = join(tmp.dir, 'mertah-gateway.tar.gz');
    execFileSync('tar', ['-czf', tarball, '-C', src, '.']);
    const r = install(['--root', stage, '--from', tarball]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).not.toContain('npm ci');
    expect(existsSync(join(stage, 'opt', 'mertah-gateway', 'node_modules', 'pino', 'package.json'))).toBe(
      true,
    );
    expect(existsSync(join(stage, 'opt', 'mertah-gateway', 'gateway', 'dist', 'main.js'))).toBe(true);
  });
});
