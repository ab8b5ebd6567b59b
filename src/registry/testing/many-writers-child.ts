/**
 * One writer of the many-writers test, run as its own process:
 *   node --import tsx many-writers-child.ts CONFIG_JSON WRITER_INDEX SHARED OWN
 * Opens the registry, prints `ready`, waits for `go` on stdin, then registers the dataset type
 * and collections (racing the other writers), inserts SHARED datasets every writer inserts plus
 * OWN of its own in shuffled batches, prepends its run (and the shared one) to the common chain,
 * and prints one JSON line with what it got back.
 */
import { openRegistry } from '../registry.ts';
import type { NewDataset, RegistryConfig } from '../types.ts';
import { MANY_WRITERS } from './many-writers.ts';

const [cfgJson, indexText, sharedText, ownText] = process.argv.slice(2);
const cfg = JSON.parse(cfgJson) as RegistryConfig;
const writer = Number(indexText);
const nShared = Number(sharedText);
const nOwn = Number(ownText);

const MANY = MANY_WRITERS;

function item(run: string, detector: number, exposure: number): NewDataset {
  return {
    datasetType: MANY.type, run, dataId: { instrument: 'LSSTCam', detector, exposure },
    path: `${run}/${exposure}/${detector}.fits`, sizeBytes: 1000 + detector, checksum: `sha256:${run}:${exposure}:${detector}`,
  };
}

/** A seeded shuffle (mulberry32), different per writer, so batches interleave differently. */
function shuffle<T>(xs: T[], seed: number): T[] {
  let a = seed >>> 0;
  const rnd = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

async function main(): Promise<void> {
  const r = await openRegistry(cfg);
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => {
    let buf = '';
    process.stdin.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('go')) resolve();
    });
  });
  process.stdin.pause();
  const t0 = performance.now();
  const ownRun = MANY.ownRun(writer);
  await r.registerDatasetType({ name: MANY.type, dimensions: ['instrument', 'detector', 'exposure'], storageClass: 'Exposure', isCalibration: false });
  await r.registerCollection(MANY.sharedRun, 'RUN');
  await r.registerCollection(ownRun, 'RUN');
  await r.registerCollection(MANY.chain, 'CHAINED');
  const items: NewDataset[] = [];
  for (let d = 0; d < nShared; d++) items.push(item(MANY.sharedRun, d, 2026112700001));
  for (let d = 0; d < nOwn; d++) items.push(item(ownRun, d, 2026112700100 + writer));
  shuffle(items, 1 + writer);
  const ids = new Map<string, string>();
  for (let i = 0; i < items.length; i += 10) {
    const batch = items.slice(i, i + 10);
    const stored = await r.insertDatasets(batch);
    stored.forEach((s, k) => ids.set(`${batch[k].run}|${s.dataId.detector}`, s.id));
  }
  await r.prependToChain(MANY.chain, ownRun);
  await r.prependToChain(MANY.chain, MANY.sharedRun);
  const ms = performance.now() - t0;
  const shared = [...ids].filter(([k]) => k.startsWith(`${MANY.sharedRun}|`)).sort().map(([, v]) => v);
  process.stdout.write(`${JSON.stringify({ writer, ms, inserted: ids.size, shared })}\n`);
  await r.close();
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`writer ${writer} failed: ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}\n`);
    process.exit(1);
  },
);
