import { performance } from 'node:perf_hooks';

/**
 * Wall-clock epoch milliseconds read once, advanced by the monotonic clock: entry, exit
 * and siren delays are immune to NTP steps while the process runs, and stored timestamps
 * stay comparable across restarts. The price: a wall-clock step made while the gateway
 * runs (e.g. NTP's first sync on a Pi without a real-time clock) reaches event timestamps
 * only at the next start.
 *
 * `wallNow` and `monoNow` are injectable so tests can jump the wall clock.
 */
export function createClock(
  wallNow: () => number = Date.now,
  monoNow: () => number = () => performance.now(),
): () => number {
  const wall0 = wallNow();
  const mono0 = monoNow();
  return () => Math.round(wall0 + (monoNow() - mono0));
}
