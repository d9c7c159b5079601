import { describe, expect, it } from 'vitest';
import {
  GRADE_INTERVAL_S,
  superviseDevices,
  supervisionIntervalMs,
} from '../../src/supervision/supervision.policy.js';

const H = 3_600_000;

describe('supervision policy', () => {
  it('derives the interval from the grade, interval_s wins', () => {
    expect(GRADE_INTERVAL_S).toEqual({ 2: 7200, 3: 1200 });
    expect(supervisionIntervalMs()).toBe(2 * H);
    expect(supervisionIntervalMs(3)).toBe(20 * 60_000);
    expect(supervisionIntervalMs(3, 90)).toBe(90_000);
  });

  it('a device silent for longer than the interval is lost; exactly at the interval it is not', () => {
    const devices = { door: { last_seen: 0, online: true, lost: false } };
    expect(superviseDevices(devices, 2 * H, 2 * H)).toEqual([]);
    expect(superviseDevices(devices, 2 * H + 1, 2 * H)).toEqual([
      { device: 'door', lost: true, reason: 'silent' },
    ]);
  });

  it('offline is a loss at once; back when seen and online; no change means no event', () => {
    expect(superviseDevices({ d: { last_seen: 0, online: false, lost: false } }, 1, H)).toEqual([
      { device: 'd', lost: true, reason: 'offline' },
    ]);
    expect(superviseDevices({ d: { last_seen: 5, online: true, lost: true } }, 6, H)).toEqual([
      { device: 'd', lost: false, reason: 'back' },
    ]);
    expect(superviseDevices({ d: { last_seen: 0, online: false, lost: true } }, 3 * H, H)).toEqual([]);
    expect(superviseDevices({ d: { last_seen: 0, online: true, lost: true } }, 3 * H, H)).toEqual([]);
  });
});
