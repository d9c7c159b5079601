import { GATEWAY_ID_PATTERN } from './schemas.js';

/** Every gateway <-> cloud topic lives under this versioned root. */
export const TOPIC_ROOT = 'mertah/v1/gw';

/** Topic suffixes and who publishes them. */
export const TOPICS = {
  status: { suffix: 'status', from: 'gateway', retained: true },
  heartbeat: { suffix: 'heartbeat', from: 'gateway', retained: false },
  events: { suffix: 'events', from: 'gateway', retained: false },
  telemetry: { suffix: 'telemetry', from: 'gateway', retained: false },
  commandResult: { suffix: 'cmd/result', from: 'gateway', retained: false },
  configApplied: { suffix: 'config/applied', from: 'gateway', retained: false },
  ack: { suffix: 'ack', from: 'cloud', retained: false },
  command: { suffix: 'cmd', from: 'cloud', retained: false },
  configDesired: { suffix: 'config/desired', from: 'cloud', retained: true },
} as const;

export type TopicName = keyof typeof TOPICS;

export function topic(gatewayId: string, name: TopicName): string {
  return `${TOPIC_ROOT}/${gatewayId}/${TOPICS[name].suffix}`;
}

/** The wildcard the cloud subscribes to for one kind of gateway message. */
export function topicFilter(name: TopicName): string {
  return `${TOPIC_ROOT}/+/${TOPICS[name].suffix}`;
}

const bySuffix = new Map<string, TopicName>(
  (Object.keys(TOPICS) as TopicName[]).map((k) => [TOPICS[k].suffix, k]),
);
const idRe = new RegExp(GATEWAY_ID_PATTERN);

export interface ParsedTopic {
  gatewayId: string;
  name: TopicName;
}

/** Parses a Mertah topic; returns null for anything that is not exactly one of ours. */
export function parseTopic(t: string): ParsedTopic | null {
  const prefix = `${TOPIC_ROOT}/`;
  if (!t.startsWith(prefix)) return null;
  const rest = t.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return null;
  const gatewayId = rest.slice(0, slash);
  if (!idRe.test(gatewayId)) return null;
  const name = bySuffix.get(rest.slice(slash + 1));
  if (!name) return null;
  return { gatewayId, name };
}

/** Topics a gateway may publish to: only its own, only gateway-side kinds. */
export function gatewayMayPublish(gatewayId: string, t: string): boolean {
  const p = parseTopic(t);
  return p !== null && p.gatewayId === gatewayId && TOPICS[p.name].from === 'gateway';
}

/** Topic filters a gateway may subscribe to: exactly its own cloud-side topics, no wildcards. */
export function gatewayMaySubscribe(gatewayId: string, filter: string): boolean {
  if (filter.includes('+') || filter.includes('#')) return false;
  const p = parseTopic(filter);
  return p !== null && p.gatewayId === gatewayId && TOPICS[p.name].from === 'cloud';
}
