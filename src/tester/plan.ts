import { createRng } from '../core/rng.ts';
import { exposureIdFor, groupFor, type Instrument } from '../instruments/index.ts';
import type { VisitKind } from '../messages/next-visit.ts';

/** One visit (group) of the simulated night: where the telescope points and how. */
export interface PlannedVisit {
  readonly group: string;
  readonly index: number;
  readonly kind: VisitKind;
  readonly filter: string;
  readonly raDeg: number;
  readonly decDeg: number;
  readonly rotationDeg: number;
  readonly seeingFwhmArcsec: number;
  readonly exposureTimeS: number;
  readonly snaps: number;
}

/** One raw file to write: a detector's snap of a visit. */
export interface SnapRequest {
  readonly instrument: Instrument['name'];
  readonly detector: number;
  readonly group: string;
  readonly snap: number;
  readonly snaps: number;
  readonly exposureId: number;
  readonly filter: string;
  readonly kind: VisitKind;
  readonly raDeg: number;
  readonly decDeg: number;
  readonly rotationDeg: number;
  readonly seeingFwhmArcsec: number;
  readonly exposureTimeS: number;
  /** Start of the snap's exposure, ms since the epoch. */
  readonly startMs: number;
  readonly seed: number;
}

export interface PlanOptions {
  instrument: Instrument;
  groups: number;
  seed: number;
  dayObs: number;
  firstSeq: number;
  exposureTimeS: number;
  kind: VisitKind;
}

/**
 * A deterministic observing plan: the same seed gives the same pointings, filters and seeing.
 * Pointings stay in a patch of sky (a survey field) and dither between visits, so later visits
 * overlap earlier ones, as templates and association will need.
 */
export function planNight(o: PlanOptions): PlannedVisit[] {
  const rng = createRng(o.seed).fork('plan');
  const fieldRa = 30 + rng.uniform() * 300;
  const fieldDec = -60 + rng.uniform() * 50;
  const filters = o.instrument.filters.filter((f) => f.band !== 'u');
  const filter = filters[Math.floor(rng.uniform() * filters.length)] ?? o.instrument.filters[0];
  const visits: PlannedVisit[] = [];
  for (let i = 0; i < o.groups; i++) {
    const ditherArcmin = 2;
    visits.push({
      group: groupFor(o.dayObs, o.firstSeq + i),
      index: i,
      kind: o.kind,
      filter: filter.name,
      raDeg: (fieldRa + ((rng.uniform() - 0.5) * ditherArcmin) / 60 / Math.cos((fieldDec * Math.PI) / 180) + 360) % 360,
      decDeg: fieldDec + ((rng.uniform() - 0.5) * ditherArcmin) / 60,
      rotationDeg: 0,
      seeingFwhmArcsec: 0.6 + rng.uniform() * 0.5,
      exposureTimeS: o.kind === 'BIAS' ? 0 : o.exposureTimeS,
      snaps: o.instrument.snaps,
    });
  }
  return visits;
}

export function snapRequest(
  instrument: Instrument,
  v: PlannedVisit,
  detector: number,
  snap: number,
  startMs: number,
  seed: number,
): SnapRequest {
  return {
    instrument: instrument.name,
    detector,
    group: v.group,
    snap,
    snaps: v.snaps,
    exposureId: exposureIdFor(v.group, snap, v.snaps),
    filter: v.filter,
    kind: v.kind,
    raDeg: v.raDeg,
    decDeg: v.decDeg,
    rotationDeg: v.rotationDeg,
    seeingFwhmArcsec: v.seeingFwhmArcsec,
    exposureTimeS: v.exposureTimeS,
    startMs,
    seed,
  };
}
