/**
 * Test-only helpers: locate external oracles (fitsverify, fpack, funpack, python3 + astropy, the
 * shared real-data folder), run them, and make temporary directories. Not exported from index.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root (two levels above src/fits). */
export const repoRoot = path.resolve(here, '..', '..');
/** Real FITS files shared between projects; never copied into the repository. */
export const realDataDir = path.resolve(repoRoot, '../shared/realdata');

const toolCache = new Map<string, boolean>();

/** True when `name` is an executable on PATH. */
export function hasTool(name: string): boolean {
  const cached = toolCache.get(name);
  if (cached !== undefined) return cached;
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const ok = r.status === 0 && r.stdout.trim() !== '';
  toolCache.set(name, ok);
  return ok;
}

let astropyCache: boolean | null = null;

let pythonCache: string | null | undefined;

/**
 * A Python 3 that can import astropy.io.fits and numpy: `python3` on the PATH, or Debian's
 * `/usr/bin/python3` (python3-astropy) when the PATH's python3 is another installation.
 */
export function astropyPython(): string | null {
  if (pythonCache !== undefined) return pythonCache;
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import astropy.io.fits, numpy'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return (pythonCache = py);
  }
  return (pythonCache = null);
}

/** True when a python3 can import astropy.io.fits and numpy. */
export function hasAstropy(): boolean {
  if (astropyCache !== null) return astropyCache;
  astropyCache = astropyPython() !== null;
  return astropyCache;
}

/** Print why a group of tests is skipped (vitest only shows "skipped"). */
export function skipNotice(what: string, reason: string): void {
  console.warn(`[fits tests] skipping ${what}: ${reason}`);
}

/** Run python3 with a script; returns stdout. Throws with stderr on failure. */
export function runPython(script: string, args: readonly string[] = []): string {
  const r = spawnSync(astropyPython() ?? 'python3', ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`python3 failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export interface ToolResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Run a command without a shell; never throws for a non-zero exit status. */
export function runTool(cmd: string, args: readonly string[], options: { cwd?: string } = {}): ToolResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: options.cwd, maxBuffer: 256 * 1024 * 1024, timeout: 120_000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Run a command and return its stdout as bytes (e.g. `funpack -S`). */
export function runToolBytes(cmd: string, args: readonly string[]): Uint8Array {
  return new Uint8Array(execFileSync(cmd, args, { maxBuffer: 1024 * 1024 * 1024 }));
}

export interface FitsverifyReport {
  errors: number;
  warnings: number;
  output: string;
}

/** Run fitsverify on a file and parse its error and warning totals. */
export function fitsverify(file: string): FitsverifyReport {
  const r = runTool('fitsverify', [file]);
  const output = r.stdout + r.stderr;
  const m = /Verification found (\d+) warning\(s\) and (\d+) error\(s\)/.exec(output);
  if (!m) throw new Error(`cannot parse fitsverify output:\n${output}`);
  return { warnings: Number(m[1]), errors: Number(m[2]), output };
}

/** A fresh temporary directory and a function that removes it. */
export function makeTempDir(prefix = 'fits-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function realDataAvailable(): boolean {
  return existsSync(path.join(realDataDir, 'MANIFEST.md'));
}

/** Deterministic pseudo-random generator (Park-Miller) for test data. */
export function makeRandom(seed = 1): { uniform: () => number; gauss: (mean: number, sigma: number) => number } {
  let s = seed % 2147483647;
  if (s <= 0) s += 2147483646;
  const uniform = (): number => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647;
  };
  const gauss = (mean: number, sigma: number): number => {
    const u1 = uniform() || 1e-12;
    const u2 = uniform();
    return mean + sigma * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  };
  return { uniform, gauss };
}
