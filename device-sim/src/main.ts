#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { CloudClient } from './cloud-client.js';
import { runDemoScenario, startTelemetry } from './demo-scenario.js';
import { Fleet } from './fleet.js';
import { Zigbee2MqttEmulator } from './z2m-emulator.js';

const usage = `mertah-sim: premises and fleet simulators

  mertah-sim premises --broker mqtt://127.0.0.1:1884 --cloud http://127.0.0.1:8080 --token T --gateway gw-demo
        emulates zigbee2mqtt on a premises broker and plays the demo intrusion
  mertah-sim fleet --cloud http://127.0.0.1:8080 --mqtt mqtt://127.0.0.1:1883 --token T --gateways 20 --changes 500 --work ./data/fleet
        runs N real gateway processes against a cloud and sends sensor changes to each
`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    broker: { type: 'string', default: 'mqtt://127.0.0.1:1884' },
    'base-topic': { type: 'string', default: 'zigbee2mqtt' },
    cloud: { type: 'string', default: 'http://127.0.0.1:8080' },
    mqtt: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
    token: { type: 'string', default: process.env.MERTAH_DEMO_TOKEN },
    gateway: { type: 'string', default: 'gw-demo' },
    gateways: { type: 'string', default: '20' },
    changes: { type: 'string', default: '500' },
    duration: { type: 'string', default: '20' },
    work: { type: 'string', default: './data/fleet' },
    'entry-delay': { type: 'string', default: '10' },
    'exit-delay': { type: 'string', default: '5' },
    help: { type: 'boolean', default: false },
  },
});

const say = (msg: string) => console.log(JSON.stringify({ level: 30, component: 'device-sim', msg }));

async function main(): Promise<void> {
  const cmd = positionals[0];
  if (values.help || !cmd) {
    console.log(usage);
    return;
  }
  if (!values.token) throw new Error('--token (or MERTAH_DEMO_TOKEN) is required');
  const cloud = new CloudClient(values.cloud, values.token);
  if (cmd === 'premises') {
    const emulator = new Zigbee2MqttEmulator({ url: values.broker, baseTopic: values['base-topic'] });
    await emulator.start();
    await runDemoScenario({
      cloud,
      gatewayId: values.gateway,
      emulator,
      exitDelayS: Number(values['exit-delay']),
      entryDelayS: Number(values['entry-delay']),
      say,
    });
    const stop = startTelemetry(emulator);
    const quit = async () => {
      stop();
      await emulator.stop();
      process.exit(0);
    };
    process.once('SIGINT', quit);
    process.once('SIGTERM', quit);
    return;
  }
  if (cmd === 'fleet') {
    const fleet = new Fleet({
      cloudHttpUrl: values.cloud,
      cloudMqttUrl: values.mqtt,
      token: values.token,
      gateways: Number(values.gateways),
      workDir: values.work,
      idPrefix: `fleet-${Date.now().toString(36)}`,
    });
    await fleet.start();
    say(`${fleet.members.length} gateways running; sending ${values.changes} changes each`);
    await fleet.burst(Number(values.changes), Number(values.duration) * 1000);
    say('burst sent');
    await fleet.stop();
    return;
  }
  console.error(usage);
  process.exitCode = 2;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
