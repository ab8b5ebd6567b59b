import { wasmInstance, type WasmInstance } from './load.ts';

/**
 * Per-source moments on stamps (assembly/moments.ts; the measurements themselves are
 * pipeline/lib/moments.ts), float64, two pixels per SIMD operation; and the candidate pixels of
 * the DiaSource detection (pipeline/stages/dia-sources). Pointers are byte offsets
 * into the instance's memory (its arena).
 *
 * A stamp is a copy of part of an image (W x H): float32 rows of sw pixels, sh rows, image pixel
 * (x, y) at stamp + 4·((y − sy0)·sw + x − sx0). `scratch`: 5·(2·maxR + 4) float64 values, maxR
 * the largest box radius of the call (⌈4σ⌉ for the centroid, maxRadius for the moments).
 *
 *   centroid: the iterated Gaussian-weighted centroid of weight sigma from (x0, y0), at most
 *     maxIter steps: out[0], out[1] (float64) the centre reached; returns 1 when it converged, 0
 *     when not, 2 when a box it needs is not within the stamp (the boxes of the centres within
 *     max(2, 1.5σ) of the start: [⌊x⌋ − ⌈4σ⌉, ⌊x⌋ + ⌈4σ⌉ + 1] clipped to the image).
 *   centroidErrors: at the centre (xc, yc), with the variance stamp `vr` of the same geometry
 *     (only the centre's box is read): out[0] = Σ w·I, out[1], out[2] the linearised x and y
 *     errors; returns 0 (errors NaN) when the linearisation is unusable, else 1.
 *   moments: adaptive second moments about (xc, yc), continuing from state = [wxx, wyy, wxy,
 *     iterations done, −] (float64): returns 1 when converged (state[0..2] the moments), 0 on
 *     failure, 2 when the next box is not within the stamp (state: where to continue from,
 *     state[4] the box radius needed; the box is [⌊xc⌋ − R, ⌊xc⌋ + R + 1] clipped).
 *
 * The pixels of a strip of the DiaSource significance d / √v that may be beyond a threshold tl
 * (d, v float32: the filtered difference and its filtered variance):
 *
 *   candidates: appends to `list` (int32), in order, the i ∈ [0, n) with d[i] ≠ 0 and not
 *     (v[i] > 0, v[i] < ∞ and d[i]² ≤ tl2·v[i]) (float64); returns how many. Every other pixel
 *     has |d / √v| ≤ √tl2 or d = 0.
 */
export interface MomentKernels {
  readonly memory: WebAssembly.Memory;
  centroid(img: number, sx0: number, sy0: number, sw: number, sh: number, W: number, H: number, x0: number, y0: number, sigma: number, maxIter: number, scratch: number, out: number): number;
  centroidErrors(img: number, vr: number, sx0: number, sy0: number, sw: number, W: number, H: number, xc: number, yc: number, sigma: number, scratch: number, out: number): number;
  moments(img: number, sx0: number, sy0: number, sw: number, sh: number, W: number, H: number, xc: number, yc: number, maxIter: number, maxRadius: number, scratch: number, state: number): number;
  candidates(d: number, v: number, n: number, tl2: number, list: number): number;
}

export function momentKernels(): WasmInstance<MomentKernels> {
  return wasmInstance<MomentKernels>('moments');
}
