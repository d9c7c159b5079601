import { createServer, type AddressInfo, type Server } from 'node:net';
import { Aedes } from 'aedes';
import type { Logger } from 'pino';

export interface PremisesBrokerOptions {
  host: string;
  port: number;
  logger: Logger;
}

/** An aedes broker embedded in the gateway (demo, tests); loopback unless configured otherwise. */
export class PremisesBroker {
  private broker: Aedes | null = null;
  private server: Server | null = null;
  private readonly log: Logger;
  private boundPort = 0;

  constructor(private readonly opts: PremisesBrokerOptions) {
    this.log = opts.logger.child({ component: 'premises-broker' });
  }

  /** The aedes instance (tests use it to drop clients). */
  get aedes(): Aedes | null {
    return this.broker;
  }

  /** Drops a client's connection abruptly (no DISCONNECT: its last will fires). For tests. */
  dropClient(clientId: string): boolean {
    const clients = (this.broker as unknown as { clients?: Record<string, { close: () => void }> } | null)
      ?.clients;
    const c = clients?.[clientId];
    c?.close();
    return c !== undefined;
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    const host = this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host;
    return `mqtt://${host}:${this.boundPort}`;
  }

  async start(): Promise<void> {
    const broker = await Aedes.createBroker();
    broker.on('clientError', (client, err) =>
      this.log.debug({ client: client.id, err: err.message }, 'client error'),
    );
    const server = createServer(broker.handle);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.broker = broker;
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
    this.log.info({ host: this.opts.host, port: this.boundPort }, 'premises broker listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    const broker = this.broker;
    this.server = null;
    this.broker = null;
    if (broker) await new Promise<void>((r) => broker.close(() => r()));
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
