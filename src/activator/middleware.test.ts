import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Butler } from '../butler/butler.ts';
import { parseObjectKey } from '../instruments/keys.ts';
import type { NextVisit } from '../messages/next-visit.ts';
import { silentLogger } from '../observability/logger.ts';
import { ensureCentralRepo } from '../tester/central/ensure.ts';
import { planNight } from '../tester/plan.ts';
import { getInstrument } from '../instruments/index.ts';
import type { ActivatorConfig } from './config.ts';
import { spatialIndexFor } from './main.ts';
import { RepositoryMiddleware, outputRunName } from './middleware.ts';

describe('the activator’s middleware interface to the data repositories', () => {
  let dir: string;
  let central: string;
  let visit: NextVisit;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'middleware-'));
    central = path.join(dir, 'central');
    await ensureCentralRepo(central, { instrument: 'LATISS', seed: 3, groups: 1, threads: 1 });
    const [v] = planNight({ instrument: getInstrument('LATISS'), groups: 1, seed: 3, dayObs: 20261127, firstSeq: 5, exposureTimeS: 30, kind: 'SCIENCE' });
    visit = { instrument: 'LATISS', detector: 0, group: v.group, snaps: 1, filter: v.filter, ra: v.raDeg, dec: v.decDeg, kind: 'SCIENCE' };
  }, 120_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const open = (name: string): Promise<RepositoryMiddleware> =>
    RepositoryMiddleware.open(
      { centralRepo: central, localRepo: path.join(dir, name), deployment: 'test', pipeline: 'ApPipe', exportTypes: ['*'], calibCacheSize: 8 },
      spatialIndexFor({ instrument: 'LATISS', preloadPadArcsec: 60 } as ActivatorConfig),
      silentLogger(),
    );

  it('preloads the calibrations valid now and what overlaps the padded footprint, and caches calibrations', async () => {
    const m = await open('local-a');
    try {
      const p = await m.prepare(visit);
      expect(Object.keys(p.calibs).sort()).toEqual(['bias', 'dark', 'flat']);
      expect(p.calibs.flat?.length).toBeGreaterThan(1000);
      expect(p.refcatShards).toBeGreaterThan(0);
      expect(p.templatePatches).toBeGreaterThan(0);
      expect(p.calibsFromCache).toBe(0);
      await m.cleanup(visit);
      const again = await m.prepare({ ...visit, group: String(Number(visit.group) + 1) });
      expect(again.calibsFromCache).toBe(3);
    } finally {
      await m.close();
    }
  });

  it('exports outputs into a RUN chained under {instrument}/prompt; a second export keeps one copy', async () => {
    const m = await open('local-b');
    try {
      await m.prepare(visit);
      const key = `LATISS/0/${visit.group}/0/LATISS-${visit.group}-0-${visit.group}-${visit.filter}-0.fz`;
      await m.ingest(visit, [{ key: parseObjectKey(key), objectKey: key, bytes: new Uint8Array(100).fill(1), finalizedAtMs: Date.now() }]);
      const visitId = Number(visit.group);
      const first = await m.exportOutputs(visit, visitId, { 'processed.fits': new Uint8Array(50).fill(2), 'sources.fits': new Uint8Array(20).fill(3) });
      const second = await m.exportOutputs(visit, visitId, { 'processed.fits': new Uint8Array(51).fill(4), 'sources.fits': new Uint8Array(21).fill(5) });
      expect(first.run).toBe(outputRunName('LATISS', 20261127, 'ApPipe', 'test'));
      expect(second.outputs).toEqual(first.outputs);
      await m.cleanup(visit);
    } finally {
      await m.close();
    }
    const b = await Butler.open(central);
    try {
      const out = await b.query({ collections: ['LATISS/prompt'] });
      expect(out.map((r) => r.datasetType).sort()).toEqual(['processed_exposure', 'source_catalog']);
      expect((await b.collections('LATISS/prompt'))[0]).toMatchObject({ type: 'CHAINED', children: [outputRunName('LATISS', 20261127, 'ApPipe', 'test')] });
      expect(Array.from(await b.get(out.find((r) => r.datasetType === 'processed_exposure') as (typeof out)[number]))[0]).toBe(2);
    } finally {
      await b.close();
    }
    const local = await Butler.open(path.join(dir, 'local-b'));
    try {
      // After clean-up only the cached calibrations stay in the local repository.
      const left = await local.query({ collections: (await local.collections()).filter((c) => c.type === 'RUN').map((c) => c.name) });
      expect(left.map((r) => r.datasetType).sort()).toEqual(['bias', 'dark', 'flat']);
    } finally {
      await local.close();
    }
  });
});
