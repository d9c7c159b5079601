import { readFileSync } from 'node:fs';
import type { PremisesConfig } from '@mertah/protocol';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { GatewayConfig } from './config.schema.js';

export type ConfigErrorCode = 'E_CONFIG_READ' | 'E_CONFIG_JSON' | 'E_CONFIG_INVALID';

export interface ConfigIssue {
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly code: ConfigErrorCode,
    readonly issues: ConfigIssue[],
  ) {
    super(`${code}: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`);
    this.name = 'ConfigError';
  }
}

const check = TypeCompiler.Compile(GatewayConfig);

/** Fills defaults and validates; every problem is reported with its JSON pointer path. */
export function parseConfig(raw: unknown): GatewayConfig {
  const withDefaults = Value.Default(GatewayConfig, structuredClone(raw));
  const issues: ConfigIssue[] = [];
  for (const e of check.Errors(withDefaults)) issues.push({ path: e.path || '/', message: e.message });
  if (issues.length === 0) issues.push(...semanticIssues(withDefaults as GatewayConfig));
  if (issues.length > 0) throw new ConfigError('E_CONFIG_INVALID', dedupe(issues));
  return withDefaults as GatewayConfig;
}

export function loadConfig(path: string): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('E_CONFIG_READ', [{ path: '/', message: `${path}: ${(err as Error).message}` }]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('E_CONFIG_JSON', [{ path: '/', message: (err as Error).message }]);
  }
  return parseConfig(raw);
}

/** Rules a JSON schema cannot say: unique zone numbers, one device per zone type, window vs batch. */
export function premisesIssues(premises: PremisesConfig, base = '/premises'): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Map<number, number>();
  premises.zones.forEach((z, i) => {
    const first = seen.get(z.zone);
    if (first !== undefined) {
      issues.push({
        path: `${base}/zones/${i}/zone`,
        message: `zone ${z.zone} already defined at /zones/${first}`,
      });
    } else seen.set(z.zone, i);
  });
  const partitions = new Set([1, ...premises.zones.map((z) => z.partition ?? 1)]);
  (premises.auto_arm ?? []).forEach((a, i) => {
    if (!partitions.has(a.partition)) {
      issues.push({
        path: `${base}/auto_arm/${i}/partition`,
        message: `no zone is in partition ${a.partition}`,
      });
    }
  });
  const users = new Map<string, number>();
  (premises.users ?? []).forEach((u, i) => {
    const first = users.get(u.user);
    if (first !== undefined) {
      issues.push({
        path: `${base}/users/${i}/user`,
        message: `user ${u.user} already defined at /users/${first}`,
      });
    } else users.set(u.user, i);
    if (!wellFormedHash(u.code_hash)) {
      issues.push({ path: `${base}/users/${i}/code_hash`, message: HASH_FORMAT });
    }
  });
  if (premises.installer_code_hash !== undefined && !wellFormedHash(premises.installer_code_hash)) {
    issues.push({ path: `${base}/installer_code_hash`, message: HASH_FORMAT });
  }
  return issues;
}

const HASH_FORMAT = 'must be scrypt$<N>$<r>$<p>$<salt base64>$<hash base64> (see hashCode)';
const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The shape hashCode produces; verifyCode never matches anything else. */
function wellFormedHash(h: string): boolean {
  const parts = h.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const nums = parts.slice(1, 4).map(Number);
  if (!nums.every((n) => Number.isInteger(n) && n > 0) || nums[0]! > 1 << 20) return false;
  return B64.test(parts[4]!) && B64.test(parts[5]!) && Buffer.from(parts[5]!, 'base64').length === 32;
}

function semanticIssues(c: GatewayConfig): ConfigIssue[] {
  const issues = premisesIssues(c.premises);
  if (c.outbox.batch_size > c.outbox.window) {
    issues.push({ path: '/outbox/batch_size', message: 'must not exceed /outbox/window' });
  }
  return issues;
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.path}\u0000${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
