// Backlog drain: the uplink is cut while BENCH_BACKLOG (100,000) events pile up in the
// gateway's outbox, one fire alarm is raised last, then the link comes back.
//
// Gateway side (all real processes): cloud (node cloud/dist/main.js, PGlite) <- TCP proxy
// we cut and restore <- gateway (node gateway/dist/main.js, embedded premises broker) <-
// zigbee2mqtt messages (a water_leak 24h zone toggled: one 154 event each, then smoke on a
// fire_24h zone: 110, priority 1). Measured from the moment the gateway's reconnect comes
// through the proxy: drain rate until the cloud's acked_seq (GET /api/gateways) reaches the
// gateway's last seq, and the fire alarm's arrival on the cloud's SSE stream.
// Then a second, smaller backlog is drained and the gateway is SIGKILLed mid-drain and
// restarted: every seq it ever committed must end up committed in the cloud.
//
// Peer, same run: the usual zigbee2mqtt setup, a Mosquitto edge broker bridged (QoS 1,
// cleansession false, queue_qos0_messages, max_queued_messages 200000) through the same
// kind of proxy to a far Mosquitto with one persistent QoS 1 subscriber; the same
// messages are published while the bridge is cut; drain = messages received by the
// subscriber per second, measured from the bridge's reconnect through the proxy.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { startMosquitto } from '../lib/mosquitto.mjs';
import { cpuMs } from '../lib/proc-stat.mjs';
import { TcpProxy } from '../lib/tcp-proxy.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const N = Number(process.env.BENCH_BACKLOG ?? 100_000);
const KILL_N = Number(process.env.BENCH_KILL_BACKLOG ?? 20_000);
const PUB_WINDOW = 1000;
// the gateway's outbox settings (defaults of the gateway: batch 500, window 5000)
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 5000);
const GW = 'gw-bench-drain';
const GW_BASE = process.env.BENCH_GW_BASE ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const round = (x, d = 1) => (x === null || x === undefined ? null : Math.round(x * 10 ** d) / 10 ** d);

async function waitFor(what, fn, timeoutMs = 60_000, everyMs = 50) {
  const t0 = Date.now();
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
    await sleep(everyMs);
  }
}

/** Publishes `count` messages at QoS 1 with at most PUB_WINDOW awaiting their PUBACK. */
async function publishMany(client, count, topicOf, payloadOf) {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await client.publishAsync(topicOf(i), payloadOf(i), { qos: 1 });
    }
  };
  await Promise.all(Array.from({ length: PUB_WINDOW }, worker));
}

const leakPayload = (i) => JSON.stringify({ water_leak: i % 2 === 0 });

/** Reads the gateway's outbox (WAL: a reader next to the running process is fine). */
function outboxState(dbPath) {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const lastSeq = Number(db.prepare("SELECT value FROM meta WHERE key = 'last_seq'").pluck().get() ?? 0);
    const pending = db.prepare('SELECT count(*) FROM events').pluck().get();
    return { lastSeq, pending };
  } finally {
    db.close();
  }
}

/** Minimal SSE reader: calls onAlarm(alarm, at) for every `event: alarm` message. */
function sse(url, token, onAlarm) {
  const ctrl = new AbortController();
  const done = (async () => {
    const res = await fetch(url, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` },
      signal: ctrl.signal,
    });
    if (!res.ok || !res.body) throw new Error(`SSE ${res.status}`);
    const dec = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body) {
      buf += dec.decode(chunk, { stream: true });
      let idx = buf.indexOf('\n\n');
      while (idx >= 0) {
        const block = buf.slice(0, idx);
        buf = buf.slice(idx + 2);
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trim())
          .join('\n');
        if (data && /^event: ?alarm$/m.test(block)) onAlarm(JSON.parse(data), performance.now());
        idx = buf.indexOf('\n\n');
      }
    }
  })().catch(() => {});
  return { close: () => ctrl.abort(), done };
}

async function benchGateway(log) {
  const { ServiceProcess, CLOUD_MAIN, GATEWAY_MAIN, Zigbee2MqttEmulator } = await import(
    pathToFileURL(join(repoRoot, 'device-sim', 'dist', 'index.js')).href
  );
  const { default: mqtt } = await import('mqtt');
  const dir = mkdtempSync(join(tmpdir(), 'mertah-bench-drain-'));
  const token = `mtk_bench_${randomBytes(18).toString('base64url')}`;
  const cloud = new ServiceProcess({
    name: 'cloud',
    command: process.execPath,
    args: [CLOUD_MAIN],
    env: {
      PORT: '0',
      MQTT_PORT: '0',
      MERTAH_DATA_DIR: join(dir, 'cloud'),
      MERTAH_DEMO: '1',
      MERTAH_DEMO_TOKEN: token,
      LOG_LEVEL: 'warn',
    },
    logFile: join(dir, 'cloud.log'),
    readyTimeoutMs: 60_000,
  });
  let gateway = null;
  let emulator = null;
  let bulk = null;
  let stream = null;
  const proxy = { p: null };
  const gwDirs = [];
  try {
    const ready = await cloud.start();
    const http = `http://127.0.0.1:${ready.http_port}`;
    const api = async (path, init = {}) => {
      const res = await fetch(`${http}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers },
      });
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return res.json();
    };
    const { secret } = await api('/api/gateways', {
      method: 'POST',
      body: JSON.stringify({ gateway_id: GW }),
    });
    const gwRow = async () => (await api('/api/gateways')).gateways.find((g) => g.gateway_id === GW);
    proxy.p = new TcpProxy({ targetPort: Number(ready.mqtt_port) });
    const proxyPort = await proxy.p.up();

    // The outbox on tmpfs: the fill is one fsync'd commit per sensor message, serially
    // (~500/s on this disk), which would take minutes for 100,000; Mosquitto runs without
    // persistence, so neither side pays for the disk during the drain.
    const gwDir = mkdtempSync(join(GW_BASE, 'mertah-bench-drain-gw-'));
    gwDirs.push(gwDir);
    const configPath = join(gwDir, 'gateway.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        gateway_id: GW,
        data_dir: gwDir,
        cloud: { url: `mqtt://127.0.0.1:${proxyPort}`, secret, keepalive_s: 30 },
        premises_broker: { embedded: { host: '127.0.0.1', port: 0 }, base_topic: 'zigbee2mqtt' },
        outbox: { max_records: 400_000, batch_size: BATCH, window: WINDOW },
        premises: {
          version: 1,
          entry_delay_s: 30,
          exit_delay_s: 60,
          siren_time_s: 180,
          heartbeat_s: 60,
          zones: [
            { zone: 1, name: 'Kitchen leak', type: 'water_24h', partition: 1, device: 'kitchen_leak' },
            { zone: 2, name: 'Hall smoke', type: 'fire_24h', partition: 1, device: 'hall_smoke' },
          ],
        },
        log_level: 'warn',
      }),
    );
    const dbPath = join(gwDir, 'gateway.db');
    gateway = new ServiceProcess({
      name: 'gateway',
      command: process.execPath,
      args: [GATEWAY_MAIN, '--config', configPath],
      logFile: join(gwDir, 'gateway.log'),
    });
    let gwReady = await gateway.start();
    const premises = () => `mqtt://127.0.0.1:${gwReady.premises_port}`;
    emulator = new Zigbee2MqttEmulator({ url: premises(), qos: 1 });
    await emulator.start();
    await emulator.pair('kitchen_leak', 'water_leak', true);
    await emulator.pair('hall_smoke', 'smoke', true);
    await waitFor('gateway online', async () => (await gwRow())?.online, 30_000, 100);
    await waitFor(
      'pairing events acked',
      async () => {
        const row = await gwRow();
        return row.acked_seq >= outboxState(dbPath).lastSeq && outboxState(dbPath).pending === 0;
      },
      30_000,
      100,
    );
    const base = outboxState(dbPath).lastSeq;

    // ---- cut, fill, alarm last -------------------------------------------------------
    await proxy.p.cut();
    bulk = mqtt.connect(premises(), { clientId: 'bench-z2m-bulk', reconnectPeriod: 1000 });
    await new Promise((r, j) => bulk.once('connect', r).once('error', j));
    let t0 = performance.now();
    await publishMany(bulk, N, () => 'zigbee2mqtt/kitchen_leak', leakPayload);
    await waitFor('backlog committed', () => outboxState(dbPath).lastSeq >= base + N, 300_000, 200);
    const fillS = (performance.now() - t0) / 1000;
    await bulk.publishAsync('zigbee2mqtt/hall_smoke', JSON.stringify({ smoke: true }), { qos: 1 });
    await waitFor('fire committed', () => outboxState(dbPath).lastSeq >= base + N + 1, 30_000, 20);
    const last = outboxState(dbPath);
    log(`gateway: ${N} events + 1 fire in the outbox in ${fillS.toFixed(1)} s (last seq ${last.lastSeq})`);

    // ---- restore ----------------------------------------------------------------------
    let fireAt = null;
    stream = sse(`${http}/api/alarms/stream`, token, (a, at) => {
      if (a.code === '110' && fireAt === null) fireAt = at;
    });
    await sleep(300); // the stream is open before the link is restored
    const restoreAt = performance.now();
    const connected = proxy.p.nextConnection(120_000);
    await proxy.p.up();
    const reconnectAt = await connected;
    const cpu0 = { cloud: cpuMs(cloud.child.pid), gw: cpuMs(gateway.child.pid) };
    let ackedAt = null;
    await waitFor(
      'backlog acked',
      async () => {
        const row = await gwRow();
        if (row.acked_seq >= last.lastSeq) {
          ackedAt = performance.now();
          return true;
        }
        return false;
      },
      300_000,
      25,
    );
    await waitFor('fire on SSE', () => fireAt !== null, 10_000, 10);
    const drainS = (ackedAt - reconnectAt) / 1000;
    const result = {
      // share of one core each process used during the drain: which side is the bottleneck
      cloud_cpu_pct: ((cpuMs(cloud.child.pid) - cpu0.cloud) / (drainS * 1000)) * 100,
      gateway_cpu_pct: ((cpuMs(gateway.child.pid) - cpu0.gw) / (drainS * 1000)) * 100,
      fill_s: fillS,
      reconnect_delay_ms: reconnectAt - restoreAt,
      drain_s: drainS,
      events_per_s: (last.lastSeq - base) / drainS,
      first_alarm_after_reconnect_ms: fireAt - reconnectAt,
    };
    log('gateway drain', JSON.stringify(result));

    // ---- SIGKILL mid-drain ------------------------------------------------------------
    await proxy.p.cut();
    t0 = performance.now();
    await publishMany(bulk, KILL_N, () => 'zigbee2mqtt/kitchen_leak', leakPayload);
    const killBase = last.lastSeq;
    await waitFor(
      'second backlog committed',
      () => outboxState(dbPath).lastSeq >= killBase + KILL_N,
      120_000,
      100,
    );
    bulk.end(true);
    bulk = null;
    await emulator.stop();
    emulator = null;
    const before = outboxState(dbPath);
    const conn2 = proxy.p.nextConnection(120_000);
    await proxy.p.up();
    await conn2;
    const mid = killBase + 1000;
    await waitFor('drain under way', async () => (await gwRow()).acked_seq >= mid, 60_000, 10);
    const ackedAtKill = (await gwRow()).acked_seq;
    await gateway.kill();
    log(`gateway SIGKILLed with cloud acked_seq ${ackedAtKill} of ${before.lastSeq}`);
    gwReady = await gateway.start();
    await waitFor(
      'drained after restart',
      async () => (await gwRow()).acked_seq >= outboxState(dbPath).lastSeq,
      120_000,
      100,
    ).catch(() => {});
    const after = outboxState(dbPath);
    const row = await gwRow();
    const events = await api(`/api/events?gateway_id=${GW}&limit=1&after_seq=${after.lastSeq - 1}`).catch(
      () => null,
    );
    const lost = Math.max(0, after.lastSeq - row.acked_seq);
    log(
      `after restart: gateway last seq ${after.lastSeq}, pending ${after.pending}, cloud acked_seq ${row.acked_seq}, last event ${events?.events?.[0]?.seq}`,
    );
    return {
      ...result,
      backlog: last.lastSeq - base,
      kill: {
        gateway_last_seq: after.lastSeq,
        cloud_acked_seq: row.acked_seq,
        acked_when_killed: ackedAtKill,
        lost,
      },
    };
  } finally {
    stream?.close();
    bulk?.end(true);
    await emulator?.stop().catch(() => {});
    await gateway?.close();
    await cloud.close();
    await proxy.p?.cut();
    rmSync(dir, { recursive: true, force: true });
    if (gwDirs.length) for (const d of gwDirs) rmSync(d, { recursive: true, force: true });
  }
}

async function benchBridge(log) {
  const { default: mqtt } = await import('mqtt');
  const far = await startMosquitto(['max_queued_messages 200000', 'max_inflight_messages 0']);
  const proxy = new TcpProxy({ targetPort: far.port });
  const proxyPort = await proxy.up();
  let edge = null;
  let sub = null;
  let pub = null;
  try {
    // The far subscriber: a persistent QoS 1 session, as the cloud's ingest would hold.
    let received = 0;
    let lastAt = 0;
    let firstAt = 0;
    sub = mqtt.connect(`mqtt://127.0.0.1:${far.port}`, {
      clientId: 'far-sub',
      clean: false,
      reconnectPeriod: 0,
    });
    await new Promise((r, j) => sub.once('connect', r).once('error', j));
    sub.on('message', () => {
      received++;
      lastAt = performance.now();
      if (!firstAt) firstAt = lastAt;
    });
    await sub.subscribeAsync('zigbee2mqtt/#', { qos: 1 });
    edge = await startMosquitto([
      'max_queued_messages 200000',
      'connection cloud',
      `address 127.0.0.1:${proxyPort}`,
      'topic zigbee2mqtt/# out 1',
      'cleansession false',
      'bridge_protocol_version mqttv311',
      'queue_qos0_messages true',
      'restart_timeout 1',
      'try_private false',
      'notifications false',
    ]);
    await waitFor('bridge connected', () => proxy.connections.length > 0, 20_000);
    await sleep(300);
    await proxy.cut();
    pub = mqtt.connect(`mqtt://127.0.0.1:${edge.port}`, { clientId: 'z2m', reconnectPeriod: 0 });
    await new Promise((r, j) => pub.once('connect', r).once('error', j));
    const t0 = performance.now();
    await publishMany(pub, N, () => 'zigbee2mqtt/kitchen_leak', leakPayload);
    const fillS = (performance.now() - t0) / 1000;
    await sleep(500);
    if (received !== 0) throw new Error(`bridge delivered ${received} while cut`);
    const restoreAt = performance.now();
    const connected = proxy.nextConnection(60_000);
    await proxy.up();
    const reconnectAt = await connected;
    const cpu0 = { edge: cpuMs(edge.proc.pid), far: cpuMs(far.proc.pid) };
    await waitFor('bridge drained', () => received >= N, 300_000, 5).catch(() => {});
    await sleep(300); // duplicates (QoS 1) would show here
    const drainS = (lastAt - reconnectAt) / 1000;
    const r = {
      edge_cpu_pct: ((cpuMs(edge.proc.pid) - cpu0.edge) / (drainS * 1000 + 300)) * 100,
      far_cpu_pct: ((cpuMs(far.proc.pid) - cpu0.far) / (drainS * 1000 + 300)) * 100,
      fill_s: fillS,
      received,
      reconnect_delay_ms: restoreAt ? reconnectAt - restoreAt : null,
      first_after_reconnect_ms: firstAt - reconnectAt,
      drain_s: drainS,
      messages_per_s: Math.min(received, N) / drainS,
    };
    log('mosquitto bridge drain', JSON.stringify(r));
    return r;
  } finally {
    pub?.end(true);
    sub?.end(true);
    await edge?.stop();
    await proxy.cut();
    await far.stop();
  }
}

export async function run({ log }) {
  const gw = await benchGateway(log);
  const br = await benchBridge(log);
  return {
    figures: {
      backlog_events: gw.backlog,
      gateway_batch_size: BATCH,
      gateway_window: WINDOW,
      gateway_fill_s: round(gw.fill_s),
      gateway_reconnect_delay_ms: round(gw.reconnect_delay_ms, 0),
      gateway_drain_s: round(gw.drain_s, 2),
      gateway_drain_events_per_s: round(gw.events_per_s, 0),
      gateway_drain_cloud_cpu_pct: round(gw.cloud_cpu_pct, 0),
      gateway_drain_gateway_cpu_pct: round(gw.gateway_cpu_pct, 0),
      first_alarm_after_reconnect_ms: round(gw.first_alarm_after_reconnect_ms, 0),
      mosquitto_bridge_received: br.received,
      mosquitto_bridge_reconnect_delay_ms: round(br.reconnect_delay_ms, 0),
      mosquitto_bridge_first_after_reconnect_ms: round(br.first_after_reconnect_ms, 0),
      mosquitto_bridge_drain_s: round(br.drain_s, 2),
      mosquitto_bridge_messages_per_s: round(br.messages_per_s, 0),
      mosquitto_bridge_edge_cpu_pct: round(br.edge_cpu_pct, 0),
      mosquitto_bridge_far_cpu_pct: round(br.far_cpu_pct, 0),
      sigkill_backlog_events: KILL_N,
      sigkill_acked_when_killed: gw.kill.acked_when_killed,
      sigkill_gateway_last_seq: gw.kill.gateway_last_seq,
      sigkill_cloud_acked_seq: gw.kill.cloud_acked_seq,
      lost_after_sigkill: gw.kill.lost,
    },
    ratios: {
      drain_vs_mosquitto_bridge: round(gw.events_per_s / br.messages_per_s, 3),
    },
    goals: {
      drain_vs_mosquitto_bridge: '>= 1.0',
      first_alarm_after_reconnect_ms: '<= 1000',
      lost_after_sigkill: '<= 0',
    },
    notes:
      'Both drains are timed from the reconnect arriving through the cutting proxy (the reconnect delays, ' +
      "gateway backoff vs Mosquitto's restart_timeout 1, are reported apart) to the last event committed and " +
      'acked by the cloud (acked_seq polled every 25 ms via GET /api/gateways) or the last message received by ' +
      'the far subscriber. Gateway path: premises aedes -> alarm machine -> SQLite outbox (WAL, synchronous=FULL, ' +
      'on /dev/shm) -> uplink batches -> cloud aedes + validation + PGlite commit + Ack -> outbox delete. ' +
      'Peer: Mosquitto 2 bridge QoS 1 to a far Mosquitto, no storage, no receipt beyond PUBACK. ' +
      'first_alarm_after_reconnect_ms: the fire (110) alarm raised after the backlog, seen on /api/alarms/stream. ' +
      'lost_after_sigkill: gateway last seq minus cloud acked_seq after a SIGKILL mid-drain and restart.',
  };
}
