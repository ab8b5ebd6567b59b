import { availableParallelism } from 'node:os';
import { makeSkymap } from '../../astro/skymap.ts';
import { Butler } from '../../butler/butler.ts';
import { getInstrument, type InstrumentName } from '../../instruments/index.ts';
import type { DataId } from '../../registry/index.ts';
import { createTsWorkerPool } from '../../runtime/worker-pool.ts';
import type { BuildTask } from './build-worker.ts';
import { centralItemName, centralItems, type CentralItem } from './build.ts';
import { centralRepoContent } from './plan.ts';

export interface EnsureCentralOptions {
  instrument: InstrumentName;
  seed: number;
  groups: number;
  detectors?: readonly number[];
  threads?: number;
  /** Called as items are built: (done, total, name). */
  onProgress?: (done: number, total: number, name: string) => void;
  /** Registry of a repository made here (default SQLite): PostgreSQL URL and namespace, as a seed config gives. */
  registry?: { db?: string; namespace?: string };
}

export interface EnsureCentralResult {
  readonly root: string;
  readonly built: number;
  readonly present: number;
  readonly seconds: number;
}

/** Collections of the central repository, as the activator searches them. */
export function centralCollections(instrument: string): { calib: string; calibRun: string; templates: string; templateRun: string; refcats: string; refcatRun: string } {
  return {
    calib: `${instrument}/calib`,
    calibRun: `${instrument}/calib/sim`,
    templates: `${instrument}/templates`,
    templateRun: `${instrument}/templates/deep`,
    refcats: 'refcats',
    refcatRun: 'refcats/sim',
  };
}

/** Calibrations are valid from this time on (open-ended). */
const CALIB_VALID_FROM = '2000-01-01T00:00:00Z';

function placement(item: CentralItem, instrument: string): { datasetType: string; dataId: DataId; run: string } {
  const c = centralCollections(instrument);
  if (item.type === 'master') {
    const r = item.request;
    const dataId: DataId = r.kind === 'flat' ? { instrument: r.instrument, detector: r.detector, physical_filter: r.filter ?? '' } : { instrument: r.instrument, detector: r.detector };
    return { datasetType: r.kind, dataId, run: c.calibRun };
  }
  if (item.type === 'template') {
    const r = item.request;
    return { datasetType: 'template_coadd', dataId: { skymap: r.skymap, tract: r.tract, patch: r.patch, band: r.band }, run: c.templateRun };
  }
  return { datasetType: 'refcat', dataId: { htm7: item.htm7 }, run: c.refcatRun };
}

function key(datasetType: string, dataId: DataId): string {
  return `${datasetType}:${Object.keys(dataId).sort().map((k) => `${k}=${dataId[k as keyof DataId]}`).join(',')}`;
}

/**
 * Makes sure the central repository at `root` holds what the tester's night will need: master
 * bias, dark and per-filter flats for every detector, certified into `{instrument}/calib`;
 * template coadds on the skymap's patches under every pointing; reference-catalog shards. Only
 * what is missing is built (on worker threads), so a later night reuses an earlier one's work.
 */
export async function ensureCentralRepo(root: string, o: EnsureCentralOptions): Promise<EnsureCentralResult> {
  const t0 = Date.now();
  const inst = getInstrument(o.instrument);
  const butler = await Butler.openOrCreate(root, o.registry ?? {});
  try {
    await butler.registerInstrument(inst);
    const content = centralRepoContent(inst, { seed: o.seed, groups: o.groups, detectors: o.detectors });
    const c = centralCollections(inst.name);
    const skymap = makeSkymap(content.skymap);
    const rec = skymap.skymapRecord();
    await butler.registry.syncDimensionRecords('skymap', [{ skymap: rec.name, hash: rec.hash, config: JSON.stringify(rec.config) }]);

    const items = centralItems(content);
    const existing = new Set<string>();
    for (const [type, run] of [['bias', c.calibRun], ['dark', c.calibRun], ['flat', c.calibRun], ['template_coadd', c.templateRun], ['refcat', c.refcatRun]] as const) {
      await butler.registry.registerCollection(run, 'RUN');
      for (const d of await butler.query({ datasetType: type, collections: [run] })) existing.add(key(type, d.dataId));
    }
    const missing = items.filter((it) => {
      const p = placement(it, inst.name);
      return !existing.has(key(p.datasetType, p.dataId));
    });

    const patchRecords = content.templates.map((t) => {
      const p = skymap.patchInfo(t.tract, t.patch);
      return { skymap: t.skymap, tract: t.tract, patch: t.patch, region: JSON.stringify({ type: 'ConvexPolygon', vertices: p.corners }) };
    });
    const uniquePatches = [...new Map(patchRecords.map((r) => [`${r.tract}/${r.patch}`, r])).values()];
    if (uniquePatches.length) {
      await butler.registry.syncDimensionRecords('tract', [...new Set(uniquePatches.map((p) => p.tract))].map((tract) => ({ skymap: rec.name, tract })));
      await butler.registry.syncDimensionRecords('patch', uniquePatches);
    }

    let done = 0;
    if (missing.length) {
      const threads = o.threads ?? Math.max(1, availableParallelism());
      const pool = createTsWorkerPool(new URL('./build-worker.ts', import.meta.url), { threads });
      try {
        const options = { seed: o.seed, catalogSeed: 1 };
        await Promise.all(
          missing.map(async (item) => {
            const task: BuildTask = { item, skymap: content.skymap, options };
            const bytes = (await pool.run(task)) as Uint8Array;
            const p = placement(item, inst.name);
            await butler.put(bytes, p.datasetType, p.dataId, p.run);
            o.onProgress?.(++done, missing.length, centralItemName(item));
          }),
        );
      } finally {
        await pool.destroy();
      }
    }

    // Certification and chains are idempotent: a repeated certification of the same datasets does nothing.
    await butler.registry.registerCollection(c.calib, 'CALIBRATION');
    for (const type of ['bias', 'dark', 'flat']) {
      await butler.certifyCalibrations(c.calibRun, c.calib, type, { begin: CALIB_VALID_FROM, end: null });
    }
    await butler.registry.registerCollection(c.templates, 'CHAINED');
    await butler.registry.setChain(c.templates, [c.templateRun]);
    await butler.registry.registerCollection(c.refcats, 'CHAINED');
    await butler.registry.setChain(c.refcats, [c.refcatRun]);
    return { root: butler.root, built: missing.length, present: items.length - missing.length, seconds: (Date.now() - t0) / 1000 };
  } finally {
    await butler.close();
  }
}
