/**
 * Stored -> physical pixel conversion (BSCALE, BZERO, BLANK).
 */
import type { Header } from './header.ts';
import { riceKernels } from '../wasm/rice.ts';

/** Pixel arrays of images (stored or physical values). */
export type ImageArray = Uint8Array | Int16Array | Uint16Array | Int32Array | Float32Array | Float64Array;

/** Stored arrays as read from the file (64-bit integers included). */
export type RawImageArray = Uint8Array | Int16Array | Int32Array | BigInt64Array | Float32Array | Float64Array;

export interface Scaling {
  readonly bscale: number;
  readonly bzero: number;
  /** BLANK for integer images, else null. */
  readonly blank: number | null;
}

function num(header: Header, key: string, fallback: number): number {
  const v = header.get(key);
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return fallback;
}

export function scalingOf(header: Header, bitpix: number): Scaling {
  const blankValue = bitpix > 0 ? header.get('BLANK') : undefined;
  const blank = typeof blankValue === 'number' ? blankValue : typeof blankValue === 'bigint' ? Number(blankValue) : null;
  return { bscale: num(header, 'BSCALE', 1), bzero: num(header, 'BZERO', 0), blank };
}

/** BigInt64Array -> Float64Array (exact up to 2^53). */
export function bigToFloat64(src: BigInt64Array): Float64Array {
  const out = new Float64Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
  return out;
}

/** A stored array as an ImageArray (64-bit integers become Float64Array). */
export function asImageArray(stored: RawImageArray): ImageArray {
  return stored instanceof BigInt64Array ? bigToFloat64(stored) : stored;
}

/**
 * Physical values: Uint16Array for BITPIX 16 with BZERO 32768 and BSCALE 1; the stored array when
 * unscaled; Float32Array for scaled 8/16-bit and float32; Float64Array for scaled 32/64-bit and
 * float64. BLANK pixels become NaN whenever the result is floating point.
 */
export function physicalPixels(stored: RawImageArray, bitpix: number, scaling: Scaling): ImageArray {
  const { bscale, bzero, blank } = scaling;
  const n = stored.length;
  if (bitpix < 0) {
    if (bscale === 1 && bzero === 0) return stored as Float32Array | Float64Array;
    const out = bitpix === -32 ? new Float32Array(n) : new Float64Array(n);
    const src = stored as Float32Array | Float64Array;
    for (let i = 0; i < n; i++) out[i] = src[i] * bscale + bzero;
    return out;
  }
  if (bscale === 1 && bzero === 0) return asImageArray(stored);
  if (bitpix === 16 && bscale === 1 && bzero === 32768) {
    const src = stored as Int16Array;
    const out = new Uint16Array(n);
    for (let i = 0; i < n; i++) out[i] = src[i] + 32768;
    return out;
  }
  const out = bitpix <= 16 ? new Float32Array(n) : new Float64Array(n);
  if (stored instanceof BigInt64Array) {
    const b = blank === null ? null : BigInt(blank);
    for (let i = 0; i < n; i++) out[i] = b !== null && stored[i] === b ? NaN : Number(stored[i]) * bscale + bzero;
    return out;
  }
  const src = stored as Uint8Array | Int16Array | Int32Array;
  if (blank === null) {
    for (let i = 0; i < n; i++) out[i] = src[i] * bscale + bzero;
  } else {
    for (let i = 0; i < n; i++) {
      const v = src[i];
      out[i] = v === blank ? NaN : v * bscale + bzero;
    }
  }
  return out;
}

/**
 * Physical values as a new Float32Array the caller owns: one pass from the stored values, with
 * no 64-bit intermediate for scaled 32-bit images. BLANK pixels become NaN.
 */
export function physicalFloat32(stored: ImageArray | BigInt64Array, scaling: Scaling): Float32Array {
  const { bscale, bzero, blank } = scaling;
  const n = stored.length;
  const out = new Float32Array(n);
  if (stored instanceof BigInt64Array) {
    const b = blank === null ? null : BigInt(blank);
    for (let i = 0; i < n; i++) out[i] = b !== null && stored[i] === b ? NaN : Number(stored[i]) * bscale + bzero;
    return out;
  }
  const src = stored;
  if (src instanceof Int32Array && n >= KERNEL_MIN) {
    scaleInt32Kernel(src, out, scaling);
    return out;
  }
  if (bscale === 1 && bzero === 0 && blank === null) {
    out.set(src);
    return out;
  }
  if (blank === null || src instanceof Float32Array || src instanceof Float64Array) {
    for (let i = 0; i < n; i++) out[i] = src[i] * bscale + bzero;
  } else {
    for (let i = 0; i < n; i++) {
      const v = src[i];
      out[i] = v === blank ? NaN : v * bscale + bzero;
    }
  }
  return out;
}

/**
 * physicalFloat32 over the stored values themselves: a 32-bit stored array (integers or floats)
 * converted in place into a Float32Array on the same memory, which is returned. Each value is read
 * before its slot is written.
 */
export function physicalFloat32InPlace(stored: Int32Array | Float32Array, scaling: Scaling): Float32Array {
  const { bscale, bzero, blank } = scaling;
  const n = stored.length;
  if (stored instanceof Float32Array) {
    if (bscale !== 1 || bzero !== 0) for (let i = 0; i < n; i++) stored[i] = stored[i] * bscale + bzero;
    return stored;
  }
  const out = new Float32Array(stored.buffer, stored.byteOffset, n);
  if (n >= KERNEL_MIN) {
    scaleInt32Kernel(stored, out, scaling);
    return out;
  }
  if (blank === null) {
    for (let i = 0; i < n; i++) out[i] = stored[i] * bscale + bzero;
  } else {
    for (let i = 0; i < n; i++) {
      const v = stored[i];
      out[i] = v === blank ? NaN : v * bscale + bzero;
    }
  }
  return out;
}

/** Arrays shorter than this are converted in JavaScript (a kernel call costs more). */
const KERNEL_MIN = 256;
/** Values converted per kernel call: a chunk stays in the cache from its copy in to its copy out. */
const KERNEL_CHUNK = 1 << 16;

/**
 * `out[i] = Math.fround(src[i] * bscale + bzero)`, NaN where src[i] is BLANK, by the WebAssembly
 * kernel a chunk at a time. `out` may share `src`'s memory (a chunk is read before it is written).
 */
function scaleInt32Kernel(src: Int32Array, out: Float32Array, scaling: Scaling): void {
  const n = src.length;
  const { arena } = riceKernels();
  const [buf] = arena.layout([['i32', Math.min(n, KERNEL_CHUNK)]]);
  const values = new Float32Array(buf.view.buffer, buf.ptr, buf.view.length);
  for (let i = 0; i < n; i += KERNEL_CHUNK) {
    const m = Math.min(KERNEL_CHUNK, n - i);
    buf.view.set(src.subarray(i, i + m));
    scaleInt32ToFloat32At(buf.ptr, m, scaling);
    out.set(m === values.length ? values : values.subarray(0, m), i);
  }
}

/**
 * `n` stored 32-bit integers at `ptr` in the rice kernels' memory replaced by their physical
 * float32 values (v · BSCALE + BZERO in float64 rounded once, NaN for BLANK).
 */
export function scaleInt32ToFloat32At(ptr: number, n: number, scaling: Scaling): void {
  const { bscale, bzero, blank } = scaling;
  // A BLANK that is not a 32-bit integer matches no pixel.
  const hasBlank = blank !== null && (blank | 0) === blank;
  riceKernels().exports.scaleInt32ToFloat32(ptr, n, bscale, bzero, hasBlank ? (blank as number) : 0, hasBlank);
}
