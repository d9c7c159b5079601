/** Per gateway: the highest contiguous committed seq, and the committed seqs above it. */
interface Watermark {
  acked: number;
  above: Set<number>;
}

export const MAX_SACK_RANGES = 256;

/**
 * What the cloud has committed of each gateway's event stream, in memory. Restored from the
 * database the first time a gateway is seen after a restart (see IngestService).
 */
export class AckTracker {
  private readonly marks = new Map<string, Watermark>();

  has(gatewayId: string): boolean {
    return this.marks.has(gatewayId);
  }

  load(gatewayId: string, acked: number, committedAbove: Iterable<number>): void {
    const m: Watermark = { acked, above: new Set() };
    for (const s of committedAbove) if (s > acked) m.above.add(s);
    this.marks.set(gatewayId, m);
    this.advance(m);
  }

  forget(gatewayId: string): void {
    this.marks.delete(gatewayId);
  }

  /** The ack the gateway would get if `seqs` were committed too; changes nothing. */
  preview(gatewayId: string, seqs: Iterable<number>): number {
    const m = this.marks.get(gatewayId) ?? { acked: 0, above: new Set<number>() };
    const extra = new Set(seqs);
    let a = m.acked;
    while (m.above.has(a + 1) || extra.has(a + 1)) a++;
    return a;
  }

  /** Records committed seqs (duplicates included: they are committed too). */
  commit(gatewayId: string, seqs: Iterable<number>): void {
    let m = this.marks.get(gatewayId);
    if (!m) {
      m = { acked: 0, above: new Set() };
      this.marks.set(gatewayId, m);
    }
    for (const s of seqs) if (s > m.acked) m.above.add(s);
    this.advance(m);
  }

  acked(gatewayId: string): number {
    return this.marks.get(gatewayId)?.acked ?? 0;
  }

  /** Committed ranges above the ack, lowest first, inclusive, at most MAX_SACK_RANGES. */
  sack(gatewayId: string): Array<[number, number]> {
    const m = this.marks.get(gatewayId);
    if (!m || m.above.size === 0) return [];
    const seqs = [...m.above].sort((a, b) => a - b);
    const out: Array<[number, number]> = [];
    let start = seqs[0]!;
    let prev = start;
    for (let i = 1; i < seqs.length; i++) {
      const s = seqs[i]!;
      if (s === prev + 1) {
        prev = s;
        continue;
      }
      out.push([start, prev]);
      if (out.length === MAX_SACK_RANGES) return out;
      start = s;
      prev = s;
    }
    out.push([start, prev]);
    return out;
  }

  private advance(m: Watermark): void {
    while (m.above.delete(m.acked + 1)) m.acked++;
  }
}
