import { wasmInstance, type WasmInstance } from './load.ts';

/**
 * Instrument-signature removal kernels (assembly/isr.ts): streaming loops over chunks of the
 * planes. Decoding stored integers and assembly compute as per-pixel JavaScript loops over
 * Float32Arrays do (float64 arithmetic, float32 results), to the bit; the calibration steps and
 * the sums of the snaps compute in float32. Pointers are byte offsets into the instance's memory
 * (its arena); a kernel working on groups of pixels may read and write past the end of a buffer
 * up to the end of the group (into the arena's slack).
 *
 *   calibrate: bias, dark and flat applied in place to n image and variance pixels (float32
 *     arithmetic), from float32 master planes: `desc` (see calibrateDesc) holds the pointers of
 *     bias, bias variance, dark, dark variance, flat and flat variance (0: absent), then t, t²,
 *     1/norm. Pixels whose normalised flat is not > 0 and finite get image 0 and their index
 *     written to `bad`; returns their count. Works on groups of 4 pixels.
 *   decode16: 16-bit stored integers s (int16 when signed, else uint16) to float32
 *     fround(s·scale + zero). Works on groups of 8 pixels.
 *   assembleRows: nRows raw rows (int32, stride rawW, from column x0, w pixels) minus their row
 *     level (float32 per row) and column levels (float32 per column, 0: none), times g, with
 *     variance (v > 0 ? v·ppu : 0) + rn2, written to rows of outImg and outVar (float32, stride
 *     outStride) in reverse row order when flipY, each row reversed when flipX. Returns the
 *     number of raw values ≥ sat.
 *   combineSnaps: a += b, va += vb, ma |= mb over n pixels; with `screen`, the pixels whose
 *     snap difference d may be significant (all but those where d² ≤ k2·(va + vb) certainly
 *     holds in float64) written to `cand` (increasing). Returns their count; writes to `masks`
 *     (int32) bit 0 when some mb ≠ 0, bit 1 when some ma | mb ≠ 0.
 *   minMaxI32: min and max of n ≥ 1 int32 values to out (two int32).
 *   narrow16: int32 → int16 (signed) or uint16, saturating.
 *   scaleI32ToF32: int32 s → float32 fround(s·bscale + bzero), NaN where s = blank (if hasBlank);
 *     dst may be src.
 *   gatherNonZero: indices (+ base) and values of the non-zero int32 values; returns their count.
 */
export interface IsrKernels {
  calibrate(n: number, img: number, vari: number, desc: number, bad: number): number;
  decode16(src: number, dst: number, n: number, signed: boolean, scale: number, zero: number): void;
  assembleRows(
    raw: number,
    rawW: number,
    x0: number,
    w: number,
    nRows: number,
    levels: number,
    cols: number,
    g: number,
    ppu: number,
    rn2: number,
    sat: number,
    flipX: boolean,
    flipY: boolean,
    outImg: number,
    outVar: number,
    outStride: number,
  ): number;
  combineSnaps(n: number, a: number, b: number, va: number, vb: number, ma: number, mb: number, screen: boolean, k2: number, cand: number, masks: number): number;
  minMaxI32(src: number, n: number, out: number): void;
  narrow16(src: number, dst: number, n: number, signed: boolean): void;
  scaleI32ToF32(src: number, dst: number, n: number, bscale: number, bzero: number, hasBlank: boolean, blank: number): void;
  gatherNonZero(src: number, n: number, base: number, idx: number, val: number): number;
}

/** Bytes of calibrate's descriptor. */
export const CALIBRATE_DESC_BYTES = 48;

/** Views of calibrate's descriptor at byte offset `ptr` of `buffer` (the module's memory). */
export function calibrateDesc(buffer: ArrayBufferLike, ptr: number): { readonly planes: Int32Array; readonly params: Float64Array } {
  return {
    /** Pointers of bias, bias variance, dark, dark variance, flat, flat variance (0: absent). */
    planes: new Int32Array(buffer, ptr, 6),
    /** t, t², 1/norm. */
    params: new Float64Array(buffer, ptr + 24, 3),
  };
}

export function isrKernels(): WasmInstance<IsrKernels> {
  return wasmInstance<IsrKernels>('isr');
}
