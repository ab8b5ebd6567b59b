import { symmetricEigen } from '../../lib/dense-symmetric.ts';

/**
 * Low-rank separable approximation of a set of kernel images (one per cell of the image):
 *
 *   K_c(u, v) ≈ Σ_{p < R} h_p(u) · g_{c,p}(v)
 *
 * with horizontal profiles h_p shared by every cell (so the horizontal passes run once over
 * whole rows) and vertical profiles g_{c,p} per cell. The h_p are the leading eigenvectors of
 * the Gram matrix Σ_c K_c K_cᵀ over u (the left singular vectors of all cells' kernels side by
 * side), and g_{c,p} = Σ_u h_p(u) K_c(u, v) is each cell's exact projection. R is the smallest
 * rank whose relative error is within `tolerance` in every cell, at most `maxRank`.
 *
 * The error is measured after smoothing with a Gaussian of `smoothingSigmaPx` (0: none):
 * ‖G ⊗ (K_c − approx)‖ / ‖G ⊗ K_c‖ (Frobenius). With G the PSF of the image being convolved,
 * that is the relative error of a convolved star, which is what the difference image sees: a
 * fitted kernel carries noise at high spatial frequencies that the data do not constrain (they
 * vanish once convolved with the PSF) and that would otherwise cost rank for nothing.
 *
 * Without `startVectors` the Gram matrix is diagonalised by Jacobi rotations. With them (the
 * leading eigenvectors of a similar set, e.g. the neighbouring cell's, at least maxRank of
 * them) a few steps of orthogonal (subspace) iteration and a Rayleigh–Ritz rotation give the
 * leading maxRank vectors, which is much cheaper. Either way the error is measured for the
 * vectors actually used, so an imperfectly converged vector can only cost rank, not accuracy.
 *
 * A kernel image holds K(u, v) at [(v + r) · size + (u + r)].
 */
export interface SeparableKernelSet {
  readonly size: number;
  readonly cells: number;
  readonly rank: number;
  /** h_p(u) at [p · size + u + r]. */
  readonly horizontal: Float64Array;
  /** g_{c,p}(v) at [(c · rank + p) · size + v + r]. */
  readonly vertical: Float64Array;
  /** Largest relative error (after smoothing) over the cells. */
  readonly maxRelativeError: number;
  /** The leading eigenvectors of the Gram matrix found (rows of `size`): start vectors for a similar set. */
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

/** Full 1-D convolution of f (length n) with g (length m): length n + m − 1, into out. */
function convolveFull(f: ArrayLike<number>, n: number, g: Float64Array, out: Float64Array): void {
  const m = g.length;
  out.fill(0, 0, n + m - 1);
  for (let i = 0; i < n; i++) {
    const v = f[i];
    if (v === 0) continue;
    for (let j = 0; j < m; j++) out[i + j] += v * g[j];
  }
}

export function separableApproximation(
  kernels: Float64Array,
  cells: number,
  size: number,
  tolerance: number,
  maxRank: number,
  smoothingSigmaPx = 0,
  startVectors: Float64Array | null = null,
): SeparableKernelSet {
  const n2 = size * size;
  if (kernels.length < cells * n2) throw new RangeError(`separable approximation: ${kernels.length} values for ${cells} kernels of ${size}x${size}`);
  // Gram matrix over u.
  const gram = new Float64Array(size * size);
  for (let c = 0; c < cells; c++) {
    const k = c * n2;
    for (let v = 0; v < size; v++) {
      const row = k + v * size;
      for (let u1 = 0; u1 < size; u1++) {
        const a = kernels[row + u1];
        if (a === 0) continue;
        for (let u2 = 0; u2 <= u1; u2++) gram[u1 * size + u2] += a * kernels[row + u2];
      }
    }
  }
  for (let u1 = 0; u1 < size; u1++) for (let u2 = u1 + 1; u2 < size; u2++) gram[u1 * size + u2] = gram[u2 * size + u1];
  const limit = Math.max(1, Math.min(maxRank, size));
  const vectors = startVectors !== null && startVectors.length >= limit * size ? subspaceIteration(gram, size, limit, startVectors, 3) : symmetricEigen(gram, size).vectors;

  // Smoothed kernels S(K_c) = G ⊗ K_c on the extended grid m × m (m = size + 2R), as residuals
  // from which each rank's smoothed term is subtracted in turn.
  const g = gaussianTaps(smoothingSigmaPx);
  const m = size + g.length - 1;
  const m2 = m * m;
  const resid = new Float64Array(cells * m2);
  const norm2 = new Float64Array(cells);
  {
    const colIn = new Float64Array(size);
    const colOut = new Float64Array(m);
    const rowsS = new Float64Array(size * m); // rows v smoothed along u
    for (let c = 0; c < cells; c++) {
      for (let v = 0; v < size; v++) {
        convolveFull(kernels.subarray(c * n2 + v * size, c * n2 + (v + 1) * size), size, g, colOut);
        rowsS.set(colOut, v * m);
      }
      const out = c * m2;
      for (let x = 0; x < m; x++) {
        for (let v = 0; v < size; v++) colIn[v] = rowsS[v * m + x];
        convolveFull(colIn, size, g, colOut);
        for (let y = 0; y < m; y++) resid[out + y * m + x] = colOut[y];
      }
      let s = 0;
      for (let q = 0; q < m2; q++) s += resid[out + q] * resid[out + q];
      norm2[c] = s;
    }
  }
  const proj = new Float64Array(cells * limit * size);
  const hs = new Float64Array(m);
  const gs = new Float64Array(m);
  let rank = limit;
  let maxErr = 0;
  for (let p = 0; p < limit; p++) {
    const h = vectors.subarray(p * size, (p + 1) * size);
    convolveFull(h, size, g, hs);
    maxErr = 0;
    for (let c = 0; c < cells; c++) {
      const k = c * n2;
      const out = (c * limit + p) * size;
      for (let v = 0; v < size; v++) {
        let s = 0;
        const row = k + v * size;
        for (let u = 0; u < size; u++) s += h[u] * kernels[row + u];
        proj[out + v] = s;
      }
      convolveFull(proj.subarray(out, out + size), size, g, gs);
      const base = c * m2;
      let e2 = 0;
      for (let y = 0; y < m; y++) {
        const gy = gs[y];
        const rrow = base + y * m;
        for (let x = 0; x < m; x++) {
          const v = resid[rrow + x] - hs[x] * gy;
          resid[rrow + x] = v;
          e2 += v * v;
        }
      }
      const err = norm2[c] > 0 ? Math.sqrt(e2 / norm2[c]) : 0;
      if (err > maxErr) maxErr = err;
    }
    if (maxErr <= tolerance) {
      rank = p + 1;
      break;
    }
  }
  const horizontal = vectors.slice(0, rank * size);
  const vertical = new Float64Array(cells * rank * size);
  for (let c = 0; c < cells; c++) {
    for (let p = 0; p < rank; p++) vertical.set(proj.subarray((c * limit + p) * size, (c * limit + p + 1) * size), (c * rank + p) * size);
  }
  return { size, cells, rank, horizontal, vertical, maxRelativeError: maxErr, eigenvectors: vectors.slice(0, limit * size) };
}

/**
 * The leading k eigenvectors (rows) of the symmetric n × n matrix `a` by orthogonal iteration
 * from the rows of `start`, `iterations` times, then a Rayleigh–Ritz rotation (largest first).
 */
function subspaceIteration(a: Float64Array, n: number, k: number, start: Float64Array, iterations: number): Float64Array {
  let v = start.slice(0, k * n);
  const y = new Float64Array(k * n);
  // Gram–Schmidt, each projection removed twice (once is not enough for a vector nearly in
  // the span of the others); a vector with (almost) nothing left is replaced by the unit
  // vector most orthogonal to the others.
  const project = (m: Float64Array, vi: number, i: number): number => {
    for (let pass = 0; pass < 2; pass++) {
      for (let j = 0; j < i; j++) {
        let d = 0;
        for (let t = 0; t < n; t++) d += m[vi + t] * m[j * n + t];
        for (let t = 0; t < n; t++) m[vi + t] -= d * m[j * n + t];
      }
    }
    let s = 0;
    for (let t = 0; t < n; t++) s += m[vi + t] * m[vi + t];
    return s;
  };
  const orthonormalise = (m: Float64Array): void => {
    for (let i = 0; i < k; i++) {
      const vi = i * n;
      let s0 = 0;
      for (let t = 0; t < n; t++) s0 += m[vi + t] * m[vi + t];
      let s = project(m, vi, i);
      if (!(s > 1e-20 * s0) || !(s > 0)) {
        let best = 0;
        let bestS = -1;
        for (let e = 0; e < n && bestS <= 0.5; e++) {
          m.fill(0, vi, vi + n);
          m[vi + e] = 1;
          const se = project(m, vi, i);
          if (se > bestS) {
            bestS = se;
            best = e;
          }
        }
        m.fill(0, vi, vi + n);
        m[vi + best] = 1;
        s = project(m, vi, i);
      }
      const inv = 1 / Math.sqrt(s);
      for (let t = 0; t < n; t++) m[vi + t] *= inv;
    }
  };
  const multiply = (src: Float64Array, dst: Float64Array): void => {
    for (let i = 0; i < k; i++) {
      for (let r = 0; r < n; r++) {
        let s = 0;
        for (let t = 0; t < n; t++) s += a[r * n + t] * src[i * n + t];
        dst[i * n + r] = s;
      }
    }
  };
  orthonormalise(v);
  for (let it = 0; it < iterations; it++) {
    multiply(v, y);
    orthonormalise(y);
    const t = v;
    v = y.slice();
    y.set(t);
  }
  // Rayleigh–Ritz: B = V A Vᵀ (k × k), its eigenvectors rotate V.
  multiply(v, y);
  const b = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let t = 0; t < n; t++) s += v[i * n + t] * y[j * n + t];
      b[i * k + j] = s;
    }
  }
  for (let i = 0; i < k; i++) for (let j = i + 1; j < k; j++) b[i * k + j] = b[j * k + i] = 0.5 * (b[i * k + j] + b[j * k + i]);
  const e = symmetricEigen(b, k);
  const out = new Float64Array(k * n);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const c = e.vectors[i * k + j];
      if (c === 0) continue;
      for (let t = 0; t < n; t++) out[i * n + t] += c * v[j * n + t];
    }
  }
  return out;
}

/**
 * Rescales each cell's vertical profiles so that the approximation's sum equals the sum of the
 * cell's kernel (for the variance kernel K², whose sum matters more than its shape).
 */
export function preserveSums(set: SeparableKernelSet, kernels: Float64Array): void {
  const { size, cells, rank, horizontal, vertical } = set;
  const n2 = size * size;
  const hs = new Float64Array(rank);
  for (let p = 0; p < rank; p++) for (let u = 0; u < size; u++) hs[p] += horizontal[p * size + u];
  for (let c = 0; c < cells; c++) {
    let want = 0;
    for (let i = 0; i < n2; i++) want += kernels[c * n2 + i];
    let have = 0;
    for (let p = 0; p < rank; p++) {
      let gs = 0;
      for (let v = 0; v < size; v++) gs += vertical[(c * rank + p) * size + v];
      have += hs[p] * gs;
    }
    if (!(Math.abs(have) > 0)) continue;
    const f = want / have;
    for (let i = c * rank * size; i < (c + 1) * rank * size; i++) vertical[i] *= f;
  }
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
