import { releaseWasmInstance, wasmInstance, type WasmInstance } from './load.ts';

/**
 * Lanczos resampling of one source onto bands of target rows (assembly/warp.ts; the warp itself
 * is pipeline/stages/warp/warp.ts). Pointers are byte offsets into the instance's memory (its
 * arena). The set* calls describe the task; warpRows then runs it one band at a time.
 *
 *   setTable: kernel table of `steps` + 1 rows of n = 2a taps (a = 2 … 5), w_t the weights:
 *     `yWeights` float32 rows of n groups (w_t, w_t, w_t², w_t²), `xWeights` float32 rows of 2n:
 *     per four taps (w_4q … w_4q+3) then their squares, and for n = 6, 10 then (w_n−2, w_n−1,
 *     w²_n−2, w²_n−1); `weightsAbs` float64 rows of n |w_t|, `maxAbs` and `sumSq` float64 per row.
 *   setSource: the source's image and variance (float32), mask (int32) and footprint flags (u8
 *     per pixel, from footprintFlags; 0: the window's mask is all zero), planes of row stride
 *     `stride`, each given by the address of its pixel (col0, row0), where the window the warp
 *     reads starts. A pixel is covered when floor(u) ∈ [uMin, uMax] and floor(v) ∈ [vMin, vMax]
 *     (u, v in source pixels; all its taps within the window) and its footprint holds no NO_DATA.
 *   setGrid: the transform grid (float64 nodes u, v, |det J|, row-major ny × nx; node rows nodeY;
 *     per target column its position in its cell, colT) and per cell (u8, (nx − 1) per row)
 *     whether any of its pixels may be covered (0: skipped).
 *   setTarget: the target width, its coverage bits (bit k & 7 of byte k >> 3 for pixel k: set
 *     once filled), the band buffers (image, variance float32, mask int32, stride `width`), per
 *     band row three int32 (first and last covered column, count), four float64 stats (covered
 *     pixels, Σ |det J|, Σ Σw², masked pixels), scratch for one grid cell's pixels (`jobs`: 16
 *     bytes, `jobJac`: one float64 per target column), flux scaling, the mask weight threshold, a factor on every value (its square on the
 *     variance).
 *   warpRows: fills the pixels of rows y0 … y1 − 1 that are not yet covered and that the source
 *     covers, into the band buffers at (y − y0)·width + x; sets their coverage bits, the row
 *     records and the stats (of this call). Sums in float32, four taps of a plane per SIMD
 *     operation.
 *   anyBits: 1 when any of `rows` rows of `width` int32 at p (rows `stride` apart) is nonzero, else 0.
 *   footprintFlags: per pixel of a W × H int32 mask (rows `stride` apart), bit 0 when its kernel
 *     footprint (x − a + 1 … x + a by y − a + 1 … y + a, clipped) holds a mask bit, bit 1 when it holds `noData`; into
 *     `flags` (u8, rows `stride` apart), with `ring` (a·W bytes) and `rowAny` (H bytes) as scratch. Returns 0,
 *     writing no flags, when the mask is all zero, else 1.
 */
export interface WarpKernels {
  setTable(yWeights: number, xWeights: number, weightsAbs: number, maxAbs: number, sumSq: number, n: number, steps: number): void;
  setSource(image: number, variance: number, mask: number, flags: number, stride: number, col0: number, row0: number, uMin: number, uMax: number, vMin: number, vMax: number): void;
  setGrid(u: number, v: number, jac: number, nodeY: number, colT: number, cellOk: number, nx: number, ny: number, spacing: number): void;
  setTarget(width: number, cover: number, image: number, variance: number, mask: number, rows: number, stats: number, jobs: number, jobJac: number, flux: boolean, threshold: number, scale: number): void;
  warpRows(y0: number, y1: number): void;
  anyBits(p: number, stride: number, width: number, rows: number): number;
  footprintFlags(mask: number, stride: number, W: number, H: number, a: number, noData: number, flags: number, ring: number, rowAny: number): number;
}

export function warpKernels(): WasmInstance<WarpKernels> {
  return wasmInstance<WarpKernels>('warp');
}

/** Lets this thread's warp instance and its memory go (the next warpKernels() makes a new one). */
export function releaseWarpKernels(): void {
  releaseWasmInstance('warp');
}
