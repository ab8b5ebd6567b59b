/**
 * Pixel statistics ignoring NaN: count, min, max, mean, median (quickselect) and population std.
 */

import { selectInPlace } from '../core/select.ts';

export interface PixelStats {
  /** Pixels that are not NaN. */
  count: number;
  nanCount: number;
  min: number;
  max: number;
  mean: number;
  median: number;
  /** Population standard deviation (ddof = 0, numpy's default). */
  std: number;
}

/** Median of the values (NaN-free copy is rearranged in place). */
function medianInPlace(values: Float64Array): number {
  const n = values.length;
  if (n === 0) return NaN;
  const k = (n - 1) >>> 1;
  selectInPlace(values, 0, n, k);
  const lower = values[k];
  if (n % 2 === 1) return lower;
  let upper = Infinity;
  for (let i = k + 1; i < n; i++) if (values[i] < upper) upper = values[i];
  return (lower + upper) / 2;
}

export function pixelStats(data: ArrayLike<number>): PixelStats {
  const n = data.length;
  const copy = new Float64Array(n);
  let count = 0;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = data[i];
    if (v !== v) continue;
    copy[count++] = v;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  if (count === 0) return { count: 0, nanCount: n, min: NaN, max: NaN, mean: NaN, median: NaN, std: NaN };
  const mean = sum / count;
  let ss = 0;
  for (let i = 0; i < count; i++) {
    const d = copy[i] - mean;
    ss += d * d;
  }
  const std = Math.sqrt(ss / count);
  const median = medianInPlace(copy.subarray(0, count));
  return { count, nanCount: n - count, min, max, mean, median, std };
}
