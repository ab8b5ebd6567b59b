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
}

export function ratio(a: number, b: number): number {
  return Math.round((a / b) * 100) / 100;
}
