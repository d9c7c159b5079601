#!/usr/bin/env node
// npm run bench [-- <scenario> ...]
// Runs each scenario in bench/scenarios/<name>.mjs and writes bench/results/<name>.json:
// {"scenario","date","machine","figures","ratios","goals","met"}. A scenario exports
// `async function run({ log })` returning { figures, ratios, goals } where each goal is
// "<op> <number>" on the ratio or figure of the same name (">= 50", "<= 250").
import { readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const scenarioDir = join(here, 'scenarios');
const all = readdirSync(scenarioDir)
  .filter((f) => f.endsWith('.mjs'))
  .map((f) => f.slice(0, -4))
  .sort();
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const w of wanted) {
  if (!all.includes(w)) {
    console.error(`unknown scenario "${w}"; known: ${all.join(', ')}`);
    process.exit(2);
  }
}
const names = wanted.length ? wanted : all;

export function checkGoal(value, goal) {
  const m = /^\s*(>=|<=|>|<|==)\s*(-?[\d.]+)\s*$/.exec(goal);
  if (!m || typeof value !== 'number' || !Number.isFinite(value)) return false;
  const n = Number(m[2]);
  switch (m[1]) {
    case '>=':
      return value >= n;
    case '<=':
      return value <= n;
    case '>':
      return value > n;
    case '<':
      return value < n;
    default:
      return value === n;
  }
}

const machine = {
  cpus: os.cpus().length,
  cpu_model: os.cpus()[0]?.model ?? 'unknown',
  memory_gib: Math.round(os.totalmem() / 2 ** 30),
  platform: `${os.platform()} ${os.release()}`,
  node: process.version,
};

let failed = 0;
for (const name of names) {
  const started = Date.now();
  const log = (...a) => console.log(`[${name}]`, ...a);
  log('running');
  try {
    const mod = await import(pathToFileURL(join(scenarioDir, `${name}.mjs`)).href);
    const r = await mod.run({ log });
    const goals = r.goals ?? {};
    const met = Object.entries(goals).every(([k, g]) => checkGoal(r.ratios?.[k] ?? r.figures?.[k], g));
    const out = {
      scenario: name,
      date: new Date().toISOString(),
      machine,
      duration_s: Math.round((Date.now() - started) / 100) / 10,
      figures: r.figures ?? {},
      ratios: r.ratios ?? {},
      goals,
      met,
      notes: r.notes ?? undefined,
    };
    writeFileSync(join(here, 'results', `${name}.json`), `${JSON.stringify(out, null, 2)}\n`);
    log(met ? 'goals met' : 'goals NOT met', JSON.stringify({ ratios: out.ratios, goals }));
  } catch (err) {
    failed++;
    console.error(`[${name}] failed:`, err);
  }
}
process.exit(failed ? 1 : 0);
