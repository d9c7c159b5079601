import { Duplex } from 'node:stream';

/**
 * aedes (and mqtt-packet under it) has no limit on the size of an incoming packet: it
 * buffers whatever remaining length the fixed header announces, up to 256 MiB. This
 * stream sits between the socket and aedes, follows the MQTT framing (fixed header byte,
 * variable-length "remaining length", body) without copying, and cuts the connection as
 * soon as a header announces more than `maxPacketBytes`, before the body is buffered.
 */
export class FrameGuard extends Duplex {
  private state: 'header' | 'length' | 'body' = 'header';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;
  private refused = false;

  constructor(
    readonly socket: Duplex & { remoteAddress?: string; setNoDelay?: (v: boolean) => unknown },
    private readonly maxPacketBytes: number,
    private readonly onRefuse: (announced: number | null) => void,
  ) {
    super({ allowHalfOpen: false });
    socket.on('data', (chunk: Buffer) => {
      if (this.refused) return;
      if (!this.scan(chunk)) return;
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  setNoDelay(v = true): this {
    this.socket.setNoDelay?.(v);
    return this;
  }

  /** Walks the frames in one chunk; false (and the connection is cut) on a refusal. */
  private scan(chunk: Buffer): boolean {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.state === 'body') {
        const skip = Math.min(this.remaining, n - i);
        i += skip;
        this.remaining -= skip;
        if (this.remaining === 0) this.state = 'header';
        continue;
      }
      if (this.state === 'header') {
        i++;
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
        continue;
      }
      const b = chunk[i++]!;
      this.length += (b & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      if (this.length > this.maxPacketBytes) return this.refuse(this.length);
      if (b & 0x80) {
        if (this.lengthBytes >= 4) return this.refuse(null);
        continue;
      }
      this.remaining = this.length;
      this.state = this.remaining === 0 ? 'header' : 'body';
    }
    return true;
  }

  private refuse(announced: number | null): false {
    this.refused = true;
    this.onRefuse(announced);
    this.socket.destroy();
    this.destroy();
    return false;
  }

  override _read(): void {
    this.socket.resume();
  }

  private corked = false;

  /** Packets written in one tick (PUBACKs, acks) leave in one syscall. */
  private coalesce(): void {
    if (this.corked) return;
    this.corked = true;
    const s = this.socket as Duplex;
    s.cork();
    process.nextTick(() => {
      this.corked = false;
      s.uncork();
    });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.coalesce();
    if (this.socket.write(chunk)) cb();
    else this.socket.once('drain', () => cb());
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.coalesce();
    let ok = true;
    for (const c of chunks) ok = this.socket.write(c.chunk);
    if (ok) cb();
    else this.socket.once('drain', () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(() => cb());
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    if (!this.socket.destroyed) this.socket.destroy();
    cb(err);
  }
}
