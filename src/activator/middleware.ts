import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Butler, type StoredDataset } from '../butler/butler.ts';
import { CALIBS_FOR_KIND } from '../butler/dataset-types.ts';
import { parseGroup } from '../instruments/keys.ts';
import { getInstrument } from '../instruments/index.ts';
import type { NextVisit } from '../messages/next-visit.ts';
import type { Logger } from '../observability/logger.ts';
import type { DataId } from '../registry/index.ts';
import type { ForcedPosition } from '../pipeline/stages/forced-photometry/index.ts';
import type { IngestedSnap } from './visit-flow.ts';

/** Master calibrations handed to the pipeline, as files. */
export interface CalibFiles {
  bias?: Uint8Array;
  dark?: Uint8Array;
  flat?: Uint8Array;
}

/** What the pipeline reads besides the raws: calibrations, reference shards, template patches (files). */
export interface PipelineInputs {
  readonly calibs: CalibFiles;
  readonly refcatShards: readonly Uint8Array[];
  readonly templates: readonly Uint8Array[];
  /** Sky positions of the DiaObjects known in the footprint (from the APDB), for forced photometry. */
  readonly forcedPositions?: readonly ForcedPosition[];
}

export interface Preloaded {
  readonly calibs: CalibFiles;
  /** Files of the reference shards and template patches preloaded for the detector. */
  readonly refcatShardFiles: readonly Uint8Array[];
  readonly templateFiles: readonly Uint8Array[];
  readonly calibsFromCache: number;
  readonly refcatShards: number;
  readonly templatePatches: number;
  readonly seconds: number;
}

export interface Exported {
  readonly run: string;
  /** URI of each exported dataset, by dataset type. */
  readonly outputs: Readonly<Record<string, string>>;
  readonly seconds: number;
}

/** What the visit flow asks of the data repositories; absent when no central repository is set. */
export interface VisitMiddleware {
  prepare(visit: NextVisit): Promise<Preloaded>;
  ingest(visit: NextVisit, snaps: readonly IngestedSnap[]): Promise<void>;
  exportOutputs(visit: NextVisit, visitId: number, files: Readonly<Record<string, Uint8Array>>): Promise<Exported>;
  cleanup(visit: NextVisit): Promise<void>;
  close(): Promise<void>;
}

/** Sky geometry the preload needs: the padded footprint and what overlaps it. */
export interface SpatialIndex {
  footprint(visit: NextVisit): Array<[number, number]>;
  htm7Cover(polygon: Array<[number, number]>): number[];
  patchesCover(polygon: Array<[number, number]>): Array<{ skymap: string; tract: number; patch: number }>;
}

export interface MiddlewareConfig {
  readonly centralRepo: string;
  /** Directory of this instance's local repository (emptied at start). */
  readonly localRepo: string;
  readonly deployment: string;
  readonly pipeline: string;
  /** Dataset types to export (glob patterns). */
  readonly exportTypes: readonly string[];
  /** Calibration datasets kept in the local repository between visits. */
  readonly calibCacheSize: number;
}

/** File names the pipeline produces → dataset types in the repository. */
export const OUTPUT_TYPES: Readonly<Record<string, string>> = {
  'processed.fits': 'processed_exposure',
  'sources.fits': 'source_catalog',
  'difference.fits': 'difference_image',
  'diaSources.fits': 'dia_source_catalog',
  'cutouts.fits': 'dia_cutouts',
  'verification.json': 'calib_verification',
  'alerts.avro': 'alertArchive',
};

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

export function outputRunName(instrument: string, dayObs: number, pipeline: string, deployment: string): string {
  return `${instrument}/prompt/output-${dayObs}/${pipeline}/${deployment}`;
}

/**
 * The activator's middleware interface to the data repositories: before the pixels arrive it
 * preloads into a local repository only what this detector needs (calibrations valid now,
 * reference-catalog shards and template patches overlapping the padded footprint), keeping
 * calibrations cached across visits; after processing it exports the outputs to the central
 * repository in a RUN chained under `{instrument}/prompt`, and cleans the local repository.
 */
export class RepositoryMiddleware implements VisitMiddleware {
  private readonly calibCache = new Map<string, StoredDataset>();
  private readonly perVisit = new Map<string, StoredDataset[]>();

  private constructor(
    private readonly cfg: MiddlewareConfig,
    private readonly central: Butler,
    private readonly local: Butler,
    private readonly spatial: SpatialIndex,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  static async open(cfg: MiddlewareConfig, spatial: SpatialIndex, log: Logger, now: () => number = Date.now): Promise<RepositoryMiddleware> {
    const central = await Butler.open(cfg.centralRepo);
    await fs.rm(cfg.localRepo, { recursive: true, force: true });
    await fs.mkdir(path.dirname(cfg.localRepo), { recursive: true });
    const local = await Butler.create(cfg.localRepo);
    return new RepositoryMiddleware(cfg, central, local, spatial, log, now);
  }

  private visitKey(v: NextVisit): string {
    return `${v.instrument}/${v.group}/${v.detector}`;
  }

  private remember(v: NextVisit, refs: readonly StoredDataset[]): void {
    const k = this.visitKey(v);
    this.perVisit.set(k, [...(this.perVisit.get(k) ?? []), ...refs]);
  }

  async prepare(visit: NextVisit): Promise<Preloaded> {
    const t0 = this.now();
    const inst = getInstrument(visit.instrument);
    const calibCollection = `${inst.name}/calib`;
    const when = new Date(this.now()).toISOString();
    const calibs: CalibFiles = {};
    let fromCache = 0;
    for (const type of CALIBS_FOR_KIND[visit.kind]) {
      const dataId: DataId = type === 'flat' ? { instrument: inst.name, detector: visit.detector, physical_filter: visit.filter } : { instrument: inst.name, detector: visit.detector };
      const ref = await this.central.find(type, dataId, [calibCollection], { time: when });
      if (!ref) {
        this.log.warn({ group: visit.group, detector: visit.detector, calib: type }, `no ${type} valid now in ${calibCollection}; processing without it`);
        continue;
      }
      let local = this.calibCache.get(ref.id);
      if (local) {
        fromCache++;
        this.calibCache.delete(ref.id);
      } else {
        [local] = await this.local.transferFrom(this.central, [ref]);
      }
      this.calibCache.set(ref.id, local);
      calibs[type] = await this.local.get(local);
    }
    await this.trimCalibCache();

    const polygon = this.spatial.footprint(visit);
    const shards = this.spatial.htm7Cover(polygon);
    const refcats = shards.length
      ? await this.central.query({ datasetType: 'refcat', collections: ['refcats'], where: { htm7: shards }, findFirst: true }).catch(() => [])
      : [];
    const band = inst.filter(visit.filter).band;
    const patches = this.spatial.patchesCover(polygon);
    let templates: StoredDataset[] = [];
    if (patches.length && visit.kind === 'SCIENCE') {
      const found = await this.central
        .query({
          datasetType: 'template_coadd',
          collections: [`${inst.name}/templates`],
          where: { skymap: [...new Set(patches.map((p) => p.skymap))], tract: [...new Set(patches.map((p) => p.tract))], band },
          findFirst: true,
        })
        .catch(() => []);
      const wanted = new Set(patches.map((p) => `${p.skymap}/${p.tract}/${p.patch}`));
      templates = found.filter((r) => wanted.has(`${r.dataId.skymap}/${r.dataId.tract}/${r.dataId.patch}`));
    }
    const localRefcats = await this.local.transferFrom(this.central, refcats);
    const localTemplates = await this.local.transferFrom(this.central, templates);
    this.remember(visit, [...localRefcats, ...localTemplates]);
    const refcatShardFiles = await Promise.all(localRefcats.map((r) => this.local.get(r)));
    const templateFiles = await Promise.all(localTemplates.map((r) => this.local.get(r)));
    const seconds = (this.now() - t0) / 1000;
    this.log.info(
      { group: visit.group, detector: visit.detector, stage: 'preload', durationS: seconds, refcatShards: refcats.length, templatePatches: templates.length, calibs: Object.keys(calibs), calibsFromCache: fromCache },
      'preloaded inputs for the detector',
    );
    return { calibs, refcatShardFiles, templateFiles, calibsFromCache: fromCache, refcatShards: refcats.length, templatePatches: templates.length, seconds };
  }

  private async trimCalibCache(): Promise<void> {
    while (this.calibCache.size > this.cfg.calibCacheSize) {
      const [id, ref] = this.calibCache.entries().next().value as [string, StoredDataset];
      this.calibCache.delete(id);
      await this.local.remove([ref]);
    }
  }

  async ingest(visit: NextVisit, snaps: readonly IngestedSnap[]): Promise<void> {
    const run = `${visit.instrument}/raw/all`;
    const refs = await this.local.putMany(
      snaps.map((s) => ({ bytes: s.bytes, datasetType: 'raw', dataId: { instrument: visit.instrument, detector: visit.detector, exposure: s.key.exposureId } })),
      run,
    );
    this.remember(visit, refs);
  }

  async exportOutputs(visit: NextVisit, visitId: number, files: Readonly<Record<string, Uint8Array>>): Promise<Exported> {
    const t0 = this.now();
    const { dayObs } = parseGroup(visit.group);
    const run = outputRunName(visit.instrument, dayObs, this.cfg.pipeline, this.cfg.deployment);
    const patterns = this.cfg.exportTypes.map(globToRegExp);
    const items = Object.entries(files)
      .filter(([name]) => OUTPUT_TYPES[name] && patterns.some((p) => p.test(OUTPUT_TYPES[name])))
      .map(([name, bytes]) => ({ bytes, datasetType: OUTPUT_TYPES[name], dataId: { instrument: visit.instrument, detector: visit.detector, visit: visitId } as DataId }));
    await this.central.registry.syncDimensionRecords('visit', [
      { instrument: visit.instrument, visit: visitId, group: visit.group, day_obs: dayObs, physical_filter: visit.filter },
    ]);
    const refs = await this.central.putMany(items, run);
    const chain = `${visit.instrument}/prompt`;
    await this.central.registry.registerCollection(chain, 'CHAINED');
    await this.central.registry.prependToChain(chain, run);
    const outputs: Record<string, string> = {};
    for (const r of refs) outputs[r.datasetType] = this.central.uriOf(r);
    return { run, outputs, seconds: (this.now() - t0) / 1000 };
  }

  async cleanup(visit: NextVisit): Promise<void> {
    const k = this.visitKey(visit);
    const refs = this.perVisit.get(k) ?? [];
    this.perVisit.delete(k);
    const cached = new Set([...this.calibCache.values()].map((r) => r.id));
    await this.local.remove(refs.filter((r) => !cached.has(r.id)));
  }

  async close(): Promise<void> {
    await this.central.close();
    await this.local.close();
  }
}
