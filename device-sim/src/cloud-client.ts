/** A small client of the cloud's HTTP API (docs/contracts.md), authenticated by a Bearer token. */
export class CloudClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(new URL(path, this.baseUrl), {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const json = text ? JSON.parse(text) : null;
    if (!res.ok) {
      const err = new Error(`${method} ${path}: ${res.status} ${json?.code ?? ''} ${json?.message ?? text}`);
      (err as Error & { status?: number; code?: string }).status = res.status;
      (err as Error & { status?: number; code?: string }).code = json?.code;
      throw err;
    }
    return json as T;
  }

  provisionGateway(gatewayId: string, name?: string): Promise<{ gateway_id: string; secret: string }> {
    return this.request('POST', '/api/gateways', { gateway_id: gatewayId, name });
  }

  command(
    gatewayId: string,
    cmd: { type: string; partition?: number; mode?: string; zones?: number[]; force?: boolean },
    waitS = 10,
  ): Promise<{ command_id: string; status: string; result?: unknown }> {
    return this.request('POST', `/api/gateways/${gatewayId}/commands?wait=${waitS}`, cmd);
  }

  gateways(): Promise<{
    gateways: Array<{ gateway_id: string; online: boolean; last_seq: number; acked_seq: number }>;
  }> {
    return this.request('GET', '/api/gateways');
  }

  alarms(status = 'open'): Promise<{ alarms: Array<Record<string, unknown>> }> {
    return this.request('GET', `/api/alarms?status=${status}`);
  }

  claim(alarmId: number | string): Promise<{ alarm: Record<string, unknown> }> {
    return this.request('POST', `/api/alarms/${alarmId}/claim`, {});
  }

  close(
    alarmId: number | string,
    disposition: string,
    notes?: string,
  ): Promise<{ alarm: Record<string, unknown> }> {
    return this.request('POST', `/api/alarms/${alarmId}/close`, { disposition, notes });
  }

  /** Every event of a gateway, in seq order, paging with after_seq. */
  async allEvents(
    gatewayId: string,
  ): Promise<Array<Record<string, unknown> & { seq: number; event_id: string }>> {
    const out: Array<Record<string, unknown> & { seq: number; event_id: string }> = [];
    let after = 0;
    for (;;) {
      const page = await this.request<{
        events: Array<Record<string, unknown> & { seq: number; event_id: string }>;
      }>('GET', `/api/events?gateway_id=${encodeURIComponent(gatewayId)}&after_seq=${after}&limit=1000`);
      out.push(...page.events);
      if (page.events.length < 1000) return out;
      after = page.events[page.events.length - 1]!.seq;
    }
  }
}
