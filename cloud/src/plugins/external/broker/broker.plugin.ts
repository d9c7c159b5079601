import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import {
  gatewayMayPublish,
  gatewayMaySubscribe,
  MAX_PAYLOAD_BYTES,
  parseTopic,
  TOPICS,
} from '@mertah/protocol';
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client } from 'aedes';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { FrameGuard } from './frame-guard.js';

/** Error codes of the broker module (each refusal is counted under `mqtt.<code>`). */
export type BrokerErrorCode =
  | 'E_AUTH_BAD_CREDENTIALS'
  | 'E_AUTH_CLIENT_ID'
  | 'E_AUTH_FAILED'
  | 'E_PUBLISH_DENIED'
  | 'E_UNKNOWN_TOPIC'
  | 'E_TOO_LARGE'
  | 'E_SUBSCRIBE_DENIED'
  | 'E_CLIENT_ERROR';

/** Room for the topic, packet id and MQTT 5 properties around the largest payload. */
export const MAX_PACKET_BYTES = MAX_PAYLOAD_BYTES + 64 * 1024;

export type MessageHandler = (gatewayId: string, topic: string, payload: Buffer) => void;

export interface Broker {
  readonly aedes: Aedes;
  /** Ports actually bound (0 in the config means any free port). */
  readonly ports: { mqtt: number; mqtts: number | null };
  connectedClients(): number;
  publish(topic: string, payload: string | Buffer, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void>;
  /** Receives every message on one topic filter, after authorisation. */
  subscribe(filter: string, handler: MessageHandler): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    broker: Broker;
  }
}

function authError(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

export const brokerPlugin = fp(
  async (app: FastifyInstance) => {
    const log = app.log.child({ component: 'broker' });
    const { config, counters } = app;
    const refuse = (code: BrokerErrorCode, fields: Record<string, unknown>, msg: string) => {
      counters.inc('mqtt', code);
      log.warn({ code, ...fields }, msg);
    };

    const aedes = await Aedes.createBroker({
      concurrency: 1000,
      queueLimit: 500,
      connectTimeout: 10_000,
      drainTimeout: 30_000,
      heartbeatInterval: 60_000,
      authenticate(client, username, password, done) {
        const id = username ?? '';
        if (!id || client.id !== id) {
          refuse(
            'E_AUTH_CLIENT_ID',
            { client_id: client.id, username: id },
            'client id must equal the username',
          );
          return done(authError('client id must equal the username', 2), false);
        }
        app.gateways
          .checkSecret(id, password ? password.toString('utf8') : '')
          .then((ok) => {
            if (ok) return done(null, true);
            refuse('E_AUTH_BAD_CREDENTIALS', { gateway_id: id }, 'wrong gateway credentials');
            done(authError('bad username or password', 4), false);
          })
          .catch((err: unknown) => {
            refuse('E_AUTH_FAILED', { gateway_id: id, err }, 'credential check failed');
            done(authError('server unavailable', 3), false);
          });
      },
      authorizePublish(client, packet, done) {
        if (!client) return done(null); // the broker's own publications
        const t = packet.topic;
        if (!gatewayMayPublish(client.id, t)) {
          const unknown = parseTopic(t) === null;
          refuse(
            unknown ? 'E_UNKNOWN_TOPIC' : 'E_PUBLISH_DENIED',
            { gateway_id: client.id, topic: t },
            'publish refused',
          );
          return done(new Error('publish not authorised'));
        }
        const size = packet.payload ? Buffer.byteLength(packet.payload as Buffer) : 0;
        if (size > MAX_PAYLOAD_BYTES) {
          refuse('E_TOO_LARGE', { gateway_id: client.id, topic: t, bytes: size }, 'payload too large');
          return done(new Error('payload too large'));
        }
        const kind = parseTopic(t)?.name;
        if (packet.retain && kind && !TOPICS[kind].retained) packet.retain = false;
        done(null);
      },
      authorizeSubscribe(client, sub, done) {
        if (!gatewayMaySubscribe(client.id, sub.topic)) {
          refuse('E_SUBSCRIBE_DENIED', { gateway_id: client.id, topic: sub.topic }, 'subscribe refused');
          return done(null, null);
        }
        done(null, sub);
      },
    });

    aedes.on('clientError', (client: Client, err: Error) => {
      counters.inc('mqtt', 'E_CLIENT_ERROR');
      log.debug({ code: 'E_CLIENT_ERROR', gateway_id: client?.id, err: err.message }, 'client error');
    });
    aedes.on('connectionError', (client: Client, err: Error) => {
      log.debug({ code: 'E_CLIENT_ERROR', client_id: client?.id, err: err.message }, 'connection error');
    });
    aedes.on('clientReady', (client: Client) => log.debug({ gateway_id: client.id }, 'gateway connected'));
    aedes.on('clientDisconnect', (client: Client) =>
      log.debug({ gateway_id: client.id }, 'gateway disconnected'),
    );

    const sockets = new Set<Socket>();
    const onConnection = (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.setNoDelay(true);
      const guarded = new FrameGuard(socket, MAX_PACKET_BYTES, (announced) =>
        refuse(
          'E_TOO_LARGE',
          { remote: socket.remoteAddress, announced },
          'packet too large, connection cut',
        ),
      );
      aedes.handle(guarded);
    };

    const tcp = createServer(onConnection);
    const mqttPort = await listen(tcp, config.mqttPort, config.host);
    let tls: Server | null = null;
    let mqttsPort: number | null = null;
    if (config.tlsCert && config.tlsKey) {
      tls = createTlsServer(
        { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) },
        onConnection as (s: Socket) => void,
      );
      mqttsPort = await listen(tls, config.mqttsPort, config.host);
    }
    log.info({ mqtt_port: mqttPort, mqtts_port: mqttsPort }, 'broker listening');

    const broker: Broker = {
      aedes,
      ports: { mqtt: mqttPort, mqtts: mqttsPort },
      connectedClients: () => aedes.connectedClients,
      publish(topic, payload, opts = {}) {
        return new Promise((resolve, reject) => {
          aedes.publish(
            {
              cmd: 'publish',
              topic,
              payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
              qos: opts.qos ?? 1,
              retain: opts.retain ?? false,
              dup: false,
            },
            (err) => (err ? reject(err) : resolve()),
          );
        });
      },
      subscribe(filter, handler) {
        return new Promise((resolve) => {
          aedes.subscribe(
            filter,
            (packet: AedesPublishPacket, cb: () => void) => {
              const p = parseTopic(packet.topic);
              if (p) {
                try {
                  handler(p.gatewayId, packet.topic, packet.payload as Buffer);
                } catch (err) {
                  log.error({ err, topic: packet.topic }, 'message handler threw');
                }
              }
              cb();
            },
            () => resolve(),
          );
        });
      },
    };
    app.decorate('broker', broker);

    app.addHook('preClose', async () => {
      const closed = Promise.all(
        [tcp, tls]
          .filter((s): s is Server => s !== null)
          .map((s) => new Promise<void>((r) => s.close(() => r()))),
      );
      await new Promise<void>((r) => aedes.close(() => r()));
      for (const s of sockets) s.destroy();
      await closed;
    });
  },
  { name: 'broker', dependencies: ['env', 'metrics', 'gateways'] },
);
