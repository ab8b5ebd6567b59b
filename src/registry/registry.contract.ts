import { describe, expect, it } from 'vitest';
import { ConfigError, InvalidInputError, NotFoundError } from '../core/errors.ts';
import { datasetId } from './dataset-id.ts';
import { ConflictError } from './errors.ts';
import { MIGRATIONS, type Migration } from './migrations.ts';
import { createRegistry, openRegistry } from './registry.ts';
import { MANY_WRITERS, runManyWriters } from './testing/many-writers.ts';
import type { DataId, NewDataset, Registry, RegistryConfig } from './types.ts';

export interface RegistryFixture {
  readonly cfg: RegistryConfig;
  cleanup(): Promise<void>;
}

const RAW = { name: 'raw', dimensions: ['instrument', 'detector', 'exposure'], storageClass: 'Exposure', isCalibration: false } as const;
const CALEXP = { name: 'calexp', dimensions: ['instrument', 'detector', 'visit'], storageClass: 'ExposureF', isCalibration: false } as const;
const BIAS = { name: 'bias', dimensions: ['instrument', 'detector'], storageClass: 'ExposureF', isCalibration: true } as const;
const TEMPLATE = { name: 'goodSeeingCoadd', dimensions: ['skymap', 'tract', 'patch', 'band'], storageClass: 'ExposureF', isCalibration: false } as const;

function raw(run: string, detector: number, exposure: number, checksum = `sha256:${run}:${detector}:${exposure}`): NewDataset {
  return {
    datasetType: 'raw', run, dataId: { instrument: 'LATISS', detector, exposure },
    path: `${run}/raw/${detector}/${exposure}.fits`, sizeBytes: 1000 + detector, checksum,
  };
}

function bias(run: string, detector: number, checksum = `sha256:bias:${run}:${detector}`): NewDataset {
  return { datasetType: 'bias', run, dataId: { instrument: 'LATISS', detector }, path: `${run}/bias/${detector}.fits`, sizeBytes: 10, checksum };
}

/** The behaviour every registry backend must show. `makeConfig` gives a fresh, empty location each call. */
export function registryContract(name: string, makeConfig: () => Promise<RegistryFixture>): void {
  describe(`Registry contract: ${name}`, () => {
    const withRegistry = async (fn: (r: Registry, cfg: RegistryConfig) => Promise<void>): Promise<void> => {
      const fx = await makeConfig();
      const r = await createRegistry(fx.cfg);
      try {
        await fn(r, fx.cfg);
      } finally {
        await r.close();
        await fx.cleanup();
      }
    };

    /** A registry with raw/calexp/bias types, RUN collections A and B, and raws in both. */
    const populated = async (r: Registry): Promise<void> => {
      await r.registerDatasetType(RAW);
      await r.registerDatasetType(CALEXP);
      await r.registerDatasetType(BIAS);
      await r.registerCollection('LATISS/runs/A', 'RUN');
      await r.registerCollection('LATISS/runs/B', 'RUN');
      await r.insertDatasets([raw('LATISS/runs/A', 0, 100), raw('LATISS/runs/A', 1, 100), raw('LATISS/runs/A', 0, 101)]);
      await r.insertDatasets([raw('LATISS/runs/B', 0, 100), raw('LATISS/runs/B', 2, 102)]);
    };

    // ---------------------------------------------------------------- create / open / version

    it('creates a registry at schema 1.0.0 and opens it again with its contents', async () => {
      const fx = await makeConfig();
      try {
        const r = await createRegistry(fx.cfg);
        expect(await r.schemaVersion()).toBe('1.0.0');
        expect(['sqlite', 'postgres']).toContain(r.dialect);
        expect(r.config).toEqual(fx.cfg);
        await r.registerCollection('LATISS/defaults', 'CHAINED', 'what the pipeline reads');
        await r.close();
        await r.close();
        await expect(r.collections()).rejects.toBeInstanceOf(InvalidInputError);
        const again = await openRegistry(fx.cfg);
        try {
          expect(await again.schemaVersion()).toBe('1.0.0');
          expect(await again.collections()).toEqual([{ name: 'LATISS/defaults', type: 'CHAINED', children: [], doc: 'what the pipeline reads' }]);
        } finally {
          await again.close();
        }
      } finally {
        await fx.cleanup();
      }
    });

    it('refuses to create a registry where one exists, and leaves it intact', async () => {
      await withRegistry(async (r, cfg) => {
        await r.registerCollection('keep/me', 'RUN');
        const err = await createRegistry(cfg).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as Error).message).toMatch(/already exists/);
        expect((await r.collections()).map((c) => c.name)).toEqual(['keep/me']);
      });
    });

    it('lets only one of two simultaneous creators succeed', async () => {
      const fx = await makeConfig();
      try {
        const results = await Promise.allSettled([createRegistry(fx.cfg), createRegistry(fx.cfg)]);
        const ok = results.filter((x): x is PromiseFulfilledResult<Registry> => x.status === 'fulfilled');
        const failed = results.filter((x): x is PromiseRejectedResult => x.status === 'rejected');
        expect(ok).toHaveLength(1);
        expect(failed).toHaveLength(1);
        expect(failed[0].reason).toBeInstanceOf(ConfigError);
        expect(await ok[0].value.schemaVersion()).toBe('1.0.0');
        await ok[0].value.close();
      } finally {
        await fx.cleanup();
      }
    });

    it('refuses to open a registry that does not exist, saying how to create one', async () => {
      const fx = await makeConfig();
      try {
        const err = await openRegistry(fx.cfg).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NotFoundError);
        expect((err as Error).message).toMatch(/^no registry at .+; create it with `prompt butler create`$/);
      } finally {
        await fx.cleanup();
      }
    });

    it('refuses a schema newer than the code knows, with a ConfigError naming both versions', async () => {
      await withRegistry(async (_r, cfg) => {
        const old: Migration[] = [{ version: '0.9.0', description: 'older code', up: MIGRATIONS[0].up }];
        const err = await openRegistry(cfg, { migrations: old }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as Error).message).toMatch(/schema version 1\.0\.0, newer than this code knows \(0\.9\.0\)/);
      });
    });

    it('migrates an older schema once, even when several processes open it together', async () => {
      await withRegistry(async (_r, cfg) => {
        let runs = 0;
        const next: Migration[] = [...MIGRATIONS, {
          version: '1.1.0',
          description: 'test: one more meta row',
          up: async (trx) => {
            runs++;
            await trx.insertInto('registry_meta').values({ key: 'test_migration', value: 'ran' }).execute();
          },
        }];
        const opened = await Promise.all([0, 1, 2].map(() => openRegistry(cfg, { migrations: next })));
        try {
          expect(runs).toBe(1);
          for (const o of opened) expect(await o.schemaVersion()).toBe('1.1.0');
        } finally {
          await Promise.all(opened.map((o) => o.close()));
        }
        const plain = await openRegistry(cfg, { migrations: next });
        await plain.close();
        expect(runs).toBe(1);
      });
    });

    // ---------------------------------------------------------------- dimension records

    it('syncs dimension records: inserts, ignores identical ones, refuses different ones', async () => {
      await withRegistry(async (r) => {
        const dets = [
          { instrument: 'LATISS', detector: 0, full_name: 'RXX_S00', purpose: 'SCIENCE' },
          { instrument: 'LSSTCam', detector: 94, full_name: 'R22_S11', purpose: 'SCIENCE' },
          { instrument: 'LSSTCam', detector: 189, full_name: 'R00_SG0', purpose: 'GUIDER' },
        ];
        await r.syncDimensionRecords('detector', dets);
        await r.syncDimensionRecords('detector', [{ purpose: 'SCIENCE', full_name: 'RXX_S00', detector: 0, instrument: 'LATISS' }]);
        expect(await r.dimensionRecords('detector')).toEqual([dets[0], dets[1], dets[2]]);
        const err = await r.syncDimensionRecords('detector', [{ ...dets[1], full_name: 'R22_S12' }]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConflictError);
        expect((err as Error).message).toMatch(/detector=94/);
        expect((err as Error).message).toMatch(/full_name: "R22_S11" registered, "R22_S12" given/);
        expect(await r.dimensionRecords('detector', { instrument: 'LSSTCam' })).toEqual([dets[1], dets[2]]);
        expect(await r.dimensionRecords('detector', { instrument: 'LSSTCam', detector: [189, 5] })).toEqual([dets[2]]);
        expect(await r.dimensionRecords('detector', { purpose: 'GUIDER' })).toEqual([dets[2]]);
        expect(await r.dimensionRecords('detector', { detector: [] })).toEqual([]);
      });
    });

    it('keeps JSON metadata of dimension records exactly, and checks their keys', async () => {
      await withRegistry(async (r) => {
        const patch = { skymap: 'ops_rings_v1', tract: 9813, patch: 41, polygon: [[150.1, 2.2], [150.3, 2.2], [150.3, 2.4], [150.1, 2.4]], meta: { cellSize: 150, note: null } };
        const exposure = { instrument: 'LATISS', exposure: 2026112700001, physical_filter: 'SDSSr_65mm~empty', day_obs: 20261127, group: '2026112700001', exposure_time_s: 30, timespan: { begin: '2026-11-28T03:00:00Z', end: '2026-11-28T03:00:30Z' } };
        await r.syncDimensionRecords('patch', [patch]);
        await r.syncDimensionRecords('exposure', [exposure]);
        await r.syncDimensionRecords('htm7', [{ htm7: 131072 }, { htm7: 262143, center: [0, 0] }]);
        expect(await r.dimensionRecords('patch', { skymap: 'ops_rings_v1', tract: 9813 })).toEqual([patch]);
        expect(await r.dimensionRecords('exposure', { physical_filter: 'SDSSr_65mm~empty', day_obs: 20261127 })).toEqual([exposure]);
        expect((await r.dimensionRecords('htm7')).map((h) => h.htm7)).toEqual([131072, 262143]);
        await expect(r.syncDimensionRecords('detector', [{ instrument: 'LATISS', full_name: 'x' }])).rejects.toThrow(/lacks its key detector/);
        await expect(r.syncDimensionRecords('detector', [{ instrument: 'LATISS', detector: '0' }])).rejects.toBeInstanceOf(InvalidInputError);
        await expect(r.syncDimensionRecords('exposure', [{ ...exposure, group: '42' }])).rejects.toThrow(/13-digit/);
        await expect(r.syncDimensionRecords('htm7', [{ htm7: 5 }])).rejects.toThrow(/level-7/);
        await expect(r.syncDimensionRecords('patch', [{ ...patch, area: Number.NaN }])).rejects.toBeInstanceOf(InvalidInputError);
        await expect(r.syncDimensionRecords('tile' as never, [{}])).rejects.toThrow(/unknown dimension element 'tile'/);
        await expect(r.syncDimensionRecords('band', [{ band: 'r', x: 1 }, { band: 'r', x: 2 }])).rejects.toBeInstanceOf(ConflictError);
        expect(await r.dimensionRecords('band')).toEqual([]);
      });
    });

    // ---------------------------------------------------------------- dataset types

    it('registers dataset types idempotently and names the difference of a conflicting one', async () => {
      await withRegistry(async (r) => {
        await r.registerDatasetType(RAW);
        await r.registerDatasetType({ ...RAW, dimensions: ['exposure', 'detector', 'instrument'] });
        await r.registerDatasetType(BIAS);
        expect(await r.datasetType('raw')).toEqual(RAW);
        expect(await r.datasetType('nope')).toBeNull();
        expect((await r.datasetTypes()).map((t) => t.name)).toEqual(['bias', 'raw']);
        const err = await r.registerDatasetType({ ...RAW, dimensions: ['instrument', 'detector', 'visit'], storageClass: 'ExposureF' }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConflictError);
        expect((err as Error).message).toBe("dataset type 'raw' is already registered with dimensions [instrument, detector, exposure], not [instrument, detector, visit]; storage class Exposure, not ExposureF");
        await expect(r.registerDatasetType({ ...BIAS, isCalibration: false })).rejects.toThrow(/isCalibration true, not false/);
        await expect(r.registerDatasetType({ ...RAW, name: 'x', dimensions: ['instrument', 'ccd' as never] })).rejects.toThrow(/unknown dimension in dataset type 'x' 'ccd'/);
        await expect(r.registerDatasetType({ ...RAW, name: 'x', dimensions: ['detector', 'detector'] })).rejects.toThrow(/twice/);
        await expect(r.registerDatasetType({ ...RAW, name: 'bad name' })).rejects.toBeInstanceOf(InvalidInputError);
      });
    });

    // ---------------------------------------------------------------- collections and chains

    it('registers collections of all four types, idempotently, and lists them by glob', async () => {
      await withRegistry(async (r) => {
        await r.registerCollection('LATISS/runs/1', 'RUN', 'first run');
        await r.registerCollection('LATISS/runs/2', 'RUN');
        await r.registerCollection('LATISS/tagged', 'TAGGED');
        await r.registerCollection('LATISS/calib', 'CALIBRATION');
        await r.registerCollection('LATISS/defaults', 'CHAINED');
        await r.registerCollection('LATISS/runs/1', 'RUN', 'another doc is ignored');
        const err = await r.registerCollection('LATISS/runs/1', 'TAGGED').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConflictError);
        expect((err as Error).message).toBe("collection 'LATISS/runs/1' already exists as RUN, not TAGGED");
        expect(await r.collections()).toEqual([
          { name: 'LATISS/calib', type: 'CALIBRATION', children: [], doc: '' },
          { name: 'LATISS/defaults', type: 'CHAINED', children: [], doc: '' },
          { name: 'LATISS/runs/1', type: 'RUN', children: [], doc: 'first run' },
          { name: 'LATISS/runs/2', type: 'RUN', children: [], doc: '' },
          { name: 'LATISS/tagged', type: 'TAGGED', children: [], doc: '' },
        ]);
        expect((await r.collections('LATISS/runs/*')).map((c) => c.name)).toEqual(['LATISS/runs/1', 'LATISS/runs/2']);
        expect((await r.collections('LATISS/runs/?')).map((c) => c.name)).toEqual(['LATISS/runs/1', 'LATISS/runs/2']);
        expect((await r.collections('*/ta*')).map((c) => c.name)).toEqual(['LATISS/tagged']);
        expect(await r.collections('LATISS/runs.1')).toEqual([]);
        await expect(r.registerCollection('a*b', 'RUN')).rejects.toBeInstanceOf(InvalidInputError);
        await expect(r.registerCollection('x', 'BAG' as never)).rejects.toThrow(/not one of RUN, TAGGED, CHAINED, CALIBRATION/);
      });
    });

    it('chains: order, nesting flattened depth-first without duplicates, cycles refused', async () => {
      await withRegistry(async (r) => {
        for (const n of ['a', 'b', 'c', 'd']) await r.registerCollection(n, 'RUN');
        for (const n of ['inner', 'outer', 'other']) await r.registerCollection(n, 'CHAINED');
        await r.setChain('inner', ['c', 'a']);
        await r.setChain('outer', ['b', 'inner', 'a', 'd']);
        expect((await r.collections('outer'))[0].children).toEqual(['b', 'inner', 'a', 'd']);
        expect(await r.flattenCollections(['outer'])).toEqual(['b', 'c', 'a', 'd']);
        expect(await r.flattenCollections(['d', 'outer', 'c'])).toEqual(['d', 'b', 'c', 'a']);
        await r.setChain('inner', ['d']);
        expect(await r.flattenCollections(['outer'])).toEqual(['b', 'd', 'a']);
        await expect(r.setChain('inner', ['outer'])).rejects.toThrow(/cycle/);
        await expect(r.setChain('inner', ['inner'])).rejects.toThrow(/child of itself/);
        await r.setChain('other', ['outer']);
        await expect(r.setChain('inner', ['other'])).rejects.toThrow(/'inner' → 'other' → 'outer' → 'inner' would be a cycle/);
        await expect(r.setChain('inner', ['a', 'a'])).rejects.toThrow(/twice/);
        await expect(r.setChain('inner', ['a', 'zzz'])).rejects.toBeInstanceOf(NotFoundError);
        await expect(r.setChain('a', ['b'])).rejects.toBeInstanceOf(InvalidInputError);
        await expect(r.setChain('nochain', ['b'])).rejects.toBeInstanceOf(NotFoundError);
        const err = await r.flattenCollections(['b', 'missing']).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NotFoundError);
        expect((err as Error).message).toMatch(/'missing'/);
        expect((await r.collections('inner'))[0].children).toEqual(['d']);
        await r.setChain('inner', []);
        expect(await r.flattenCollections(['inner'])).toEqual([]);
      });
    });

    it('prependToChain puts a child first, is a no-op when it already is, and creates nothing', async () => {
      await withRegistry(async (r) => {
        for (const n of ['r1', 'r2', 'r3']) await r.registerCollection(n, 'RUN');
        await r.registerCollection('chain', 'CHAINED');
        await r.prependToChain('chain', 'r1');
        await r.prependToChain('chain', 'r2');
        await r.prependToChain('chain', 'r2');
        expect((await r.collections('chain'))[0].children).toEqual(['r2', 'r1']);
        await r.prependToChain('chain', 'r3');
        await r.prependToChain('chain', 'r1');
        expect((await r.collections('chain'))[0].children).toEqual(['r1', 'r3', 'r2']);
        await expect(r.prependToChain('chain', 'r4')).rejects.toBeInstanceOf(NotFoundError);
        await expect(r.prependToChain('nochain', 'r1')).rejects.toBeInstanceOf(NotFoundError);
        await expect(r.prependToChain('r1', 'r2')).rejects.toBeInstanceOf(InvalidInputError);
        await expect(r.prependToChain('chain', 'chain')).rejects.toThrow(/child of itself/);
        expect((await r.collections()).map((c) => c.name)).toEqual(['chain', 'r1', 'r2', 'r3']);
      });
    });

    // ---------------------------------------------------------------- inserting

    it('checks the data ID of every dataset against its type, naming missing and extra keys', async () => {
      await withRegistry(async (r) => {
        await populated(r);
        const bad = (dataId: DataId): NewDataset => ({ ...raw('LATISS/runs/A', 5, 500), dataId });
        const err = await r.insertDatasets([bad({ instrument: 'LATISS', detector: 5, visit: 500 })]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InvalidInputError);
        expect((err as Error).message).toMatch(/missing exposure; extra visit/);
        await expect(r.insertDatasets([bad({ instrument: 'LATISS', detector: 5 })])).rejects.toThrow(/missing exposure$/);
        await expect(r.insertDatasets([bad({ instrument: 'LATISS', detector: '5' as never, exposure: 500 })])).rejects.toThrow(/detector must be a non-negative integer/);
        await expect(r.insertDatasets([bad({ instrument: '', detector: 5, exposure: 500 })])).rejects.toBeInstanceOf(InvalidInputError);
        await expect(r.insertDatasets([{ ...raw('LATISS/runs/A', 5, 500), sizeBytes: -1 }])).rejects.toThrow(/sizeBytes/);
        await expect(r.insertDatasets([{ ...raw('LATISS/runs/A', 5, 500), datasetType: 'nope' }])).rejects.toBeInstanceOf(NotFoundError);
        await expect(r.insertDatasets([raw('LATISS/nowhere', 5, 500)])).rejects.toBeInstanceOf(NotFoundError);
        await r.registerCollection('LATISS/chain', 'CHAINED');
        await expect(r.insertDatasets([raw('LATISS/chain', 5, 500)])).rejects.toThrow(/is CHAINED; datasets are inserted into RUN collections only/);
        expect(await r.queryDatasets({ datasetType: 'raw', collections: ['LATISS/runs/A'], where: { detector: 5 } })).toEqual([]);
      });
    });

    it('inserts with deterministic ids; a retry returns the stored rows; another checksum conflicts and inserts nothing', async () => {
      let t = Date.parse('2026-11-28T03:00:00Z');
      const fx = await makeConfig();
      const r = await createRegistry(fx.cfg, { now: () => new Date(t) });
      try {
        await populated(r);
        const items = [raw('LATISS/runs/A', 3, 200), raw('LATISS/runs/A', 4, 200)];
        const first = await r.insertDatasets(items);
        expect(first.map((d) => d.id)).toEqual([
          datasetId('raw', 'LATISS/runs/A', 'instrument="LATISS",detector=3,exposure=200'),
          datasetId('raw', 'LATISS/runs/A', 'instrument="LATISS",detector=4,exposure=200'),
        ]);
        expect(first[0]).toEqual({
          id: first[0].id, datasetType: 'raw', run: 'LATISS/runs/A', dataId: { instrument: 'LATISS', detector: 3, exposure: 200 },
          path: 'LATISS/runs/A/raw/3/200.fits', sizeBytes: 1003, checksum: items[0].checksum, ingestedAt: '2026-11-28T03:00:00.000Z',
        });
        t += 60_000;
        const retry = await r.insertDatasets([items[1], raw('LATISS/runs/A', 5, 200), items[0], items[0]]);
        expect(retry.map((d) => d.id)).toEqual([first[1].id, expect.any(String), first[0].id, first[0].id]);
        expect(retry[0].ingestedAt).toBe('2026-11-28T03:00:00.000Z');
        expect(retry[1].ingestedAt).toBe('2026-11-28T03:01:00.000Z');
        const conflict = await r.insertDatasets([raw('LATISS/runs/A', 6, 200), { ...items[0], checksum: 'sha256:other' }]).catch((e: unknown) => e);
        expect(conflict).toBeInstanceOf(ConflictError);
        expect((conflict as Error).message).toMatch(/raw instrument="LATISS",detector=3,exposure=200 in run 'LATISS\/runs\/A' already exists with checksum sha256:LATISS\/runs\/A:3:200, not sha256:other/);
        expect(await r.queryDatasets({ datasetType: 'raw', collections: ['LATISS/runs/A'], where: { detector: 6 } })).toEqual([]);
        await expect(r.insertDatasets([items[0], { ...items[0], checksum: 'sha256:other' }])).rejects.toBeInstanceOf(ConflictError);
        const explicit = await r.insertDatasets([{ ...raw('LATISS/runs/A', 7, 200), id: 'B7A1C3E0-0000-4000-8000-000000000007' }]);
        expect(explicit[0].id).toBe('b7a1c3e0-0000-4000-8000-000000000007');
        await expect(r.insertDatasets([{ ...raw('LATISS/runs/A', 7, 200), id: 'b7a1c3e0-0000-4000-8000-000000000008' }])).rejects.toThrow(/already exists with id b7a1c3e0-0000-4000-8000-000000000007/);
        await expect(r.insertDatasets([{ ...raw('LATISS/runs/A', 8, 200), id: 'b7a1c3e0-0000-4000-8000-000000000007' }])).rejects.toThrow(/already belongs to raw/);
        await expect(r.insertDatasets([{ ...raw('LATISS/runs/A', 8, 200), id: 'not-a-uuid' }])).rejects.toThrow(/must be a UUID/);
        expect(await r.insertDatasets([])).toEqual([]);
      } finally {
        await r.close();
        await fx.cleanup();
      }
    });

    // ---------------------------------------------------------------- finding

    it('finds a dataset through chains, in search order', async () => {
      await withRegistry(async (r) => {
        await populated(r);
        await r.registerCollection('chain/AB', 'CHAINED');
        await r.registerCollection('chain/BA', 'CHAINED');
        await r.registerCollection('chain/outer', 'CHAINED');
        await r.setChain('chain/AB', ['LATISS/runs/A', 'LATISS/runs/B']);
        await r.setChain('chain/BA', ['LATISS/runs/B', 'LATISS/runs/A']);
        await r.setChain('chain/outer', ['chain/BA']);
        const id = { instrument: 'LATISS', detector: 0, exposure: 100 } as const;
        expect((await r.findDataset('raw', id, ['chain/AB']))?.run).toBe('LATISS/runs/A');
        expect((await r.findDataset('raw', id, ['chain/BA']))?.run).toBe('LATISS/runs/B');
        expect((await r.findDataset('raw', id, ['chain/outer']))?.run).toBe('LATISS/runs/B');
        expect((await r.findDataset('raw', id, ['LATISS/runs/A', 'chain/BA']))?.run).toBe('LATISS/runs/A');
        expect((await r.findDataset('raw', { ...id, exposure: 101 }, ['chain/BA']))?.run).toBe('LATISS/runs/A');
        expect(await r.findDataset('raw', { ...id, exposure: 999 }, ['chain/AB'])).toBeNull();
        expect(await r.findDataset('raw', id, [])).toBeNull();
        const found = await r.findDataset('raw', { ...id, visit: 100, band: 'r' }, ['chain/AB']);
        expect(found?.dataId).toEqual(id);
        await expect(r.findDataset('raw', { instrument: 'LATISS', detector: 0 }, ['chain/AB'])).rejects.toThrow(/missing exposure/);
        await expect(r.findDataset('raw', id, ['nope'])).rejects.toBeInstanceOf(NotFoundError);
        await expect(r.findDataset('nope', id, ['chain/AB'])).rejects.toBeInstanceOf(NotFoundError);
      });
    });

    it('finds calibrations by validity time: before, inside, at the end, after; overlapping certification refused', async () => {
      await withRegistry(async (r) => {
        await populated(r);
        await r.registerCollection('LATISS/calib/bias/2026a', 'RUN');
        await r.registerCollection('LATISS/calib/bias/2026b', 'RUN');
        await r.registerCollection('LATISS/calib', 'CALIBRATION');
        await r.registerCollection('LATISS/defaults', 'CHAINED');
        await r.setChain('LATISS/defaults', ['LATISS/calib', 'LATISS/runs/A']);
        const [b1] = await r.insertDatasets([bias('LATISS/calib/bias/2026a', 0)]);
        const [b2] = await r.insertDatasets([bias('LATISS/calib/bias/2026b', 0)]);
        await r.certify('LATISS/calib', [b1.id], { begin: '2026-01-01T00:00:00Z', end: '2026-06-01T00:00:00Z' });
        const at = (time: string) => r.findDataset('bias', { instrument: 'LATISS', detector: 0 }, ['LATISS/defaults'], { time });
        expect(await at('2025-12-31T23:59:59.999999Z')).toBeNull();
        const inside = await at('2026-03-01T12:00:00+02:00');
        expect(inside?.id).toBe(b1.id);
        expect(inside?.validity).toEqual({ begin: '2026-01-01T00:00:00.000000Z', end: '2026-06-01T00:00:00.000000Z' });
        expect(await at('2026-06-01T00:00:00Z')).toBeNull();
        const overlap = await r.certify('LATISS/calib', [b2.id], { begin: '2026-05-01T00:00:00Z', end: null }).catch((e: unknown) => e);
        expect(overlap).toBeInstanceOf(ConflictError);
        expect((overlap as Error).message).toMatch(/already certified in 'LATISS\/calib' for \[2026-01-01T00:00:00\.000000Z, 2026-06-01T00:00:00\.000000Z\)/);
        await r.certify('LATISS/calib', [b2.id], { begin: '2026-06-01', end: null });
        await r.certify('LATISS/calib', [b1.id], { begin: '2026-01-01T00:00:00.000Z', end: '2026-06-01T00:00:00Z' });
        expect((await at('2026-06-01T00:00:00Z'))?.id).toBe(b2.id);
        expect((await at('2099-01-01T00:00:00Z'))?.validity).toEqual({ begin: '2026-06-01T00:00:00.000000Z', end: null });
        expect(await r.findDataset('bias', { instrument: 'LATISS', detector: 0 }, ['LATISS/calib/bias/2026a']).then((d) => d?.id)).toBe(b1.id);
        await expect(r.findDataset('bias', { instrument: 'LATISS', detector: 0 }, ['LATISS/defaults'])).rejects.toThrow(/needs a time/);
        expect((await r.findDataset('raw', { instrument: 'LATISS', detector: 0, exposure: 100 }, ['LATISS/defaults']))?.run).toBe('LATISS/runs/A');
        const rawA = await r.findDataset('raw', { instrument: 'LATISS', detector: 0, exposure: 100 }, ['LATISS/runs/A']);
        await expect(r.certify('LATISS/calib', [rawA?.id as string], { begin: null, end: null })).rejects.toThrow(/not a calibration dataset type/);
        await expect(r.certify('LATISS/runs/A', [b1.id], { begin: null, end: null })).rejects.toThrow(/needs a CALIBRATION collection/);
        await expect(r.certify('LATISS/calib', [b1.id], { begin: '2027-01-01T00:00:00Z', end: '2026-01-01T00:00:00Z' })).rejects.toThrow(/empty/);
        await expect(r.certify('LATISS/calib', ['00000000-0000-4000-8000-000000000000'], { begin: null, end: null })).rejects.toBeInstanceOf(NotFoundError);
        await r.decertify('LATISS/calib', [b1.id]);
        expect(await at('2026-03-01T00:00:00Z')).toBeNull();
        expect((await at('2026-07-01T00:00:00Z'))?.id).toBe(b2.id);
        await r.certify('LATISS/calib', [b1.id], { begin: null, end: '2026-06-01T00:00:00Z' });
        expect((await at('1999-01-01T00:00:00Z'))?.id).toBe(b1.id);
      });
    });

    it('queries datasets with where IN-lists, several types, findFirst and calibration times', async () => {
      await withRegistry(async (r) => {
        await populated(r);
        await r.registerCollection('chain', 'CHAINED');
        await r.setChain('chain', ['LATISS/runs/B', 'LATISS/runs/A']);
        const all = await r.queryDatasets({ datasetType: 'raw', collections: ['chain'] });
        expect(all.map((d) => [d.run, d.dataId.detector, d.dataId.exposure])).toEqual([
          ['LATISS/runs/B', 0, 100], ['LATISS/runs/A', 0, 100], ['LATISS/runs/A', 0, 101], ['LATISS/runs/A', 1, 100], ['LATISS/runs/B', 2, 102],
        ]);
        const first = await r.queryDatasets({ datasetType: 'raw', collections: ['chain'], findFirst: true });
        expect(first.map((d) => [d.run, d.dataId.detector, d.dataId.exposure])).toEqual([
          ['LATISS/runs/B', 0, 100], ['LATISS/runs/A', 0, 101], ['LATISS/runs/A', 1, 100], ['LATISS/runs/B', 2, 102],
        ]);
        const some = await r.queryDatasets({ datasetType: ['raw'], collections: ['chain'], where: { detector: [0, 2], exposure: 100 }, findFirst: true });
        expect(some.map((d) => [d.run, d.dataId.detector])).toEqual([['LATISS/runs/B', 0]]);
        expect(await r.queryDatasets({ datasetType: 'raw', collections: ['chain'], where: { detector: [] } })).toEqual([]);
        await r.insertDatasets([{ datasetType: 'calexp', run: 'LATISS/runs/A', dataId: { instrument: 'LATISS', detector: 0, visit: 100 }, path: 'c', sizeBytes: 1, checksum: 'c' }]);
        const both = await r.queryDatasets({ collections: ['LATISS/runs/A'], where: { detector: 0 } });
        expect(both.map((d) => d.datasetType)).toEqual(['calexp', 'raw', 'raw']);
        const visits = await r.queryDatasets({ collections: ['LATISS/runs/A'], where: { visit: 100 } });
        expect(visits.map((d) => d.datasetType)).toEqual(['calexp']);
        await expect(r.queryDatasets({ datasetType: 'raw', collections: ['chain'], where: { visit: 100 } })).rejects.toThrow(/has no dimension visit/);
        await expect(r.queryDatasets({ datasetType: 'raw', collections: ['chain'], where: { detector: 'x' } })).rejects.toThrow(/where detector/);
        await expect(r.queryDatasets({ datasetType: 'raw', collections: ['chain'], where: { ccd: 1 } as never })).rejects.toThrow(/unknown dimension in where 'ccd'/);

        await r.registerDatasetType(TEMPLATE);
        await r.registerCollection('templates', 'RUN');
        const coadd = (patch: number, band: string): NewDataset => ({
          datasetType: TEMPLATE.name, run: 'templates', dataId: { skymap: 'ops_rings_v1', tract: 9813, patch, band }, path: `t/${patch}/${band}`, sizeBytes: 5, checksum: `${patch}${band}`,
        });
        await r.insertDatasets([coadd(40, 'r'), coadd(41, 'r'), coadd(41, 'g'), coadd(42, 'r')]);
        const patches = await r.queryDatasets({ collections: ['templates', 'LATISS/runs/A'], where: { skymap: 'ops_rings_v1', tract: 9813, patch: [41, 42], band: 'r' } });
        expect(patches.map((d) => [d.datasetType, d.dataId.patch, d.dataId.band])).toEqual([[TEMPLATE.name, 41, 'r'], [TEMPLATE.name, 42, 'r']]);

        await r.registerCollection('calib', 'CALIBRATION');
        await r.registerCollection('calib/run', 'RUN');
        const bs = await r.insertDatasets([bias('calib/run', 0), bias('calib/run', 1)]);
        await r.certify('calib', [bs[0].id], { begin: '2026-01-01T00:00:00Z', end: '2026-02-01T00:00:00Z' });
        await r.certify('calib', [bs[1].id], { begin: '2026-01-15T00:00:00Z', end: null });
        const biases = await r.queryDatasets({ datasetType: 'bias', collections: ['calib'] });
        expect(biases.map((d) => [d.dataId.detector, d.validity?.begin])).toEqual([[0, '2026-01-01T00:00:00.000000Z'], [1, '2026-01-15T00:00:00.000000Z']]);
        const jan10 = await r.queryDatasets({ datasetType: 'bias', collections: ['calib'], time: '2026-01-10T00:00:00Z', findFirst: true });
        expect(jan10.map((d) => d.dataId.detector)).toEqual([0]);
        await expect(r.queryDatasets({ datasetType: 'bias', collections: ['calib'], findFirst: true })).rejects.toThrow(/needs a time/);
      });
    });

    // ---------------------------------------------------------------- tags

    it('associates and disassociates datasets with a TAGGED collection', async () => {
      await withRegistry(async (r) => {
        await populated(r);
        await r.registerCollection('LATISS/best', 'TAGGED');
        const a = await r.findDataset('raw', { instrument: 'LATISS', detector: 0, exposure: 100 }, ['LATISS/runs/A']);
        const b = await r.findDataset('raw', { instrument: 'LATISS', detector: 0, exposure: 100 }, ['LATISS/runs/B']);
        const a1 = await r.findDataset('raw', { instrument: 'LATISS', detector: 1, exposure: 100 }, ['LATISS/runs/A']);
        if (!a || !b || !a1) throw new Error('fixture missing');
        await r.associate('LATISS/best', [a.id, a1.id]);
        await r.associate('LATISS/best', [a.id]);
        expect((await r.queryDatasets({ datasetType: 'raw', collections: ['LATISS/best'] })).map((d) => d.id)).toEqual([a.id, a1.id]);
        expect((await r.findDataset('raw', a.dataId, ['LATISS/best', 'LATISS/runs/B']))?.id).toBe(a.id);
        const err = await r.associate('LATISS/best', [b.id]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConflictError);
        expect((err as Error).message).toMatch(new RegExp(`already holds dataset ${a.id}`));
        await expect(r.associate('LATISS/runs/A', [a.id])).rejects.toThrow(/needs a TAGGED collection/);
        await expect(r.associate('LATISS/best', ['00000000-0000-4000-8000-000000000000'])).rejects.toBeInstanceOf(NotFoundError);
        await r.disassociate('LATISS/best', [a.id]);
        await r.disassociate('LATISS/best', [a.id]);
        await r.associate('LATISS/best', [b.id]);
        expect((await r.findDataset('raw', a.dataId, ['LATISS/best', 'LATISS/runs/A']))?.id).toBe(b.id);
        expect(await r.datasetsById([a1.id, '00000000-0000-4000-8000-000000000000', b.id.toUpperCase()])).toEqual([a1, b]);
      });
    });

    // ---------------------------------------------------------------- removing

    it('removes datasets with their tags and certifications, and collections only when safe', async () => {
      await withRegistry(async (r) => {
        await populated(r);
        await r.registerCollection('tags', 'TAGGED');
        await r.registerCollection('calib', 'CALIBRATION');
        await r.registerCollection('calib/run', 'RUN');
        await r.registerCollection('chain', 'CHAINED');
        await r.setChain('chain', ['LATISS/runs/B', 'calib', 'tags']);
        const [b0] = await r.insertDatasets([bias('calib/run', 0)]);
        await r.certify('calib', [b0.id], { begin: null, end: null });
        const inB = await r.queryDatasets({ datasetType: 'raw', collections: ['LATISS/runs/B'] });
        await r.associate('tags', [inB[0].id]);

        const err = await r.removeCollection('LATISS/runs/B').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConflictError);
        expect((err as Error).message).toMatch(/still in chain 'chain'/);
        await r.setChain('chain', []);
        await expect(r.removeCollection('LATISS/runs/B')).rejects.toThrow(/still holds 2 datasets; remove them first/);
        await r.removeDatasets([...inB.map((d) => d.id), b0.id, '00000000-0000-4000-8000-000000000000']);
        expect(await r.datasetsById(inB.map((d) => d.id))).toEqual([]);
        expect(await r.queryDatasets({ collections: ['tags'] })).toEqual([]);
        expect(await r.queryDatasets({ datasetType: 'bias', collections: ['calib'] })).toEqual([]);
        await r.removeCollection('LATISS/runs/B');
        await r.removeCollection('tags');
        await r.removeCollection('calib');
        await r.removeCollection('chain');
        await expect(r.removeCollection('chain')).rejects.toBeInstanceOf(NotFoundError);
        expect((await r.collections()).map((c) => c.name)).toEqual(['LATISS/runs/A', 'calib/run']);
        expect((await r.queryDatasets({ datasetType: 'raw', collections: ['LATISS/runs/A'] })).length).toBe(3);

        await r.registerCollection('tags2', 'TAGGED');
        const inA = await r.queryDatasets({ datasetType: 'raw', collections: ['LATISS/runs/A'] });
        await r.associate('tags2', [inA[0].id]);
        await r.removeCollection('tags2');
        expect((await r.datasetsById([inA[0].id])).length).toBe(1);
        await r.registerCollection('tags2', 'RUN');
        await r.removeCollection('tags2');
      });
    });
  });
}

/**
 * Many processes writing one registry at once: each inserts the same `shared` datasets plus
 * `own` of its own, and prepends its run and the shared one to one chain. Afterwards every row
 * is there exactly once and no writer failed.
 */
export function manyWritersContract(name: string, makeConfig: () => Promise<RegistryFixture>, writers = 12, shared = 50, own = 50): void {
  describe(`Registry many writers: ${name}`, () => {
    it(`${writers} processes insert ${shared} shared + ${own} own datasets each and prepend to one chain`, async () => {
      const fx = await makeConfig();
      try {
        const setup = await createRegistry(fx.cfg);
        await setup.close();
        const result = await runManyWriters(fx.cfg, writers, shared, own);
        expect(result.failures).toEqual([]);
        expect(result.reports).toHaveLength(writers);
        const slowest = Math.max(...result.reports.map((x) => x.ms));
        console.info(`[many writers: ${name}] ${writers} writers × (${shared} shared + ${own} own): startup ${result.startupMs.toFixed(0)} ms, `
          + `concurrent phase ${result.wallMs.toFixed(0)} ms wall, slowest writer ${slowest.toFixed(0)} ms`);
        for (const rep of result.reports) expect(rep.inserted).toBe(shared + own);
        // Every writer got the same ids back for the shared datasets.
        const sharedIds = result.reports[0].shared;
        expect(new Set(sharedIds).size).toBe(shared);
        for (const rep of result.reports) expect(rep.shared).toEqual(sharedIds);

        const r = await openRegistry(fx.cfg);
        try {
          const runs = Array.from({ length: writers }, (_, i) => MANY_WRITERS.ownRun(i));
          const all = await r.queryDatasets({ datasetType: MANY_WRITERS.type, collections: [MANY_WRITERS.sharedRun, ...runs] });
          expect(all).toHaveLength(shared + writers * own);
          expect(new Set(all.map((d) => d.id)).size).toBe(shared + writers * own);
          expect(all.filter((d) => d.run === MANY_WRITERS.sharedRun)).toHaveLength(shared);
          for (const run of runs) expect(all.filter((d) => d.run === run)).toHaveLength(own);
          expect((await r.collections(`${MANY_WRITERS.sharedRun}`))).toHaveLength(1);
          expect((await r.datasetTypes()).map((t) => t.name)).toEqual([MANY_WRITERS.type]);
          const [chain] = await r.collections(MANY_WRITERS.chain);
          expect(chain.type).toBe('CHAINED');
          expect([...chain.children].sort()).toEqual([MANY_WRITERS.sharedRun, ...runs].sort());
          expect(await r.flattenCollections([MANY_WRITERS.chain])).toHaveLength(writers + 1);
        } finally {
          await r.close();
        }
      } finally {
        await fx.cleanup();
      }
    }, 120_000);
  });
}
