/**
 * The summary columns of a DiaObject version, recomputed from its DiaSources and DiaForcedSources
 * (the APDB's window of history plus this visit's rows).
 *
 * Position: the inverse-variance weighted mean of the DiaSource positions, on the gnomonic
 * tangent plane about a reference point (the previous position, else the first DiaSource), so
 * that RA wrap-around at 0/360 and the poles need no special case:
 *   ξ̄ = Σ wξ·ξ / Σ wξ,  wξ = 1 / (raErr·cos dec)²;  η̄ = Σ wη·η / Σ wη,  wη = 1 / decErr²
 * and (ξ̄, η̄) back to (ra, dec). raErr = (Σ wξ)^-½ / cos dec̄ (an error of the RA coordinate,
 * as the DiaSources' raErr), decErr = (Σ wη)^-½, ra_dec_Cov = Σ wξ·wη·cos(dec)·cov / (Σ wξ·Σ wη)
 * / cos dec̄ (a missing DiaSource covariance counts as 0; NULL when none has one). Only
 * DiaSources with finite positive raErr and decErr enter; when none has them, the plain mean of
 * all positions is used and the errors are NULL. The per-source errors are taken in each
 * source's own east/north frame, which is the tangent plane's to second order in the
 * separation (exact far from the poles; within a few arcseconds of a pole the error
 * propagation is approximate, the position is not).
 *
 * Per band b (the DiaSources and forced sources of that band), LSST's DiaObject statistics:
 * - b_psfFlux*: over the DiaSources with a finite psfFlux and a finite positive psfFluxErr:
 *   Ndata = their number; Mean = Σ f/σ² / Σ 1/σ² and MeanErr = (Σ 1/σ²)^-½ (weighted mean);
 *   Sigma = the sample standard deviation (n − 1), Ndata ≥ 2; Min, Max; ErrMean = mean of σ;
 *   MaxSlope = the largest (signed) Δf/Δt in nJy/day between consecutive DiaSources in time
 *   (pairs at the same time skipped).
 * - b_scienceFluxMean, b_scienceFluxMeanErr: the weighted mean of the DiaSources' scienceFlux
 *   (the science-image forced flux at each DiaSource).
 * - b_fpFluxMean, b_fpFluxMeanErr: the weighted mean of the forced sources' psfFlux (forced PSF
 *   flux on the difference image at the DiaObject's position).
 * Statistics without data are NULL, counts 0.
 *
 * nDiaSources counts the DiaSources given (the window and this visit), as every other statistic;
 * lastDiaSourceMjdTai is the latest of their times; firstDiaSourceMjdTai is the earliest of their
 * times and of the previous version's firstDiaSourceMjdTai, so it stays the first detection once
 * that has left the window.
 */
import { diaObjectTable } from '../apdb/schema/tables.ts';
import { tableColumns } from '../apdb/schema/types.ts';
import type { ApdbRow } from '../apdb/types.ts';
import { BANDS } from './dia-source-rows.ts';

const D2R = Math.PI / 180;
const R2D = 180 / Math.PI;

/** The DiaObject table's columns, in order, and the NOT NULL ones. */
const DIA_OBJECT_COLUMNS = tableColumns(diaObjectTable);

/** A finite number in a row, else null (NULL, absent, NaN, another type). */
export function finiteOf(row: ApdbRow, column: string): number | null {
  const v = row[column];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** A finite, strictly positive number in a row, else null. */
function positiveOf(row: ApdbRow, column: string): number | null {
  const v = finiteOf(row, column);
  return v !== null && v > 0 ? v : null;
}

export interface SkyMean {
  readonly ra: number;
  readonly dec: number;
  readonly raErr: number | null;
  readonly decErr: number | null;
  readonly raDecCov: number | null;
}

/** Wraps an angle (degrees) into [0, 360). */
function wrap360(d: number): number {
  const r = d % 360;
  return r < 0 ? r + 360 : r === 360 ? 0 : r;
}

/**
 * The weighted mean position of DiaSource rows (ra, dec, raErr, decErr, ra_dec_Cov; degrees)
 * about a reference (degrees), as the module comment describes. `rows` must hold at least one
 * row with a finite ra and dec.
 */
export function meanPosition(rows: readonly ApdbRow[], refRa: number, refDec: number): SkyMean {
  const ra0 = refRa * D2R;
  const dec0 = refDec * D2R;
  const sin0 = Math.sin(dec0);
  const cos0 = Math.cos(dec0);
  let n = 0;
  let sx = 0;
  let sy = 0;
  let swx = 0;
  let swy = 0;
  let swxX = 0;
  let swyY = 0;
  let sCov = 0;
  let anyCov = false;
  for (const r of rows) {
    const ra = finiteOf(r, 'ra');
    const dec = finiteOf(r, 'dec');
    if (ra === null || dec === null) continue;
    const a = ra * D2R;
    const d = dec * D2R;
    const cosD = Math.cos(d);
    const sinD = Math.sin(d);
    const cdra = Math.cos(a - ra0);
    const cosC = sin0 * sinD + cos0 * cosD * cdra;
    if (!(cosC > 0)) continue; // the far hemisphere: not the same object
    const xi = (cosD * Math.sin(a - ra0)) / cosC;
    const eta = (cos0 * sinD - sin0 * cosD * cdra) / cosC;
    n++;
    sx += xi;
    sy += eta;
    const raErr = positiveOf(r, 'raErr');
    const decErr = positiveOf(r, 'decErr');
    if (raErr === null || decErr === null) continue;
    const ex = raErr * D2R * Math.max(cosD, 1e-12);
    const ey = decErr * D2R;
    const wx = 1 / (ex * ex);
    const wy = 1 / (ey * ey);
    swx += wx;
    swy += wy;
    swxX += wx * xi;
    swyY += wy * eta;
    const cov = finiteOf(r, 'ra_dec_Cov');
    if (cov !== null) {
      anyCov = true;
      sCov += wx * wy * cov * D2R * D2R * cosD;
    }
  }
  if (n === 0) throw new RangeError('meanPosition: no row has a finite ra and dec');
  const weighted = swx > 0 && swy > 0;
  const xi = weighted ? swxX / swx : sx / n;
  const eta = weighted ? swyY / swy : sy / n;
  // Gnomonic deprojection about (ra0, dec0).
  const denom = cos0 - eta * sin0;
  const ra = wrap360((ra0 + Math.atan2(xi, denom)) * R2D);
  const decRad = Math.atan2(sin0 + eta * cos0, Math.hypot(xi, denom));
  const dec = decRad * R2D;
  if (!weighted) return { ra, dec, raErr: null, decErr: null, raDecCov: null };
  const cosMean = Math.max(Math.cos(decRad), 1e-12);
  const raErr = (Math.sqrt(1 / swx) * R2D) / cosMean;
  const decErr = Math.sqrt(1 / swy) * R2D;
  const cov = anyCov ? ((sCov / (swx * swy)) * R2D * R2D) / cosMean : null;
  return {
    ra,
    dec,
    raErr: Number.isFinite(raErr) ? raErr : null,
    decErr: Number.isFinite(decErr) ? decErr : null,
    raDecCov: cov !== null && Number.isFinite(cov) ? cov : null,
  };
}

export interface WeightedMean {
  readonly mean: number | null;
  readonly meanErr: number | null;
  /** Measurements with a finite value and a finite positive error. */
  readonly n: number;
}

/** Inverse-variance weighted mean of `valueColumn` with errors `errColumn` over the rows. */
export function weightedMean(rows: readonly ApdbRow[], valueColumn: string, errColumn: string): WeightedMean {
  let sw = 0;
  let swf = 0;
  let n = 0;
  for (const r of rows) {
    const f = finiteOf(r, valueColumn);
    const e = positiveOf(r, errColumn);
    if (f === null || e === null) continue;
    const w = 1 / (e * e);
    sw += w;
    swf += w * f;
    n++;
  }
  if (n === 0 || !(sw > 0) || !Number.isFinite(sw)) return { mean: null, meanErr: null, n };
  return { mean: swf / sw, meanErr: Math.sqrt(1 / sw), n };
}

export interface PsfFluxStats extends WeightedMean {
  readonly sigma: number | null;
  readonly min: number | null;
  readonly max: number | null;
  readonly errMean: number | null;
  /** nJy per day. */
  readonly maxSlope: number | null;
}

/** The psfFlux statistics of DiaSource rows of one band (see the module comment). */
export function psfFluxStats(rows: readonly ApdbRow[]): PsfFluxStats {
  const f: number[] = [];
  const e: number[] = [];
  const t: number[] = [];
  for (const r of rows) {
    const v = finiteOf(r, 'psfFlux');
    const s = positiveOf(r, 'psfFluxErr');
    if (v === null || s === null) continue;
    f.push(v);
    e.push(s);
    t.push(finiteOf(r, 'midpointMjdTai') ?? NaN);
  }
  const n = f.length;
  const wm = weightedMean(rows, 'psfFlux', 'psfFluxErr');
  if (n === 0) return { ...wm, sigma: null, min: null, max: null, errMean: null, maxSlope: null };
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  let errSum = 0;
  for (let i = 0; i < n; i++) {
    sum += f[i];
    if (f[i] < min) min = f[i];
    if (f[i] > max) max = f[i];
    errSum += e[i];
  }
  let sigma: number | null = null;
  if (n >= 2) {
    const mean = sum / n;
    let ss = 0;
    for (let i = 0; i < n; i++) ss += (f[i] - mean) * (f[i] - mean);
    sigma = Math.sqrt(ss / (n - 1));
  }
  const order = [...t.keys()].filter((i) => Number.isFinite(t[i])).sort((a, b) => t[a] - t[b] || a - b);
  let maxSlope = -Infinity;
  for (let k = 1; k < order.length; k++) {
    const dt = t[order[k]] - t[order[k - 1]];
    if (!(dt > 0)) continue;
    const slope = (f[order[k]] - f[order[k - 1]]) / dt;
    if (slope > maxSlope) maxSlope = slope;
  }
  return { ...wm, sigma, min, max, errMean: errSum / n, maxSlope: Number.isFinite(maxSlope) ? maxSlope : null };
}

export interface DiaObjectSummaryInput {
  readonly diaObjectId: bigint;
  /** validityStartMjdTai of the new version (the visit's time). */
  readonly validityStartMjdTai: number;
  /** All the object's DiaSources to summarise (band and midpointMjdTai set), at least one. */
  readonly diaSources: readonly ApdbRow[];
  /** Its DiaForcedSources to summarise. */
  readonly diaForcedSources: readonly ApdbRow[];
  /** The current version, for an existing object. */
  readonly previous: ApdbRow | null;
}

/** A new DiaObject version: every column of the DiaObject table, validityEndMjdTai NULL. */
export function summarizeDiaObject(input: DiaObjectSummaryInput): ApdbRow {
  const { diaSources, diaForcedSources, previous } = input;
  if (diaSources.length === 0) throw new RangeError(`DiaObject ${input.diaObjectId}: no DiaSource to summarise`);
  const first = diaSources.find((r) => finiteOf(r, 'ra') !== null && finiteOf(r, 'dec') !== null);
  if (!first) throw new RangeError(`DiaObject ${input.diaObjectId}: no DiaSource with a position`);
  const prevRa = previous ? finiteOf(previous, 'ra') : null;
  const prevDec = previous ? finiteOf(previous, 'dec') : null;
  const pos =
    prevRa !== null && prevDec !== null
      ? meanPosition(diaSources, prevRa, prevDec)
      : meanPosition(diaSources, finiteOf(first, 'ra') as number, finiteOf(first, 'dec') as number);
  const out: ApdbRow = {};
  out.diaObjectId = input.diaObjectId;
  out.validityStartMjdTai = input.validityStartMjdTai;
  out.validityEndMjdTai = null;
  out.ra = pos.ra;
  out.raErr = pos.raErr;
  out.dec = pos.dec;
  out.decErr = pos.decErr;
  out.ra_dec_Cov = pos.raDecCov;

  for (const b of BANDS) {
    const src = diaSources.filter((r) => r.band === b);
    const fs = diaForcedSources.filter((r) => r.band === b);
    const ps = psfFluxStats(src);
    out[`${b}_psfFluxMean`] = ps.mean;
    out[`${b}_psfFluxMeanErr`] = ps.meanErr;
    out[`${b}_psfFluxSigma`] = ps.sigma;
    out[`${b}_psfFluxNdata`] = ps.n;
    out[`${b}_psfFluxMin`] = ps.min;
    out[`${b}_psfFluxMax`] = ps.max;
    out[`${b}_psfFluxMaxSlope`] = ps.maxSlope;
    out[`${b}_psfFluxErrMean`] = ps.errMean;
    const fp = weightedMean(fs, 'psfFlux', 'psfFluxErr');
    out[`${b}_fpFluxMean`] = fp.mean;
    out[`${b}_fpFluxMeanErr`] = fp.meanErr;
    const sc = weightedMean(src, 'scienceFlux', 'scienceFluxErr');
    out[`${b}_scienceFluxMean`] = sc.mean;
    out[`${b}_scienceFluxMeanErr`] = sc.meanErr;
  }

  let firstT = previous ? finiteOf(previous, 'firstDiaSourceMjdTai') : null;
  let lastT: number | null = null;
  for (const r of diaSources) {
    const t = finiteOf(r, 'midpointMjdTai');
    if (t === null) continue;
    if (firstT === null || t < firstT) firstT = t;
    if (lastT === null || t > lastT) lastT = t;
  }
  out.firstDiaSourceMjdTai = firstT;
  out.lastDiaSourceMjdTai = lastT;
  out.nDiaSources = diaSources.length;

  // Every column of the table, in its order; anything not computed above is NULL.
  const row: ApdbRow = {};
  for (const c of DIA_OBJECT_COLUMNS) {
    const v = c.name in out ? out[c.name] : null;
    if (v === null && !c.nullable) throw new Error(`DiaObject column ${c.name} is NOT NULL and was not computed`);
    row[c.name] = v;
  }
  return row;
}
