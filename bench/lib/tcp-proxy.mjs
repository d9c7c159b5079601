// A TCP proxy on 127.0.0.1 that a scenario can cut and restore, to take an uplink down
// without touching either end. While cut it accepts nothing (connection refused) and the
// connections it carried are destroyed, as a dead link or a rebooted router would do.
import { connect, createServer } from 'node:net';

export class TcpProxy {
  /** @param {{ targetPort: number, targetHost?: string }} opts */
  constructor(opts) {
    this.opts = opts;
    this.port = 0;
    this.sockets = new Set();
    this.server = null;
    /** performance.now() of each connection accepted while up */
    this.connections = [];
    this.onConnection = null;
  }

  /** Listens (on the same port as before after a cut). */
  async up() {
    if (this.server) return this.port;
    const server = createServer((client) => {
      const at = performance.now();
      this.connections.push(at);
      client.setNoDelay(true);
      const upstream = connect(this.opts.targetPort, this.opts.targetHost ?? '127.0.0.1');
      upstream.setNoDelay(true);
      this.sockets.add(client);
      this.sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
      this.onConnection?.(at);
    });
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = server.address().port;
    this.server = server;
    return this.port;
  }

  /** Stops listening and destroys every carried connection. */
  async cut() {
    const s = this.server;
    this.server = null;
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
    if (s) await new Promise((r) => s.close(() => r()));
  }

  /** Resolves at the next connection accepted (performance.now()). */
  nextConnection(timeoutMs = 60_000) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no connection through the proxy')), timeoutMs);
      this.onConnection = (at) => {
        clearTimeout(t);
        this.onConnection = null;
        resolve(at);
      };
    });
  }
}
