/**
 * What the central repository must hold before the tester's night starts: the master
 * calibrations of every detector (bias, dark, and a flat per filter observed), the template
 * patches under every detector footprint of every planned pointing (padded by 1 arcmin, for the
 * PSF-matching kernel and small pointing errors), and the htm7 reference-catalog shards under the
 * same footprints. The pointings come from the tester's own planNight with the same seed and
 * group count, so they agree exactly with what `upload` will observe.
 *
 * Pure: it lists what to build; masters.ts, templates.ts and refcat.ts build each item.
 */
import { htmCoverPolygon } from '../../astro/htm.ts';
import { DEFAULT_SKYMAP_CONFIG, makeSkymap, type SkymapConfig } from '../../astro/skymap.ts';
import { InvalidInputError } from '../../core/errors.ts';
import { getInstrument, type Instrument } from '../../instruments/index.ts';
import type { VisitKind } from '../../messages/next-visit.ts';
import { planNight, type PlannedVisit } from '../plan.ts';
import type { Band } from '../sim/sky-catalog.ts';
import { detectorFootprint } from './footprint.ts';
import type { MasterKind } from './masters.ts';
import { REFCAT_HTM_LEVEL } from './refcat.ts';

/** Padding of the footprints, arcsec. */
export const FOOTPRINT_PAD_ARCSEC = 60;

export interface CentralRepoOptions {
  readonly seed: number;
  readonly groups: number;
  /** Detector ids (default: every detector of the instrument, as `upload`). */
  readonly detectors?: readonly number[];
  /** planNight's remaining inputs; they change group names and exposure times, never pointings. */
  readonly dayObs?: number;
  readonly firstSeq?: number;
  readonly exposureTimeS?: number;
  readonly kind?: VisitKind;
  readonly skymap?: SkymapConfig;
  readonly padArcsec?: number;
}

export interface MasterRequest {
  readonly kind: MasterKind;
  readonly instrument: Instrument['name'];
  readonly detector: number;
  /** Physical filter for flats; null for bias and dark. */
  readonly filter: string | null;
}

export interface TemplateRequest {
  readonly skymap: string;
  readonly tract: number;
  readonly patch: number;
  readonly band: Band;
}

/** What one detector of one visit needs (for checks and for the activator's preload tests). */
export interface DetectorNeeds {
  readonly group: string;
  readonly detector: number;
  readonly filter: string;
  readonly band: Band;
  /** Padded footprint corners, (ra, dec) degrees. */
  readonly footprint: Array<[number, number]>;
  /** Template patches as 'tract/patch'. */
  readonly patches: readonly string[];
  readonly shards: readonly number[];
}

export interface CentralRepoContent {
  readonly instrument: Instrument['name'];
  readonly skymap: SkymapConfig;
  readonly visits: readonly PlannedVisit[];
  readonly detectors: readonly number[];
  /** Sorted by detector, then kind (bias, dark, flat), then filter. */
  readonly masters: readonly MasterRequest[];
  /** Sorted by band, tract, patch. */
  readonly templates: readonly TemplateRequest[];
  /** htm7 ids, ascending. */
  readonly refcatShards: readonly number[];
  readonly perDetector: readonly DetectorNeeds[];
}

const KIND_ORDER: Record<MasterKind, number> = { bias: 0, dark: 1, flat: 2 };

/** The content the tester's night needs in the central repository (see the module comment). */
export function centralRepoContent(instrument: Instrument | string, opts: CentralRepoOptions): CentralRepoContent {
  const inst = typeof instrument === 'string' ? getInstrument(instrument) : instrument;
  if (!Number.isInteger(opts.groups) || opts.groups < 0 || opts.groups > 100000) throw new InvalidInputError(`groups must be an integer in 0..100000, got ${opts.groups}`);
  const detectors = [...(opts.detectors ?? inst.detectors.map((d) => d.id))];
  for (const d of detectors) inst.detector(d);
  const skymapConfig = opts.skymap ?? DEFAULT_SKYMAP_CONFIG;
  const skymap = makeSkymap(skymapConfig);
  const pad = opts.padArcsec ?? FOOTPRINT_PAD_ARCSEC;
  const visits = planNight({
    instrument: inst,
    groups: opts.groups,
    seed: opts.seed,
    dayObs: opts.dayObs ?? 20250501,
    firstSeq: opts.firstSeq ?? 1,
    exposureTimeS: opts.exposureTimeS ?? 18,
    kind: opts.kind ?? 'SCIENCE',
  });

  const filters = [...new Set(visits.map((v) => v.filter))].sort();
  const masters: MasterRequest[] = [];
  for (const detector of [...detectors].sort((a, b) => a - b)) {
    masters.push({ kind: 'bias', instrument: inst.name, detector, filter: null }, { kind: 'dark', instrument: inst.name, detector, filter: null });
    for (const f of filters) masters.push({ kind: 'flat', instrument: inst.name, detector, filter: f });
  }
  masters.sort((a, b) => a.detector - b.detector || KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || (a.filter ?? '').localeCompare(b.filter ?? ''));

  const templates = new Map<string, TemplateRequest>();
  const shards = new Set<number>();
  const perDetector: DetectorNeeds[] = [];
  const science = visits.filter((v) => v.kind === 'SCIENCE');
  for (const v of science) {
    const band = inst.filter(v.filter).band;
    for (const detector of detectors) {
      const footprint = detectorFootprint(inst, detector, { raDeg: v.raDeg, decDeg: v.decDeg, rotationDeg: v.rotationDeg }, pad);
      const patches = skymap.patchesCovering(footprint);
      const names: string[] = [];
      for (const p of patches) {
        names.push(`${p.tract}/${p.patch}`);
        templates.set(`${band}/${p.tract}/${p.patch}`, { skymap: skymap.name, tract: p.tract, patch: p.patch, band });
      }
      const ids = htmCoverPolygon(footprint, REFCAT_HTM_LEVEL);
      for (const id of ids) shards.add(id);
      perDetector.push({ group: v.group, detector, filter: v.filter, band, footprint, patches: names, shards: ids });
    }
  }
  const bandOrder = (b: Band): number => ['u', 'g', 'r', 'i', 'z', 'y'].indexOf(b);
  return {
    instrument: inst.name,
    skymap: skymap.config,
    visits,
    detectors,
    masters,
    templates: [...templates.values()].sort((a, b) => bandOrder(a.band) - bandOrder(b.band) || a.tract - b.tract || a.patch - b.patch),
    refcatShards: [...shards].sort((a, b) => a - b),
    perDetector,
  };
}
