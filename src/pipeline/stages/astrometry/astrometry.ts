import { z } from 'zod';
import { pixelToSky, separationArcsec, type TanWcs } from '../../../astro/index.ts';
import { AlgorithmError, InvalidInputError } from '../../../core/errors.ts';
import { parseConfig } from '../../config.ts';
import { PivotedCholesky } from '../../lib/dense-symmetric.ts';
import { projectTangent, sipPixelToIntermediate, sipPixelToSky, sipTerms, type SipWcs } from '../../lib/sip-wcs.ts';
import { medianInPlace } from '../../lib/stats.ts';
import { SourceFlag, type SourceCatalog } from '../../source-catalog.ts';
import type { NumericColumn, ReferenceCatalog } from './reference-catalog.ts';

/**
 * Astrometric calibration of one detector-visit: the header WCS (off by up to tens of arcsec
 * and slightly rotated) is corrected against a reference catalog.
 *
 * 1. Reference stars are projected on the tangent plane about the header WCS's sky position
 *    of the detector centre (after proper motion to the observation epoch, when given), and
 *    those that can land on the detector (± the largest offset) are kept.
 * 2. Offset search: for trial rotations within ±maxRotationDeg (steps small enough that the
 *    rotation smears the pattern by under one bin over the detector), every pair of one of the
 *    brightest `searchSources` sources and one of the brightest `searchRefs` stars votes for
 *    its tangent-plane offset in a histogram of `offsetBinArcsec` bins over ±maxOffsetArcsec;
 *    the best 2×2 block of bins over all trials wins if it stands `minPeakSignificance` Poisson
 *    sigmas above the mean block. The offset is the median of the pairs in that block.
 * 3. Iterations: nearest-neighbour matching (one-to-one: a reference star keeps the closest of
 *    the sources that chose it) within a radius that starts at `matchRadiusArcsec` and shrinks
 *    to clipSigma × the robust radial scatter (never below `minMatchRadiusArcsec`); a weighted
 *    least-squares fit (weights from the centroid errors plus a floor) of the reference
 *    tangent-plane positions as polynomials in the pixel offsets from the detector centre —
 *    the constant terms move CRVAL, the linear terms are the full CD matrix, and the terms
 *    2 ≤ p+q ≤ sipOrder become SIP A_p_q/B_p_q — with iterative clipping at clipSigma robust
 *    sigmas of the normalised residuals; the tangent point moves to the new CRVAL and the
 *    catalog is re-projected. It stops when the matches and the radius no longer change.
 * CRPIX stays at the detector centre ((width−1)/2, (height−1)/2). sipOrder defaults to 0 (a pure
 * TAN WCS): the simulated cameras have no distortion, and a detector-sized field of a real
 * camera is close to linear; set 2–3 for a camera with measurable distortion. The order is
 * lowered automatically when there are fewer than `minMatchesPerParameter` matches per fitted
 * parameter (per axis).
 */
export const AstrometryConfig = z
  .object({
    /** Largest pointing error searched, arcsec (each axis). */
    maxOffsetArcsec: z.number().positive().max(600).default(40),
    /** Largest rotation error searched, degrees. */
    maxRotationDeg: z.number().min(0).max(5).default(0.5),
    /** Bin of the offset histogram, arcsec (scale errors up to ~bin/half-diagonal are tolerated). */
    offsetBinArcsec: z.number().positive().default(2),
    /** Brightest sources and reference stars entering the offset vote. */
    searchSources: z.number().int().min(3).default(200),
    searchRefs: z.number().int().min(3).default(400),
    /** The winning offset block must exceed the mean block by this many Poisson sigmas... */
    minPeakSignificance: z.number().positive().default(5),
    /** ...and hold at least this many pairs. */
    minPeakVotes: z.number().int().min(2).default(6),
    /** First matching radius after the offset search, arcsec. */
    matchRadiusArcsec: z.number().positive().default(3),
    /** The matching radius never shrinks below this, arcsec. */
    minMatchRadiusArcsec: z.number().positive().default(0.5),
    /** Outlier rejection and radius shrinking, in robust sigmas. */
    clipSigma: z.number().positive().default(3),
    /** Clip-and-refit rounds per matching iteration. */
    clipIterations: z.number().int().min(0).max(10).default(3),
    maxIterations: z.number().int().min(1).max(50).default(10),
    /** SIP distortion order (0: pure TAN; 2..5: SIP). */
    sipOrder: z.number().int().min(0).max(5).refine((v) => v !== 1, 'SIP order 1 is the CD matrix: use 0').default(0),
    /** Matches needed per fitted parameter (per axis) for the configured SIP order; lower orders otherwise. */
    minMatchesPerParameter: z.number().positive().default(5),
    /** Fewer matches than this after the fit: AlgorithmError. */
    minMatches: z.number().int().min(3).default(10),
    /** Sources below this S/N are not used (when the catalog has an S/N column). */
    minSnr: z.number().min(0).default(5),
    /** Sources with any of these SourceFlag bits are not used. */
    rejectFlags: z
      .number()
      .int()
      .min(0)
      .default(SourceFlag.CENTROID_FAILED | SourceFlag.SATURATED | SourceFlag.EDGE | SourceFlag.BAD | SourceFlag.COSMIC_RAY),
    /** Added in quadrature to each centroid error (pixels), for the fit weights. */
    centroidErrorFloorPx: z.number().positive().default(0.05),
    /** Centroid error assumed when a source has none (pixels). */
    defaultCentroidErrorPx: z.number().positive().default(0.3),
    /** Quality 'good' needs at least this many matches... */
    goodMinMatches: z.number().int().min(3).default(30),
    /** ...and an rms residual at most this (arcsec). */
    goodMaxRmsArcsec: z.number().positive().default(0.1),
  })
  .refine((c) => c.minMatchRadiusArcsec <= c.matchRadiusArcsec, { message: 'minMatchRadiusArcsec must not exceed matchRadiusArcsec', path: ['minMatchRadiusArcsec'] })
  .refine((c) => c.offsetBinArcsec < c.maxOffsetArcsec, { message: 'offsetBinArcsec must be smaller than maxOffsetArcsec', path: ['offsetBinArcsec'] });
export type AstrometryConfig = z.output<typeof AstrometryConfig>;
export type AstrometryConfigInput = z.input<typeof AstrometryConfig>;

export function makeAstrometryConfig(input: AstrometryConfigInput = {}): AstrometryConfig {
  return parseConfig(AstrometryConfig, input, 'astrometry');
}

/** The source columns astrometry reads (a SourceCatalog through `astrometrySources`). */
export interface AstrometrySources {
  readonly length: number;
  /** 0-based pixel centroids. */
  readonly x: NumericColumn;
  readonly y: NumericColumn;
  /** Centroid errors, pixels (NaN: unknown). */
  readonly xErr?: NumericColumn;
  readonly yErr?: NumericColumn;
  /** Any flux (electrons), to rank sources by brightness. */
  readonly flux: NumericColumn;
  readonly snr?: NumericColumn;
  /** SourceFlag bits. */
  readonly flags?: Int32Array;
}

/** The astrometry view of a measured source catalog (aperture flux for brightness). */
export function astrometrySources(cat: SourceCatalog): AstrometrySources {
  return { length: cat.length, x: cat.x, y: cat.y, xErr: cat.xErr, yErr: cat.yErr, flux: cat.apFlux, snr: cat.snr, flags: cat.flags };
}

export interface AstrometryInput {
  readonly sources: AstrometrySources;
  readonly refcat: ReferenceCatalog;
  /** The header WCS (0-based pixels). */
  readonly initialWcs: TanWcs;
  /** Detector size, pixels. */
  readonly width: number;
  readonly height: number;
  /** Band of the reference fluxes (for messages). */
  readonly band?: string;
  /** Observation epoch, MJD (TAI): reference positions are moved by their proper motions to it. */
  readonly epochMjd?: number;
}

/** 'good', or why not: fewer than goodMinMatches, or rms above goodMaxRmsArcsec. */
export type AstrometryQuality = 'good' | 'few-matches' | 'high-rms';

export interface AstrometryMatches {
  readonly count: number;
  /** Row in the input sources and in the reference catalog. */
  readonly source: Int32Array;
  readonly ref: Int32Array;
  /** 1 when the pair survived the clipping and entered the final fit. */
  readonly usedInFit: Uint8Array;
  /** Reference minus fitted position, arcsec, east and north on the tangent plane. */
  readonly residualEastArcsec: Float32Array;
  readonly residualNorthArcsec: Float32Array;
}

export interface AstrometryResult {
  readonly wcs: SipWcs;
  /** Pairs used in the final fit. */
  readonly matches: number;
  /** Every one-to-one match within the final radius (photometric calibration uses these). */
  readonly pairs: AstrometryMatches;
  /** Rms of the fit residuals (√mean(Δe² + Δn²)) and per axis, arcsec, over the pairs used. */
  readonly rmsArcsec: number;
  readonly rmsEastArcsec: number;
  readonly rmsNorthArcsec: number;
  readonly quality: AstrometryQuality;
  /** SIP order fitted (the configured one, or lower for lack of matches). */
  readonly sipOrder: number;
  readonly iterations: number;
  readonly matchRadiusArcsec: number;
  /** Result of the offset search (relative to the header WCS). */
  readonly search: {
    readonly eastArcsec: number;
    readonly northArcsec: number;
    readonly rotationDeg: number;
    readonly votes: number;
    readonly significance: number;
  };
  /** Sky distance between the header WCS and the fitted WCS at the detector centre, arcsec. */
  readonly shiftArcsec: number;
  /** Fitted pixel scale (√|det CD|, arcsec) and rotation and scale relative to the header CD. */
  readonly pixelScaleArcsec: number;
  readonly rotationDeg: number;
  readonly scaleRatio: number;
  readonly sourcesUsable: number;
  readonly refsInFootprint: number;
}

const ARCSEC_PER_RAD = (180 / Math.PI) * 3600;
const D2R = Math.PI / 180;
const LN2X2 = 2 * Math.LN2; // median of χ² with 2 degrees of freedom

/** Indices of `sel` sorted by decreasing value (NaN last), the first `limit` of them. */
function brightest(sel: Int32Array, value: NumericColumn, limit: number): Int32Array {
  const order = Int32Array.from(sel);
  order.sort((i, j) => {
    const a = value[i];
    const b = value[j];
    if (!(a === a)) return b === b ? 1 : 0;
    if (!(b === b)) return -1;
    return b - a;
  });
  return order.subarray(0, Math.min(limit, order.length));
}

interface VoteResult {
  readonly rotationRad: number;
  readonly east: number;
  readonly north: number;
  readonly votes: number;
  readonly significance: number;
}

/**
 * Offset vote between source and reference tangent positions (arcsec). Sources are rotated by
 * each trial angle about the tangent point (the detector centre).
 */
function offsetVote(
  sXi: Float64Array,
  sEta: Float64Array,
  rXi: Float64Array,
  rEta: Float64Array,
  halfDiagonalArcsec: number,
  cfg: AstrometryConfig,
): VoteResult {
  const bin = cfg.offsetBinArcsec;
  const maxOff = cfg.maxOffsetArcsec;
  const nb = Math.ceil((2 * maxOff) / bin);
  const hist = new Int32Array(nb * nb);
  const maxRot = cfg.maxRotationDeg * D2R;
  const step = Math.min(maxRot, bin / halfDiagonalArcsec);
  const nSteps = maxRot > 0 ? Math.min(50, Math.ceil(maxRot / step)) : 0;
  const xr = new Float64Array(sXi.length);
  const er = new Float64Array(sXi.length);
  // The best trial rotation: (theta, ix, iy, peak, significance).
  const best = new Float64Array(5);
  best[4] = -Infinity;
  const trial = new Float64Array(4);
  for (let t = -nSteps; t <= nSteps; t++) {
    const theta = t === 0 ? 0 : Math.max(-maxRot, Math.min(maxRot, t * step));
    voteTrial(theta, sXi, sEta, rXi, rEta, xr, er, hist, nb, bin, maxOff, trial);
    if (t === -nSteps || trial[3] > best[4]) {
      best[0] = theta;
      best.set(trial, 1);
    }
  }
  const [theta, bix, biy, peak, significance] = best;
  // Median offset of the pairs in the winning block (with half a bin of margin).
  const lo = [bix * bin - maxOff - 0.5 * bin, biy * bin - maxOff - 0.5 * bin];
  const dxs: number[] = [];
  const dys: number[] = [];
  pairOffsetsIn(theta, sXi, sEta, rXi, rEta, lo[0], lo[0] + 3 * bin, lo[1], lo[1] + 3 * bin, dxs, dys);
  const med = (v: number[]): number => medianInPlace(Float32Array.from(v), v.length);
  return { rotationRad: theta, east: med(dxs), north: med(dys), votes: peak, significance };
}

// offsetVote's loops, in functions of their own: offsetVote runs once per visit and stays in the
// interpreter, while these keep their optimised code from visit to visit.

/**
 * One trial rotation of the vote: the sources rotated by theta (into xr, er), every (reference −
 * source) offset within ±maxOff counted in bins (hist, nb × nb), and the 2 × 2 block of bins with
 * the most votes. Writes (ix, iy) of the block's first bin, its votes and their significance over
 * the mean into `out`.
 */
function voteTrial(
  theta: number,
  sXi: Float64Array,
  sEta: Float64Array,
  rXi: Float64Array,
  rEta: Float64Array,
  xr: Float64Array,
  er: Float64Array,
  hist: Int32Array,
  nb: number,
  bin: number,
  maxOff: number,
  out: Float64Array,
): void {
  const ns = sXi.length;
  const nr = rXi.length;
  const c = Math.cos(theta);
  const s = Math.sin(theta);
  for (let i = 0; i < ns; i++) {
    xr[i] = c * sXi[i] - s * sEta[i];
    er[i] = s * sXi[i] + c * sEta[i];
  }
  hist.fill(0);
  let votes = 0;
  for (let i = 0; i < ns; i++) {
    const x0 = maxOff - xr[i];
    const y0 = maxOff - er[i];
    for (let j = 0; j < nr; j++) {
      const dx = rXi[j] + x0;
      const dy = rEta[j] + y0;
      if (dx < 0 || dy < 0) continue;
      const ix = Math.floor(dx / bin);
      const iy = Math.floor(dy / bin);
      if (ix >= nb || iy >= nb) continue;
      hist[iy * nb + ix]++;
      votes++;
    }
  }
  let peak = -1;
  let bx = 0;
  let by = 0;
  for (let iy = 0; iy < nb - 1; iy++) {
    const row = iy * nb;
    for (let ix = 0; ix < nb - 1; ix++) {
      const v = hist[row + ix] + hist[row + ix + 1] + hist[row + nb + ix] + hist[row + nb + ix + 1];
      if (v > peak) {
        peak = v;
        bx = ix;
        by = iy;
      }
    }
  }
  const mean = (4 * votes) / (nb * nb);
  out[0] = bx;
  out[1] = by;
  out[2] = peak;
  out[3] = (peak - mean) / Math.sqrt(mean + 1);
}

/** The (reference − source) offsets, sources rotated by theta, within [x0, x1) × [y0, y1), appended to dxs, dys. */
function pairOffsetsIn(
  theta: number,
  sXi: Float64Array,
  sEta: Float64Array,
  rXi: Float64Array,
  rEta: Float64Array,
  x0: number,
  x1: number,
  y0: number,
  y1: number,
  dxs: number[],
  dys: number[],
): void {
  const c = Math.cos(theta);
  const s = Math.sin(theta);
  for (let i = 0; i < sXi.length; i++) {
    const x = c * sXi[i] - s * sEta[i];
    const y = s * sXi[i] + c * sEta[i];
    for (let j = 0; j < rXi.length; j++) {
      const dx = rXi[j] - x;
      const dy = rEta[j] - y;
      if (dx >= x0 && dx < x1 && dy >= y0 && dy < y1) {
        dxs.push(dx);
        dys.push(dy);
      }
    }
  }
}

/** A uniform grid over reference tangent positions for radius queries. */
interface RefGrid {
  readonly x0: number;
  readonly y0: number;
  readonly cell: number;
  readonly nx: number;
  readonly ny: number;
  readonly start: Int32Array;
  readonly items: Int32Array;
}

function buildGrid(xi: Float64Array, eta: Float64Array, radius: number): RefGrid {
  const n = xi.length;
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let j = 0; j < n; j++) {
    if (!(xi[j] === xi[j])) continue;
    if (xi[j] < x0) x0 = xi[j];
    if (xi[j] > x1) x1 = xi[j];
    if (eta[j] < y0) y0 = eta[j];
    if (eta[j] > y1) y1 = eta[j];
  }
  if (!(x1 >= x0)) return { x0: 0, y0: 0, cell: 1, nx: 1, ny: 1, start: new Int32Array(2), items: new Int32Array(0) };
  const cell = Math.max(radius, (x1 - x0) / 256, (y1 - y0) / 256, 1e-6);
  const nx = Math.floor((x1 - x0) / cell) + 1;
  const ny = Math.floor((y1 - y0) / cell) + 1;
  const cellOf = new Int32Array(n);
  const start = new Int32Array(nx * ny + 1);
  for (let j = 0; j < n; j++) {
    if (!(xi[j] === xi[j])) {
      cellOf[j] = -1;
      continue;
    }
    const k = Math.floor((eta[j] - y0) / cell) * nx + Math.floor((xi[j] - x0) / cell);
    cellOf[j] = k;
    start[k + 1]++;
  }
  for (let k = 0; k < nx * ny; k++) start[k + 1] += start[k];
  const fill = start.slice(0, nx * ny);
  const items = new Int32Array(start[nx * ny]);
  for (let j = 0; j < n; j++) if (cellOf[j] >= 0) items[fill[cellOf[j]]++] = j;
  return { x0, y0, cell, nx, ny, start, items };
}

/**
 * One-to-one nearest-neighbour matches within `radius`: each source takes its nearest reference
 * star; a star chosen by several sources keeps the closest. Returns pairs (positions in the
 * source and reference arrays), in reference order.
 */
function matchNearest(
  sXi: Float64Array,
  sEta: Float64Array,
  rXi: Float64Array,
  rEta: Float64Array,
  radius: number,
): { src: Int32Array; ref: Int32Array } {
  const g = buildGrid(rXi, rEta, radius);
  const r2 = radius * radius;
  const reach = Math.ceil(radius / g.cell);
  const owner = new Int32Array(rXi.length).fill(-1);
  const ownerD2 = new Float64Array(rXi.length).fill(Infinity);
  for (let i = 0; i < sXi.length; i++) {
    const x = sXi[i];
    const y = sEta[i];
    const cx = Math.floor((x - g.x0) / g.cell);
    const cy = Math.floor((y - g.y0) / g.cell);
    let best = -1;
    let bd = r2;
    for (let yy = Math.max(0, cy - reach); yy <= Math.min(g.ny - 1, cy + reach); yy++) {
      for (let xx = Math.max(0, cx - reach); xx <= Math.min(g.nx - 1, cx + reach); xx++) {
        const k = yy * g.nx + xx;
        for (let q = g.start[k]; q < g.start[k + 1]; q++) {
          const j = g.items[q];
          const dx = rXi[j] - x;
          const dy = rEta[j] - y;
          const d2 = dx * dx + dy * dy;
          if (d2 <= bd) {
            bd = d2;
            best = j;
          }
        }
      }
    }
    if (best >= 0 && bd < ownerD2[best]) {
      owner[best] = i;
      ownerD2[best] = bd;
    }
  }
  let n = 0;
  for (let j = 0; j < owner.length; j++) if (owner[j] >= 0) n++;
  const src = new Int32Array(n);
  const ref = new Int32Array(n);
  n = 0;
  for (let j = 0; j < owner.length; j++) {
    if (owner[j] < 0) continue;
    src[n] = owner[j];
    ref[n] = j;
    n++;
  }
  return { src, ref };
}

/** Number of fitted parameters per axis for a SIP order. */
function parameterCount(order: number): number {
  return 3 + sipTerms(order).length;
}

interface FitState {
  readonly wcs: SipWcs;
  readonly used: Uint8Array;
  readonly nUsed: number;
}

/**
 * Weighted fit of reference tangent positions (arcsec about wcs.crvalDeg) against pixel
 * positions, with clipping; returns the new WCS (CRVAL moved by the constant terms).
 */
function fitWcs(
  wcs: SipWcs,
  px: Float64Array,
  py: Float64Array,
  weight: Float64Array,
  rXi: Float64Array,
  rEta: Float64Array,
  order: number,
  normPx: number,
  cfg: AstrometryConfig,
  minMatches: number,
): FitState {
  const n = px.length;
  const terms = sipTerms(order);
  const nPar = 3 + terms.length;
  const [cx, cy] = wcs.crpix;
  const design = new Float64Array(n * nPar);
  for (let i = 0; i < n; i++) {
    const u = (px[i] - cx) / normPx;
    const v = (py[i] - cy) / normPx;
    const row = i * nPar;
    design[row] = 1;
    design[row + 1] = u;
    design[row + 2] = v;
    for (let k = 0; k < terms.length; k++) design[row + 3 + k] = u ** terms[k][0] * v ** terms[k][1];
  }
  const used = new Uint8Array(n).fill(1);
  const chi2 = new Float32Array(n);
  const resid2 = new Float64Array(n);
  const normal = new Float64Array(nPar * nPar);
  const rhsE = new Float64Array(nPar);
  const rhsN = new Float64Array(nPar);
  let ce: Float64Array = new Float64Array(nPar);
  let cn: Float64Array = new Float64Array(nPar);
  for (let round = 0; ; round++) {
    // Weighted normal equations of the rows in use.
    normal.fill(0);
    rhsE.fill(0);
    rhsN.fill(0);
    let nUsed = 0;
    for (let i = 0; i < n; i++) {
      if (!used[i]) continue;
      nUsed++;
      const row = i * nPar;
      const wi = weight[i];
      for (let j = 0; j < nPar; j++) {
        const wj = wi * design[row + j];
        rhsE[j] += wj * rXi[i];
        rhsN[j] += wj * rEta[i];
        for (let k = 0; k <= j; k++) normal[j * nPar + k] += wj * design[row + k];
      }
    }
    for (let j = 0; j < nPar; j++) for (let k = j + 1; k < nPar; k++) normal[j * nPar + k] = normal[k * nPar + j];
    if (nUsed < Math.max(minMatches, nPar)) {
      throw new AlgorithmError(`astrometry: only ${nUsed} matches survive the outlier rejection (need ${Math.max(minMatches, nPar)})`, {
        matches: nUsed,
        minMatches,
      });
    }
    const factor = new PivotedCholesky(normal, nPar);
    if (factor.rank < nPar) {
      throw new AlgorithmError(`astrometry: the ${nUsed} matched stars do not constrain a ${nPar}-parameter fit (rank ${factor.rank})`, {
        matches: nUsed,
        sipOrder: order,
      });
    }
    ce = factor.solve(rhsE);
    cn = factor.solve(rhsN);
    if (round >= cfg.clipIterations) break;
    // Normalised residuals, robust scale, clip.
    let m = 0;
    for (let i = 0; i < n; i++) {
      let pe = 0;
      let pn = 0;
      for (let k = 0; k < nPar; k++) {
        pe += design[i * nPar + k] * ce[k];
        pn += design[i * nPar + k] * cn[k];
      }
      resid2[i] = ((rXi[i] - pe) ** 2 + (rEta[i] - pn) ** 2) * weight[i];
      if (used[i]) chi2[m++] = resid2[i];
    }
    // Robust scale of the normalised residuals; never below 1, so that over-estimated errors
    // (the floor on bright stars) do not make the clipping bite into faint stars.
    const scale2 = Math.max(1, medianInPlace(chi2, m) / LN2X2);
    const cut = cfg.clipSigma * cfg.clipSigma * scale2;
    let changed = false;
    for (let i = 0; i < n; i++) {
      const keep = resid2[i] <= cut ? 1 : 0;
      if (keep !== used[i]) changed = true;
      used[i] = keep;
    }
    if (!changed) break;
  }
  // Coefficients → WCS. Tangent-plane arcsec per normalised unit → degrees per pixel.
  const cdNew: [[number, number], [number, number]] = [
    [ce[1] / normPx / 3600, ce[2] / normPx / 3600],
    [cn[1] / normPx / 3600, cn[2] / normPx / 3600],
  ];
  let sip: SipWcs['sip'] = null;
  if (terms.length > 0) {
    const det = cdNew[0][0] * cdNew[1][1] - cdNew[0][1] * cdNew[1][0];
    const i11 = cdNew[1][1] / det;
    const i12 = -cdNew[0][1] / det;
    const i21 = -cdNew[1][0] / det;
    const i22 = cdNew[0][0] / det;
    const a = new Float64Array(terms.length);
    const b = new Float64Array(terms.length);
    for (let k = 0; k < terms.length; k++) {
      const s = normPx ** (terms[k][0] + terms[k][1]) * 3600;
      const pe = ce[3 + k] / s;
      const pn = cn[3 + k] / s;
      a[k] = i11 * pe + i12 * pn;
      b[k] = i21 * pe + i22 * pn;
    }
    sip = { order, a, b };
  }
  const centre = pixelToSky({ crvalDeg: wcs.crvalDeg, crpix: [0, 0], cd: [[1, 0], [0, 1]] }, ce[0] / 3600, cn[0] / 3600);
  let nUsed = 0;
  for (let i = 0; i < n; i++) nUsed += used[i];
  return { wcs: { crvalDeg: [centre[0], centre[1]], crpix: wcs.crpix, cd: cdNew, sip }, used, nUsed };
}

function checkColumn(name: string, col: ArrayLike<number> | undefined, n: number): void {
  if (col !== undefined && col.length < n) throw new InvalidInputError(`astrometry: source column ${name} has ${col.length} rows, expected ${n}`);
}

/** Astrometric fit; see the config's comment for the method. AlgorithmError when it cannot succeed. */
export function runAstrometry(input: AstrometryInput, cfg: AstrometryConfig = makeAstrometryConfig()): AstrometryResult {
  const { sources: src, refcat, initialWcs, width: W, height: H } = input;
  if (!(W > 0 && H > 0)) throw new InvalidInputError(`astrometry: detector size ${W}x${H} is not positive`);
  const n = src.length;
  for (const [name, col] of [['x', src.x], ['y', src.y], ['flux', src.flux], ['xErr', src.xErr], ['yErr', src.yErr], ['snr', src.snr], ['flags', src.flags]] as const) {
    checkColumn(name, col, n);
  }
  const cd0 = initialWcs.cd;
  const det0 = cd0[0][0] * cd0[1][1] - cd0[0][1] * cd0[1][0];
  if (!(Math.abs(det0) > 0) || !Number.isFinite(det0)) throw new InvalidInputError('astrometry: the initial WCS has a singular CD matrix');
  const pixelScale0 = Math.sqrt(Math.abs(det0)) * 3600;
  const crpix: [number, number] = [(W - 1) / 2, (H - 1) / 2];
  const c0 = pixelToSky(initialWcs, crpix[0], crpix[1]);
  const wcs0: SipWcs = { crvalDeg: [c0[0], c0[1]], crpix, cd: cd0, sip: null };
  const halfDiagonalArcsec = 0.5 * Math.hypot(W, H) * pixelScale0;
  const meta = { band: input.band ?? null, sources: n, refs: refcat.count };

  // 1. Usable sources.
  const selList: number[] = [];
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(src.x[i]) || !Number.isFinite(src.y[i]) || !(src.flux[i] > 0)) continue;
    if (src.flags && src.flags[i] & cfg.rejectFlags) continue;
    if (src.snr && !(src.snr[i] >= cfg.minSnr)) continue;
    selList.push(i);
  }
  const srcSel = Int32Array.from(selList);
  const ns = srcSel.length;
  if (ns < cfg.minMatches) {
    throw new AlgorithmError(`astrometry: only ${ns} usable sources of ${n} (need ${cfg.minMatches})`, { ...meta, usableSources: ns });
  }
  const px = new Float64Array(ns);
  const py = new Float64Array(ns);
  const weight = new Float64Array(ns);
  const floor2 = cfg.centroidErrorFloorPx ** 2;
  for (let k = 0; k < ns; k++) {
    const i = srcSel[k];
    px[k] = src.x[i];
    py[k] = src.y[i];
    const ex = src.xErr ? src.xErr[i] : NaN;
    const ey = src.yErr ? src.yErr[i] : NaN;
    const e2 = Number.isFinite(ex) && Number.isFinite(ey) ? 0.5 * (ex * ex + ey * ey) : cfg.defaultCentroidErrorPx ** 2;
    weight[k] = 1 / ((e2 + floor2) * pixelScale0 * pixelScale0); // 1/arcsec²
  }

  // 2. Reference stars that can land on the detector.
  let ra = refcat.ra;
  let dec = refcat.dec;
  if (input.epochMjd !== undefined && Number.isFinite(input.epochMjd)) {
    let moved: { ra: Float64Array; dec: Float64Array } | null = null;
    for (let j = 0; j < refcat.count; j++) {
      const pa = refcat.pmRa[j];
      const pd = refcat.pmDec[j];
      const ep = refcat.epochMjd[j];
      if ((pa === 0 && pd === 0) || !Number.isFinite(ep) || !Number.isFinite(pa) || !Number.isFinite(pd)) continue;
      if (!moved) moved = { ra: refcat.ra.slice(), dec: refcat.dec.slice() };
      const years = (input.epochMjd - ep) / 365.25;
      moved.dec[j] = refcat.dec[j] + (pd * years) / 3.6e6;
      moved.ra[j] = refcat.ra[j] + (pa * years) / 3.6e6 / Math.cos(refcat.dec[j] * D2R);
    }
    if (moved) {
      ra = moved.ra;
      dec = moved.dec;
    }
  }
  const allXi = new Float64Array(refcat.count);
  const allEta = new Float64Array(refcat.count);
  projectTangent(ra, dec, wcs0.crvalDeg[0], wcs0.crvalDeg[1], allXi, allEta);
  const inv = [cd0[1][1] / det0 / 3600, -cd0[0][1] / det0 / 3600, -cd0[1][0] / det0 / 3600, cd0[0][0] / det0 / 3600];
  const marginPx = (cfg.maxOffsetArcsec * Math.SQRT2 + cfg.maxRotationDeg * D2R * halfDiagonalArcsec + cfg.matchRadiusArcsec) / pixelScale0 + 0.005 * Math.max(W, H);
  const refList: number[] = [];
  for (let j = 0; j < refcat.count; j++) {
    const xi = allXi[j];
    const eta = allEta[j];
    if (!(xi === xi)) continue;
    const x = crpix[0] + inv[0] * xi + inv[1] * eta;
    const y = crpix[1] + inv[2] * xi + inv[3] * eta;
    if (x >= -marginPx && x <= W - 1 + marginPx && y >= -marginPx && y <= H - 1 + marginPx) refList.push(j);
  }
  const refSel = Int32Array.from(refList);
  const nr = refSel.length;
  if (nr < cfg.minMatches) {
    throw new AlgorithmError(`astrometry: only ${nr} reference stars fall on or near the detector (need ${cfg.minMatches})`, { ...meta, refsInFootprint: nr });
  }

  // 3. Offset search.
  const srcXi0 = new Float64Array(ns);
  const srcEta0 = new Float64Array(ns);
  const tmp = new Float64Array(2);
  for (let k = 0; k < ns; k++) {
    sipPixelToIntermediate(wcs0, px[k], py[k], tmp);
    srcXi0[k] = tmp[0] * 3600;
    srcEta0[k] = tmp[1] * 3600;
  }
  const positionOf = new Int32Array(n).fill(-1);
  for (let k = 0; k < ns; k++) positionOf[srcSel[k]] = k;
  const bs = brightest(srcSel, src.flux, cfg.searchSources);
  const br = brightest(refSel, refcat.flux, cfg.searchRefs);
  const vsXi = Float64Array.from(bs, (i) => srcXi0[positionOf[i]]);
  const vsEta = Float64Array.from(bs, (i) => srcEta0[positionOf[i]]);
  const vrXi = Float64Array.from(br, (j) => allXi[j]);
  const vrEta = Float64Array.from(br, (j) => allEta[j]);
  const vote = offsetVote(vsXi, vsEta, vrXi, vrEta, halfDiagonalArcsec, cfg);
  const search = {
    eastArcsec: vote.east,
    northArcsec: vote.north,
    rotationDeg: vote.rotationRad / D2R,
    votes: vote.votes,
    significance: vote.significance,
  };
  if (vote.votes < cfg.minPeakVotes || !(vote.significance >= cfg.minPeakSignificance)) {
    throw new AlgorithmError(
      `astrometry: no offset within ±${cfg.maxOffsetArcsec}" and ±${cfg.maxRotationDeg}° stands out ` +
        `(best: ${vote.votes} pairs, ${vote.significance.toFixed(1)} sigma; need ${cfg.minPeakVotes} and ${cfg.minPeakSignificance})`,
      { ...meta, ...search, usableSources: ns, refsInFootprint: nr },
    );
  }
  const ct = Math.cos(vote.rotationRad);
  const st = Math.sin(vote.rotationRad);
  const start = pixelToSky({ crvalDeg: wcs0.crvalDeg, crpix: [0, 0], cd: [[1, 0], [0, 1]] }, vote.east / 3600, vote.north / 3600);
  let wcs: SipWcs = {
    crvalDeg: [start[0], start[1]],
    crpix,
    cd: [
      [ct * cd0[0][0] - st * cd0[1][0], ct * cd0[0][1] - st * cd0[1][1]],
      [st * cd0[0][0] + ct * cd0[1][0], st * cd0[0][1] + ct * cd0[1][1]],
    ],
    sip: null,
  };

  // 4. Match, fit, clip; shrink the radius.
  const normPx = 0.5 * Math.max(W, H);
  const rXi = new Float64Array(nr);
  const rEta = new Float64Array(nr);
  const sXi = new Float64Array(ns);
  const sEta = new Float64Array(ns);
  let radius = cfg.matchRadiusArcsec;
  let pairs: { src: Int32Array; ref: Int32Array } = { src: new Int32Array(0), ref: new Int32Array(0) };
  let used: Uint8Array = new Uint8Array(0);
  let order = 0;
  let iterations = 0;
  const project = (): void => {
    projectTangent(ra, dec, wcs.crvalDeg[0], wcs.crvalDeg[1], rXi, rEta, ARCSEC_PER_RAD, refSel);
    for (let k = 0; k < ns; k++) {
      sipPixelToIntermediate(wcs, px[k], py[k], tmp);
      sXi[k] = tmp[0] * 3600;
      sEta[k] = tmp[1] * 3600;
    }
  };
  for (let iter = 1; iter <= cfg.maxIterations; iter++) {
    iterations = iter;
    project();
    const m = matchNearest(sXi, sEta, rXi, rEta, radius);
    const nm = m.src.length;
    if (nm < cfg.minMatches) {
      throw new AlgorithmError(`astrometry: only ${nm} sources match reference stars within ${radius.toFixed(2)}" (need ${cfg.minMatches})`, {
        ...meta,
        ...search,
        matches: nm,
        iteration: iter,
      });
    }
    order = cfg.sipOrder;
    while (order >= 2 && nm < cfg.minMatchesPerParameter * parameterCount(order)) order = order === 2 ? 0 : order - 1;
    const fx = Float64Array.from(m.src, (k) => px[k]);
    const fy = Float64Array.from(m.src, (k) => py[k]);
    const fw = Float64Array.from(m.src, (k) => weight[k]);
    const fXi = Float64Array.from(m.ref, (j) => rXi[j]);
    const fEta = Float64Array.from(m.ref, (j) => rEta[j]);
    const fit = fitWcs(wcs, fx, fy, fw, fXi, fEta, order, normPx, cfg, cfg.minMatches);
    // Robust radial scatter of the matches about the new model (in its own tangent plane) → the next radius.
    const nXi = new Float64Array(nm);
    const nEta = new Float64Array(nm);
    projectTangent(ra, dec, fit.wcs.crvalDeg[0], fit.wcs.crvalDeg[1], nXi, nEta, ARCSEC_PER_RAD, Int32Array.from(m.ref, (j) => refSel[j]));
    const d2 = new Float32Array(nm);
    for (let q = 0; q < nm; q++) {
      sipPixelToIntermediate(fit.wcs, fx[q], fy[q], tmp);
      d2[q] = (nXi[q] - tmp[0] * 3600) ** 2 + (nEta[q] - tmp[1] * 3600) ** 2;
    }
    const sigma2 = medianInPlace(d2, nm) / LN2X2; // per axis
    const nextRadius = Math.max(cfg.minMatchRadiusArcsec, Math.min(radius, cfg.clipSigma * Math.sqrt(2 * sigma2)));
    const same =
      pairs.src.length === nm && m.src.every((v, q) => v === pairs.src[q]) && m.ref.every((v, q) => v === pairs.ref[q]) && nextRadius === radius;
    wcs = fit.wcs;
    pairs = m;
    used = fit.used;
    radius = nextRadius;
    if (same) break;
  }

  // 5. Final residuals about the fitted CRVAL.
  project();
  const nm = pairs.src.length;
  const resE = new Float32Array(nm);
  const resN = new Float32Array(nm);
  let se = 0;
  let sn = 0;
  let nUsed = 0;
  for (let q = 0; q < nm; q++) {
    const k = pairs.src[q];
    const j = pairs.ref[q];
    const de = rXi[j] - sXi[k];
    const dn = rEta[j] - sEta[k];
    resE[q] = de;
    resN[q] = dn;
    if (used[q]) {
      se += de * de;
      sn += dn * dn;
      nUsed++;
    }
  }
  const rmsEast = Math.sqrt(se / nUsed);
  const rmsNorth = Math.sqrt(sn / nUsed);
  const rms = Math.sqrt((se + sn) / nUsed);
  const quality: AstrometryQuality = nUsed < cfg.goodMinMatches ? 'few-matches' : rms > cfg.goodMaxRmsArcsec ? 'high-rms' : 'good';
  const cd = wcs.cd;
  const det = cd[0][0] * cd[1][1] - cd[0][1] * cd[1][0];
  const pixelScale = Math.sqrt(Math.abs(det)) * 3600;
  // Rotation of the fitted CD relative to the header CD: angle of CD·CD0⁻¹ (its rotation part).
  const r11 = (cd[0][0] * cd0[1][1] - cd[0][1] * cd0[1][0]) / det0;
  const r21 = (cd[1][0] * cd0[1][1] - cd[1][1] * cd0[1][0]) / det0;
  const r12 = (-cd[0][0] * cd0[0][1] + cd[0][1] * cd0[0][0]) / det0;
  const r22 = (-cd[1][0] * cd0[0][1] + cd[1][1] * cd0[0][0]) / det0;
  const rotationDeg = Math.atan2(r21 - r12, r11 + r22) / D2R;
  const fitted = sipPixelToSky(wcs, crpix[0], crpix[1]);
  return {
    wcs,
    matches: nUsed,
    pairs: {
      count: nm,
      source: Int32Array.from(pairs.src, (k) => srcSel[k]),
      ref: Int32Array.from(pairs.ref, (j) => refSel[j]),
      usedInFit: used,
      residualEastArcsec: resE,
      residualNorthArcsec: resN,
    },
    rmsArcsec: rms,
    rmsEastArcsec: rmsEast,
    rmsNorthArcsec: rmsNorth,
    quality,
    sipOrder: order,
    iterations,
    matchRadiusArcsec: radius,
    search,
    shiftArcsec: separationArcsec(c0[0], c0[1], fitted[0], fitted[1]),
    pixelScaleArcsec: pixelScale,
    rotationDeg,
    scaleRatio: pixelScale / pixelScale0,
    sourcesUsable: ns,
    refsInFootprint: nr,
  };
}

/** Sky coordinates (degrees) of pixel positions through a fitted WCS. */
export function skyCoordinates(wcs: SipWcs, x: NumericColumn, y: NumericColumn): { ra: Float64Array; dec: Float64Array } {
  const n = x.length;
  const ra = new Float64Array(n);
  const dec = new Float64Array(n);
  const out = new Float64Array(2);
  for (let i = 0; i < n; i++) {
    sipPixelToSky(wcs, x[i], y[i], out);
    ra[i] = out[0];
    dec[i] = out[1];
  }
  return { ra, dec };
}
