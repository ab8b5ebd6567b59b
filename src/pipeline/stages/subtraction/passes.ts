/**
 * The 1-D correlation passes of the separable convolution, over typed arrays:
 *
 *   horizontal: out[x] = Σ_t c_t · row[x + t]          (row: a zero-padded copy of an image row)
 *   vertical:   out[k·W + x] (+)= Σ_t d_t · src[(k + t)·W + x]   for x in [x0, x1)
 *
 * Odd tap counts from 7 to 19 run fully unrolled (taps zero-padded to the next of 7, 9, …, 19 by
 * padTaps; the caller leaves PASS_SLACK zero rows / values after its buffers), about three times
 * faster than a loop over taps; longer kernels sweep the row once per group of taps into an
 * accumulator. The padded taps are zero but still read their pixels: those must be finite. A
 * zero tap adds exactly zero, so the padding never changes a result, only the work: each variant
 * is its own function (one per tap count, generated from one text at load) so that a 13-tap
 * kernel costs 13 multiply-adds per pixel, not 19.
 */

/** Extra values the caller must leave after a row buffer (or rows after a strip) for padded taps. */
export const PASS_SLACK = 18;

/**
 * Taps zero-padded to the length of the pass that will run them: the smallest odd count from 7
 * to 19 that holds them, or a multiple of 8 beyond 19. Prepare them once; the passes choose
 * their variant by length.
 */
export function padTaps(taps: ArrayLike<number>): Float64Array {
  const T = taps.length;
  const n = T <= 7 ? 7 : T <= 19 ? T | 1 : 8 * Math.ceil(T / 8);
  const t = new Float64Array(n);
  for (let i = 0; i < T; i++) t[i] = taps[i];
  return t;
}

/**
 * Horizontal pass over one padded row: out[outOff + x] = Σ_t taps[t] · row[x + t], x ∈ [0, n).
 * `scratch` (at least n values) serves kernels of more than 19 taps.
 */
export function horizontalPass(row: Float32Array, out: Float32Array, outOff: number, n: number, taps: Float64Array, scratch: Float64Array | null = null): void {
  const T = taps.length;
  const unrolled = HORIZONTAL.get(T);
  if (unrolled) return unrolled(row, out, outOff, n, taps);
  // Longer kernels: groups of eight taps, each a sweep over the row into a double-precision
  // accumulator.
  if (T % 8 !== 0) throw new RangeError(`horizontal pass: ${T} taps are not padded (padTaps)`);
  const acc = scratch !== null && scratch.length >= n ? scratch : new Float64Array(n);
  acc.fill(0, 0, n);
  for (let t = 0; t < T; t += 8) {
    const a0 = taps[t];
    const a1 = taps[t + 1];
    const a2 = taps[t + 2];
    const a3 = taps[t + 3];
    const a4 = taps[t + 4];
    const a5 = taps[t + 5];
    const a6 = taps[t + 6];
    const a7 = taps[t + 7];
    for (let x = 0, i = t; x < n; x++, i++) {
      acc[x] += a0 * row[i] + a1 * row[i + 1] + a2 * row[i + 2] + a3 * row[i + 3] + a4 * row[i + 4] + a5 * row[i + 5] + a6 * row[i + 6] + a7 * row[i + 7];
    }
  }
  for (let x = 0; x < n; x++) out[outOff + x] = acc[x];
}

/**
 * Vertical pass: for output rows k ∈ [0, nRows), dst[dstOff + k·W + x] (+)= Σ_t taps[t] ·
 * src[srcOff + (k + t)·W + x] for x ∈ [x0, x1); `accumulate` adds to dst instead of writing.
 * `scratch` (at least x1 − x0 values) serves kernels of more than 19 taps.
 */
export function verticalPass(
  src: Float32Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  W: number,
  nRows: number,
  x0: number,
  x1: number,
  taps: Float64Array,
  accumulate: boolean,
  scratch: Float64Array | null = null,
): void {
  const T = taps.length;
  const unrolled = VERTICAL.get(T);
  if (unrolled) return unrolled(src, srcOff, dst, dstOff, W, nRows, x0, x1, taps, accumulate);
  // Longer kernels: groups of four taps, each a sweep over the row segment into a
  // double-precision accumulator.
  if (T % 4 !== 0) throw new RangeError(`vertical pass: ${T} taps are not padded (padTaps)`);
  const len = x1 - x0;
  const acc = scratch !== null && scratch.length >= len ? scratch : new Float64Array(len);
  for (let k = 0; k < nRows; k++) {
    const d0 = dstOff + k * W + x0;
    acc.fill(0, 0, len);
    for (let t = 0; t < T; t += 4) {
      const a0 = taps[t];
      const a1 = taps[t + 1];
      const a2 = taps[t + 2];
      const a3 = taps[t + 3];
      const o0 = srcOff + (k + t) * W + x0;
      const o1 = o0 + W;
      const o2 = o1 + W;
      const o3 = o2 + W;
      for (let i = 0; i < len; i++) acc[i] += a0 * src[o0 + i] + a1 * src[o1 + i] + a2 * src[o2 + i] + a3 * src[o3 + i];
    }
    if (accumulate) for (let i = 0; i < len; i++) dst[d0 + i] += acc[i];
    else for (let i = 0; i < len; i++) dst[d0 + i] = acc[i];
  }
}

type HorizontalFn = (row: Float32Array, out: Float32Array, outOff: number, n: number, taps: Float64Array) => void;
type VerticalFn = (
  src: Float32Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  W: number,
  nRows: number,
  x0: number,
  x1: number,
  taps: Float64Array,
  accumulate: boolean,
) => void;

const range = (T: number): number[] => Array.from({ length: T }, (_, t) => t);

/**
 * The unrolled passes of one tap count, generated once from the same text (the sums in tap
 * order, as a loop over taps would add them): V8 compiles each like hand-written code.
 */
function unrolledHorizontal(T: number): HorizontalFn {
  const body = `${range(T).map((t) => `const c${t} = taps[${t}];`).join('\n')}
for (let x = 0; x < n; x++) out[outOff + x] = ${range(T).map((t) => `c${t} * row[x + ${t}]`).join(' + ')};`;
  return new Function('row', 'out', 'outOff', 'n', 'taps', body) as HorizontalFn;
}

function unrolledVertical(T: number): VerticalFn {
  const sum = range(T).map((t) => `c${t} * src[c + W${t}]`).join(' + ');
  const body = `${range(T).map((t) => `const c${t} = taps[${t}]; const W${t} = ${t} * W;`).join('\n')}
for (let k = 0; k < nRows; k++) {
  const s0 = srcOff + k * W;
  const d0 = dstOff + k * W;
  if (accumulate) {
    for (let x = x0; x < x1; x++) { const c = s0 + x; dst[d0 + x] += ${sum}; }
  } else {
    for (let x = x0; x < x1; x++) { const c = s0 + x; dst[d0 + x] = ${sum}; }
  }
}`;
  return new Function('src', 'srcOff', 'dst', 'dstOff', 'W', 'nRows', 'x0', 'x1', 'taps', 'accumulate', body) as VerticalFn;
}

/** Unrolled passes by tap count: 7, 9, …, 19. */
const HORIZONTAL = new Map<number, HorizontalFn>(range(7).map((i) => [7 + 2 * i, unrolledHorizontal(7 + 2 * i)]));
const VERTICAL = new Map<number, VerticalFn>(range(7).map((i) => [7 + 2 * i, unrolledVertical(7 + 2 * i)]));
