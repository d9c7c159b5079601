import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../src/index.js';
import { tempDir } from '../support/tmp.js';

/** The example of docs/contracts.md, verbatim. */
const CONTRACT_EXAMPLE = {
  gateway_id: 'gw-demo',
  data_dir: './data/gw-demo',
  cloud: { url: 'mqtt://127.0.0.1:1883', secret: '...', ca_file: null, keepalive_s: 30 },
  premises_broker: {
    url: 'mqtt://127.0.0.1:1884',
    embedded: { host: '127.0.0.1', port: 1884 },
    base_topic: 'zigbee2mqtt',
  },
  outbox: { max_records: 200000, batch_size: 500, window: 5000 },
  premises: {
    version: 1,
    entry_delay_s: 30,
    exit_delay_s: 60,
    siren_time_s: 180,
    heartbeat_s: 60,
    zones: [],
  },
  log_level: 'info',
};

const issuesOf = (raw: unknown) => {
  try {
    parseConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('config', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.cleanup());

  it('accepts the example of docs/contracts.md as is', () => {
    expect(parseConfig(CONTRACT_EXAMPLE)).toEqual(CONTRACT_EXAMPLE);
  });

  it('fills defaults for everything but the gateway id, data dir and cloud url/secret', () => {
    const c = parseConfig({
      gateway_id: 'gw-min',
      data_dir: 'd',
      cloud: { url: 'mqtts://cloud:8883', secret: 'x' },
    });
    expect(c.cloud).toEqual({ url: 'mqtts://cloud:8883', secret: 'x', ca_file: null, keepalive_s: 30 });
    expect(c.premises_broker).toEqual({ url: 'mqtt://127.0.0.1:1883', base_topic: 'zigbee2mqtt' });
    expect(c.outbox).toEqual({ max_records: 200000, batch_size: 500, window: 5000 });
    expect(c.premises).toEqual({
      version: 0,
      entry_delay_s: 30,
      exit_delay_s: 60,
      siren_time_s: 180,
      heartbeat_s: 60,
      zones: [],
    });
    expect(c.log_level).toBe('info');
    const e = parseConfig({ ...CONTRACT_EXAMPLE, premises_broker: { embedded: {} } });
    expect(e.premises_broker.embedded).toEqual({ host: '127.0.0.1', port: 1884 });
    const z = parseConfig({
      ...CONTRACT_EXAMPLE,
      premises: { version: 1, zones: [{ zone: 1, name: 'Door', type: 'entry_exit', device: 'door' }] },
    });
    expect(z.premises.zones[0]!.partition).toBe(1);
  });

  it('reports every error at once, each with its path', () => {
    const issues = issuesOf({
      gateway_id: 'GW!',
      cloud: { url: 'http://x', secret: '', extra: 1 },
      premises_broker: { embedded: { port: 70000 } },
      outbox: { batch_size: 0 },
      premises: { version: 1, zones: [{ zone: 1, name: 'x', type: 'laser', device: 'd' }] },
      log_level: 'loud',
    });
    const paths = new Set(issues.map((i) => i.path));
    for (const p of [
      '/gateway_id',
      '/data_dir',
      '/cloud/url',
      '/cloud/secret',
      '/cloud/extra',
      '/premises_broker/embedded/port',
      '/outbox/batch_size',
      '/premises/zones/0/type',
      '/log_level',
    ]) {
      expect(paths, p).toContain(p);
    }
  });

  it('reports duplicate zones and a batch larger than the window', () => {
    const zone = { zone: 7, name: 'x', type: 'instant', device: 'd' };
    const issues = issuesOf({
      ...CONTRACT_EXAMPLE,
      outbox: { max_records: 1000, batch_size: 600, window: 500 },
      premises: { version: 1, zones: [zone, zone] },
    });
    expect(issues).toEqual([
      { path: '/premises/zones/1/zone', message: 'zone 7 already defined at /zones/0' },
      { path: '/outbox/batch_size', message: 'must not exceed /outbox/window' },
    ]);
  });

  it('loadConfig reads a file and reports unreadable or non-JSON files with a code', () => {
    const file = join(tmp.dir, 'gw.json');
    writeFileSync(file, JSON.stringify(CONTRACT_EXAMPLE));
    expect(loadConfig(file).gateway_id).toBe('gw-demo');
    writeFileSync(file, '{ nope');
    expect(() => loadConfig(file)).toThrow(expect.objectContaining({ code: 'E_CONFIG_JSON' }));
    expect(() => loadConfig(join(tmp.dir, 'missing.json'))).toThrow(
      expect.objectContaining({ code: 'E_CONFIG_READ' }),
    );
  });
});
