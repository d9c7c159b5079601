// The live alarm feed shared by every staff page: the open-alarm list from
// `GET /api/alarms?status=open` kept current by the SSE stream `/api/alarms/stream`.
//
// EventSource reconnects by itself and sends `Last-Event-ID`, so the cloud replays what
// was missed; on every reconnect we also re-fetch the list, and merging by id (newest
// copy wins, see queue.ts) makes replays and overlaps harmless: nothing missed, nothing
// shown twice.
import { ALARM_STREAM_URL, type Alarm, ApiError, api, normalizeAlarm } from './api';
import { type AlarmMap, applyChange, applyList, queueOf } from './queue';
import { beep } from './sound';

export type Connection = 'connecting' | 'live' | 'reconnecting' | 'offline';

const MUTE_KEY = 'mertah.console.muted';

function now(): number {
  return performance.now();
}

class AlarmFeed {
  connection = $state<Connection>('offline');
  /** Bumped on every change of the map, which is not itself reactive. */
  version = $state(0);
  loaded = $state(false);
  error = $state<string | null>(null);
  muted = $state(false);
  /** Alarms that arrived live (not in the first load), for a brief highlight. */
  fresh = $state<Record<string, number>>({});

  readonly queue: Alarm[] = $derived.by(() => {
    void this.version;
    return queueOf(this.#map);
  });

  #map: AlarmMap = new Map();
  #es: EventSource | null = null;
  #everOpened = false;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #running = false;
  #listeners = new Set<(a: Alarm) => void>();
  #onAuthLost: (() => void) | null = null;

  start(onAuthLost: () => void): void {
    if (this.#running) return;
    this.#running = true;
    this.#onAuthLost = onAuthLost;
    try {
      this.muted = localStorage.getItem(MUTE_KEY) === '1';
    } catch {
      this.muted = false;
    }
    this.connection = 'connecting';
    this.#connect();
    void this.refresh();
  }

  stop(): void {
    this.#running = false;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#es?.close();
    this.#es = null;
    this.#everOpened = false;
    this.#map.clear();
    this.fresh = {};
    this.loaded = false;
    this.connection = 'offline';
    this.version++;
  }

  toggleMute(): void {
    this.muted = !this.muted;
    try {
      localStorage.setItem(MUTE_KEY, this.muted ? '1' : '0');
    } catch {
      // private mode: the toggle still works for this tab
    }
  }

  get(id: string): Alarm | undefined {
    void this.version;
    return this.#map.get(id)?.alarm;
  }

  /** Subscribe to every applied change (stream or API answer); returns the unsubscriber. */
  onChange(fn: (a: Alarm) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** An alarm from an API answer (claim, close, detail): merged like a stream message. */
  apply(alarm: Alarm): void {
    this.#apply(alarm, false);
  }

  /** Re-fetches the open list and reconciles it with what the stream said meanwhile. */
  async refresh(): Promise<void> {
    const startedAt = now();
    try {
      const { alarms } = await api.alarms('open');
      if (!this.#running) return;
      applyList(this.#map, alarms, startedAt, now());
      this.loaded = true;
      this.error = null;
      this.version++;
    } catch (err) {
      if (!this.#running) return;
      if (err instanceof ApiError && err.status === 401) return; // handled globally
      this.error = err instanceof Error ? err.message : String(err);
    }
  }

  #apply(alarm: Alarm, live: boolean): void {
    const { isNew, changed } = applyChange(this.#map, alarm, now());
    if (!changed) return;
    this.version++;
    // Before the first list arrives, the stream's opening snapshot is not news; after it,
    // an id the console has never seen is a new alarm (also one replayed on reconnect).
    if (isNew && live && this.loaded) {
      this.fresh = { ...this.fresh, [alarm.id]: Date.now() };
      setTimeout(() => {
        const { [alarm.id]: _, ...rest } = this.fresh;
        this.fresh = rest;
      }, 8000);
      if (!this.muted) beep();
    }
    for (const fn of this.#listeners) {
      try {
        fn(alarm);
      } catch (err) {
        console.error('alarm listener failed', err);
      }
    }
  }

  #connect(): void {
    if (!this.#running) return;
    const es = new EventSource(ALARM_STREAM_URL);
    this.#es = es;
    es.addEventListener('open', () => {
      if (this.#es !== es) return;
      this.connection = 'live';
      if (this.#everOpened) void this.refresh();
      this.#everOpened = true;
    });
    es.addEventListener('alarm', (ev) => {
      if (this.#es !== es) return;
      let alarm: Alarm;
      try {
        alarm = JSON.parse((ev as MessageEvent<string>).data) as Alarm;
      } catch {
        return;
      }
      if (alarm && (typeof alarm.id === 'string' || typeof alarm.id === 'number')) {
        this.#apply(normalizeAlarm(alarm), true);
      }
    });
    es.addEventListener('error', () => {
      if (this.#es !== es) return;
      if (es.readyState === EventSource.CONNECTING) {
        // The browser retries by itself and will send Last-Event-ID.
        this.connection = 'reconnecting';
        return;
      }
      // CLOSED: the cloud refused (e.g. 401) or answered something that is not a stream.
      // Check the session, then open a new stream (the list re-fetch covers the gap).
      es.close();
      this.#es = null;
      this.connection = 'reconnecting';
      void this.#recover();
    });
  }

  async #recover(): Promise<void> {
    try {
      await api.me();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        this.#onAuthLost?.();
        return;
      }
    }
    if (!this.#running) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#everOpened = true; // whatever opens next is a reconnect: re-fetch the list
      this.#connect();
    }, 3000);
  }
}

export const feed = new AlarmFeed();
