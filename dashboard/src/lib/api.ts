// The console's only link to the cloud: its HTTP API under `/api` (same origin) and the
// SSE stream of alarm changes. Shapes follow docs/contracts.md; wire types come from
// @mertah/protocol as types only, so nothing of the protocol package ships in the bundle.
import type {
  AlarmStatus,
  Alarm as WireAlarm,
  Disposition,
  EventClass,
  GatewayEvent,
} from '@mertah/protocol';

export type { EventClass } from '@mertah/protocol';

export type Role = 'admin' | 'operator' | 'dispatcher' | 'technician' | 'agent' | (string & {});

export interface User {
  id: string | number;
  username: string;
  display_name: string | null;
  role: Role;
}

export interface Session {
  user: User;
  csrf_token: string;
}

export type { AlarmStatus, Disposition } from '@mertah/protocol';
export const DISPOSITION_LABELS: Readonly<Record<Disposition, string>> = {
  real: 'Real alarm',
  false_user_error: 'False: user error',
  false_equipment: 'False: equipment',
  test: 'Test',
  weather: 'Weather',
  cancelled_by_subscriber: 'Cancelled by subscriber',
  other: 'Other',
};

/** In the protocol's order; the labels' Record type makes sure none is missing. */
export const DISPOSITIONS = Object.keys(DISPOSITION_LABELS) as Disposition[];

/**
 * A monitoring alarm: the signals of one premises grouped until an operator closes it.
 * The cloud sends `id` as an integer; the console keys everything by its string form
 * (see `normalizeAlarm`), so either works on the wire.
 */
export type Alarm = Omit<WireAlarm, 'id' | 'partition' | 'event_class' | 'status' | 'disposition'> & {
  id: string;
  partition: number | null;
  status: AlarmStatus;
  event_class: EventClass | (string & {});
  disposition: Disposition | null;
};

/** A stored event: the wire fields plus what the cloud added when it committed it. */
export type StoredEvent = Omit<GatewayEvent, 'ts'> & {
  /** Epoch ms on the wire; tolerated as ISO-8601 too. */
  ts: number | string;
  gateway_id?: string;
  received_at?: string | number;
  alarm_id?: string | number | null;
};

/** Makes an alarm from the wire safe to key by id (the cloud's ids are integers). */
export function normalizeAlarm(raw: Alarm): Alarm {
  return typeof raw.id === 'string' ? raw : { ...raw, id: String(raw.id) };
}

export interface Gateway {
  gateway_id: string;
  name: string | null;
  online: boolean;
  last_seen_at: string | null;
  last_seq: number | null;
  acked_seq: number | null;
}

export interface ApiErrorBody {
  code: string;
  message: string;
}

/** A non-2xx answer, with the cloud's error code (or E_NETWORK / E_HTTP_<status>). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryAfterS: number | null;

  constructor(status: number, code: string, message: string, retryAfterS: number | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }
}

// The CSRF token lives in memory only (never in storage): a reload asks /api/auth/me again.
let csrfToken: string | null = null;
let onUnauthenticated: (() => void) | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when any request other than login/me answers 401 (session expired or revoked). */
export function setUnauthenticatedHandler(fn: (() => void) | null): void {
  onUnauthenticated = fn;
}

type FetchFn = typeof fetch;

async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  opts: { fetch?: FetchFn; quiet401?: boolean } = {},
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (err) {
    throw new ApiError(0, 'E_NETWORK', `Cannot reach the cloud (${(err as Error).message})`);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  if (!res.ok) {
    const e = (json ?? {}) as Partial<ApiErrorBody>;
    const retry = Number.parseInt(res.headers.get('retry-after') ?? '', 10);
    const err = new ApiError(
      res.status,
      typeof e.code === 'string' ? e.code : `E_HTTP_${res.status}`,
      typeof e.message === 'string' ? e.message : res.statusText || `HTTP ${res.status}`,
      Number.isFinite(retry) ? retry : null,
    );
    if (res.status === 401 && !opts.quiet401) onUnauthenticated?.();
    throw err;
  }
  return json as T;
}

export const api = {
  login(username: string, password: string): Promise<Session> {
    return request<Session>('POST', '/api/auth/login', { username, password }, { quiet401: true });
  },
  me(fetchFn?: FetchFn): Promise<Session> {
    return request<Session>('GET', '/api/auth/me', undefined, { fetch: fetchFn, quiet401: true });
  },
  logout(): Promise<void> {
    return request<void>('POST', '/api/auth/logout', undefined, { quiet401: true });
  },
  async alarms(status: 'open' | 'closed' | 'all' = 'open', fetchFn?: FetchFn): Promise<{ alarms: Alarm[] }> {
    const r = await request<{ alarms: Alarm[] }>('GET', `/api/alarms?status=${status}`, undefined, {
      fetch: fetchFn,
    });
    return { alarms: r.alarms.map(normalizeAlarm) };
  },
  async alarm(id: string, fetchFn?: FetchFn): Promise<{ alarm: Alarm; events: StoredEvent[] }> {
    const r = await request<{ alarm: Alarm; events: StoredEvent[] }>(
      'GET',
      `/api/alarms/${encodeURIComponent(id)}`,
      undefined,
      {
        fetch: fetchFn,
      },
    );
    return { alarm: normalizeAlarm(r.alarm), events: r.events ?? [] };
  },
  async claim(id: string): Promise<{ alarm: Alarm }> {
    const r = await request<{ alarm: Alarm }>('POST', `/api/alarms/${encodeURIComponent(id)}/claim`, {});
    return { alarm: normalizeAlarm(r.alarm) };
  },
  async close(id: string, disposition: Disposition, notes?: string): Promise<{ alarm: Alarm }> {
    const body: { disposition: Disposition; notes?: string } = { disposition };
    if (notes?.trim()) body.notes = notes.trim();
    const r = await request<{ alarm: Alarm }>('POST', `/api/alarms/${encodeURIComponent(id)}/close`, body);
    return { alarm: normalizeAlarm(r.alarm) };
  },
  gateways(fetchFn?: FetchFn): Promise<{ gateways: Gateway[] }> {
    return request('GET', '/api/gateways', undefined, { fetch: fetchFn });
  },
};

/** The SSE endpoint of alarm changes (`event: alarm`, `data: <Alarm JSON>`). */
export const ALARM_STREAM_URL = '/api/alarms/stream';
