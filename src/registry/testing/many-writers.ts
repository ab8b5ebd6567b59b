/**
 * Starts N writer processes against one registry, releases them at once, and collects what
 * each reported. Every writer is a separate Node process running many-writers-child.ts through
 * tsx, so nothing is shared but the database.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { RegistryConfig } from '../types.ts';

export interface WriterReport {
  readonly writer: number;
  readonly ms: number;
  readonly inserted: number;
  readonly shared: readonly string[];
}

export interface ManyWritersResult {
  readonly reports: readonly WriterReport[];
  readonly failures: readonly string[];
  /** From `go` until the last writer exited. */
  readonly wallMs: number;
  /** Until every writer had opened the registry and said `ready`. */
  readonly startupMs: number;
}

export const MANY_WRITERS = {
  type: 'many_raw',
  sharedRun: 'many/shared',
  chain: 'many/chain',
  ownRun: (i: number) => `many/writer/${String(i).padStart(2, '0')}`,
} as const;

const CHILD = fileURLToPath(new URL('./many-writers-child.ts', import.meta.url));

export async function runManyWriters(cfg: RegistryConfig, writers: number, shared: number, own: number): Promise<ManyWritersResult> {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const t0 = performance.now();
  const procs = Array.from({ length: writers }, (_, i) => {
    const p = spawn(process.execPath, ['--import', tsx, CHILD, JSON.stringify(cfg), String(i), String(shared), String(own)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
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
    return { p, ready, exit, out: () => out, err: () => err, index: i };
  });
  await Promise.all(procs.map((c) => c.ready));
  const startupMs = performance.now() - t0;
  const go = performance.now();
  for (const c of procs) c.p.stdin.end('go\n');
  const codes = await Promise.all(procs.map((c) => c.exit));
  const wallMs = performance.now() - go;
  const reports: WriterReport[] = [];
  const failures: string[] = [];
  procs.forEach((c, i) => {
    const line = c.out().split('\n').find((l) => l.startsWith('{'));
    if (codes[i] !== 0 || !line) failures.push(`writer ${i} exited ${codes[i]}: ${c.err().trim() || c.out().trim()}`);
    else reports.push(JSON.parse(line) as WriterReport);
  });
  return { reports, failures, wallMs, startupMs };
}
