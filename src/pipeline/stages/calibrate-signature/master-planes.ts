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

/** A plane as stored integers and their linear scaling (see the module comment). */
export interface ScaledPlane {
  /** Pixels. */
  readonly length: number;
  /** Stored integers, or null when every pixel stores `constant`. */
  readonly stored: Int16Array | Uint16Array | null;
  readonly constant: number;
  readonly bscale: number;
  readonly bzero: number;
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
  return Math.fround((p.stored === null ? p.constant : p.stored[i]) * p.bscale + p.bzero);
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

/** Stored integers as a compact plane, or null when they do not fit 16 bits (or hit BLANK). */
export function scaledPlane(stored: ArrayLike<number>, bscale: number, bzero: number, blank: number | null): ScaledPlane | null {
  const n = stored.length;
  if (n === 0) return null;
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

/** A dense mask as its non-zero pixels when they are few (under an eighth), else itself. */
export function compactMask(mask: Int32Array): MasterMask {
  const n = mask.length;
  let nonZero = 0;
  for (let i = 0; i < n; i++) if (mask[i] !== 0) nonZero++;
  if (nonZero * 8 >= n) return mask;
  const index = new Int32Array(nonZero);
  const value = new Int32Array(nonZero);
  for (let i = 0, k = 0; i < n; i++) {
    if (mask[i] !== 0) {
      index[k] = i;
      value[k++] = mask[i];
    }
  }
  return { length: n, index, value };
}
