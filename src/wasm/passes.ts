import { wasmInstance, type WasmInstance } from './load.ts';

/**
 * The numeric loops of image subtraction (assembly/passes.ts): the passes, mask growth,
 * combination and statistics in float32, four pixels per SIMD operation; the cells' kernels and
 * their separable approximations in float64; medians. Pointers are byte offsets into the
 * instance's memory (its arena); row strides are in pixels; taps are float32 values there.
 *
 * The passes' sums run in tap order. They go 16 pixels at a time: a row's last step reads up to
 * 15 values past the columns described (past a row's end: as far as the arena's slack after a
 * buffer) and stores the pixels beyond them back unchanged.
 *
 *   hpass: dst[k·dstStride + x] = Σ_t c_t · src[k·srcStride + x + t], k ∈ [0, nRows), x ∈ [0, n)
 *   vpass: dst[k·dstStride + x] (+)= Σ_t c_t · src[(k + t)·srcStride + x], k ∈ [0, nRows), x ∈ [x0, x1)
 *   maxOf: the largest src[k·stride + x], k ∈ [0, nRows), x ∈ [0, n), NaN skipped (−∞ if none)
 *   growMask: a strip's mask grown by a (2r + 1)² box. Input rows k ∈ [0, nIn): mask `msk` (row
 *     stride W), image `img` and variance `vr` (row stride P ≥ W + r, pixel x at column r + x):
 *       m_k(x) = (msk & bits) | (noData where the image or the variance is not finite),
 *       hor_k(x) = OR of m_k(x − r … x + r) (zero beyond the row),
 *       out(k, x) = (msk(k + r, x) & ~bits) | OR of hor_k … hor_{k+2r}, k ∈ [0, nIn − 2r)
 *     into `out` (row stride W); non-finite image and variance values are set to zero in place.
 *     Scratch: `line` (W + 2r i32), `hor` (nIn·W i32), `flags` (nIn bytes).
 *   combine: the difference over rows k ∈ [0, nRows) (row stride W; image row y0 + k of H), in
 *     place in img, vr, mask:
 *       img ← scale · (oImg − img − B_k(x)), B_k(x) = Σ_e bg[k·(deg + 1) + e] · xh[x]^e (none when deg < 0)
 *       vr ← s2 · (oVar + vr)
 *       mask ← ((mask | oMask | rowBits | noData where oImg is not finite) & keep), then | border
 *         within r of the left and right edges (rowBits: border within r of the top or bottom)
 *       img, vr ← fill where the mask has noData
 *     (bg and xh: float32).
 *   diagnoseRows: over rows k ∈ [0, nRows) (row stride W; image row y0 + k): img ← img − B_k(x)
 *     where the mask has no noData bit (everywhere when noData = 0; B as in combine, float32,
 *     none when deg < 0); then, over rows with (y0 + k) mod step = off and columns off,
 *     off + step, …, the pixels with no `bad` bits in the mask, no `srcBits` in maskA | maskB and
 *     var > 0: z = img / √var (float64), |z| ≤ clip adds to stats[0..2] (count, Σz, Σz²), others
 *     to stats[3] (four float64, accumulated in row order). With noData = 0 only the sampled
 *     rows' mask is read.
 *   weightedSum: out[k] = Σ_j a_j · images[j·n + k] over the a_j ≠ 0, sq[k] = out[k]² (float64).
 *   separable: the separable approximation of a kernel (pipeline/stages/subtraction/separable.ts)
 *     at `kern` (size², float64) within `tol` after smoothing by the L taps at g, from the start
 *     vectors at `start` (limit × size; 0: none): the eigenvectors (limit × size) at vecOut, the
 *     vertical profiles at projOut, the error at errOut; returns the rank. `scratch`:
 *     separableScratch(size, limit, L) float64 values.
 *   median, clippedMedian: of the float32 values a[0..n) (reordered): the median (the mean of
 *     the two middle values for even n, NaN for none), and the median after sigma clipping
 *     (pipeline/lib/stats.ts sigmaClippedStatsInPlace).
 */
export interface PassKernels {
  hpass(src: number, srcStride: number, dst: number, dstStride: number, n: number, nRows: number, taps: number, T: number): void;
  vpass(src: number, srcStride: number, dst: number, dstStride: number, nRows: number, x0: number, x1: number, taps: number, T: number, accumulate: boolean): void;
  maxOf(src: number, stride: number, n: number, nRows: number): number;
  growMask(msk: number, img: number, vr: number, P: number, W: number, r: number, nIn: number, bits: number, noData: number, out: number, line: number, hor: number, flags: number): void;
  combine(
    img: number,
    vr: number,
    mask: number,
    oImg: number,
    oVar: number,
    oMask: number,
    W: number,
    nRows: number,
    y0: number,
    H: number,
    r: number,
    bg: number,
    deg: number,
    xh: number,
    scale: number,
    s2: number,
    keep: number,
    noData: number,
    border: number,
    fill: number,
  ): void;
  diagnoseRows(
    img: number,
    vr: number,
    mask: number,
    maskA: number,
    maskB: number,
    W: number,
    nRows: number,
    y0: number,
    bg: number,
    deg: number,
    xh: number,
    noData: number,
    step: number,
    off: number,
    bad: number,
    srcBits: number,
    clip: number,
    stats: number,
  ): void;
  weightedSum(images: number, count: number, n: number, a: number, out: number, sq: number): void;
  separableScratch(size: number, limit: number, L: number): number;
  separable(kern: number, size: number, g: number, L: number, start: number, limit: number, tol: number, vecOut: number, projOut: number, errOut: number, scratch: number): number;
  median(a: number, n: number): number;
  clippedMedian(a: number, n: number, nSigma: number, iterations: number, iqrToSigma: number): number;
}

export function passKernels(): WasmInstance<PassKernels> {
  return wasmInstance<PassKernels>('passes');
}
