import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type PremisesConfig, stableJson } from '@mertah/protocol';
import { validatePremises } from './premises.validate.js';

/** The applied premises config lives here in data_dir; the config file's `premises` is only the default. */
export const APPLIED_PREMISES_FILE = 'premises.applied.json';

/** Writes `text` to `path` atomically: temp file, fsync, rename, fsync of the directory. */
export function writeFileAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  try {
    const dfd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // some filesystems cannot fsync a directory; the rename is still atomic
  }
}

/** Persists cloud-applied premises configs so a restart keeps the applied version. */
export class PremisesStore {
  readonly path: string;

  constructor(dataDir: string) {
    this.path = join(dataDir, APPLIED_PREMISES_FILE);
  }

  /** The stored config, or null when none (or an unreadable/invalid one) is stored. */
  load(): PremisesConfig | null {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return null;
    }
    try {
      const r = validatePremises(JSON.parse(text));
      return r.ok ? r.value : null;
    } catch {
      return null;
    }
  }

  save(premises: PremisesConfig): void {
    writeFileAtomic(this.path, stableJson(premises));
  }

  /** The stored config when it is at least as new as the file's default, else the default. */
  effective(fallback: PremisesConfig): PremisesConfig {
    const stored = this.load();
    return stored && stored.version >= fallback.version ? stored : fallback;
  }
}
