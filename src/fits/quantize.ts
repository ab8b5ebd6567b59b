/**
 * Floating-point quantization of the tiled-image convention: restoring float pixels from the
 * scaled integers of a tile (ZSCALE/ZZERO), with or without subtractive dithering.
 *
 * The dither uses a fixed table of 10000 uniform deviates from the Park & Miller minimal standard
 * generator (a = 16807, m = 2^31 - 1, seed 1), kept in single precision as the convention
 * specifies. Tile `t` (1-based) starts at table entry (t - 1 + ZDITHER0 - 1) mod 10000; the
 * position within the table is int(500 * r) of that entry, stepping by one per pixel.
 */
import { FitsError } from './errors.ts';

export const N_RANDOM = 10000;
/** Quantized value that marks an undefined (NaN) pixel. */
export const NULL_VALUE = -2147483647;
/** Quantized value that marks an exact 0.0 pixel with SUBTRACTIVE_DITHER_2. */
export const ZERO_VALUE = -2147483646;

export type QuantizeMethod = 'NONE' | 'NO_DITHER' | 'SUBTRACTIVE_DITHER_1' | 'SUBTRACTIVE_DITHER_2';

let table: Float32Array | null = null;

/** The 10000-entry dither table (computed once). */
export function randomTable(): Float32Array {
  if (table) return table;
  const t = new Float32Array(N_RANDOM);
  const a = 16807;
  const m = 2147483647;
  let seed = 1;
  for (let i = 0; i < N_RANDOM; i++) {
    const temp = a * seed;
    seed = temp - m * Math.trunc(temp / m);
    t[i] = seed / m;
  }
  if (seed !== 1043618065) throw new FitsError('dither random table self-check failed');
  table = t;
  return t;
}

export interface UnquantizeOptions {
  method: QuantizeMethod;
  scale: number;
  zero: number;
  /** Integer value that marks undefined pixels (ZBLANK), or null when there is none. */
  blank: number | null;
  /** 1-based tile number plus ZDITHER0 - 1 (cfitsio's "row" argument). */
  ditherRow: number;
}

/** Restore float pixels `input[0, n)` into `out[outOff...]` (Float32Array or Float64Array). */
export function unquantize(
  input: Int32Array,
  n: number,
  out: Float32Array | Float64Array,
  outOff: number,
  opts: UnquantizeOptions,
): void {
  const { scale, zero, method } = opts;
  const blank = opts.blank;
  const hasBlank = blank !== null;
  if (method === 'NO_DITHER' || method === 'NONE') {
    for (let i = 0; i < n; i++) {
      const v = input[i];
      out[outOff + i] = hasBlank && v === blank ? NaN : v * scale + zero;
    }
    return;
  }
  const r = randomTable();
  const dither2 = method === 'SUBTRACTIVE_DITHER_2';
  let iseed = (((opts.ditherRow - 1) % N_RANDOM) + N_RANDOM) % N_RANDOM;
  let next = Math.trunc(r[iseed] * 500);
  for (let i = 0; i < n; i++) {
    const v = input[i];
    if (hasBlank && v === blank) out[outOff + i] = NaN;
    else if (dither2 && v === ZERO_VALUE) out[outOff + i] = 0;
    else out[outOff + i] = (v - r[next] + 0.5) * scale + zero;
    next++;
    if (next === N_RANDOM) {
      iseed++;
      if (iseed === N_RANDOM) iseed = 0;
      next = Math.trunc(r[iseed] * 500);
    }
  }
}
