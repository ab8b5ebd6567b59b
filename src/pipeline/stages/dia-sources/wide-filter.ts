import { convolveSeparable } from '../detection/detection.ts';

/**
 * Separable convolution with a symmetric kernel, zero outside the image and on masked or
 * non-finite pixels: the same operation as detection's convolveSeparable, with the same result
 * to the bit, and faster for wide kernels (half-width above 6, e.g. the template error floor's
 * Gaussian of 3 PSF sigmas, 15 pixels for a 1.9-pixel PSF).
 *
 * convolveSeparable runs kernels up to half-width 6 unrolled and wider ones as a loop over taps
 * per pixel. Here a wide kernel sweeps each row (horizontal pass) or each output row (vertical
 * pass) once per group of up to eight symmetric tap pairs, into a double-precision accumulator
 * row, unrolled within the group. Each pixel's sum is built in the same order as there
 * (centre tap, then pair 1, 2, …, each added in double precision), so the values agree exactly;
 * the image borders (rows within the half-width of the top and bottom) take that function's
 * per-tap form. Half-widths up to 6 are passed on to convolveSeparable.
 */
export function convolveSymmetric(
  src: Float32Array,
  W: number,
  H: number,
  kernel: Float32Array,
  tmp: Float32Array,
  dst: Float32Array,
  mask: Int32Array | null = null,
  zeroBits = 0,
): void {
  const r = (kernel.length - 1) >> 1;
  if (r <= 6) {
    convolveSeparable(src, W, H, kernel, tmp, dst, mask, zeroBits);
    return;
  }
  horizontalSymmetric(src, W, H, kernel, tmp, mask, zeroBits);
  const kc = kernel[r];
  const kh = new Float64Array(r + 1);
  for (let j = 0; j <= r; j++) kh[j] = kernel[r + j];
  const acc = new Float64Array(W);
  // Vertical: tmp → dst; interior rows by groups of pairs, border rows tap by tap.
  for (let y = 0; y < H; y++) {
    const out = y * W;
    if (y >= r && y < H - r) {
      for (let x = 0; x < W; x++) acc[x] = kc * tmp[out + x];
      for (let j = 1; j <= r; ) j += pairsInto(acc, tmp, out, W, W, kh, j, r - j + 1);
      for (let x = 0; x < W; x++) dst[out + x] = acc[x];
    } else {
      for (let x = 0; x < W; x++) {
        let s = kc * tmp[out + x];
        for (let j = 1; j <= r; j++) {
          if (y - j >= 0) s += kh[j] * tmp[out - j * W + x];
          if (y + j < H) s += kh[j] * tmp[out + j * W + x];
        }
        dst[out + x] = s;
      }
    }
  }
}

/** The horizontal pass of convolveSymmetric (half-width above 6): out = src filtered along rows, masked and non-finite pixels as zero. */
function horizontalSymmetric(src: Float32Array, W: number, H: number, kernel: Float32Array, out: Float32Array, mask: Int32Array | null = null, zeroBits = 0): void {
  const r = (kernel.length - 1) >> 1;
  const kc = kernel[r];
  const kh = new Float64Array(r + 1);
  for (let j = 0; j <= r; j++) kh[j] = kernel[r + j];
  const acc = new Float64Array(W);
  // A zero-padded copy of the row (masked and non-finite pixels zeroed); Float32 holds the
  // (float32 or zero) values exactly.
  const row = new Float32Array(W + 2 * r);
  for (let y = 0; y < H; y++) {
    const base = y * W;
    if (mask !== null && zeroBits !== 0) {
      for (let x = 0; x < W; x++) {
        const v = src[base + x];
        row[r + x] = mask[base + x] & zeroBits || v !== v ? 0 : v;
      }
    } else {
      for (let x = 0; x < W; x++) row[r + x] = src[base + x];
    }
    for (let x = 0; x < W; x++) acc[x] = kc * row[x + r];
    for (let j = 1; j <= r; ) j += pairsInto(acc, row, r, 1, W, kh, j, r - j + 1);
    for (let x = 0; x < W; x++) out[base + x] = acc[x];
  }
}

/**
 * convolveSymmetric evaluated lazily, pixel by pixel, for callers that need the filtered image at
 * a small part of the pixels (a sub-grid, the pixels near detections): `at(p)` is the value
 * convolveSymmetric stores at p, to the bit. The row-filtered values it takes (2r + 1 per pixel,
 * down its column) are computed once each and kept, a column at a time: only the columns asked
 * about take memory (a sub-grid every few columns takes a fraction of a full plane).
 */
export class LazySymmetricFilter {
  readonly #src: Float32Array;
  readonly #mask: Int32Array | null;
  readonly #zeroBits: number;
  readonly #W: number;
  readonly #H: number;
  readonly #r: number;
  readonly #kh: Float64Array;
  /** Per column (allocated when first asked about): row-filtered values by row, and which are computed. */
  readonly #values: Array<Float32Array | null>;
  readonly #done: Array<Uint8Array | null>;

  constructor(src: Float32Array, W: number, H: number, kernel: Float32Array, mask: Int32Array | null = null, zeroBits = 0) {
    this.#src = src;
    this.#mask = mask !== null && zeroBits !== 0 ? mask : null;
    this.#zeroBits = zeroBits;
    this.#W = W;
    this.#H = H;
    this.#r = (kernel.length - 1) >> 1;
    this.#kh = new Float64Array(this.#r + 1);
    for (let j = 0; j <= this.#r; j++) this.#kh[j] = kernel[this.#r + j];
    this.#values = new Array<Float32Array | null>(W).fill(null);
    this.#done = new Array<Uint8Array | null>(W).fill(null);
  }

  /** The filtered value at pixel p. */
  at(p: number): number {
    const W = this.#W;
    const H = this.#H;
    const r = this.#r;
    const kh = this.#kh;
    const x = p % W;
    const y = (p - x) / W;
    let values = this.#values[x];
    let done = this.#done[x];
    if (values === null || done === null) {
      values = this.#values[x] = new Float32Array(H);
      done = this.#done[x] = new Uint8Array(H);
    }
    let s = kh[0] * this.#row(p, x, y, values, done);
    if (y >= r && y < H - r) {
      for (let j = 1, o = W; j <= r; j++, o += W) s += kh[j] * (this.#row(p - o, x, y - j, values, done) + this.#row(p + o, x, y + j, values, done));
    } else {
      for (let j = 1; j <= r; j++) {
        if (y - j >= 0) s += kh[j] * this.#row(p - j * W, x, y - j, values, done);
        if (y + j < H) s += kh[j] * this.#row(p + j * W, x, y + j, values, done);
      }
    }
    return Math.fround(s);
  }

  /**
   * The horizontal pass at pixel q = (x, y) (as horizontalSymmetric computes it: zero beyond the
   * row ends, masked and NaN pixels zero), kept in its column's `values`.
   */
  #row(q: number, x: number, y: number, values: Float32Array, done: Uint8Array): number {
    if (done[y] === 1) return values[y];
    const src = this.#src;
    const mask = this.#mask;
    const zb = this.#zeroBits;
    const W = this.#W;
    const r = this.#r;
    const kh = this.#kh;
    let s: number;
    if (mask !== null) {
      const v = src[q];
      s = kh[0] * (mask[q] & zb || v !== v ? 0 : v);
      for (let j = 1; j <= r; j++) {
        let a = 0;
        let b = 0;
        if (x - j >= 0) {
          const u = src[q - j];
          a = mask[q - j] & zb || u !== u ? 0 : u;
        }
        if (x + j < W) {
          const u = src[q + j];
          b = mask[q + j] & zb || u !== u ? 0 : u;
        }
        s += kh[j] * (a + b);
      }
    } else {
      s = kh[0] * src[q];
      for (let j = 1; j <= r; j++) s += kh[j] * ((x - j >= 0 ? src[q - j] : 0) + (x + j < W ? src[q + j] : 0));
    }
    values[y] = s;
    done[y] = 1;
    return values[y];
  }
}

/**
 * acc[x] += Σ_{j = j0}^{j0 + g − 1} kh[j] · (a[c − j·stride] + a[c + j·stride]), c = centre + x,
 * for x ∈ [0, n), the pairs added one after the other; g is 8, 4 or all `left` pairs when fewer
 * than 4 are left. Returns g.
 */
function pairsInto(acc: Float64Array, a: Float32Array, centre: number, stride: number, n: number, kh: Float64Array, j0: number, left: number): number {
  const g = left >= 8 ? 8 : left >= 4 ? 4 : left;
  const k1 = kh[j0];
  const o1 = j0 * stride;
  if (g === 8) {
    const k2 = kh[j0 + 1];
    const k3 = kh[j0 + 2];
    const k4 = kh[j0 + 3];
    const k5 = kh[j0 + 4];
    const k6 = kh[j0 + 5];
    const k7 = kh[j0 + 6];
    const k8 = kh[j0 + 7];
    const o2 = o1 + stride;
    const o3 = o2 + stride;
    const o4 = o3 + stride;
    const o5 = o4 + stride;
    const o6 = o5 + stride;
    const o7 = o6 + stride;
    const o8 = o7 + stride;
    for (let x = 0, c = centre; x < n; x++, c++) {
      let s = acc[x];
      s += k1 * (a[c - o1] + a[c + o1]);
      s += k2 * (a[c - o2] + a[c + o2]);
      s += k3 * (a[c - o3] + a[c + o3]);
      s += k4 * (a[c - o4] + a[c + o4]);
      s += k5 * (a[c - o5] + a[c + o5]);
      s += k6 * (a[c - o6] + a[c + o6]);
      s += k7 * (a[c - o7] + a[c + o7]);
      s += k8 * (a[c - o8] + a[c + o8]);
      acc[x] = s;
    }
  } else if (g === 4) {
    const k2 = kh[j0 + 1];
    const k3 = kh[j0 + 2];
    const k4 = kh[j0 + 3];
    const o2 = o1 + stride;
    const o3 = o2 + stride;
    const o4 = o3 + stride;
    for (let x = 0, c = centre; x < n; x++, c++) {
      let s = acc[x];
      s += k1 * (a[c - o1] + a[c + o1]);
      s += k2 * (a[c - o2] + a[c + o2]);
      s += k3 * (a[c - o3] + a[c + o3]);
      s += k4 * (a[c - o4] + a[c + o4]);
      acc[x] = s;
    }
  } else if (g === 3) {
    const k2 = kh[j0 + 1];
    const k3 = kh[j0 + 2];
    const o2 = o1 + stride;
    const o3 = o2 + stride;
    for (let x = 0, c = centre; x < n; x++, c++) {
      let s = acc[x];
      s += k1 * (a[c - o1] + a[c + o1]);
      s += k2 * (a[c - o2] + a[c + o2]);
      s += k3 * (a[c - o3] + a[c + o3]);
      acc[x] = s;
    }
  } else if (g === 2) {
    const k2 = kh[j0 + 1];
    const o2 = o1 + stride;
    for (let x = 0, c = centre; x < n; x++, c++) {
      let s = acc[x];
      s += k1 * (a[c - o1] + a[c + o1]);
      s += k2 * (a[c - o2] + a[c + o2]);
      acc[x] = s;
    }
  } else {
    for (let x = 0, c = centre; x < n; x++, c++) acc[x] += k1 * (a[c - o1] + a[c + o1]);
  }
  return g;
}
