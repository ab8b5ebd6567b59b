/**
 * Rows and plans for exercising an APDB: complete rows with a value in every column, minimal
 * valid rows, square regions, and the association plan of two detectors that see one new object.
 */
import { angleBetween, unitVector } from '../../astro/sphere.ts';
import { tableColumns, type ApdbTableSpec } from '../schema/types.ts';
import type { ApdbHistory, ApdbRegion, ApdbRow, DetectorVisitKey, DetectorVisitRows } from '../types.ts';

/** Ids above 2^53, where a JavaScript number would lose digits. */
export const BIG = 2n ** 60n;

/**
 * A row with every column of `table` set to a value that survives every backend exactly:
 * floats exact in 32 bits, 64-bit integers above 2^53, alternating booleans, microsecond
 * timestamps, strings shorter than their column (CHAR padding must come off).
 */
export function fullRow(table: ApdbTableSpec, seed: number, overrides: ApdbRow = {}): ApdbRow {
  const row: ApdbRow = {};
  tableColumns(table).forEach((c, i) => {
    switch (c.datatype) {
      case 'long': row[c.name] = BIG + BigInt(seed * 1000 + i); break;
      case 'int': row[c.name] = seed * 100 + i; break;
      case 'short': row[c.name] = (seed + i) % 30000; break;
      case 'float': row[c.name] = i + 0.25; break;
      case 'double': row[c.name] = seed + i + 0.123456789012345; break;
      case 'boolean': row[c.name] = (seed + i) % 2 === 0; break;
      case 'char': row[c.name] = c.length === 1 ? 'r' : `c${seed}_${i}`.slice(0, c.length ?? 1); break;
      case 'string': row[c.name] = `s${seed}_${i}`.slice(0, c.length ?? 8); break;
      case 'text': row[c.name] = `text ${seed} ${i}`; break;
      case 'timestamp': row[c.name] = 1_700_000_000_123_456n + BigInt(seed * 1000 + i); break;
    }
  });
  return { ...row, ...overrides };
}

/** A square region of half-width `half` degrees around (ra, dec), counter-clockwise. */
export function boxRegion(ra: number, dec: number, half: number): ApdbRegion {
  return { vertices: [[ra - half, dec - half], [ra + half, dec - half], [ra + half, dec + half], [ra - half, dec + half]] };
}

export interface SourceSpec {
  readonly diaSourceId: bigint;
  readonly diaObjectId: bigint;
  readonly ra: number;
  readonly dec: number;
  readonly mjd: number;
  readonly key: DetectorVisitKey;
}

/** A DiaSource with its NOT NULL columns and a flux. */
export function sourceRow(s: SourceSpec): ApdbRow {
  return {
    diaSourceId: s.diaSourceId, visit: s.key.visit, detector: s.key.detector, diaObjectId: s.diaObjectId,
    midpointMjdTai: s.mjd, ra: s.ra, dec: s.dec, x: 100, y: 200, psfFlux: 1500.5, psfFluxErr: 20.25,
    psfNdata: 0, trailNdata: 0, dipoleNdata: 0, timeProcessedMjdTai: s.mjd + 0.001, bboxSize: 15, band: 'r',
  };
}

/** A DiaObject version with its NOT NULL columns. */
export function objectRow(id: bigint, ra: number, dec: number, start: number, nDiaSources: number): ApdbRow {
  return {
    diaObjectId: id, validityStartMjdTai: start, ra, dec, nDiaSources,
    u_psfFluxNdata: 0, g_psfFluxNdata: 0, r_psfFluxNdata: nDiaSources, i_psfFluxNdata: 0, z_psfFluxNdata: 0, y_psfFluxNdata: 0,
    firstDiaSourceMjdTai: start, lastDiaSourceMjdTai: start,
  };
}

export function forcedRow(objectId: bigint, forcedId: bigint, ra: number, dec: number, mjd: number, key: DetectorVisitKey): ApdbRow {
  return {
    diaForcedSourceId: forcedId, diaObjectId: objectId, ra, dec, visit: key.visit, detector: key.detector,
    psfFlux: 10.5, psfFluxErr: 1.25, midpointMjdTai: mjd, band: 'r', timeProcessedMjdTai: mjd + 0.001,
  };
}

export function summaryRow(key: DetectorVisitKey): ApdbRow {
  return { visit: key.visit, detector: key.detector, xSize: 4072n, ySize: 4000n, nPsfStar: 42 };
}

/**
 * One detection at (ra, dec): associated with a history DiaObject within `radiusArcsec` (a new
 * version with one more source), else a new DiaObject `newObjectId`.
 */
export function associatePlan(s: Omit<SourceSpec, 'diaObjectId'> & { readonly newObjectId: bigint; readonly radiusArcsec?: number }): (h: ApdbHistory) => DetectorVisitRows {
  return (h) => {
    const here = unitVector(s.ra, s.dec);
    const radius = ((s.radiusArcsec ?? 1) / 3600) * (Math.PI / 180);
    const match = h.diaObjects.find((o) => angleBetween(unitVector(o.ra as number, o.dec as number), here) <= radius);
    const object = match
      ? { ...match, validityStartMjdTai: s.mjd, nDiaSources: (match.nDiaSources as number) + 1, r_psfFluxNdata: (match.r_psfFluxNdata as number) + 1, lastDiaSourceMjdTai: s.mjd }
      : objectRow(s.newObjectId, s.ra, s.dec, s.mjd, 1);
    return {
      diaSources: [sourceRow({ ...s, diaObjectId: object.diaObjectId as bigint })],
      diaObjects: [object],
      diaForcedSources: [],
      processingSummary: summaryRow(s.key),
    };
  };
}
