import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, from device-sim/src or device-sim/dist. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The gateway daemon's entry point (compiled). Device-sim runs it as a process, never imports it. */
export const GATEWAY_MAIN = join(REPO_ROOT, 'gateway', 'dist', 'main.js');
export const CLOUD_MAIN = join(REPO_ROOT, 'cloud', 'dist', 'main.js');
