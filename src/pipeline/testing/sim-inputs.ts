/**
 * Reference-catalog shards and template patches covering one simulated detector, made by the
 * tester's central-repository builders exactly as the central repository holds them: the inputs
 * the activator preloads, for the pipeline's tests and benchmarks.
 */
import { DEFAULT_SKYMAP_CONFIG, htmCoverPolygon, makeSkymap } from '../../astro/index.ts';
import { getInstrument } from '../../instruments/index.ts';
import { detectorFootprint } from '../../instruments/placement.ts';
import { FOOTPRINT_PAD_ARCSEC } from '../../tester/central/plan.ts';
import { refcatShard, REFCAT_HTM_LEVEL } from '../../tester/central/refcat.ts';
import { renderTemplate } from '../../tester/central/templates.ts';
import { DEFAULT_CATALOG_SEED } from '../../tester/sim/raw.ts';
import type { Band } from '../../tester/sim/sky-catalog.ts';

export interface SimulatedInputs {
  readonly refcatShards: Uint8Array[];
  readonly templates: Uint8Array[];
}

export function simulatedCalibrationInputs(o: {
  readonly instrument: string;
  readonly detector: number;
  readonly raDeg: number;
  readonly decDeg: number;
  readonly rotationDeg?: number;
  readonly band: Band;
  /** false: no templates (only shards). */
  readonly templates?: boolean;
  readonly seed?: number;
}): SimulatedInputs {
  const inst = getInstrument(o.instrument);
  const footprint = detectorFootprint(inst, o.detector, { raDeg: o.raDeg, decDeg: o.decDeg, rotationDeg: o.rotationDeg ?? 0 }, FOOTPRINT_PAD_ARCSEC);
  const refcatShards = htmCoverPolygon(footprint, REFCAT_HTM_LEVEL).map((id) => refcatShard(id, { catalogSeed: DEFAULT_CATALOG_SEED }));
  if (o.templates === false) return { refcatShards, templates: [] };
  const skymap = makeSkymap(DEFAULT_SKYMAP_CONFIG);
  const templates = skymap
    .patchesCovering(footprint)
    .map((p) => renderTemplate(skymap.patchInfo(p.tract, p.patch), o.band, { seed: o.seed ?? 1, catalogSeed: DEFAULT_CATALOG_SEED }));
  return { refcatShards, templates };
}
