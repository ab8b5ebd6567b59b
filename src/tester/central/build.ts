/**
 * Builds the files a CentralRepoContent lists, one item at a time: the unit of work a caller can
 * spread over worker threads (each item is independent and deterministic). No storage here: the
 * caller puts the bytes where the repository wants them.
 */
import { makeSkymap } from '../../astro/skymap.ts';
import type { RngSeed } from '../../core/rng.ts';
import type { SkyCatalogSpec } from '../sim/sky-catalog.ts';
import { masterFile, type MasterOptions } from './masters.ts';
import type { CentralRepoContent, MasterRequest, TemplateRequest } from './plan.ts';
import { refcatShard, type RefcatShardOptions } from './refcat.ts';
import { renderTemplate, type TemplateOptions } from './templates.ts';

export type CentralItem =
  | { readonly type: 'master'; readonly request: MasterRequest }
  | { readonly type: 'template'; readonly request: TemplateRequest }
  | { readonly type: 'refcat'; readonly htm7: number };

export interface CentralBuildOptions {
  /** Noise seed of the templates (default: the night's seed). */
  readonly seed: RngSeed;
  /** The sky catalog, the same the simulator paints with (its default: 1). */
  readonly catalogSeed: RngSeed | SkyCatalogSpec;
  readonly template?: Pick<TemplateOptions, 'psfFwhmArcsec' | 'depthFactor' | 'instrument' | 'compress'>;
  readonly master?: MasterOptions;
  readonly refcat?: Pick<RefcatShardOptions, 'maxMag' | 'band'>;
}

/** Every item of the content: masters, then templates, then refcat shards. */
export function centralItems(content: CentralRepoContent): CentralItem[] {
  return [
    ...content.masters.map((request) => ({ type: 'master' as const, request })),
    ...content.templates.map((request) => ({ type: 'template' as const, request })),
    ...content.refcatShards.map((htm7) => ({ type: 'refcat' as const, htm7 })),
  ];
}

/** A stable name of an item ('master/bias/3', 'master/flat/3/r_03', 'template/r/4842/100', 'refcat/147175'). */
export function centralItemName(item: CentralItem): string {
  if (item.type === 'master') {
    const r = item.request;
    return `master/${r.kind}/${r.detector}${r.filter ? `/${r.filter}` : ''}`;
  }
  if (item.type === 'template') return `template/${item.request.band}/${item.request.tract}/${item.request.patch}`;
  return `refcat/${item.htm7}`;
}

/** The file of one item. */
export function buildCentralItem(item: CentralItem, content: Pick<CentralRepoContent, 'skymap'>, opts: CentralBuildOptions): Uint8Array {
  if (item.type === 'master') {
    const r = item.request;
    return masterFile(r.kind, r.instrument, r.detector, r.filter, opts.master);
  }
  if (item.type === 'template') {
    const r = item.request;
    const patch = makeSkymap(content.skymap).patchInfo(r.tract, r.patch);
    return renderTemplate(patch, r.band, { ...opts.template, seed: opts.seed, catalogSeed: opts.catalogSeed });
  }
  return refcatShard(item.htm7, { ...opts.refcat, catalogSeed: opts.catalogSeed });
}
