/**
 * `npm run bench [-- fits pipeline night] [--night-summary FILE]`: runs the benchmarks (all by
 * default), prints each figure, and writes them to bench/results.json. Every figure the README
 * quotes comes from here. With --night-summary, `night` takes its figures from the JSON summary
 * of a night that already ran instead of running one.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { benchFits } from './fits.bench.ts';
import type { BenchResult } from './lib.ts';
import { benchNight } from './night.bench.ts';
import { benchPipeline } from './pipeline.bench.ts';
import { runAlertsBench } from './alerts.bench.ts';
import { runApdbBench } from './apdb.bench.ts';

/** A benchmark that prints its own lines, with the figures it returns. */
async function logged(name: string, what: string, run: (log: (line: string) => void) => Promise<Record<string, number | string>>): Promise<BenchResult> {
  const lines: string[] = [];
  const figures = await run((line) => lines.push(line));
  return { name, what, figures, report: lines.join('\n') };
}

const all: Record<string, () => BenchResult | Promise<BenchResult>> = {
  fits: () => benchFits(),
  pipeline: () => benchPipeline(),
  night: () => benchNight(summaryFile),
  alerts: () =>
    logged('alerts', 'alert packets on schema v11.0 (full DiaSource, 10 earlier DiaSources and forced sources, DiaObject, three FITS cutouts): Avro encode + Kafka framing per CPU second, against JSON.stringify of the same packets', runAlertsBench),
  apdb: () =>
    logged('apdb', 'APDB on the machine\'s PostgreSQL: one detector-visit written (100 DiaSources, 100 DiaObject updates) and the history of a detector footprint read after 100 visits, against plain SQL doing the same reads and inserts', runApdbBench),
};
const args = process.argv.slice(2);
const at = args.indexOf('--night-summary');
const summaryFile = at >= 0 ? args[at + 1] : undefined;
if (at >= 0 && !summaryFile) throw new Error('--night-summary needs a file');
const chosen = args.filter((a, i) => !a.startsWith('-') && !(at >= 0 && i === at + 1));
for (const c of chosen) if (!(c in all)) throw new Error(`unknown benchmark '${c}' (known: ${Object.keys(all).join(', ')})`);
const results: BenchResult[] = [];
for (const name of chosen.length ? chosen : Object.keys(all)) {
  process.stdout.write(`\n# ${name}\n`);
  const r = await all[name]();
  process.stdout.write(`${r.what}\n`);
  if (r.report) process.stdout.write(`${r.report}\n`);
  else for (const [k, v] of Object.entries(r.figures)) process.stdout.write(`  ${k.padEnd(34)} ${v}\n`);
  const { report: _report, ...kept } = r;
  results.push(kept);
}
// Results of benchmarks not run this time are kept from the last run that had them.
const file = new URL('./results.json', import.meta.url);
const machine = { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', loadavg: loadavg().map((x) => Number(x.toFixed(2))), node: process.version };
const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { results?: Array<BenchResult & { date?: string }> }).results ?? [] : [];
const now = new Date().toISOString();
const merged = [
  ...previous.filter((p) => !results.some((r) => r.name === p.name)),
  ...results.map((r) => ({ ...r, date: now, machine })),
];
writeFileSync(file, JSON.stringify({ results: merged }, null, 2) + '\n');
process.stdout.write(`\nwritten to bench/results.json\n`);
