/**
 * A pool of worker threads that simulate raws (piscina). Workers load the TypeScript sources
 * through tsx: the pool starts them with `--import <tsx loader>` resolved from this package, so
 * it works from vitest, from `node --import tsx`, and from a plain `node bin/prompt.js` that
 * registered tsx with `register()` (hooks registered that way do not reach worker threads).
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { ConfigError } from '../../core/errors.ts';
import type { RawParams } from './raw.ts';
import type { RawWithTruth, RawWithVisitTruth } from './raw-worker.ts';

export type { RawWithTruth, RawWithVisitTruth } from './raw-worker.ts';

export interface RawPoolOptions {
  /** Worker threads (default: available parallelism − 1, at least 1). */
  readonly threads?: number;
  /** Tasks waiting beyond this many are refused (default: unbounded). */
  readonly maxQueue?: number;
}

export interface RawPool {
  /** The `.fz` bytes of one detector snap, simulated in a worker thread. */
  simulate(params: RawParams): Promise<Uint8Array>;
  /** The bytes and the truth of one detector snap. */
  simulateWithTruth(params: RawParams): Promise<RawWithTruth>;
  /** The bytes of one detector snap and the truth of the transients injected into its visit. */
  simulateWithVisitTruth(params: RawParams): Promise<RawWithVisitTruth>;
  /** Worker threads in the pool. */
  readonly threads: number;
  /** Waits for running tasks, then stops the workers. */
  close(): Promise<void>;
}

let tsxLoader: string | undefined;

/** File URL of tsx's ESM loader (what `--import tsx` loads). */
export function tsxLoaderUrl(): string {
  if (!tsxLoader) {
    const require = createRequire(import.meta.url);
    tsxLoader = pathToFileURL(require.resolve('tsx')).href;
  }
  return tsxLoader;
}

export function createRawPool(options: RawPoolOptions = {}): RawPool {
  const threads = options.threads ?? Math.max(1, availableParallelism() - 1);
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw new ConfigError(`raw pool threads must be an integer in 1..256, got ${threads}`);
  }
  const pool = new Piscina<RawParams, Uint8Array | RawWithTruth | RawWithVisitTruth>({
    filename: new URL('./raw-worker.ts', import.meta.url).href,
    execArgv: ['--import', tsxLoaderUrl()],
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: 60_000,
    ...(options.maxQueue !== undefined ? { maxQueue: options.maxQueue } : {}),
  });
  // Tasks in flight, so close() can wait for them and then destroy the pool: piscina's own
  // close() leaves an un-cancelled closeTimeout timer (30 s) that keeps a process alive.
  const inflight = new Set<Promise<unknown>>();
  let closed = false;
  const run = <R>(params: RawParams, name: string): Promise<R> => {
    if (closed) return Promise.reject(new ConfigError('the raw pool is closed'));
    const task = pool.run(params, { name }) as Promise<R>;
    inflight.add(task);
    const forget = (): void => void inflight.delete(task);
    task.then(forget, forget);
    return task;
  };
  return {
    threads,
    simulate: (params) => run<Uint8Array>(params, 'simulate'),
    simulateWithTruth: (params) => run<RawWithTruth>(params, 'simulateWithTruth'),
    simulateWithVisitTruth: (params) => run<RawWithVisitTruth>(params, 'simulateWithVisitTruth'),
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...inflight]);
      await pool.destroy();
    },
  };
}
