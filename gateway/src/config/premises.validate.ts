import { PremisesConfig } from '@mertah/protocol';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { type ConfigIssue, premisesIssues } from './config.loader.js';

const check = TypeCompiler.Compile(PremisesConfig);

export type PremisesResult = { ok: true; value: PremisesConfig } | { ok: false; issues: ConfigIssue[] };

/**
 * Validates a premises config on its own (a cloud DesiredConfig, `config import`): defaults
 * filled, then the protocol schema and every semantic rule; each problem with its JSON
 * pointer path (relative to the premises object, so `/zones/2/zone`).
 */
export function validatePremises(raw: unknown): PremisesResult {
  const value = Value.Default(PremisesConfig, structuredClone(raw));
  const issues: ConfigIssue[] = [];
  for (const e of check.Errors(value)) issues.push({ path: e.path || '/', message: e.message });
  if (issues.length === 0) issues.push(...premisesIssues(value as PremisesConfig, ''));
  if (issues.length > 0) return { ok: false, issues: dedupe(issues) };
  return { ok: true, value: value as PremisesConfig };
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
