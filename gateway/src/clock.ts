import { performance } from 'node:perf_hooks';

/**
 * Wall-clock epoch milliseconds read once, advanced by the monotonic clock: entry, exit
 * and siren delays are immune to NTP steps while the process runs, and stored timestamps
 * stay comparable across restarts.
 */
export function createClock(wallNow: () => number = Date.now): () => number {
  const wall0 = wallNow();
  const mono0 = performance.now();
  return () => Math.round(wall0 + (performance.now() - mono0));
}
