import { Piscina } from 'piscina';

/**
 * A pool of worker threads running the default export of a TypeScript module. The work stays
 * off the event loop, so HTTP answers (health checks, 429 to a concurrent request) are
 * immediate while pixels are being crunched.
 */
export function createTsWorkerPool(moduleUrl: URL, opts: { threads: number; idleTimeoutMs?: number }): Piscina {
  return new Piscina({
    filename: new URL('./ts-worker.mjs', import.meta.url).href,
    workerData: { module: moduleUrl.href },
    minThreads: opts.threads,
    maxThreads: opts.threads,
    idleTimeout: opts.idleTimeoutMs ?? 60_000,
  });
}
