import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The shared real-world corpora live beside the repository (see shared/corpora/README.md). */
export const corporaDir = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  '..',
  'shared',
  'corpora',
);

export interface Z2mRecord {
  id: string;
  topic: string;
  payload: Record<string, unknown>;
}

export function z2mRecords(): Z2mRecord[] {
  const file = join(corporaDir, 'zigbee2mqtt_security_device_payloads.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { records: Z2mRecord[] }).records;
}

export function z2mRecord(id: string): Z2mRecord {
  const r = z2mRecords().find((x) => x.id === id);
  if (!r) throw new Error(`corpus record ${id} not found`);
  return r;
}

/** Corpus topics keep placeholders such as `<friendly_name>`; give them a concrete name. */
export function concreteTopic(topic: string, name = 'dev'): string {
  return topic.replace(/<[^>]+>/g, name);
}
