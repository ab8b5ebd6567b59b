/**
 * Association of one detector-visit's DiaSources with the DiaObjects the APDB holds around it.
 *
 * Matching: each DiaSource goes to the nearest current DiaObject within `radiusArcsec`, one to
 * one. All (DiaSource, DiaObject) pairs within the radius are taken in order of increasing
 * angular distance (ties: the earlier DiaSource in the input, then the smaller diaObjectId), and a
 * pair is kept when neither its DiaSource nor its DiaObject is taken yet. So when two DiaSources
 * compete for one DiaObject the nearer one wins, and the other takes its next-nearest free
 * DiaObject within the radius, or, when there is none, creates a new DiaObject. Pairs are found
 * through a hash grid of cells on the unit vectors (x, y, z) of the DiaObjects, a cell at least
 * the chord of the radius: a DiaSource looks at the 27 cells around its own, so the cost is
 * about (sources + objects) · log, not sources · objects, and RA wrap-around and the poles need
 * no special case. The distance is the chord between unit vectors (the great-circle distance θ
 * has chord 2·sin(θ/2)).
 *
 * A DiaSource without a match creates a DiaObject whose diaObjectId is its diaSourceId: unique
 * across workers, detectors and visits because diaSourceIds are.
 *
 * Every DiaObject matched or created gets a new version (summary.ts), validityStartMjdTai the
 * visit's time, from all its DiaSources in the history window plus the new one and all its
 * DiaForcedSources in the window plus this visit's. DiaObjects only measured in forced
 * photometry keep their version.
 *
 * DiaForcedSources: one row for every history DiaObject that the forced photometry measured
 * (the `forced` list, by id = diaObjectId: the ones on the detector), then one for every matched
 * DiaObject it did not know (the forced measurement at its DiaSource, id = diaSourceId), then one for every new
 * DiaObject: its forced measurement (id = its diaSourceId) or, when the list has none, the
 * DiaSource's own measurement at the same position (its psfFlux and scienceFlux are the same
 * forced PSF fits). Forced measurements of other ids are ignored. Row k of a detector-visit has
 * diaForcedSourceId = diaSourceIdBase(visit, detector) + k (the scheme of the diaSourceIds,
 * dia-source-id.ts: ((dayIndex·100000 + seq)·1000 + detector)·10⁶ + k), unique across detectors
 * and visits; the DiaForcedSource table is its own id space.
 *
 * History rows of this detector-visit itself (DiaSources with one of the given diaSourceIds,
 * DiaForcedSources of the same visit and detector, as a re-run may find) are left out of the
 * summaries, so that nothing counts twice.
 *
 * Rows are ordered deterministically: DiaSources as given, DiaObjects in the order of the
 * DiaSources that touched them, forced sources as described.
 */
import { z } from 'zod';
import { InvalidInputError } from '../core/errors.ts';
import type { ApdbHistory, ApdbRow, ApdbValue } from '../apdb/types.ts';
import { diaForcedSourceTable } from '../apdb/schema/tables.ts';
import { tableColumns } from '../apdb/schema/types.ts';
import { parseConfig } from '../pipeline/config.ts';
import { diaSourceIdBase, MAX_ROW } from '../pipeline/stages/dia-sources/index.ts';
import type { ForcedMeasurement } from '../pipeline/stages/forced-photometry/index.ts';
import { BANDS, type Band } from './dia-source-rows.ts';
import { finiteOf, summarizeDiaObject } from './summary.ts';

export const AssociationConfig = z.object({
  /** Largest DiaSource–DiaObject distance of a match (arcseconds). */
  radiusArcsec: z.number().positive().max(3600).default(1),
});
export type AssociationConfig = z.output<typeof AssociationConfig>;
export type AssociationConfigInput = z.input<typeof AssociationConfig>;

export function makeAssociationConfig(input: AssociationConfigInput = {}): AssociationConfig {
  return parseConfig(AssociationConfig, input, 'association');
}

export interface AssociationInput {
  /** This detector-visit's DiaSource rows (diaSourceRowsFromCatalog), without diaObjectId. */
  readonly diaSources: readonly ApdbRow[];
  /** The APDB's history around the detector. */
  readonly history: ApdbHistory;
  readonly visit: bigint;
  readonly detector: number;
  /** The visit's midpoint, MJD (TAI): validityStartMjdTai of the new versions, midpointMjdTai of the forced sources. */
  readonly visitMjdTai: number;
  /** The visit's band (u, g, r, i, z, y). */
  readonly band: string;
  /** timeProcessedMjdTai of the forced sources. */
  readonly timeProcessedMjdTai: number;
  /** Forced photometry of this visit at the history DiaObjects and at the DiaSources. */
  readonly forced: readonly ForcedMeasurement[];
}

export interface AssociationStats {
  /** DiaSources matched to an existing DiaObject (each of which gets a new version). */
  readonly matched: number;
  /** DiaObjects created. */
  readonly created: number;
  /** Existing DiaObjects given a new version (equal to matched: matching is one to one). */
  readonly updated: number;
  /** DiaForcedSource rows. */
  readonly forced: number;
}

export interface AssociationResult {
  /** The input DiaSources, in order, with diaObjectId set. */
  readonly diaSources: ApdbRow[];
  /** New versions of the DiaObjects matched or created. */
  readonly diaObjects: ApdbRow[];
  readonly diaForcedSources: ApdbRow[];
  readonly stats: AssociationStats;
}

/** One match: input index of the DiaSource and of the DiaObject (−1: a new DiaObject). */
export interface MatchResult {
  /** Per DiaSource, the index of its DiaObject in the objects given, or −1. */
  readonly objectOf: Int32Array;
  /** Per DiaSource, the distance to its DiaObject (arcseconds), NaN when unmatched. */
  readonly distanceArcsec: Float64Array;
}

const ARCSEC = Math.PI / 180 / 3600;
const D2R = Math.PI / 180;
/** Cell indices stay below 2^16 in magnitude, so three of them pack exactly into a double. */
const MIN_CELL = 1 / 65000;
const CELL_SPAN = 131072; // 2^17
const CELL_OFFSET = 65536; // 2^16

function cellKey(ix: number, iy: number, iz: number): number {
  return ((ix + CELL_OFFSET) * CELL_SPAN + (iy + CELL_OFFSET)) * CELL_SPAN + (iz + CELL_OFFSET);
}

function unitVectors(ra: ArrayLike<number>, dec: ArrayLike<number>): Float64Array {
  const n = ra.length;
  const v = new Float64Array(3 * n);
  for (let i = 0; i < n; i++) {
    const a = ra[i] * D2R;
    const d = dec[i] * D2R;
    const c = Math.cos(d);
    v[3 * i] = c * Math.cos(a);
    v[3 * i + 1] = c * Math.sin(a);
    v[3 * i + 2] = Math.sin(d);
  }
  return v;
}

/**
 * One-to-one nearest matching of sources to objects within a radius, as the module comment
 * describes. `objectOrder` breaks distance ties between objects (smaller first); by default
 * their index.
 */
export function matchPositions(
  sources: { readonly ra: ArrayLike<number>; readonly dec: ArrayLike<number> },
  objects: { readonly ra: ArrayLike<number>; readonly dec: ArrayLike<number>; readonly order?: ArrayLike<number> },
  radiusArcsec: number,
): MatchResult {
  const ns = sources.ra.length;
  const no = objects.ra.length;
  const objectOf = new Int32Array(ns).fill(-1);
  const distanceArcsec = new Float64Array(ns).fill(NaN);
  if (ns === 0 || no === 0) return { objectOf, distanceArcsec };
  const theta = Math.min(Math.PI, radiusArcsec * ARCSEC);
  const chord = 2 * Math.sin(theta / 2);
  const chord2 = chord * chord;
  const cell = Math.max(chord * (1 + 1e-9), MIN_CELL);
  const sv = unitVectors(sources.ra, sources.dec);
  const ov = unitVectors(objects.ra, objects.dec);

  // Objects bucketed by cell: indices sorted by key, and per key the start and end.
  const keys = new Float64Array(no);
  for (let j = 0; j < no; j++) keys[j] = cellKey(Math.floor(ov[3 * j] / cell), Math.floor(ov[3 * j + 1] / cell), Math.floor(ov[3 * j + 2] / cell));
  const sorted = Int32Array.from({ length: no }, (_, j) => j).sort((a, b) => keys[a] - keys[b]);
  const buckets = new Map<number, number>(); // key → start in `sorted`; the bucket runs while the key is the same
  for (let k = 0; k < no; k++) {
    const key = keys[sorted[k]];
    if (k === 0 || keys[sorted[k - 1]] !== key) buckets.set(key, k);
  }

  // Candidate pairs within the radius.
  const cs: number[] = [];
  const co: number[] = [];
  const cd: number[] = [];
  for (let i = 0; i < ns; i++) {
    const x = sv[3 * i];
    const y = sv[3 * i + 1];
    const z = sv[3 * i + 2];
    if (!(Number.isFinite(x) && Number.isFinite(y) && Number.isFinite(z))) continue;
    const cx = Math.floor(x / cell);
    const cy = Math.floor(y / cell);
    const cz = Math.floor(z / cell);
    for (let dx = -1; dx <= 1; dx++) {
      for (let dy = -1; dy <= 1; dy++) {
        for (let dz = -1; dz <= 1; dz++) {
          const key = cellKey(cx + dx, cy + dy, cz + dz);
          const start = buckets.get(key);
          if (start === undefined) continue;
          for (let k = start; k < no && keys[sorted[k]] === key; k++) {
            const j = sorted[k];
            const ex = ov[3 * j] - x;
            const ey = ov[3 * j + 1] - y;
            const ez = ov[3 * j + 2] - z;
            const d2 = ex * ex + ey * ey + ez * ez;
            if (d2 <= chord2) {
              cs.push(i);
              co.push(j);
              cd.push(d2);
            }
          }
        }
      }
    }
  }
  const order = objects.order;
  const tie = order ? (a: number, b: number) => order[a] - order[b] : (a: number, b: number) => a - b;
  const idx = Int32Array.from({ length: cs.length }, (_, k) => k).sort((a, b) => cd[a] - cd[b] || cs[a] - cs[b] || tie(co[a], co[b]));
  const taken = new Uint8Array(no);
  for (const k of idx) {
    const i = cs[k];
    const j = co[k];
    if (objectOf[i] >= 0 || taken[j]) continue;
    objectOf[i] = j;
    taken[j] = 1;
    distanceArcsec[i] = (2 * Math.asin(Math.min(1, Math.sqrt(cd[k]) / 2))) / ARCSEC;
  }
  return { objectOf, distanceArcsec };
}

/** A bigint id column (a safe integer number is accepted). */
function idOf(row: ApdbRow, column: string, what: string): bigint {
  const v: ApdbValue | undefined = row[column];
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  throw new InvalidInputError(`association: ${what} has no integer ${column} (${String(v)})`);
}

/** An integer column value equal to a bigint or number id. */
function sameId(v: ApdbValue | undefined, id: bigint | number): boolean {
  if (typeof v === 'bigint') return v === BigInt(id);
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v) === BigInt(id);
  return false;
}

function positionOf(row: ApdbRow, what: string): [number, number] {
  const ra = finiteOf(row, 'ra');
  const dec = finiteOf(row, 'dec');
  if (ra === null || dec === null || dec < -90 || dec > 90) throw new InvalidInputError(`association: ${what} has no usable ra/dec (${String(row.ra)}, ${String(row.dec)})`);
  return [ra, dec];
}

function groupBy(rows: readonly ApdbRow[], what: string): Map<bigint, ApdbRow[]> {
  const out = new Map<bigint, ApdbRow[]>();
  for (const r of rows) {
    const v = r.diaObjectId;
    if (v === null || v === undefined) continue;
    const id = idOf(r, 'diaObjectId', what);
    const l = out.get(id);
    if (l) l.push(r);
    else out.set(id, [r]);
  }
  return out;
}

const FORCED_COLUMNS = tableColumns(diaForcedSourceTable);

/** NaN and ±Infinity as NULL. */
function orNull(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

/** Every column of the DiaForcedSource table, in order. */
function forcedRow(values: Record<string, ApdbValue>): ApdbRow {
  const row: ApdbRow = {};
  for (const c of FORCED_COLUMNS) {
    const v = values[c.name] ?? null;
    if (v === null && !c.nullable) throw new InvalidInputError(`association: DiaForcedSource ${String(values.diaObjectId)} has no value for ${c.name}`);
    row[c.name] = v;
  }
  return row;
}

export function associate(input: AssociationInput, cfg: AssociationConfig = makeAssociationConfig()): AssociationResult {
  const band = input.band;
  if (!(BANDS as readonly string[]).includes(band)) throw new InvalidInputError(`association: band '${band}' is not one of ${BANDS.join(', ')}`);
  const visitBand = band as Band;
  if (!Number.isFinite(input.visitMjdTai)) throw new InvalidInputError(`association: visitMjdTai ${input.visitMjdTai} is not a number`);
  if (!Number.isFinite(input.timeProcessedMjdTai)) throw new InvalidInputError(`association: timeProcessedMjdTai ${input.timeProcessedMjdTai} is not a number`);
  if (input.visit < 0n || input.visit > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidInputError(`association: visit ${input.visit} is out of range`);
  // Validates visit and detector for the id scheme before any work.
  const forcedIdBase = diaSourceIdBase(Number(input.visit), input.detector);

  // This visit's DiaSources.
  const ns = input.diaSources.length;
  const srcIds: bigint[] = new Array<bigint>(ns);
  const srcRa = new Float64Array(ns);
  const srcDec = new Float64Array(ns);
  const seenSources = new Set<bigint>();
  for (let i = 0; i < ns; i++) {
    const r = input.diaSources[i];
    const id = idOf(r, 'diaSourceId', `DiaSource ${i}`);
    if (seenSources.has(id)) throw new InvalidInputError(`association: diaSourceId ${id} appears twice`);
    seenSources.add(id);
    srcIds[i] = id;
    [srcRa[i], srcDec[i]] = positionOf(r, `DiaSource ${id}`);
  }

  // Current DiaObjects: one per id (the latest validityStartMjdTai when the history repeats one).
  const objIndex = new Map<bigint, number>();
  const objects: ApdbRow[] = [];
  const objIds: bigint[] = [];
  for (const r of input.history.diaObjects) {
    const id = idOf(r, 'diaObjectId', 'a history DiaObject');
    positionOf(r, `DiaObject ${id}`);
    const k = objIndex.get(id);
    if (k === undefined) {
      objIndex.set(id, objects.length);
      objects.push(r);
      objIds.push(id);
    } else if ((finiteOf(r, 'validityStartMjdTai') ?? -Infinity) > (finiteOf(objects[k], 'validityStartMjdTai') ?? -Infinity)) {
      objects[k] = r;
    }
  }
  const no = objects.length;
  const objRa = new Float64Array(no);
  const objDec = new Float64Array(no);
  for (let j = 0; j < no; j++) [objRa[j], objDec[j]] = positionOf(objects[j], `DiaObject ${objIds[j]}`);
  // Rank of each object by id, for deterministic ties.
  const rank = new Float64Array(no);
  Int32Array.from({ length: no }, (_, j) => j)
    .sort((a, b) => (objIds[a] < objIds[b] ? -1 : objIds[a] > objIds[b] ? 1 : 0))
    .forEach((j, k) => {
      rank[j] = k;
    });

  const match = matchPositions({ ra: srcRa, dec: srcDec }, { ra: objRa, dec: objDec, order: rank }, cfg.radiusArcsec);

  // History rows of this very detector-visit (a re-run) would count twice: they are left out.
  const historySources = groupBy(
    input.history.diaSources.filter((r) => {
      const v = r.diaSourceId;
      const id = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : null;
      return id === null || !seenSources.has(id);
    }),
    'a history DiaSource',
  );
  const historyForced = groupBy(
    input.history.diaForcedSources.filter((r) => !(sameId(r.visit, input.visit) && sameId(r.detector, input.detector))),
    'a history DiaForcedSource',
  );
  const forcedById = new Map<bigint, ForcedMeasurement>();
  for (const f of input.forced) if (!forcedById.has(f.id)) forcedById.set(f.id, f);

  // DiaSources with their DiaObject.
  const diaSources: ApdbRow[] = new Array<ApdbRow>(ns);
  const objectIdOf: bigint[] = new Array<bigint>(ns);
  let matched = 0;
  for (let i = 0; i < ns; i++) {
    const j = match.objectOf[i];
    const oid = j >= 0 ? objIds[j] : srcIds[i];
    if (j >= 0) matched++;
    objectIdOf[i] = oid;
    diaSources[i] = { ...input.diaSources[i], diaObjectId: oid };
  }
  const created = ns - matched;

  // DiaForcedSources: measured history objects, then the new objects.
  const forcedRows: ApdbRow[] = [];
  const newForcedOf = new Map<bigint, ApdbRow>();
  const common = { visit: input.visit, detector: input.detector, midpointMjdTai: input.visitMjdTai, band: visitBand, timeProcessedMjdTai: input.timeProcessedMjdTai };
  const pushForced = (diaObjectId: bigint, ra: number, dec: number, psfFlux: number, psfFluxErr: number, scienceFlux: number, scienceFluxErr: number): void => {
    const k = forcedRows.length;
    if (k > MAX_ROW) throw new InvalidInputError(`association: more than ${MAX_ROW + 1} forced sources in one detector-visit`);
    const row = forcedRow({
      ...common,
      diaForcedSourceId: forcedIdBase + BigInt(k),
      diaObjectId,
      ra,
      dec,
      psfFlux: orNull(psfFlux),
      psfFluxErr: orNull(psfFluxErr),
      scienceFlux: orNull(scienceFlux),
      scienceFluxErr: orNull(scienceFluxErr),
    });
    forcedRows.push(row);
    newForcedOf.set(diaObjectId, row);
  };
  for (let j = 0; j < no; j++) {
    const f = forcedById.get(objIds[j]);
    if (f) pushForced(objIds[j], f.ra, f.dec, f.psfFlux, f.psfFluxErr, f.scienceFlux, f.scienceFluxErr);
  }
  for (let i = 0; i < ns; i++) {
    const j = match.objectOf[i];
    // A matched object the forced photometry did not know (created after the preload, e.g. by the
    // previous visit still being written): measured at its DiaSource's position instead.
    if (j >= 0 && newForcedOf.has(objIds[j])) continue;
    if (j >= 0) {
      const f = forcedById.get(srcIds[i]);
      if (f) pushForced(objIds[j], f.ra, f.dec, f.psfFlux, f.psfFluxErr, f.scienceFlux, f.scienceFluxErr);
      continue;
    }
    const f = forcedById.get(srcIds[i]);
    if (f) {
      pushForced(srcIds[i], f.ra, f.dec, f.psfFlux, f.psfFluxErr, f.scienceFlux, f.scienceFluxErr);
    } else {
      const r = input.diaSources[i];
      const num = (c: string): number => finiteOf(r, c) ?? NaN;
      pushForced(srcIds[i], srcRa[i], srcDec[i], num('psfFlux'), num('psfFluxErr'), num('scienceFlux'), num('scienceFluxErr'));
    }
  }

  // New DiaObject versions, in the order of their DiaSources.
  const diaObjects: ApdbRow[] = [];
  for (let i = 0; i < ns; i++) {
    const j = match.objectOf[i];
    const oid = objectIdOf[i];
    const src = diaSources[i];
    const newSource: ApdbRow = {
      ...src,
      band: visitBand,
      midpointMjdTai: finiteOf(src, 'midpointMjdTai') ?? input.visitMjdTai,
    };
    const sources = [...(j >= 0 ? (historySources.get(oid) ?? []) : []), newSource];
    const nf = newForcedOf.get(oid);
    const forced = [...(j >= 0 ? (historyForced.get(oid) ?? []) : []), ...(nf ? [nf] : [])];
    diaObjects.push(
      summarizeDiaObject({
        diaObjectId: oid,
        validityStartMjdTai: input.visitMjdTai,
        diaSources: sources,
        diaForcedSources: forced,
        previous: j >= 0 ? objects[j] : null,
      }),
    );
  }

  return {
    diaSources,
    diaObjects,
    diaForcedSources: forcedRows,
    stats: { matched, created, updated: matched, forced: forcedRows.length },
  };
}
