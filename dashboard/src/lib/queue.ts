// Pure logic of the alarm queue: merging the list and the live stream, ordering, ageing
// and class colours. No Svelte and no DOM here, so it is unit-tested from Node.
import type { Alarm } from './api';

/** One alarm as the console last saw it, and when (a monotonic local clock, ms). */
export interface Entry {
  alarm: Alarm;
  seenAt: number;
}

export type AlarmMap = Map<string, Entry>;

/** Closed alarms are kept this long as tombstones so a stale list cannot resurrect them. */
export const TOMBSTONE_MS = 10 * 60_000;

const STATUS_RANK: Record<string, number> = { open: 0, claimed: 1, closed: 2 };

/**
 * Is `next` at least as new as `prev`? An alarm only moves forward (open -> claimed ->
 * closed, more events, later last event), so an older copy arriving late never wins.
 */
export function isNewer(prev: Alarm, next: Alarm): boolean {
  const rp = STATUS_RANK[prev.status] ?? 0;
  const rn = STATUS_RANK[next.status] ?? 0;
  if (rn !== rp) return rn > rp;
  if (next.event_count !== prev.event_count) return next.event_count > prev.event_count;
  return Date.parse(next.last_event_at) >= Date.parse(prev.last_event_at);
}

/**
 * Applies one change from the stream (or an API answer). Returns whether it was a new
 * alarm the console had never seen (used for the alert sound).
 */
export function applyChange(map: AlarmMap, alarm: Alarm, now: number): { isNew: boolean; changed: boolean } {
  const prev = map.get(alarm.id);
  if (!prev) {
    map.set(alarm.id, { alarm, seenAt: now });
    return { isNew: alarm.status !== 'closed', changed: true };
  }
  if (!isNewer(prev.alarm, alarm)) return { isNew: false, changed: false };
  map.set(alarm.id, { alarm, seenAt: now });
  return { isNew: false, changed: true };
}

/**
 * Reconciles with a fresh `GET /api/alarms?status=open` answer whose request started at
 * `fetchStartedAt`. What the list holds wins unless the stream told us something newer
 * after the request left; an open alarm missing from the list was closed meanwhile,
 * unless the stream brought it after the request left.
 */
export function applyList(map: AlarmMap, list: readonly Alarm[], fetchStartedAt: number, now: number): void {
  const inList = new Set<string>();
  for (const alarm of list) {
    inList.add(alarm.id);
    const prev = map.get(alarm.id);
    if (prev && !isNewer(prev.alarm, alarm)) continue; // the stream already told us more
    map.set(alarm.id, { alarm, seenAt: now });
  }
  for (const [id, entry] of map) {
    if (inList.has(id) || entry.alarm.status === 'closed' || entry.seenAt > fetchStartedAt) continue;
    map.delete(id);
  }
  pruneTombstones(map, now);
}

export function pruneTombstones(map: AlarmMap, now: number): void {
  for (const [id, entry] of map) {
    if (entry.alarm.status === 'closed' && now - entry.seenAt > TOMBSTONE_MS) map.delete(id);
  }
}

/** Queue order: most urgent priority first (1 before 2), then the oldest first. */
export function compareAlarms(a: Alarm, b: Alarm): number {
  if (a.priority !== b.priority) return a.priority - b.priority;
  const ta = Date.parse(a.opened_at);
  const tb = Date.parse(b.opened_at);
  if (ta !== tb) return ta - tb;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The alarms still in the queue (open or claimed), in queue order. */
export function queueOf(map: AlarmMap): Alarm[] {
  const out: Alarm[] = [];
  for (const { alarm } of map.values()) if (alarm.status !== 'closed') out.push(alarm);
  return out.sort(compareAlarms);
}

export type Severity = 'life' | 'burglary' | 'warning' | 'trouble';

/** Badge colour family: fire/CO/gas/panic/duress/medical red, burglary orange, tamper and environmental yellow, the rest grey. */
export function severityOf(eventClass: string): Severity {
  switch (eventClass) {
    case 'fire':
    case 'co':
    case 'gas':
    case 'panic':
    case 'duress':
    case 'medical':
      return 'life';
    case 'burglary':
      return 'burglary';
    case 'tamper':
    case 'environmental':
      return 'warning';
    default:
      return 'trouble';
  }
}

const CLASS_LABELS: Record<string, string> = {
  fire: 'FIRE',
  co: 'CO',
  gas: 'GAS',
  panic: 'PANIC',
  duress: 'DURESS',
  medical: 'MEDICAL',
  burglary: 'BURGLARY',
  environmental: 'ENVIRON',
  tamper: 'TAMPER',
  trouble: 'TROUBLE',
  supervision: 'SUPERV',
  open_close: 'OPEN/CLOSE',
  bypass: 'BYPASS',
  test: 'TEST',
  other: 'OTHER',
};

export function classLabel(eventClass: string): string {
  return CLASS_LABELS[eventClass] ?? eventClass.toUpperCase();
}

export type AgeBand = 'fresh' | 'waiting' | 'late' | 'overdue';

/** Ageing since the alarm opened: under 1 min fresh, under 3 waiting, under 5 late, then overdue. */
export function ageBand(openedAt: string, nowMs: number): AgeBand {
  const s = (nowMs - Date.parse(openedAt)) / 1000;
  if (!(s >= 60)) return 'fresh';
  if (s < 180) return 'waiting';
  if (s < 300) return 'late';
  return 'overdue';
}

/** "42s", "3m 05s", "2h 10m", "3d 4h". */
export function formatAge(fromIso: string | number, nowMs: number): string {
  const from = typeof fromIso === 'number' ? fromIso : Date.parse(fromIso);
  if (!Number.isFinite(from)) return '—';
  const s = Math.max(0, Math.floor((nowMs - from) / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** Local wall-clock time, 24 h, with seconds; the date too when not today. */
export function formatTime(t: string | number | null | undefined, nowMs = Date.now()): string {
  if (t === null || t === undefined || t === '') return '—';
  const d = new Date(typeof t === 'number' ? t : /^\d+$/.test(t) ? Number(t) : t);
  if (Number.isNaN(d.getTime())) return String(t);
  const pad = (n: number) => String(n).padStart(2, '0');
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const today = new Date(nowMs);
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

export function partitionZone(partition: number | null | undefined, zone: number | null | undefined): string {
  const z = zone === null || zone === undefined ? null : `Zone ${zone}`;
  const p = partition === null || partition === undefined ? null : `Part ${partition}`;
  return [z, p].filter(Boolean).join(' · ') || '—';
}
