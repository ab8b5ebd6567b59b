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
 * is its own function (one tap count each, written out mechanically) so that a 13-tap kernel
 * costs 13 multiply-adds per pixel, not 19.
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
  switch (T) {
    case 7:
      return horizontal7(row, out, outOff, n, taps);
    case 9:
      return horizontal9(row, out, outOff, n, taps);
    case 11:
      return horizontal11(row, out, outOff, n, taps);
    case 13:
      return horizontal13(row, out, outOff, n, taps);
    case 15:
      return horizontal15(row, out, outOff, n, taps);
    case 17:
      return horizontal17(row, out, outOff, n, taps);
    case 19:
      return horizontal19(row, out, outOff, n, taps);
  }
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
  switch (T) {
    case 7:
      return vertical7(src, srcOff, dst, dstOff, W, nRows, x0, x1, taps, accumulate);
    case 9:
      return vertical9(src, srcOff, dst, dstOff, W, nRows, x0, x1, taps, accumulate);
    case 11:
      return vertical11(src, srcOff, dst, dstOff, W, nRows, x0, x1, taps, accumulate);
    case 13:
      return vertical13(src, srcOff, dst, dstOff, W, nRows, x0, x1, taps, accumulate);
    case 15:
      return vertical15(src, srcOff, dst, dstOff, W, nRows, x0, x1, taps, accumulate);
    case 17:
      return vertical17(src, srcOff, dst, dstOff, W, nRows, x0, x1, taps, accumulate);
    case 19:
      return vertical19(src, srcOff, dst, dstOff, W, nRows, x0, x1, taps, accumulate);
  }
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

/** 7 taps, unrolled. */
function horizontal7(row: Float32Array, out: Float32Array, outOff: number, n: number, taps: Float64Array): void {
  const c0 = taps[0];
  const c1 = taps[1];
  const c2 = taps[2];
  const c3 = taps[3];
  const c4 = taps[4];
  const c5 = taps[5];
  const c6 = taps[6];
  for (let x = 0; x < n; x++) {
    out[outOff + x] =
      c0 * row[x] +
      c1 * row[x + 1] +
      c2 * row[x + 2] +
      c3 * row[x + 3] +
      c4 * row[x + 4] +
      c5 * row[x + 5] +
      c6 * row[x + 6];
  }
}

/** 9 taps, unrolled. */
function horizontal9(row: Float32Array, out: Float32Array, outOff: number, n: number, taps: Float64Array): void {
  const c0 = taps[0];
  const c1 = taps[1];
  const c2 = taps[2];
  const c3 = taps[3];
  const c4 = taps[4];
  const c5 = taps[5];
  const c6 = taps[6];
  const c7 = taps[7];
  const c8 = taps[8];
  for (let x = 0; x < n; x++) {
    out[outOff + x] =
      c0 * row[x] +
      c1 * row[x + 1] +
      c2 * row[x + 2] +
      c3 * row[x + 3] +
      c4 * row[x + 4] +
      c5 * row[x + 5] +
      c6 * row[x + 6] +
      c7 * row[x + 7] +
      c8 * row[x + 8];
  }
}

/** 11 taps, unrolled. */
function horizontal11(row: Float32Array, out: Float32Array, outOff: number, n: number, taps: Float64Array): void {
  const c0 = taps[0];
  const c1 = taps[1];
  const c2 = taps[2];
  const c3 = taps[3];
  const c4 = taps[4];
  const c5 = taps[5];
  const c6 = taps[6];
  const c7 = taps[7];
  const c8 = taps[8];
  const c9 = taps[9];
  const c10 = taps[10];
  for (let x = 0; x < n; x++) {
    out[outOff + x] =
      c0 * row[x] +
      c1 * row[x + 1] +
      c2 * row[x + 2] +
      c3 * row[x + 3] +
      c4 * row[x + 4] +
      c5 * row[x + 5] +
      c6 * row[x + 6] +
      c7 * row[x + 7] +
      c8 * row[x + 8] +
      c9 * row[x + 9] +
      c10 * row[x + 10];
  }
}

/** 13 taps, unrolled. */
function horizontal13(row: Float32Array, out: Float32Array, outOff: number, n: number, taps: Float64Array): void {
  const c0 = taps[0];
  const c1 = taps[1];
  const c2 = taps[2];
  const c3 = taps[3];
  const c4 = taps[4];
  const c5 = taps[5];
  const c6 = taps[6];
  const c7 = taps[7];
  const c8 = taps[8];
  const c9 = taps[9];
  const c10 = taps[10];
  const c11 = taps[11];
  const c12 = taps[12];
  for (let x = 0; x < n; x++) {
    out[outOff + x] =
      c0 * row[x] +
      c1 * row[x + 1] +
      c2 * row[x + 2] +
      c3 * row[x + 3] +
      c4 * row[x + 4] +
      c5 * row[x + 5] +
      c6 * row[x + 6] +
      c7 * row[x + 7] +
      c8 * row[x + 8] +
      c9 * row[x + 9] +
      c10 * row[x + 10] +
      c11 * row[x + 11] +
      c12 * row[x + 12];
  }
}

/** 15 taps, unrolled. */
function horizontal15(row: Float32Array, out: Float32Array, outOff: number, n: number, taps: Float64Array): void {
  const c0 = taps[0];
  const c1 = taps[1];
  const c2 = taps[2];
  const c3 = taps[3];
  const c4 = taps[4];
  const c5 = taps[5];
  const c6 = taps[6];
  const c7 = taps[7];
  const c8 = taps[8];
  const c9 = taps[9];
  const c10 = taps[10];
  const c11 = taps[11];
  const c12 = taps[12];
  const c13 = taps[13];
  const c14 = taps[14];
  for (let x = 0; x < n; x++) {
    out[outOff + x] =
      c0 * row[x] +
      c1 * row[x + 1] +
      c2 * row[x + 2] +
      c3 * row[x + 3] +
      c4 * row[x + 4] +
      c5 * row[x + 5] +
      c6 * row[x + 6] +
      c7 * row[x + 7] +
      c8 * row[x + 8] +
      c9 * row[x + 9] +
      c10 * row[x + 10] +
      c11 * row[x + 11] +
      c12 * row[x + 12] +
      c13 * row[x + 13] +
      c14 * row[x + 14];
  }
}

/** 17 taps, unrolled. */
function horizontal17(row: Float32Array, out: Float32Array, outOff: number, n: number, taps: Float64Array): void {
  const c0 = taps[0];
  const c1 = taps[1];
  const c2 = taps[2];
  const c3 = taps[3];
  const c4 = taps[4];
  const c5 = taps[5];
  const c6 = taps[6];
  const c7 = taps[7];
  const c8 = taps[8];
  const c9 = taps[9];
  const c10 = taps[10];
  const c11 = taps[11];
  const c12 = taps[12];
  const c13 = taps[13];
  const c14 = taps[14];
  const c15 = taps[15];
  const c16 = taps[16];
  for (let x = 0; x < n; x++) {
    out[outOff + x] =
      c0 * row[x] +
      c1 * row[x + 1] +
      c2 * row[x + 2] +
      c3 * row[x + 3] +
      c4 * row[x + 4] +
      c5 * row[x + 5] +
      c6 * row[x + 6] +
      c7 * row[x + 7] +
      c8 * row[x + 8] +
      c9 * row[x + 9] +
      c10 * row[x + 10] +
      c11 * row[x + 11] +
      c12 * row[x + 12] +
      c13 * row[x + 13] +
      c14 * row[x + 14] +
      c15 * row[x + 15] +
      c16 * row[x + 16];
  }
}

/** 19 taps, unrolled. */
function horizontal19(row: Float32Array, out: Float32Array, outOff: number, n: number, taps: Float64Array): void {
  const c0 = taps[0];
  const c1 = taps[1];
  const c2 = taps[2];
  const c3 = taps[3];
  const c4 = taps[4];
  const c5 = taps[5];
  const c6 = taps[6];
  const c7 = taps[7];
  const c8 = taps[8];
  const c9 = taps[9];
  const c10 = taps[10];
  const c11 = taps[11];
  const c12 = taps[12];
  const c13 = taps[13];
  const c14 = taps[14];
  const c15 = taps[15];
  const c16 = taps[16];
  const c17 = taps[17];
  const c18 = taps[18];
  for (let x = 0; x < n; x++) {
    out[outOff + x] =
      c0 * row[x] +
      c1 * row[x + 1] +
      c2 * row[x + 2] +
      c3 * row[x + 3] +
      c4 * row[x + 4] +
      c5 * row[x + 5] +
      c6 * row[x + 6] +
      c7 * row[x + 7] +
      c8 * row[x + 8] +
      c9 * row[x + 9] +
      c10 * row[x + 10] +
      c11 * row[x + 11] +
      c12 * row[x + 12] +
      c13 * row[x + 13] +
      c14 * row[x + 14] +
      c15 * row[x + 15] +
      c16 * row[x + 16] +
      c17 * row[x + 17] +
      c18 * row[x + 18];
  }
}

/** 7 taps, unrolled. */
function vertical7(src: Float32Array, srcOff: number, dst: Float32Array, dstOff: number, W: number, nRows: number, x0: number, x1: number, taps: Float64Array, accumulate: boolean): void {
  const c0 = taps[0];
  const c1 = taps[1];
  const c2 = taps[2];
  const c3 = taps[3];
  const c4 = taps[4];
  const c5 = taps[5];
  const c6 = taps[6];
  const W2 = 2 * W;
  const W3 = 3 * W;
  const W4 = 4 * W;
  const W5 = 5 * W;
  const W6 = 6 * W;
  for (let k = 0; k < nRows; k++) {
    const s0 = srcOff + k * W;
    const d0 = dstOff + k * W;
    if (accumulate) {
      for (let x = x0; x < x1; x++) {
        const c = s0 + x;
        dst[d0 + x] +=
          c0 * src[c] +
          c1 * src[c + W] +
          c2 * src[c + W2] +
          c3 * src[c + W3] +
          c4 * src[c + W4] +
          c5 * src[c + W5] +
          c6 * src[c + W6];
      }
    } else {
      for (let x = x0; x < x1; x++) {
        const c = s0 + x;
        dst[d0 + x] =
          c0 * src[c] +
          c1 * src[c + W] +
          c2 * src[c + W2] +
          c3 * src[c + W3] +
          c4 * src[c + W4] +
          c5 * src[c + W5] +
          c6 * src[c + W6];
      }
    }
  }
}

/** 9 taps, unrolled. */
function vertical9(src: Float32Array, srcOff: number, dst: Float32Array, dstOff: number, W: number, nRows: number, x0: number, x1: number, taps: Float64Array, accumulate: boolean): void {
  const c0 = taps[0];
  const c1 = taps[1];
  const c2 = taps[2];
  const c3 = taps[3];
  const c4 = taps[4];
  const c5 = taps[5];
  const c6 = taps[6];
  const c7 = taps[7];
  const c8 = taps[8];
  const W2 = 2 * W;
  const W3 = 3 * W;
  const W4 = 4 * W;
  const W5 = 5 * W;
  const W6 = 6 * W;
  const W7 = 7 * W;
  const W8 = 8 * W;
  for (let k = 0; k < nRows; k++) {
    const s0 = srcOff + k * W;
    const d0 = dstOff + k * W;
    if (accumulate) {
      for (let x = x0; x < x1; x++) {
        const c = s0 + x;
        dst[d0 + x] +=
          c0 * src[c] +
          c1 * src[c + W] +
          c2 * src[c + W2] +
          c3 * src[c + W3] +
          c4 * src[c + W4] +
          c5 * src[c + W5] +
          c6 * src[c + W6] +
          c7 * src[c + W7] +
          c8 * src[c + W8];
      }
    } else {
      for (let x = x0; x < x1; x++) {
        const c = s0 + x;
        dst[d0 + x] =
          c0 * src[c] +
          c1 * src[c + W] +
          c2 * src[c + W2] +
          c3 * src[c + W3] +
          c4 * src[c + W4] +
          c5 * src[c + W5] +
          c6 * src[c + W6] +
          c7 * src[c + W7] +
          c8 * src[c + W8];
      }
    }
  }
}

/** 11 taps, unrolled. */
function vertical11(src: Float32Array, srcOff: number, dst: Float32Array, dstOff: number, W: number, nRows: number, x0: number, x1: number, taps: Float64Array, accumulate: boolean): void {
  const c0 = taps[0];
  const c1 = taps[1];
  const c2 = taps[2];
  const c3 = taps[3];
  const c4 = taps[4];
  const c5 = taps[5];
  const c6 = taps[6];
  const c7 = taps[7];
  const c8 = taps[8];
  const c9 = taps[9];
  const c10 = taps[10];
  const W2 = 2 * W;
  const W3 = 3 * W;
  const W4 = 4 * W;
  const W5 = 5 * W;
  const W6 = 6 * W;
  const W7 = 7 * W;
  const W8 = 8 * W;
  const W9 = 9 * W;
  const W10 = 10 * W;
  for (let k = 0; k < nRows; k++) {
    const s0 = srcOff + k * W;
    const d0 = dstOff + k * W;
    if (accumulate) {
      for (let x = x0; x < x1; x++) {
        const c = s0 + x;
        dst[d0 + x] +=
          c0 * src[c] +
          c1 * src[c + W] +
          c2 * src[c + W2] +
          c3 * src[c + W3] +
          c4 * src[c + W4] +
          c5 * src[c + W5] +
          c6 * src[c + W6] +
          c7 * src[c + W7] +
          c8 * src[c + W8] +
          c9 * src[c + W9] +
          c10 * src[c + W10];
      }
    } else {
      for (let x = x0; x < x1; x++) {
        const c = s0 + x;
        dst[d0 + x] =
          c0 * src[c] +
          c1 * src[c + W] +
          c2 * src[c + W2] +
          c3 * src[c + W3] +
          c4 * src[c + W4] +
          c5 * src[c + W5] +
          c6 * src[c + W6] +
          c7 * src[c + W7] +
          c8 * src[c + W8] +
          c9 * src[c + W9] +
          c10 * src[c + W10];
      }
    }
  }
}

/** 13 taps, unrolled. */
function vertical13(src: Float32Array, srcOff: number, dst: Float32Array, dstOff: number, W: number, nRows: number, x0: number, x1: number, taps: Float64Array, accumulate: boolean): void {
  const c0 = taps[0];
  const c1 = taps[1];
  const c2 = taps[2];
  const c3 = taps[3];
  const c4 = taps[4];
  const c5 = taps[5];
  const c6 = taps[6];
  const c7 = taps[7];
  const c8 = taps[8];
  const c9 = taps[9];
  const c10 = taps[10];
  const c11 = taps[11];
  const c12 = taps[12];
  const W2 = 2 * W;
  const W3 = 3 * W;
  const W4 = 4 * W;
  const W5 = 5 * W;
  const W6 = 6 * W;
  const W7 = 7 * W;
  const W8 = 8 * W;
  const W9 = 9 * W;
  const W10 = 10 * W;
  const W11 = 11 * W;
  const W12 = 12 * W;
  for (let k = 0; k < nRows; k++) {
    const s0 = srcOff + k * W;
    const d0 = dstOff + k * W;
    if (accumulate) {
      for (let x = x0; x < x1; x++) {
        const c = s0 + x;
        dst[d0 + x] +=
          c0 * src[c] +
          c1 * src[c + W] +
          c2 * src[c + W2] +
          c3 * src[c + W3] +
          c4 * src[c + W4] +
          c5 * src[c + W5] +
          c6 * src[c + W6] +
          c7 * src[c + W7] +
          c8 * src[c + W8] +
          c9 * src[c + W9] +
          c10 * src[c + W10] +
          c11 * src[c + W11] +
          c12 * src[c + W12];
      }
    } else {
      for (let x = x0; x < x1; x++) {
        const c = s0 + x;
        dst[d0 + x] =
          c0 * src[c] +
          c1 * src[c + W] +
          c2 * src[c + W2] +
          c3 * src[c + W3] +
          c4 * src[c + W4] +
          c5 * src[c + W5] +
          c6 * src[c + W6] +
          c7 * src[c + W7] +
          c8 * src[c + W8] +
          c9 * src[c + W9] +
          c10 * src[c + W10] +
          c11 * src[c + W11] +
          c12 * src[c + W12];
      }
    }
  }
}

/** 15 taps, unrolled. */
function vertical15(src: Float32Array, srcOff: number, dst: Float32Array, dstOff: number, W: number, nRows: number, x0: number, x1: number, taps: Float64Array, accumulate: boolean): void {
  const c0 = taps[0];
  const c1 = taps[1];
  const c2 = taps[2];
  const c3 = taps[3];
  const c4 = taps[4];
  const c5 = taps[5];
  const c6 = taps[6];
  const c7 = taps[7];
  const c8 = taps[8];
  const c9 = taps[9];
  const c10 = taps[10];
  const c11 = taps[11];
  const c12 = taps[12];
  const c13 = taps[13];
  const c14 = taps[14];
  const W2 = 2 * W;
  const W3 = 3 * W;
  const W4 = 4 * W;
  const W5 = 5 * W;
  const W6 = 6 * W;
  const W7 = 7 * W;
  const W8 = 8 * W;
  const W9 = 9 * W;
  const W10 = 10 * W;
  const W11 = 11 * W;
  const W12 = 12 * W;
  const W13 = 13 * W;
  const W14 = 14 * W;
  for (let k = 0; k < nRows; k++) {
    const s0 = srcOff + k * W;
    const d0 = dstOff + k * W;
    if (accumulate) {
      for (let x = x0; x < x1; x++) {
        const c = s0 + x;
        dst[d0 + x] +=
          c0 * src[c] +
          c1 * src[c + W] +
          c2 * src[c + W2] +
          c3 * src[c + W3] +
          c4 * src[c + W4] +
          c5 * src[c + W5] +
          c6 * src[c + W6] +
          c7 * src[c + W7] +
          c8 * src[c + W8] +
          c9 * src[c + W9] +
          c10 * src[c + W10] +
          c11 * src[c + W11] +
          c12 * src[c + W12] +
          c13 * src[c + W13] +
          c14 * src[c + W14];
      }
    } else {
      for (let x = x0; x < x1; x++) {
        const c = s0 + x;
        dst[d0 + x] =
          c0 * src[c] +
          c1 * src[c + W] +
          c2 * src[c + W2] +
          c3 * src[c + W3] +
          c4 * src[c + W4] +
          c5 * src[c + W5] +
          c6 * src[c + W6] +
          c7 * src[c + W7] +
          c8 * src[c + W8] +
          c9 * src[c + W9] +
          c10 * src[c + W10] +
          c11 * src[c + W11] +
          c12 * src[c + W12] +
          c13 * src[c + W13] +
          c14 * src[c + W14];
      }
    }
  }
}

/** 17 taps, unrolled. */
function vertical17(src: Float32Array, srcOff: number, dst: Float32Array, dstOff: number, W: number, nRows: number, x0: number, x1: number, taps: Float64Array, accumulate: boolean): void {
  const c0 = taps[0];
  const c1 = taps[1];
  const c2 = taps[2];
  const c3 = taps[3];
  const c4 = taps[4];
  const c5 = taps[5];
  const c6 = taps[6];
  const c7 = taps[7];
  const c8 = taps[8];
  const c9 = taps[9];
  const c10 = taps[10];
  const c11 = taps[11];
  const c12 = taps[12];
  const c13 = taps[13];
  const c14 = taps[14];
  const c15 = taps[15];
  const c16 = taps[16];
  const W2 = 2 * W;
  const W3 = 3 * W;
  const W4 = 4 * W;
  const W5 = 5 * W;
  const W6 = 6 * W;
  const W7 = 7 * W;
  const W8 = 8 * W;
  const W9 = 9 * W;
  const W10 = 10 * W;
  const W11 = 11 * W;
  const W12 = 12 * W;
  const W13 = 13 * W;
  const W14 = 14 * W;
  const W15 = 15 * W;
  const W16 = 16 * W;
  for (let k = 0; k < nRows; k++) {
    const s0 = srcOff + k * W;
    const d0 = dstOff + k * W;
    if (accumulate) {
      for (let x = x0; x < x1; x++) {
        const c = s0 + x;
        dst[d0 + x] +=
          c0 * src[c] +
          c1 * src[c + W] +
          c2 * src[c + W2] +
          c3 * src[c + W3] +
          c4 * src[c + W4] +
          c5 * src[c + W5] +
          c6 * src[c + W6] +
          c7 * src[c + W7] +
          c8 * src[c + W8] +
          c9 * src[c + W9] +
          c10 * src[c + W10] +
          c11 * src[c + W11] +
          c12 * src[c + W12] +
          c13 * src[c + W13] +
          c14 * src[c + W14] +
          c15 * src[c + W15] +
          c16 * src[c + W16];
      }
    } else {
      for (let x = x0; x < x1; x++) {
        const c = s0 + x;
        dst[d0 + x] =
          c0 * src[c] +
          c1 * src[c + W] +
          c2 * src[c + W2] +
          c3 * src[c + W3] +
          c4 * src[c + W4] +
          c5 * src[c + W5] +
          c6 * src[c + W6] +
          c7 * src[c + W7] +
          c8 * src[c + W8] +
          c9 * src[c + W9] +
          c10 * src[c + W10] +
          c11 * src[c + W11] +
          c12 * src[c + W12] +
          c13 * src[c + W13] +
          c14 * src[c + W14] +
          c15 * src[c + W15] +
          c16 * src[c + W16];
      }
    }
  }
}

/** 19 taps, unrolled. */
function vertical19(src: Float32Array, srcOff: number, dst: Float32Array, dstOff: number, W: number, nRows: number, x0: number, x1: number, taps: Float64Array, accumulate: boolean): void {
  const c0 = taps[0];
  const c1 = taps[1];
  const c2 = taps[2];
  const c3 = taps[3];
  const c4 = taps[4];
  const c5 = taps[5];
  const c6 = taps[6];
  const c7 = taps[7];
  const c8 = taps[8];
  const c9 = taps[9];
  const c10 = taps[10];
  const c11 = taps[11];
  const c12 = taps[12];
  const c13 = taps[13];
  const c14 = taps[14];
  const c15 = taps[15];
  const c16 = taps[16];
  const c17 = taps[17];
  const c18 = taps[18];
  const W2 = 2 * W;
  const W3 = 3 * W;
  const W4 = 4 * W;
  const W5 = 5 * W;
  const W6 = 6 * W;
  const W7 = 7 * W;
  const W8 = 8 * W;
  const W9 = 9 * W;
  const W10 = 10 * W;
  const W11 = 11 * W;
  const W12 = 12 * W;
  const W13 = 13 * W;
  const W14 = 14 * W;
  const W15 = 15 * W;
  const W16 = 16 * W;
  const W17 = 17 * W;
  const W18 = 18 * W;
  for (let k = 0; k < nRows; k++) {
    const s0 = srcOff + k * W;
    const d0 = dstOff + k * W;
    if (accumulate) {
      for (let x = x0; x < x1; x++) {
        const c = s0 + x;
        dst[d0 + x] +=
          c0 * src[c] +
          c1 * src[c + W] +
          c2 * src[c + W2] +
          c3 * src[c + W3] +
          c4 * src[c + W4] +
          c5 * src[c + W5] +
          c6 * src[c + W6] +
          c7 * src[c + W7] +
          c8 * src[c + W8] +
          c9 * src[c + W9] +
          c10 * src[c + W10] +
          c11 * src[c + W11] +
          c12 * src[c + W12] +
          c13 * src[c + W13] +
          c14 * src[c + W14] +
          c15 * src[c + W15] +
          c16 * src[c + W16] +
          c17 * src[c + W17] +
          c18 * src[c + W18];
      }
    } else {
      for (let x = x0; x < x1; x++) {
        const c = s0 + x;
        dst[d0 + x] =
          c0 * src[c] +
          c1 * src[c + W] +
          c2 * src[c + W2] +
          c3 * src[c + W3] +
          c4 * src[c + W4] +
          c5 * src[c + W5] +
          c6 * src[c + W6] +
          c7 * src[c + W7] +
          c8 * src[c + W8] +
          c9 * src[c + W9] +
          c10 * src[c + W10] +
          c11 * src[c + W11] +
          c12 * src[c + W12] +
          c13 * src[c + W13] +
          c14 * src[c + W14] +
          c15 * src[c + W15] +
          c16 * src[c + W16] +
          c17 * src[c + W17] +
          c18 * src[c + W18];
      }
    }
  }
}
