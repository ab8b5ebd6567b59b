/**
 * Order statistics on scratch typed arrays: an in-place quickselect and the robust estimators
 * built on it. Every function works on the first `n` elements of a caller-owned Float32Array
 * (reordering them), so a stage can reuse one scratch buffer for all its cells or rows.
 */

import { selectInPlace } from '../../core/select.ts';

export { selectInPlace };

/** Gaussian sigma per unit of interquartile range. */
export const IQR_TO_SIGMA = 0.741301109;
/** Gaussian sigma per unit of median absolute deviation. */
export const MAD_TO_SIGMA = 1.482602218;

/** Largest value in a[lo..hi). */
function maxOf(a: Float32Array, lo: number, hi: number): number {
  let m = -Infinity;
  for (let i = lo; i < hi; i++) if (a[i] > m) m = a[i];
  return m;
}

/** Median of a[0..n) (mean of the two middle values for even n). Reorders a. NaN for n = 0. */
export function medianInPlace(a: Float32Array, n: number): number {
  if (n <= 0) return NaN;
  const k = n >>> 1;
  const upper = selectInPlace(a, 0, n, k);
  if (n & 1) return upper;
  return 0.5 * (upper + maxOf(a, 0, k));
}

export interface ClippedStats {
  /** Median of the values kept after clipping. */
  readonly median: number;
  /** Mean of the values kept after clipping. */
  readonly mean: number;
  /** Robust sigma (from the interquartile range) of the values kept. */
  readonly sigma: number;
  /** Number of values kept. */
  readonly n: number;
}

/**
 * Iterative sigma clipping around the median: each iteration computes the median and an
 * interquartile-range sigma of the kept values and drops those further than nSigma sigma from
 * the median. Works in place on a[0..n) (the kept values end up first). Returns NaN fields
 * for n = 0.
 */
export function sigmaClippedStatsInPlace(a: Float32Array, n: number, nSigma: number, iterations: number): ClippedStats {
  let count = n;
  let med = NaN;
  let sigma = NaN;
  for (let it = 0; it <= iterations && count > 0; it++) {
    med = medianInPlace(a, count);
    sigma = iqrSigmaPartitioned(a, count);
    if (it === iterations || !(sigma > 0)) break;
    const kept = keepWithin(a, count, med - nSigma * sigma, med + nSigma * sigma);
    if (kept === count) break;
    count = kept;
  }
  return { median: med, mean: count > 0 ? sumOf(a, count) / count : NaN, sigma, n: count };
}

// The loops of sigmaClippedStatsInPlace, in functions of their own: it is run a few times per
// visit and stays in the interpreter, while these keep their optimised code from visit to visit.

/** Moves the values of a[0..n) within [lo, hi] to its front, in order; returns how many. */
function keepWithin(a: Float32Array, n: number, lo: number, hi: number): number {
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const v = a[i];
    if (v >= lo && v <= hi) a[kept++] = v;
  }
  return kept;
}

/** Σ a[0..n), in float64. */
function sumOf(a: Float32Array, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += a[i];
  return sum;
}

/**
 * IQR sigma of a[0..n) when a has just been partitioned around its median index (n >>> 1):
 * the quartiles are selected within each half, which is cheaper than from scratch.
 */
function iqrSigmaPartitioned(a: Float32Array, n: number): number {
  if (n < 4) return n > 1 ? stdev(a, n) : 0;
  const k = n >>> 1;
  const q1 = selectInPlace(a, 0, k, Math.floor(0.25 * (n - 1)));
  const q3 = selectInPlace(a, k, n, Math.max(k, Math.ceil(0.75 * (n - 1))));
  return IQR_TO_SIGMA * (q3 - q1);
}

function stdev(a: Float32Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i];
  const m = s / n;
  let s2 = 0;
  for (let i = 0; i < n; i++) s2 += (a[i] - m) * (a[i] - m);
  return Math.sqrt(s2 / (n - 1));
}
