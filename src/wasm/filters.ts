import { wasmInstance, type WasmInstance } from './load.ts';

/**
 * Separable filtering with a symmetric kernel (assembly/filters.ts; the convolution itself is
 * pipeline/stages/detection/detection.ts's SeparableConvolver), four pixels per SIMD operation,
 * float32 throughout. Pointers are byte offsets into the instance's memory (its arena). `taps`
 * holds c_0 … c_r (float32, c_j the weight at distance j), and every output is
 *
 *   c_0·a_0 + c_1·(a_−1 + a_+1) + … + c_r·(a_−r + a_+r),
 *
 * summed from the left, each product and sum rounded to float32.
 *
 *   hrows: nRows rows of W source values (float32, stride W) filtered along the rows into `out`
 *     (stride W); zero beyond the row ends; with a mask (int32, stride W; 0: none), pixels with
 *     `zeroBits` or NaN count as zero. `rowBuf`: scratch of W + 2r values.
 *   vrows: the columns of a strip (stride W) filtered: out row k from the strip rows k − r …
 *     k + r, row k at `centre` + 4·k·W bytes (the r rows above `centre` are read).
 *   above: appends base + x for each x ∈ [0, W) with row[x] > thr[x] (float32; NaN is not above)
 *     to `list` (int32), in order; returns how many.
 *
 * Order statistics of n float32 values (no NaN), exact (radix selection on their bits), with
 * scratch `keys` (n int32), `work` (4n int32) and `hist` (4096 int32; 8192 for clippedStats).
 * The values are left as they are.
 *
 *   median: the median of values[0..n) (the mean of the two middle values for even n, in
 *     float64), as lib/stats.ts's medianInPlace; NaN for n = 0.
 *   clippedStats: lib/stats.ts's sigmaClippedStatsInPlace(values, n, nSigma, iterations), with
 *     its IQR_TO_SIGMA. `out` (4 float64): median, mean, sigma, number kept (the same values;
 *     the sums of the mean and of the standard deviation of fewer than 4 values are taken in
 *     another order).
 *
 *   subtractRows: img (nRows rows of W float32, stride W, in place) minus a model linear along
 *     the row between mesh columns: for each segment s (int32 triples x0, x1, m in `segs`) and
 *     x ∈ [x0, x1), img[x] −= float32(v[m]·wa[x] + v[m + 1]·wb[x]) (in float64), v the row's nx
 *     float64 values at rowVals + 8·k·nx; wa, wb float64 per column.
 */
export interface FilterKernels {
  hrows(src: number, mask: number, W: number, nRows: number, zeroBits: number, taps: number, r: number, rowBuf: number, out: number): void;
  vrows(centre: number, out: number, W: number, nRows: number, taps: number, r: number): void;
  above(row: number, thr: number, W: number, base: number, list: number): number;
  median(values: number, n: number, keys: number, work: number, hist: number): number;
  clippedStats(values: number, n: number, nSigma: number, iterations: number, iqrToSigma: number, keys: number, work: number, hist: number, out: number): void;
  subtractRows(img: number, W: number, nRows: number, rowVals: number, nx: number, segs: number, nSeg: number, wa: number, wb: number): void;
}

export function filterKernels(): WasmInstance<FilterKernels> {
  return wasmInstance<FilterKernels>('filters');
}
