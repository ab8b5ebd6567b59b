// Entry of a worker thread that runs a TypeScript module: worker threads do not inherit the
// loader hooks of their parent, so each registers tsx itself, then loads the module named in
// the pool's workerData ({ module: <file URL> }) and hands its default export to the pool.
import { workerData } from 'piscina';
import { register } from 'tsx/esm/api';

register();
const target = workerData && workerData.module;
if (typeof target !== 'string') throw new Error('ts-worker.mjs needs workerData.module: the file URL of a TypeScript module');
const mod = await import(target);
export default mod.default;
