import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/errors.ts';
import { parseObjectKey } from '../instruments/keys.ts';
import type { NextVisit } from '../messages/next-visit.ts';
import { simulateRaw } from '../tester/sim/raw.ts';
import { createPipelineProcessor } from './pipeline-processor.ts';

const visit: NextVisit = { instrument: 'LATISS', detector: 0, group: '2026112700001', snaps: 1, filter: 'SDSSr_65mm', ra: 10, dec: -20, kind: 'SCIENCE' };
const objectKey = 'LATISS/0/2026112700001/0/LATISS-2026112700001-0-2026112700001-SDSSr_65mm-0.fz';

describe('pipeline processor (worker thread)', () => {
  const processor = createPipelineProcessor({ calibRepo: null });
  afterAll(() => processor.close());

  it('processes a raw on its worker thread and hands back the output files', async () => {
    const bytes = simulateRaw({ instrument: 'LATISS', detector: 0, group: visit.group, filter: visit.filter, raDeg: 10, decDeg: -20, seed: 5 });
    const r = await processor.process(visit, [{ key: parseObjectKey(objectKey), objectKey, bytes, finalizedAtMs: Date.now() }]);
    expect(Object.keys(r.files).sort()).toEqual(['processed.fits', 'sources.fits']);
    expect(r.files['processed.fits'].length).toBeGreaterThan(4072 * 4000 * 4);
    expect(r.sources).toBeGreaterThan(10);
    expect(r.timings.total).toBeGreaterThan(0);
    expect(r.summary.kind).toBe('SCIENCE');
  });

  it('takes back the memory of the large output files once written out: the next visit lays its planes out in it, with the same result', async () => {
    const bytes = simulateRaw({ instrument: 'LATISS', detector: 0, group: visit.group, filter: visit.filter, raDeg: 10, decDeg: -20, seed: 6 });
    const snap = () => [{ key: parseObjectKey(objectKey), objectKey, bytes: bytes.slice(), finalizedAtMs: Date.now() }];
    const first = await processor.process(visit, snap());
    const digest = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    const firstProcessed = digest(first.files['processed.fits']);
    const firstBuffer = first.files['processed.fits'].buffer;
    const size = firstBuffer.byteLength;
    processor.recycle?.(first.files);
    const second = await processor.process(visit, snap());
    // Transferred back to a worker thread with the second task: no longer readable here.
    expect(firstBuffer.byteLength).toBe(0);
    expect(second.files['processed.fits'].buffer.byteLength).toBe(size);
    expect(digest(second.files['processed.fits'])).toBe(firstProcessed);
    expect(digest(second.files['sources.fits'])).toBe(digest(first.files['sources.fits']));
  });

  it('turns a bad FITS file into an InvalidInputError naming the object, across the thread boundary', async () => {
    const bytes = new TextEncoder().encode('SIMPLE  = T'.padEnd(2880, ' '));
    const err = await processor
      .process(visit, [{ key: parseObjectKey(objectKey), objectKey, bytes, finalizedAtMs: Date.now() }])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toMatch(/LATISS-2026112700001/);
  });

  it('rejects a raw that disagrees with its nextVisit (another detector)', async () => {
    const bytes = simulateRaw({ instrument: 'LATISS', detector: 0, group: '2026112700002', filter: visit.filter, raDeg: 10, decDeg: -20, seed: 5 });
    const err = await processor
      .process(visit, [{ key: parseObjectKey(objectKey), objectKey, bytes, finalizedAtMs: Date.now() }])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toMatch(/group|GROUPID|2026112700002/);
  });
});
