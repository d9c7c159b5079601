import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLOUD_MAIN, CloudClient, ServiceProcess } from '@mertah/device-sim';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PremisesHandle, requireBuilt, SseReader, startPremises, tmp } from './support.js';

/** A throwaway CA and a server certificate for 127.0.0.1, made with openssl. */
function makeCerts(dir: string): { ca: string; cert: string; key: string; otherCa: string } {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=Mertah Test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=Other CA',
    '-keyout',
    'other.key',
    '-out',
    'other.pem',
  );
  run(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
  );
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'san.ext',
    '-out',
    'server.pem',
  );
  return {
    ca: join(dir, 'ca.pem'),
    cert: join(dir, 'server.pem'),
    key: join(dir, 'server.key'),
    otherCa: join(dir, 'other.pem'),
  };
}

describe('gateway to cloud over MQTT with TLS', () => {
  const dir = tmp('tls');
  let cloud: ServiceProcess;
  let premises: PremisesHandle | undefined;
  let api: CloudClient;
  let http = '';
  let mqttsPort = 0;
  const token = `mtk_tls_${Date.now()}`;
  const gatewayId = 'gw-tls-0001';
  let certs: ReturnType<typeof makeCerts>;
  let secret = '';

  beforeAll(async () => {
    requireBuilt();
    certs = makeCerts(dir);
    cloud = new ServiceProcess({
      name: 'cloud',
      command: process.execPath,
      args: [CLOUD_MAIN],
      env: {
        PORT: '0',
        MQTT_PORT: '0',
        MQTTS_PORT: '0',
        MQTT_TLS_CERT: certs.cert,
        MQTT_TLS_KEY: certs.key,
        MERTAH_DATA_DIR: join(dir, 'cloud'),
        MERTAH_DEMO: '1',
        MERTAH_DEMO_TOKEN: token,
        LOG_LEVEL: 'warn',
      },
      logFile: join(dir, 'cloud.log'),
      readyTimeoutMs: 60_000,
    });
    const ready = await cloud.start();
    mqttsPort = Number(ready.mqtts_port);
    expect(mqttsPort).toBeGreaterThan(0);
    http = `http://127.0.0.1:${ready.http_port}`;
    api = new CloudClient(http, token);
    ({ secret } = await api.provisionGateway(gatewayId, 'TLS premises'));
  });

  afterAll(async () => {
    await premises?.close();
    await cloud?.close();
  });

  it('refuses a client that does not trust the server certificate', async () => {
    const client = mqtt.connect(`mqtts://127.0.0.1:${mqttsPort}`, {
      username: gatewayId,
      password: secret,
      clientId: gatewayId,
      ca: readFileSync(certs.otherCa),
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    const err = await new Promise<Error>((resolve) => client.once('error', resolve));
    client.end(true);
    expect(err.message).toMatch(/certificate|self.signed|verify/i);
  });

  it('carries a sensor event from the gateway to an alarm over mqtts with the CA from ca_file', async () => {
    premises = await startPremises({
      dir,
      http,
      token,
      mqttUrl: `mqtts://127.0.0.1:${mqttsPort}`,
      cloud: { ca_file: certs.ca },
      gatewayId: 'gw-tls-0002',
      premises: {
        version: 1,
        entry_delay_s: 30,
        exit_delay_s: 30,
        siren_time_s: 60,
        heartbeat_s: 30,
        zones: [
          { zone: 1, name: 'Living room smoke', type: 'fire_24h', partition: 1, device: 'living_smoke' },
        ],
      },
      devices: [['living_smoke', 'smoke']],
    });
    const emulator = premises.emulator;

    const sse = new SseReader(`${http}/api/alarms/stream`, { authorization: `Bearer ${token}` });
    try {
      await emulator.update('living_smoke', { smoke: true });
      const msg = await sse.waitFor((m) => m.event === 'alarm' && JSON.parse(m.data).code === '110', 15_000);
      expect(JSON.parse(msg.data)).toMatchObject({
        gateway_id: premises.gatewayId,
        zone: 1,
        event_class: 'fire',
        priority: 1,
      });
    } finally {
      sse.close();
    }
  });
});
