/**
 * Runs detector-visit stores in separate Node processes released at once, so nothing is shared
 * but the database: the real race between two neighbouring detectors of one visit.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface StoreJob {
  readonly pairs: readonly string[];
  readonly visit: string;
  readonly detector: number;
  readonly regionRa: number;
  readonly regionDec: number;
  readonly regionHalf: number;
  readonly ra: number;
  readonly dec: number;
  readonly mjd: number;
  readonly diaSourceId: string;
  readonly newObjectId: string;
  /** Detector-visits stored one after the other: visit + round, position shifted in ra. */
  readonly rounds: number;
  readonly roundStepDeg: number;
}

export interface StoreReport {
  /** Per round, the DiaObject the detection went to (null when nothing was stored). */
  readonly objectIds: ReadonlyArray<string | null>;
}

const CHILD = fileURLToPath(new URL('./store-child.ts', import.meta.url));

export async function runStoresInProcesses(jobs: readonly StoreJob[]): Promise<StoreReport[]> {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const procs = jobs.map((job) => {
    const p = spawn(process.execPath, ['--import', tsx, CHILD, JSON.stringify(job)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let readyResolve: () => void = () => {};
    const ready = new Promise<void>((resolve) => { readyResolve = resolve; });
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) readyResolve();
    });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const exit = new Promise<number>((resolve) => p.on('close', (code) => { readyResolve(); resolve(code ?? -1); }));
    return { p, ready, exit, out: () => out, err: () => err };
  });
  await Promise.all(procs.map((c) => c.ready));
  for (const c of procs) c.p.stdin.end('go\n');
  const codes = await Promise.all(procs.map((c) => c.exit));
  return procs.map((c, i) => {
    const line = c.out().split('\n').find((l) => l.startsWith('{'));
    if (codes[i] !== 0 || !line) throw new Error(`store process ${i} exited ${codes[i]}: ${c.err().trim() || c.out().trim()}`);
    return JSON.parse(line) as StoreReport;
  });
}
