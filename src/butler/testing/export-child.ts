/**
 * One of many writers exporting into one central repository at once (the test of that):
 * `run-ts.js export-child.ts REPO WRITER_ID`. Waits for "go" on stdin so all start together.
 */
import { Butler } from '../butler.ts';

const [repo, idText] = process.argv.slice(2);
const writer = Number(idText);
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
const b = await Butler.open(repo);
try {
  const run = 'LSSTComCam/prompt/output-20261127/ApPipe/many';
  const items = [];
  for (let i = 0; i < 5; i++) {
    // The same five datasets from every writer (a redelivered visit), and five of its own.
    items.push({ bytes: new Uint8Array(2000).fill(i + 1), datasetType: 'processed_exposure', dataId: { instrument: 'LSSTComCam', detector: i, visit: 2026112700001 } });
    items.push({ bytes: new Uint8Array(1000 + writer).fill(writer), datasetType: 'source_catalog', dataId: { instrument: 'LSSTComCam', detector: i, visit: 2026112700100 + writer } });
  }
  await b.putMany(items, run);
  await b.registry.registerCollection('LSSTComCam/prompt', 'CHAINED');
  await b.registry.prependToChain('LSSTComCam/prompt', run);
  process.stdout.write('ok\n');
} finally {
  await b.close();
}
