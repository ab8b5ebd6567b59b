import { execFileSync, spawnSync } from 'node:child_process';

/** Median of the wall-clock milliseconds of `reps` runs of `fn`, after one warm-up run. */
export function timeMs(fn: () => void, reps = 5): { medianMs: number; minMs: number } {
  fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return { medianMs: t[Math.floor(t.length / 2)], minMs: t[0] };
}

/** Median wall-clock milliseconds of an external command, less the cost of starting a process. */
export function timeCommandMs(cmd: string, args: readonly string[], reps = 5): number {
  const run = (c: string, a: readonly string[]): number => {
    const t0 = performance.now();
    const r = spawnSync(c, a, { stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`${c} ${a.join(' ')} failed: ${r.stderr?.toString()}`);
    return performance.now() - t0;
  };
  const median = (c: string, a: readonly string[]): number => {
    run(c, a);
    const t = Array.from({ length: reps }, () => run(c, a)).sort((x, y) => x - y);
    return t[Math.floor(t.length / 2)];
  };
  return Math.max(0, median(cmd, args) - median('true', []));
}

/**
 * Median CPU seconds (user + system, 10 ms resolution) of an external command, after one
 * warm-up run: unlike wall-clock time, not inflated by other processes sharing the CPU.
 * `prefix` (e.g. taskset -c 1) runs the measuring shell, and so the command, under it.
 */
export function cpuOfCommandS(cmd: string, args: readonly string[], reps = 3, prefix: readonly string[] = []): number {
  const run = (): number => {
    const argv = [...prefix, 'sh', '-c', '"$@" >/dev/null || exit 1; times', 'sh', cmd, ...args];
    const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
    // POSIX times: the shell's user and system time, then its children's ("0m0.240000s 0m0.020000s").
    const children = r.stdout.trim().split('\n').pop() ?? '';
    const secs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
    if (secs.length !== 2) throw new Error(`unexpected output of times: '${children}'`);
    return secs[0] + secs[1];
  };
  run();
  const t = Array.from({ length: reps }, run).sort((x, y) => x - y);
  return t[Math.floor(t.length / 2)];
}

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface BenchResult {
  name: string;
  /** What was measured, in words. */
  what: string;
  figures: Record<string, number | string | null>;
  /** Figures against their targets, kept in results.json with the figures. */
  checks?: BenchCheck[];
  /** A table to print instead of the list of figures (not kept in results.json). */
  report?: string;
}

/** One figure against its target: `met` says whether the target is reached. */
export interface BenchCheck {
  /** What it was measured on (e.g. 'itl', 'e2v'). */
  detector: string;
  what: string;
  value: number | null;
  target: string;
  met: boolean;
}

export function ratio(a: number, b: number): number {
  return Math.round((a / b) * 100) / 100;
}
