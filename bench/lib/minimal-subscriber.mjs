// The footprint peer: a minimal Node process that subscribes to the same zigbee2mqtt
// topics as the gateway (QoS 1, persistent session) and JSON-parses each message, nothing
// else. Prints a ready line, then {"count":n} whenever the count changed (every 200 ms).
import mqtt from 'mqtt';

const url = process.argv[2];
const base = process.argv[3] ?? 'zigbee2mqtt';
let count = 0;
let parsed = 0;
const c = mqtt.connect(url, { clientId: 'bench-minimal-subscriber', clean: false, reconnectPeriod: 1000 });
c.on('message', (_topic, payload) => {
  count++;
  try {
    if (JSON.parse(payload.toString()) !== null) parsed++;
  } catch {
    // not JSON: counted, ignored
  }
});
c.once('connect', async () => {
  await c.subscribeAsync(`${base}/#`, { qos: 1 });
  process.stdout.write(`${JSON.stringify({ msg: 'ready', pid: process.pid })}\n`);
});
let last = -1;
setInterval(() => {
  if (count !== last) {
    last = count;
    process.stdout.write(`${JSON.stringify({ count, parsed })}\n`);
  }
}, 200);
process.on('SIGTERM', () => c.end(false, {}, () => process.exit(0)));
