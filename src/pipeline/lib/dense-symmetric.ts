/**
 * Dense symmetric linear algebra for the normal equations of the pipeline's larger fits (tens to
 * a few hundred unknowns, e.g. the Alard–Lupton kernel solution) and for the eigen-decomposition
 * of small Gram matrices (separable approximations of kernels). Matrices are row-major
 * Float64Arrays holding the full symmetric matrix.
 *
 * `PivotedCholesky` factorises a symmetric positive semi-definite matrix after symmetric
 * (Jacobi) equilibration, D A D with D = diag(1/√a_ii), so every diagonal is 1, choosing the
 * largest remaining diagonal as the pivot at each step. It stops when the largest remaining
 * pivot falls below `rcond` (relative to the unit diagonal): the unknowns left are linearly
 * dependent on the others (to working precision) and are set to zero in the solution (the
 * "basic" solution). The numerical rank and the dropped unknowns are reported.
 *
 * `symmetricEigen` is the cyclic Jacobi method: slow in n³ per sweep but exact to working
 * precision and simple; meant for n up to a few dozen.
 */

export interface PivotedCholeskyOptions {
  /** Relative pivot threshold (the equilibrated diagonal is 1). Default 1e-12. */
  readonly rcond?: number;
}

export class PivotedCholesky {
  /** Order of the matrix. */
  readonly n: number;
  /** Numerical rank: the number of pivots kept. */
  readonly rank: number;
  /** perm[k] = the unknown eliminated at step k (the first `rank` are kept). */
  readonly perm: Int32Array;
  /** Equilibration: x = D y, D = diag(scale). Zero for unknowns whose diagonal is not positive. */
  readonly scale: Float64Array;
  /** Lower-triangular factor of the permuted, equilibrated matrix (rank × rank used; the upper triangle is not), row-major n × n. */
  readonly #l: Float64Array;
  readonly #work: Float64Array;

  constructor(a: ArrayLike<number>, n: number, options: PivotedCholeskyOptions = {}) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`pivoted Cholesky: bad order ${n}`);
    if (a.length < n * n) throw new RangeError(`pivoted Cholesky: array shorter than ${n} x ${n}`);
    const rcond = options.rcond ?? 1e-12;
    this.n = n;
    const scale = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const d = a[i * n + i];
      scale[i] = d > 0 && Number.isFinite(d) ? 1 / Math.sqrt(d) : 0;
    }
    // Working copy of the equilibrated matrix, in pivoted order as we go.
    const m = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      const si = scale[i];
      for (let j = 0; j < n; j++) m[i * n + j] = a[i * n + j] * si * scale[j];
    }
    const perm = new Int32Array(n);
    for (let i = 0; i < n; i++) perm[i] = i;
    let rank = 0;
    for (let k = 0; k < n; k++) {
      // Pivot: the largest remaining diagonal.
      let best = k;
      let bestV = m[k * n + k];
      for (let j = k + 1; j < n; j++) {
        const v = m[j * n + j];
        if (v > bestV) {
          bestV = v;
          best = j;
        }
      }
      if (!(bestV > rcond)) break;
      if (best !== k) {
        if (k === 0) {
          // Swap rows and columns 0 and best of the whole matrix (its two triangles may differ
          // in the last bit).
          for (let j = 0; j < n; j++) {
            const t = m[j];
            m[j] = m[best * n + j];
            m[best * n + j] = t;
          }
          for (let i = 0; i < n; i++) {
            const t = m[i * n];
            m[i * n] = m[i * n + best];
            m[i * n + best] = t;
          }
        } else {
          // The trailing block is symmetric from the first step on and only its lower triangle
          // is read: swap the factor's rows k and best, the two diagonals, and the lower-triangle
          // entries of rows and columns k and best.
          for (let j = 0; j < k; j++) {
            const t = m[k * n + j];
            m[k * n + j] = m[best * n + j];
            m[best * n + j] = t;
          }
          const d = m[k * n + k];
          m[k * n + k] = m[best * n + best];
          m[best * n + best] = d;
          for (let j = k + 1; j < best; j++) {
            const t = m[j * n + k];
            m[j * n + k] = m[best * n + j];
            m[best * n + j] = t;
          }
          for (let i = best + 1; i < n; i++) {
            const t = m[i * n + k];
            m[i * n + k] = m[i * n + best];
            m[i * n + best] = t;
          }
        }
        const t = perm[k];
        perm[k] = perm[best];
        perm[best] = t;
      }
      const lkk = Math.sqrt(bestV);
      m[k * n + k] = lkk;
      const inv = 1 / lkk;
      for (let i = k + 1; i < n; i++) m[i * n + k] *= inv;
      // Schur complement update of the trailing submatrix (lower triangle and diagonal).
      for (let i = k + 1; i < n; i++) {
        const lik = m[i * n + k];
        if (lik === 0) continue;
        const ri = i * n;
        for (let j = k + 1; j <= i; j++) m[ri + j] -= lik * m[j * n + k];
      }
      rank++;
    }
    this.rank = rank;
    this.perm = perm;
    this.scale = scale;
    this.#l = m;
    this.#work = new Float64Array(n);
  }

  /** True when unknown i was dropped (dependent on the others; set to zero in solutions). */
  isDropped(i: number): boolean {
    for (let k = 0; k < this.rank; k++) if (this.perm[k] === i) return false;
    return true;
  }

  /**
   * Solves A x = b (the basic solution when rank < n: dropped unknowns are zero). `out` may be
   * b itself.
   */
  solve(b: ArrayLike<number>, out: Float64Array = new Float64Array(this.n)): Float64Array {
    const { n, rank, perm, scale } = this;
    const l = this.#l;
    const y = this.#work;
    for (let k = 0; k < rank; k++) y[k] = b[perm[k]] * scale[perm[k]];
    // Forward: L y = Pᵀ D b.
    for (let i = 0; i < rank; i++) {
      let s = y[i];
      const ri = i * n;
      for (let j = 0; j < i; j++) s -= l[ri + j] * y[j];
      y[i] = s / l[ri + i];
    }
    // Back: Lᵀ z = y.
    for (let i = rank - 1; i >= 0; i--) {
      let s = y[i];
      for (let j = i + 1; j < rank; j++) s -= l[j * n + i] * y[j];
      y[i] = s / l[i * n + i];
    }
    out.fill(0);
    for (let k = 0; k < rank; k++) out[perm[k]] = y[k] * scale[perm[k]];
    return out;
  }

  /** (A⁻¹)_ii (of the kept block; NaN for a dropped unknown): the variance of x_i for A = JᵀWJ. */
  inverseDiagonal(i: number): number {
    if (this.isDropped(i)) return NaN;
    const e = new Float64Array(this.n);
    e[i] = 1;
    return this.solve(e)[i];
  }
}

/** Solves the symmetric positive (semi-)definite system A x = b with a pivoted Cholesky factorisation. */
export function solveSymmetricPsd(a: ArrayLike<number>, b: ArrayLike<number>, n: number, options: PivotedCholeskyOptions = {}): { x: Float64Array; rank: number; factor: PivotedCholesky } {
  const factor = new PivotedCholesky(a, n, options);
  return { x: factor.solve(b), rank: factor.rank, factor };
}

export interface SymmetricEigen {
  /** Eigenvalues, largest first. */
  readonly values: Float64Array;
  /** Eigenvectors as rows, in the order of `values`: vector k is vectors[k * n .. k * n + n). */
  readonly vectors: Float64Array;
}

/**
 * Eigen-decomposition of a symmetric n × n matrix (row-major; `a` is not modified) by cyclic
 * Jacobi rotations, until the off-diagonal norm is below 1e-15 of the Frobenius norm (at most
 * 100 sweeps). Eigenvectors are orthonormal.
 *
 * `start` (optional): orthonormal vectors as rows (e.g. the eigenvectors of a similar matrix);
 * the rotations then start from Vᵀ A V, which is nearly diagonal, and converge in a sweep or two.
 */
export function symmetricEigen(a: ArrayLike<number>, n: number, start: Float64Array | null = null): SymmetricEigen {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`symmetric eigen: bad order ${n}`);
  if (a.length < n * n) throw new RangeError(`symmetric eigen: array shorter than ${n} x ${n}`);
  if (start !== null && start.length < n * n) throw new RangeError(`symmetric eigen: start vectors shorter than ${n} x ${n}`);
  let m: Float64Array;
  // v: accumulated rotations, columns are eigenvectors.
  const v = new Float64Array(n * n);
  if (start === null) {
    m = Float64Array.from({ length: n * n }, (_, i) => a[i]);
    for (let i = 0; i < n; i++) v[i * n + i] = 1;
  } else {
    // V's columns are the start rows; m = Vᵀ A V.
    for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) v[i * n + k] = start[k * n + i];
    const av = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < n; k++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += a[i * n + j] * v[j * n + k];
        av[i * n + k] = s;
      }
    }
    m = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let k = i; k < n; k++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += v[j * n + i] * av[j * n + k];
        m[i * n + k] = s;
        m[k * n + i] = s;
      }
    }
  }
  let frob = 0;
  for (let i = 0; i < n * n; i++) frob += m[i] * m[i];
  const tol = 1e-30 * frob;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] * m[p * n + q];
    if (off <= tol) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        const app = m[p * n + p];
        const aqq = m[q * n + q];
        // Rotation angle (Numerical Recipes' stable form).
        const theta = (aqq - app) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          // Columns p and q.
          const mkp = m[k * n + p];
          const mkq = m[k * n + q];
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          // Rows p and q.
          const mpk = m[p * n + k];
          const mqk = m[q * n + k];
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => m[j * n + j] - m[i * n + i]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const i = order[k];
    values[k] = m[i * n + i];
    for (let r = 0; r < n; r++) vectors[k * n + r] = v[r * n + i];
  }
  return { values, vectors };
}
