#!/usr/bin/env node
// npm start: the whole Mertah on embedded defaults, on this machine.
//   cloud (API + console on :8080, MQTT on :1883, PGlite in ./data/cloud)
//   one premises gateway (its zigbee2mqtt-side broker on :1884, outbox in ./data/gw-demo)
//   device-sim playing zigbee2mqtt and the demo intrusion
// Ports: PORT, MQTT_PORT, PREMISES_PORT. Data: MERTAH_HOME (default ./data).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  CLOUD_MAIN,
  CloudClient,
  GATEWAY_MAIN,
  REPO_ROOT,
  ServiceProcess,
  Zigbee2MqttEmulator,
  runDemoScenario,
  startTelemetry,
} from '../device-sim/dist/index.js';

const home = resolve(process.env.MERTAH_HOME ?? join(REPO_ROOT, 'data'));
const logs = join(home, 'logs');
mkdirSync(logs, { recursive: true });
const httpPort = Number(process.env.PORT ?? 8080);
const mqttPort = Number(process.env.MQTT_PORT ?? 1883);
const premisesPort = Number(process.env.PREMISES_PORT ?? 1884);
const token = process.env.MERTAH_DEMO_TOKEN ?? `mtk_demo_${randomBytes(24).toString('base64url')}`;
const gatewayId = 'gw-demo';
const entryDelayS = 10;
const exitDelayS = 5;

const say = (msg) => console.log(`\x1b[36m[mertah]\x1b[0m ${msg}`);
const warnLine = (name) => (line) => {
  if (typeof line.level === 'number' && line.level >= 40) console.log(`\x1b[33m[${name}]\x1b[0m ${line.msg}`);
};

let demoPassword = null;
const cloud = new ServiceProcess({
  name: 'cloud',
  command: process.execPath,
  args: [CLOUD_MAIN],
  env: {
    PORT: String(httpPort),
    MQTT_PORT: String(mqttPort),
    MERTAH_DATA_DIR: join(home, 'cloud'),
    MERTAH_DEMO: '1',
    MERTAH_DEMO_TOKEN: token,
    MERTAH_DASHBOARD_DIR: join(REPO_ROOT, 'dashboard', 'build'),
  },
  logFile: join(logs, 'cloud.log'),
  onLine: (line) => {
    if (line.msg === 'demo_login' && line.password)
      demoPassword = { username: line.username, password: line.password };
    warnLine('cloud')(line);
  },
});

const stack = [];
async function shutdown(code = 0) {
  say('stopping');
  for (const s of stack.reverse()) await s().catch(() => {});
  process.exit(code);
}
process.once('SIGINT', () => shutdown(0));
process.once('SIGTERM', () => shutdown(0));

try {
  say('starting the cloud');
  const ready = await cloud.start();
  stack.push(() => cloud.close());
  const baseUrl = `http://127.0.0.1:${ready.http_port}`;
  const api = new CloudClient(baseUrl, token);

  // The demo premises: provisioned once, its secret kept beside its outbox.
  const gwDir = join(home, gatewayId);
  mkdirSync(gwDir, { recursive: true });
  const secretFile = join(gwDir, 'secret.json');
  let secret;
  if (existsSync(secretFile)) secret = JSON.parse(readFileSync(secretFile, 'utf8')).secret;
  else {
    ({ secret } = await api.provisionGateway(gatewayId, 'Demo premises'));
    writeFileSync(secretFile, JSON.stringify({ gateway_id: gatewayId, secret }), { mode: 0o600 });
  }
  const config = {
    gateway_id: gatewayId,
    data_dir: gwDir,
    cloud: { url: `mqtt://127.0.0.1:${ready.mqtt_port}`, secret, keepalive_s: 30 },
    premises_broker: {
      url: `mqtt://127.0.0.1:${premisesPort}`,
      embedded: { host: '127.0.0.1', port: premisesPort },
      base_topic: 'zigbee2mqtt',
    },
    outbox: { max_records: 200000, batch_size: 500, window: 5000 },
    premises: {
      version: 1,
      entry_delay_s: entryDelayS,
      exit_delay_s: exitDelayS,
      siren_time_s: 180,
      heartbeat_s: 60,
      zones: [
        { zone: 1, name: 'Front door', type: 'entry_exit', partition: 1, device: 'front_door' },
        { zone: 2, name: 'Hall motion', type: 'interior_follower', partition: 1, device: 'hall_motion' },
        { zone: 3, name: 'Kitchen leak', type: 'water_24h', partition: 1, device: 'kitchen_leak' },
        { zone: 4, name: 'Living room smoke', type: 'fire_24h', partition: 1, device: 'living_smoke' },
      ],
    },
    log_level: 'info',
  };
  const configFile = join(gwDir, 'gateway.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2), { mode: 0o600 });

  say('starting the premises gateway');
  const gateway = new ServiceProcess({
    name: 'gateway',
    command: process.execPath,
    args: [GATEWAY_MAIN, '--config', configFile],
    logFile: join(logs, 'gateway.log'),
    onLine: warnLine('gateway'),
  });
  const gwReady = await gateway.start();
  stack.push(() => gateway.close());

  const emulator = new Zigbee2MqttEmulator({ url: `mqtt://127.0.0.1:${gwReady.premises_port}`, qos: 1 });
  await emulator.start();
  stack.push(() => emulator.stop());

  console.log('');
  say(`console:  ${baseUrl}/`);
  say(
    `login:    ${demoPassword ? `${demoPassword.username} / ${demoPassword.password}` : 'see data/logs/cloud.log (demo_login)'}`,
  );
  say(`API docs: ${baseUrl}/api/docs   (Authorization: Bearer ${token})`);
  say(`logs:     ${logs}`);
  console.log('');

  await runDemoScenario({ cloud: api, gatewayId, emulator, exitDelayS, entryDelayS, say });
  const stopTelemetry = startTelemetry(emulator);
  stack.push(async () => stopTelemetry());
  say('demo played; the premises keeps reporting. Ctrl-C to stop.');
} catch (err) {
  console.error(err);
  await shutdown(1);
}
