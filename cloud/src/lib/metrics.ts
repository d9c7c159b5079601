/** Counters of refusals and failures, by module and code; shown in /api/health. */
export class Counters {
  private readonly counts = new Map<string, number>();

  inc(module: string, code: string, by = 1): void {
    const k = `${module}.${code}`;
    this.counts.set(k, (this.counts.get(k) ?? 0) + by);
  }

  get(module: string, code: string): number {
    return this.counts.get(`${module}.${code}`) ?? 0;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}
