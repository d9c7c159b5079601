// Ingest throughput: events committed and acked per second from 100 simulated gateways
// (real MQTT clients, one event per message, QoS 1, a window of unacked events each) into
// the real cloud (aedes + validation + PGlite + alarms + Ack), against the same clients
// and message flow through bare aedes and through Mosquitto, where one subscriber answers
// each gateway with an Ack and stores nothing. Same machine, same run.
//
// The load (gateways) runs in a worker thread; the broker under test, and for the peers
// the answering subscriber, in the main thread (Mosquitto in its own process).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { startMosquitto } from '../lib/mosquitto.mjs';

const GATEWAYS = Number(process.env.BENCH_GATEWAYS ?? 100);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 64);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 2000);
const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 8000);
const ROOT = 'mertah/v1/gw';

// ---------------------------------------------------------------------------------------
// worker: the gateways
// ---------------------------------------------------------------------------------------

async function loadWorker({ port, gateways, window, warmupMs, measureMs }) {
  const { default: mqtt } = await import('mqtt');
  const clients = [];
  let measuring = false;
  let acked = 0;
  const latencies = [];
  const stats = { sent: 0, acks: 0 };

  await Promise.all(
    gateways.map(
      (g) =>
        new Promise((resolve, reject) => {
          const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
            clientId: g.id,
            username: g.id,
            password: g.secret,
            reconnectPeriod: 0,
            connectTimeout: 30_000,
          });
          c.once('connect', () => resolve());
          c.once('error', reject);
          clients.push({ c, g });
        }),
    ),
  );

  let running = true;
  for (const { c, g } of clients) {
    let seq = 0;
    const inflight = new Map(); // seq -> sent at (ms)
    const fill = () => {
      while (running && inflight.size < window) {
        seq++;
        const code = seq % 100 === 0 ? '130' : '401';
        const ev = {
          event_id: randomUUID(),
          seq,
          ts: Date.now(),
          partition: 1,
          zone: seq % 16,
          device: 'sensor',
          code,
          qualifier: 'new',
          priority: code === '130' ? 2 : 6,
          text: code === '130' ? 'burglary' : 'opening by user',
        };
        inflight.set(seq, performance.now());
        c.publish(
          `${ROOT}/${g.id}/events`,
          JSON.stringify({ gateway_id: g.id, sent_at: ev.ts, events: [ev] }),
          {
            qos: 1,
          },
        );
        stats.sent++;
      }
    };
    c.on('message', (_t, payload) => {
      const a = JSON.parse(payload.toString());
      stats.acks++;
      const now = performance.now();
      const covered = (s) => s <= a.ack || (a.sack ?? []).some(([lo, hi]) => s >= lo && s <= hi);
      for (const [s, at] of inflight) {
        if (!covered(s)) continue;
        inflight.delete(s);
        if (measuring) {
          acked++;
          latencies.push(now - at);
        }
      }
      fill();
    });
    c.subscribe(`${ROOT}/${g.id}/ack`, { qos: 1 }, () => fill());
  }

  await new Promise((r) => setTimeout(r, warmupMs));
  measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, measureMs));
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  running = false;
  await new Promise((r) => setTimeout(r, 500));
  await Promise.all(clients.map(({ c }) => c.endAsync(true).catch(() => {})));
  latencies.sort((a, b) => a - b);
  const pct = (p) =>
    latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : null;
  return {
    events_per_s: acked / elapsed,
    acked,
    p50_ms: pct(0.5),
    p99_ms: pct(0.99),
    sent: stats.sent,
    acks: stats.acks,
  };
}

if (!isMainThread && workerData?.role === 'ingest-load') {
  loadWorker(workerData).then(
    (r) => parentPort.postMessage({ ok: true, r }),
    (err) => parentPort.postMessage({ ok: false, err: String(err?.stack ?? err) }),
  );
}

function runLoad(port, gateways) {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), {
      workerData: {
        role: 'ingest-load',
        port,
        gateways,
        window: WINDOW,
        warmupMs: WARMUP_MS,
        measureMs: MEASURE_MS,
      },
    });
    w.once('message', (m) => (m.ok ? resolve(m.r) : reject(new Error(m.err))));
    w.once('error', reject);
  });
}

// ---------------------------------------------------------------------------------------
// main thread: brokers under test
// ---------------------------------------------------------------------------------------

/** The peers' stand-in for ingest: one subscriber that acks every gateway's events, stores nothing. */
async function responder(port) {
  const { default: mqtt } = await import('mqtt');
  const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: 'responder', reconnectPeriod: 0 });
  await new Promise((resolve, reject) => {
    c.once('connect', resolve);
    c.once('error', reject);
  });
  const high = new Map();
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const ts = Date.now();
    for (const [gw, ack] of high) c.publish(`${ROOT}/${gw}/ack`, JSON.stringify({ ack, ts }), { qos: 1 });
    high.clear();
  };
  c.on('message', (t, payload) => {
    const gw = t.split('/')[3];
    const b = JSON.parse(payload.toString());
    for (const e of b.events) high.set(gw, Math.max(high.get(gw) ?? 0, e.seq));
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });
  await c.subscribeAsync(`${ROOT}/+/events`, { qos: 1 });
  return c;
}

async function benchCloud(log) {
  const { buildApp, testConfig } = await import('../../cloud/dist/index.js');
  const { SYSTEM } = await import('../../cloud/dist/plugins/app/auth/roles.js');
  const dataDir = mkdtempSync(join(tmpdir(), 'mertah-bench-cloud-'));
  const app = await buildApp({ config: testConfig({ dataDir, logLevel: 'warn' }) });
  try {
    const gateways = [];
    for (let i = 0; i < GATEWAYS; i++) {
      const id = `gw-bench-${String(i).padStart(3, '0')}`;
      gateways.push({ id, secret: (await app.gateways.provision(SYSTEM, id)).secret });
    }
    log(`cloud: ${GATEWAYS} gateways provisioned, PGlite in ${dataDir}`);
    const r = await runLoad(app.broker.ports.mqtt, gateways);
    await app.ingest.drain();
    const stored = await app.db.query('SELECT count(*)::int AS n FROM events');
    const acked = await app.db.query('SELECT sum(acked_seq)::int AS n FROM gateways');
    const refused = Object.values(app.counters.snapshot()).reduce((a, b) => a + b, 0);
    return {
      ...r,
      stored: stored.rows[0].n,
      acked_seq_total: acked.rows[0].n,
      refused,
      flushes: app.ingest.stats.flushes,
      flush_ms: app.ingest.stats.flush_ms,
      tx_ms: app.ingest.stats.tx_ms,
      events_committed: app.ingest.stats.events_committed,
    };
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function benchAedes() {
  const { Aedes } = await import('aedes');
  const { createServer: tcp } = await import('node:net');
  // the same broker settings as the cloud's, without auth, ACL, validation or storage
  const aedes = await Aedes.createBroker({ concurrency: 1000, queueLimit: 500, heartbeatInterval: 60_000 });
  const server = tcp((s) => {
    s.setNoDelay(true);
    aedes.handle(s);
  });
  const port = await new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port)));
  const sub = await responder(port);
  try {
    const gateways = Array.from({ length: GATEWAYS }, (_, i) => ({ id: `gw-bench-${i}`, secret: 'x' }));
    return await runLoad(port, gateways);
  } finally {
    sub.end(true);
    await new Promise((r) => aedes.close(r));
    await new Promise((r) => server.close(r));
  }
}

async function benchMosquitto(log) {
  const broker = await startMosquitto(['max_inflight_messages 0', 'max_queued_messages 100000']);
  try {
    log(`mosquitto on ${broker.port}`);
    const sub = await responder(broker.port);
    try {
      const gateways = Array.from({ length: GATEWAYS }, (_, i) => ({ id: `gw-bench-${i}`, secret: 'x' }));
      return await runLoad(broker.port, gateways);
    } finally {
      sub.end(true);
    }
  } finally {
    await broker.stop();
  }
}

const round = (x, d = 1) => (x === null || x === undefined ? null : Math.round(x * 10 ** d) / 10 ** d);

export async function run({ log }) {
  const cloud = await benchCloud(log);
  log('cloud', JSON.stringify(cloud));
  if (process.env.BENCH_ONLY === 'cloud')
    throw new Error('BENCH_ONLY=cloud: peers skipped, no result written');
  const aedes = await benchAedes();
  log('aedes', JSON.stringify(aedes));
  const mosquitto = await benchMosquitto(log);
  log('mosquitto', JSON.stringify(mosquitto));
  if (cloud.stored < cloud.events_committed || cloud.acked_seq_total > cloud.stored) {
    throw new Error(`acked more than stored: ${JSON.stringify(cloud)}`);
  }
  return {
    figures: {
      gateways: GATEWAYS,
      window_per_gateway: WINDOW,
      measure_s: MEASURE_MS / 1000,
      cloud_events_per_s: round(cloud.events_per_s, 0),
      cloud_ack_p50_ms: round(cloud.p50_ms),
      cloud_ack_p99_ms: round(cloud.p99_ms),
      cloud_events_stored: cloud.stored,
      cloud_flushes: cloud.flushes,
      cloud_refusals: cloud.refused,
      aedes_events_per_s: round(aedes.events_per_s, 0),
      aedes_ack_p50_ms: round(aedes.p50_ms),
      aedes_ack_p99_ms: round(aedes.p99_ms),
      mosquitto_events_per_s: round(mosquitto.events_per_s, 0),
      mosquitto_ack_p50_ms: round(mosquitto.p50_ms),
      mosquitto_ack_p99_ms: round(mosquitto.p99_ms),
    },
    ratios: {
      vs_aedes: round(cloud.events_per_s / aedes.events_per_s, 3),
      vs_mosquitto: round(cloud.events_per_s / mosquitto.events_per_s, 3),
    },
    goals: { vs_aedes: '>= 0.5' },
    notes:
      'Events/s acked end to end (publish QoS 1 -> Ack covering it). Cloud: aedes with auth + ACL + frame guard, ' +
      'WireParser validation, coalesced unnest() INSERT ... ON CONFLICT DO NOTHING into on-disk PGlite, alarm ' +
      'open/join (1% alarm-class events), watermark update, then Ack. Peers: same clients and flow, one ' +
      'subscriber acking each gateway, no validation or storage. Load generator in a worker thread.',
  };
}
