import type { ArenaBuffer } from '../../../wasm/arena.ts';
import { passKernels, type PassKernels } from '../../../wasm/passes.ts';

/**
 * Low-rank separable approximation of a kernel image (that of one cell of the image):
 *
 *   K(u, v) ≈ Σ_{p < R} h_p(u) · g_p(v)
 *
 * The h_p are the leading eigenvectors of the Gram matrix K Kᵀ over u (the left singular
 * vectors of K), and g_p = Σ_u h_p(u) K(u, v) is the exact projection. R is the smallest rank
 * whose relative error is within `tolerance`, at most `maxRank`.
 *
 * The error is measured after smoothing with a Gaussian of `smoothingSigmaPx` (0: none):
 * ‖G ⊗ (K − approx)‖ / ‖G ⊗ K‖ (Frobenius). With G the PSF of the image being convolved, that
 * is the relative error of a convolved star, which is what the difference image sees: a fitted
 * kernel carries noise at high spatial frequencies that the data do not constrain (they vanish
 * once convolved with the PSF) and that would otherwise cost rank for nothing.
 *
 * Without start vectors the Gram matrix is diagonalised by Jacobi rotations. With them (the
 * leading eigenvectors of a similar kernel, e.g. the neighbouring cell's, at least maxRank of
 * them) three steps of orthogonal (subspace) iteration and a Rayleigh–Ritz rotation give the
 * leading maxRank vectors, which is much cheaper. Either way the error is measured for the
 * vectors actually used, so an imperfectly converged vector can only cost rank, not accuracy.
 *
 * The arithmetic (float64) runs in the passes module (wasm/passes.ts `separable`) on buffers in
 * its memory: a `SeparableApproximator` is given a region of the arena of
 * `SeparableApproximator.length` values, into whose `kernel` the kernels are written.
 *
 * A kernel image holds K(u, v) at [(v + r) · size + (u + r)].
 */
export interface SeparableKernel {
  readonly size: number;
  readonly rank: number;
  /** h_p(u) at [p · size + u + r]. */
  readonly horizontal: Float64Array;
  /** g_p(v) at [p · size + v + r]. */
  readonly vertical: Float64Array;
  /** Relative error (after smoothing) of the approximation. */
  readonly maxRelativeError: number;
  /** The leading eigenvectors of the Gram matrix found (rows of `size`): start vectors for a similar kernel. */
  readonly eigenvectors: Float64Array;
}

/** Normalised Gaussian taps of half-width ceil(4σ) (a single 1 for σ = 0). */
function gaussianTaps(sigma: number): Float64Array {
  if (!(sigma > 0)) return Float64Array.of(1);
  const R = Math.ceil(4 * sigma);
  const g = new Float64Array(2 * R + 1);
  let s = 0;
  for (let t = -R; t <= R; t++) {
    g[t + R] = Math.exp((-t * t) / (2 * sigma * sigma));
    s += g[t + R];
  }
  for (let i = 0; i < g.length; i++) g[i] /= s;
  return g;
}

/** Subrange [offset, offset + length) of an arena buffer. */
function part(b: ArenaBuffer<Float64Array>, offset: number, length: number): ArenaBuffer<Float64Array> {
  return { ptr: b.ptr + 8 * offset, view: b.view.subarray(offset, offset + length) };
}

export class SeparableApproximator {
  /** The kernel to approximate next (size² values). */
  readonly kernel: ArenaBuffer<Float64Array>;
  readonly size: number;
  readonly maxRank: number;
  readonly #k: PassKernels;
  readonly #limit: number;
  readonly #taps: ArenaBuffer<Float64Array>;
  readonly #start: ArenaBuffer<Float64Array>;
  readonly #vectors: ArenaBuffer<Float64Array>;
  readonly #proj: ArenaBuffer<Float64Array>;
  readonly #err: ArenaBuffer<Float64Array>;
  readonly #scratch: ArenaBuffer<Float64Array>;

  /** Float64 values of the region an approximator needs. */
  static length(size: number, maxRank: number, smoothingSigmaPx: number): number {
    const limit = Math.max(1, Math.min(maxRank, size));
    const L = gaussianTaps(smoothingSigmaPx).length;
    return size * size + L + 3 * limit * size + 1 + passKernels().exports.separableScratch(size, limit, L);
  }

  /** `region`: `SeparableApproximator.length(size, maxRank, smoothingSigmaPx)` values of the passes module's arena. */
  constructor(size: number, maxRank: number, smoothingSigmaPx: number, region: ArenaBuffer<Float64Array>) {
    if (region.view.length < SeparableApproximator.length(size, maxRank, smoothingSigmaPx)) throw new RangeError('separable approximation: region too short');
    this.#k = passKernels().exports;
    this.size = size;
    this.maxRank = maxRank;
    const limit = Math.max(1, Math.min(maxRank, size));
    this.#limit = limit;
    const g = gaussianTaps(smoothingSigmaPx);
    let at = 0;
    const take = (n: number): ArenaBuffer<Float64Array> => {
      const b = part(region, at, n);
      at += n;
      return b;
    };
    this.kernel = take(size * size);
    this.#taps = take(g.length);
    this.#taps.view.set(g);
    this.#start = take(limit * size);
    this.#vectors = take(limit * size);
    this.#proj = take(limit * size);
    this.#err = take(1);
    this.#scratch = take(region.view.length - at);
  }

  /**
   * The approximation of `kernel` within `tolerance`, from the start vectors given (null: none;
   * fewer than maxRank of them are not used).
   */
  approximate(tolerance: number, startVectors: Float64Array | null = null): SeparableKernel {
    const { size } = this;
    const limit = this.#limit;
    const useStart = startVectors !== null && startVectors.length >= limit * size;
    if (useStart) this.#start.view.set(startVectors.subarray(0, limit * size));
    const rank = this.#k.separable(
      this.kernel.ptr,
      size,
      this.#taps.ptr,
      this.#taps.view.length,
      useStart ? this.#start.ptr : 0,
      limit,
      tolerance,
      this.#vectors.ptr,
      this.#proj.ptr,
      this.#err.ptr,
      this.#scratch.ptr,
    );
    return {
      size,
      rank,
      horizontal: this.#vectors.view.slice(0, rank * size),
      vertical: this.#proj.view.slice(0, rank * size),
      maxRelativeError: this.#err.view[0],
      eigenvectors: this.#vectors.view.slice(),
    };
  }
}

/**
 * Rescales the vertical profiles so that the approximation's sum equals the sum of the kernel
 * (for the variance kernel K², whose sum matters more than its shape).
 */
export function preserveSums(set: SeparableKernel, kernel: Float64Array): void {
  const { size, rank, horizontal, vertical } = set;
  const n2 = size * size;
  let want = 0;
  for (let i = 0; i < n2; i++) want += kernel[i];
  let have = 0;
  for (let p = 0; p < rank; p++) {
    let hs = 0;
    for (let u = 0; u < size; u++) hs += horizontal[p * size + u];
    let gs = 0;
    for (let v = 0; v < size; v++) gs += vertical[p * size + v];
    have += hs * gs;
  }
  if (!(Math.abs(have) > 0)) return;
  const f = want / have;
  for (let i = 0; i < rank * size; i++) vertical[i] *= f;
}

/** Reversed taps t = 0..2r of a profile f(u) at [u + r]: c_t = f(r − t), trimmed of near-zero ends. */
export interface Taps {
  readonly taps: Float64Array;
  /** Offset of taps[0] relative to the untrimmed tap 0. */
  readonly first: number;
}

/**
 * The correlation taps of a convolution profile: c_t = f(r − t), with leading and trailing taps
 * whose magnitude is at most `trim` × the largest removed (`trim` 0 removes exact zeros only).
 */
export function correlationTaps(profile: ArrayLike<number>, trim: number): Taps {
  const n = profile.length;
  let mx = 0;
  for (let i = 0; i < n; i++) mx = Math.max(mx, Math.abs(profile[i]));
  const rev = new Float64Array(n);
  for (let t = 0; t < n; t++) rev[t] = profile[n - 1 - t];
  let lo = 0;
  let hi = n - 1;
  while (lo < hi && Math.abs(rev[lo]) <= trim * mx) lo++;
  while (hi > lo && Math.abs(rev[hi]) <= trim * mx) hi--;
  return { taps: rev.slice(lo, hi + 1), first: lo };
}
