/**
 * Master calibration planes kept compactly, to the bit.
 *
 * A master file stores its planes as scaled integers (BITPIX 8/16/32 or RICE-compressed with
 * BSCALE/BZERO): each pixel's value is fround(stored · bscale + bzero), which is what a Float32
 * decode of the plane holds. When the stored integers of a plane fit in 16 bits, keeping them
 * and their scaling takes half the memory of the Float32 plane and gives back the same values;
 * a plane whose pixels all store one integer is kept as that integer. Masks are mostly zero:
 * their non-zero pixels are kept as a list. A full-size master (three 66 MB planes decoded) then
 * takes a half or less of that when its planes are stored in 16 bits, which matters for a worker
 * that keeps the bias, dark and flat of its detector decoded from one visit to the next.
 */

import { isrKernels } from '../../../wasm/isr.ts';

/** A plane as stored integers and their linear scaling (see the module comment). */
export interface ScaledPlane {
  /** Pixels. */
  readonly length: number;
  /** Stored integers, or null when every pixel stores `constant`. */
  readonly stored: Int16Array | Uint16Array | null;
  readonly constant: number;
  readonly bscale: number;
  readonly bzero: number;
  /**
   * The few pixels whose stored integers do not fit 16 bits (hot pixels of a dark, say), with
   * their stored integers (their entry of `stored` is 0): indices, increasing. Absent: none.
   */
  readonly wide?: WidePixels;
}

/** Pixels of a compact plane stored as 32-bit integers. */
export interface WidePixels {
  readonly index: Int32Array;
  readonly stored: Int32Array;
}

/** At most this fraction of a plane's pixels are kept as wide pixels of a compact plane. */
const MAX_WIDE_FRACTION = 1 / 256;

/** The first k with index[k] ≥ i. */
function lowerBound(index: Int32Array, i: number): number {
  let lo = 0;
  let hi = index.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (index[mid] < i) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A master plane: Float32 pixels, or stored integers with their scaling. */
export type MasterPlane = Float32Array | ScaledPlane;

/** The non-zero pixels of a mask: their indices, increasing, and values. */
export interface SparseMask {
  readonly length: number;
  readonly index: Int32Array;
  readonly value: Int32Array;
}

/** A master mask: dense, or its non-zero pixels. */
export type MasterMask = Int32Array | SparseMask;

export function planeLength(p: MasterPlane | MasterMask): number {
  return p.length;
}

/** Pixel i of a master plane, as a Float32 plane would hold it. */
export function planeValue(p: MasterPlane, i: number): number {
  if (p instanceof Float32Array) return p[i];
  if (p.wide) {
    const k = lowerBound(p.wide.index, i);
    if (k < p.wide.index.length && p.wide.index[k] === i) return Math.fround(p.wide.stored[k] * p.bscale + p.bzero);
  }
  return Math.fround((p.stored === null ? p.constant : p.stored[i]) * p.bscale + p.bzero);
}

/**
 * The wide pixels of `p` among pixels start … start + count − 1 written into `out` (pixel start at
 * out[0]) as a Float32 plane holds them; `from`: where to start looking in p.wide (the first wide
 * pixel at or after `start`, or less). Returns where the next chunk's search starts.
 */
export function patchWidePixels(p: ScaledPlane, start: number, count: number, out: Float32Array, from = 0): number {
  const wide = p.wide;
  if (!wide) return 0;
  const { index, stored } = wide;
  let k = from;
  while (k < index.length && index[k] < start) k++;
  const end = start + count;
  for (; k < index.length && index[k] < end; k++) out[index[k] - start] = Math.fround(stored[k] * p.bscale + p.bzero);
  return k;
}

/**
 * Pixels start … start + count of a master plane as Float32: a view of a Float32 plane, or the
 * values written into `scratch` (at least `count` long).
 */
export function planeChunk(p: MasterPlane, start: number, count: number, scratch: Float32Array): Float32Array {
  if (p instanceof Float32Array) return p.subarray(start, start + count);
  const { bscale, bzero } = p;
  const out = scratch.length === count ? scratch : scratch.subarray(0, count);
  if (p.stored === null) {
    out.fill(p.constant * bscale + bzero);
  } else if (p.stored instanceof Int16Array) {
    const s = p.stored;
    for (let k = 0; k < count; k++) out[k] = s[start + k] * bscale + bzero;
  } else {
    const s = p.stored;
    for (let k = 0; k < count; k++) out[k] = s[start + k] * bscale + bzero;
  }
  if (p.wide) patchWidePixels(p, start, count, out, lowerBound(p.wide.index, start));
  return out;
}

/** A master plane as a Float32 plane (the plane itself when it is one). */
export function planeToFloat32(p: MasterPlane): Float32Array {
  return p instanceof Float32Array ? p : planeChunk(p, 0, p.length, new Float32Array(p.length));
}

/** A master mask as a dense Int32 plane (the plane itself when it is one). */
export function maskToInt32(m: MasterMask): Int32Array {
  if (m instanceof Int32Array) return m;
  const out = new Int32Array(m.length);
  for (let k = 0; k < m.index.length; k++) out[m.index[k]] = m.value[k];
  return out;
}

/** Pixels per chunk of the conversions below (their buffers stay in the core's cache). */
const CHUNK = 1 << 16;

/** Stored integers as a compact plane, or null when they do not fit 16 bits (or hit BLANK). */
export function scaledPlane(stored: ArrayLike<number>, bscale: number, bzero: number, blank: number | null): ScaledPlane | null {
  const n = stored.length;
  if (n === 0) return null;
  if (stored instanceof Int32Array) return scaledPlaneInt32(stored, bscale, bzero, blank) ?? withWidePixels(stored, bscale, bzero, blank);
  let min = stored[0];
  let max = min;
  for (let i = 1; i < n; i++) {
    const v = stored[i];
    if (v < min) min = v;
    else if (v > max) max = v;
  }
  // BLANK pixels decode to NaN: kept as Float32.
  if (blank !== null && blank >= min && blank <= max) return null;
  if (min === max) return { length: n, stored: null, constant: min, bscale, bzero };
  let narrow: Int16Array | Uint16Array;
  if (min >= -32768 && max <= 32767) narrow = new Int16Array(n);
  else if (min >= 0 && max <= 65535) narrow = new Uint16Array(n);
  else return null;
  narrow.set(stored);
  return { length: n, stored: narrow, constant: 0, bscale, bzero };
}

/**
 * scaledPlane of 32-bit stored integers, in one pass of the isr kernels: a chunk at a time, the
 * range so far (given up as soon as it cannot fit 16 bits or holds BLANK), and the narrowing,
 * from the first chunk that makes the plane not constant (the chunks before hold the constant),
 * as int16 unless the range calls for uint16 (int16 values from 0 to 32767 are the same bits as
 * uint16 ones, so a later switch keeps them).
 */
function scaledPlaneInt32(stored: Int32Array, bscale: number, bzero: number, blank: number | null): ScaledPlane | null {
  const n = stored.length;
  const chunk = Math.min(n, CHUNK);
  const { exports: k, arena } = isrKernels();
  const [src, narrowed, range] = arena.layout([
    ['i32', chunk],
    ['u8', 2 * chunk],
    ['i32', 2],
  ]);
  const views = { i16: new Int16Array(narrowed.view.buffer, narrowed.ptr, chunk), u16: new Uint16Array(narrowed.view.buffer, narrowed.ptr, chunk) };
  let min = stored[0];
  let max = min;
  let narrow: Int16Array | Uint16Array | null = null;
  for (let i0 = 0; i0 < n; i0 += chunk) {
    const len = Math.min(chunk, n - i0);
    src.view.set(stored.subarray(i0, i0 + len));
    k.minMaxI32(src.ptr, len, range.ptr);
    const constant = min;
    if (range.view[0] < min) min = range.view[0];
    if (range.view[1] > max) max = range.view[1];
    // BLANK pixels decode to NaN: kept as Float32.
    if (blank !== null && blank >= min && blank <= max) return null;
    // A plane of one value is kept as that value.
    if (min === max) continue;
    const signed = min >= -32768 && max <= 32767;
    if (!signed && !(min >= 0 && max <= 65535)) return null;
    if (narrow === null) {
      narrow = signed ? new Int16Array(n) : new Uint16Array(n);
      narrow.fill(constant, 0, i0);
    } else if (!signed && narrow instanceof Int16Array) {
      narrow = new Uint16Array(narrow.buffer);
    }
    k.narrow16(src.ptr, narrowed.ptr, len, narrow instanceof Int16Array);
    const out = narrow instanceof Int16Array ? views.i16 : views.u16;
    narrow.set(len === chunk ? out : out.subarray(0, len), i0);
  }
  if (narrow === null) return { length: n, stored: null, constant: min, bscale, bzero };
  return { length: n, stored: narrow, constant: 0, bscale, bzero };
}

/**
 * 32-bit stored integers as 16-bit ones but for a few wide pixels (at most MAX_WIDE_FRACTION of
 * them, else null), which keep theirs; null too with a BLANK (its pixels decode to NaN).
 */
function withWidePixels(stored: Int32Array, bscale: number, bzero: number, blank: number | null): ScaledPlane | null {
  const n = stored.length;
  if (blank !== null) return null;
  const limit = Math.floor(n * MAX_WIDE_FRACTION);
  let count = 0;
  for (let i = 0; i < n; i++) {
    const v = stored[i];
    if (v < -32768 || v > 32767) {
      if (++count > limit) return null;
    }
  }
  const narrow = new Int16Array(n);
  const index = new Int32Array(count);
  const wide = new Int32Array(count);
  for (let i = 0, k = 0; i < n; i++) {
    const v = stored[i];
    if (v < -32768 || v > 32767) {
      index[k] = i;
      wide[k++] = v;
    } else {
      narrow[i] = v;
    }
  }
  return { length: n, stored: narrow, constant: 0, bscale, bzero, wide: { index, stored: wide } };
}

/**
 * 32-bit stored integers as a new Float32 plane: fround(stored · bscale + bzero), NaN where
 * they are BLANK (what a Float32 decode of the plane holds).
 */
export function float32FromStored(stored: Int32Array, bscale: number, bzero: number, blank: number | null): Float32Array {
  const n = stored.length;
  const out = new Float32Array(n);
  if (n === 0) return out;
  const chunk = Math.min(n, CHUNK);
  const { exports: k, arena } = isrKernels();
  const [buf] = arena.layout([['i32', chunk]]);
  const asFloat = new Float32Array(buf.view.buffer, buf.ptr, chunk);
  // A BLANK no int32 equals marks no pixel.
  const hasBlank = blank !== null && Number.isInteger(blank) && blank >= -0x80000000 && blank <= 0x7fffffff;
  for (let i0 = 0; i0 < n; i0 += chunk) {
    const len = Math.min(chunk, n - i0);
    buf.view.set(stored.subarray(i0, i0 + len));
    k.scaleI32ToF32(buf.ptr, buf.ptr, len, bscale, bzero, hasBlank, hasBlank ? (blank as number) : 0);
    out.set(len === chunk ? asFloat : asFloat.subarray(0, len), i0);
  }
  return out;
}

/**
 * The non-zero pixels of a dense mask (indices increasing), or null when there are `limit` or
 * more of them.
 */
export function nonZeroPixels(mask: ArrayLike<number>, limit: number): { index: Int32Array; value: Int32Array } | null {
  const n = mask.length;
  if (!(mask instanceof Int32Array)) {
    let nonZero = 0;
    for (let i = 0; i < n; i++) if (mask[i] !== 0) nonZero++;
    if (nonZero >= limit) return null;
    const index = new Int32Array(nonZero);
    const value = new Int32Array(nonZero);
    for (let i = 0, k = 0; i < n; i++) {
      if (mask[i] !== 0) {
        index[k] = i;
        value[k++] = mask[i];
      }
    }
    return { index, value };
  }
  if (limit <= 0) return null;
  const chunk = Math.min(Math.max(n, 1), CHUNK);
  const { exports: k, arena } = isrKernels();
  const [src, idx, val] = arena.layout([
    ['i32', chunk],
    ['i32', chunk],
    ['i32', chunk],
  ]);
  let index = new Int32Array(Math.min(limit, 1024));
  let value = new Int32Array(index.length);
  let count = 0;
  for (let i0 = 0; i0 < n; i0 += chunk) {
    const len = Math.min(chunk, n - i0);
    src.view.set(mask.subarray(i0, i0 + len));
    const found = k.gatherNonZero(src.ptr, len, i0, idx.ptr, val.ptr);
    if (found === 0) continue;
    if (count + found >= limit) return null;
    if (count + found > index.length) {
      const size = Math.min(limit, Math.max(2 * index.length, count + found));
      const biggerIndex = new Int32Array(size);
      const biggerValue = new Int32Array(size);
      biggerIndex.set(index.subarray(0, count));
      biggerValue.set(value.subarray(0, count));
      index = biggerIndex;
      value = biggerValue;
    }
    index.set(idx.view.subarray(0, found), count);
    value.set(val.view.subarray(0, found), count);
    count += found;
  }
  return { index: index.slice(0, count), value: value.slice(0, count) };
}

/** A dense mask as its non-zero pixels when they are few (under an eighth), else itself. */
export function compactMask(mask: Int32Array): MasterMask {
  const n = mask.length;
  // Sparse when nonZero · 8 < n.
  const sparse = nonZeroPixels(mask, Math.ceil(n / 8));
  return sparse === null ? mask : { length: n, index: sparse.index, value: sparse.value };
}
