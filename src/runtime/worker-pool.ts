import v8 from 'node:v8';
import { Piscina } from 'piscina';

/**
 * A pool of worker threads running the default export of a TypeScript module. The work stays
 * off the event loop, so HTTP answers (health checks, 429 to a concurrent request) are
 * immediate while pixels are being crunched.
 */
export function createTsWorkerPool(moduleUrl: URL, opts: { threads: number; idleTimeoutMs?: number }): Piscina {
  // Worker isolates made from now on expose gc(): the pipeline collects the planes a visit let go
  // at its boundaries (core/memory.ts) instead of carrying them into the next visit's peak. A V8
  // flag, it cannot go in a worker's execArgv; set before the workers start, it applies to them.
  v8.setFlagsFromString('--expose-gc');
  return new Piscina({
    filename: new URL('./ts-worker.mjs', import.meta.url).href,
    workerData: { module: moduleUrl.href },
    minThreads: opts.threads,
    maxThreads: opts.threads,
    idleTimeout: opts.idleTimeoutMs ?? 60_000,
  });
}
