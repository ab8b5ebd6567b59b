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
