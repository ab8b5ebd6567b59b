import { describe, expect, it } from 'vitest';
import { SeededRng } from '../testing/rng.ts';
import { PivotedCholesky, solveSymmetricPsd, symmetricEigen } from './dense-symmetric.ts';

/** A random m × n matrix (row-major) with columns of very different scales. */
function randomDesign(rng: SeededRng, m: number, n: number): Float64Array {
  const a = new Float64Array(m * n);
  for (let j = 0; j < n; j++) {
    const s = 10 ** (6 * rng.uniform() - 3);
    for (let i = 0; i < m; i++) a[i * n + j] = s * rng.normal();
  }
  return a;
}

function normalMatrix(a: Float64Array, m: number, n: number): Float64Array {
  const g = new Float64Array(n * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) g[j * n + k] += a[i * n + j] * a[i * n + k];
  return g;
}

function matVec(g: Float64Array, x: Float64Array, n: number): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) y[i] += g[i * n + j] * x[j];
  return y;
}

describe('dense-symmetric: pivoted Cholesky', () => {
  it('solves well-posed normal equations of 200 unknowns with badly scaled columns', () => {
    const rng = new SeededRng(5);
    const m = 400;
    const n = 200;
    const a = randomDesign(rng, m, n);
    const g = normalMatrix(a, m, n);
    const xTrue = Float64Array.from({ length: n }, () => rng.normal());
    const b = matVec(g, xTrue, n);
    const { x, rank } = solveSymmetricPsd(g, b, n);
    expect(rank).toBe(n);
    // Relative error in the equilibrated metric: the residual of the normal equations.
    const r = matVec(g, x, n);
    let num = 0;
    let den = 0;
    for (let i = 0; i < n; i++) {
      num += (r[i] - b[i]) ** 2;
      den += b[i] ** 2;
    }
    expect(Math.sqrt(num / den)).toBeLessThan(1e-9);
  });

  it('reports the rank of a degenerate system and returns a basic solution that fits', () => {
    const rng = new SeededRng(6);
    const m = 50;
    const n = 8;
    const a = randomDesign(rng, m, n);
    // Column 5 = 2·col 1 − col 3; column 7 = col 0 (exactly dependent).
    for (let i = 0; i < m; i++) {
      a[i * n + 5] = 2 * a[i * n + 1] - a[i * n + 3];
      a[i * n + 7] = a[i * n + 0];
    }
    const g = normalMatrix(a, m, n);
    const y = Float64Array.from({ length: m }, () => rng.normal());
    const b = new Float64Array(n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) b[j] += a[i * n + j] * y[i];
    const f = new PivotedCholesky(g, n, { rcond: 1e-10 });
    expect(f.rank).toBe(6);
    const x = f.solve(b);
    let dropped = 0;
    for (let j = 0; j < n; j++) if (f.isDropped(j)) dropped++;
    expect(dropped).toBe(2);
    // The normal equations hold (the fit is a least-squares solution).
    const r = matVec(g, x, n);
    for (let j = 0; j < n; j++) expect(Math.abs(r[j] - b[j])).toBeLessThan(1e-8 * Math.sqrt(g[j * n + j]) * 100);
    expect(f.inverseDiagonal(0) > 0 || f.isDropped(0)).toBe(true);
  });

  it('factorises as the full-matrix form (whole rows and columns swapped, the trailing block kept symmetric), to the bit', () => {
    // The textbook form: equilibrate, pivot on the largest remaining diagonal, swap whole rows and
    // columns, update the lower triangle and mirror it.
    const reference = (a: Float64Array, n: number, rcond: number): { l: Float64Array; perm: Int32Array; rank: number; scale: Float64Array } => {
      const scale = Float64Array.from({ length: n }, (_, i) => (a[i * n + i] > 0 && Number.isFinite(a[i * n + i]) ? 1 / Math.sqrt(a[i * n + i]) : 0));
      const m = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m[i * n + j] = a[i * n + j] * scale[i] * scale[j];
      const perm = Int32Array.from({ length: n }, (_, i) => i);
      let rank = 0;
      for (let k = 0; k < n; k++) {
        let best = k;
        for (let j = k + 1; j < n; j++) if (m[j * n + j] > m[best * n + best]) best = j;
        const piv = m[best * n + best];
        if (!(piv > rcond)) break;
        for (let j = 0; j < n; j++) [m[k * n + j], m[best * n + j]] = [m[best * n + j], m[k * n + j]];
        for (let i = 0; i < n; i++) [m[i * n + k], m[i * n + best]] = [m[i * n + best], m[i * n + k]];
        [perm[k], perm[best]] = [perm[best], perm[k]];
        m[k * n + k] = Math.sqrt(piv);
        const inv = 1 / m[k * n + k];
        for (let i = k + 1; i < n; i++) m[i * n + k] *= inv;
        for (let i = k + 1; i < n; i++) for (let j = k + 1; j <= i; j++) if (m[i * n + k] !== 0) m[i * n + j] -= m[i * n + k] * m[j * n + k];
        for (let i = k + 1; i < n; i++) for (let j = i + 1; j < n; j++) m[i * n + j] = m[j * n + i];
        rank++;
      }
      return { l: m, perm, rank, scale };
    };
    const rng = new SeededRng(8);
    for (const [m, n, rcond] of [
      [30, 12, 1e-12],
      [60, 40, 1e-12],
      [25, 33, 1e-10],
    ] as const) {
      const a = randomDesign(rng, m, n);
      if (n > 20) for (let i = 0; i < m; i++) a[i * n + 17] = a[i * n + 3] - a[i * n + 9];
      const g = normalMatrix(a, m, n);
      // Triangles that differ in the last bit, as sums accumulated in another order do.
      for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) if (rng.uniform() < 0.5) g[i * n + j] *= 1 + 2 ** -52;
      const f = new PivotedCholesky(g, n, { rcond });
      const ref = reference(g, n, rcond);
      expect(f.rank).toBe(ref.rank);
      expect(Array.from(f.perm)).toEqual(Array.from(ref.perm));
      // The reference's solution: forward and back substitution on its factor.
      const b = Float64Array.from({ length: n }, () => rng.normal());
      const y = new Float64Array(n);
      for (let k = 0; k < ref.rank; k++) y[k] = b[ref.perm[k]] * ref.scale[ref.perm[k]];
      for (let i = 0; i < ref.rank; i++) {
        let s = y[i];
        for (let j = 0; j < i; j++) s -= ref.l[i * n + j] * y[j];
        y[i] = s / ref.l[i * n + i];
      }
      for (let i = ref.rank - 1; i >= 0; i--) {
        let s = y[i];
        for (let j = i + 1; j < ref.rank; j++) s -= ref.l[j * n + i] * y[j];
        y[i] = s / ref.l[i * n + i];
      }
      const want = new Float64Array(n);
      for (let k = 0; k < ref.rank; k++) want[ref.perm[k]] = y[k] * ref.scale[ref.perm[k]];
      const x = f.solve(b);
      for (let i = 0; i < n; i++) expect(x[i]).toBe(want[i]);
    }
  });

  it('gives the inverse diagonal (solution variances)', () => {
    const g = Float64Array.from([4, 2, 0, 2, 5, 1, 0, 1, 3]);
    const f = new PivotedCholesky(g, 3);
    // Inverse of [[4,2,0],[2,5,1],[0,1,3]]: det = 4·14 − 2·6 = 44; (A⁻¹)_00 = 14/44, _11 = 12/44, _22 = 16/44.
    expect(f.inverseDiagonal(0)).toBeCloseTo(14 / 44, 12);
    expect(f.inverseDiagonal(1)).toBeCloseTo(12 / 44, 12);
    expect(f.inverseDiagonal(2)).toBeCloseTo(16 / 44, 12);
    const zero = new PivotedCholesky(new Float64Array(4), 2);
    expect(zero.rank).toBe(0);
    expect(Array.from(zero.solve([1, 1]))).toEqual([0, 0]);
  });
});

describe('dense-symmetric: Jacobi eigen-decomposition', () => {
  it('decomposes a random symmetric matrix: A v = λ v, orthonormal, sorted', () => {
    const rng = new SeededRng(7);
    const n = 19;
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        const v = rng.normal();
        a[i * n + j] = v;
        a[j * n + i] = v;
      }
    }
    const { values, vectors } = symmetricEigen(a, n);
    for (let k = 0; k < n; k++) {
      if (k > 0) expect(values[k]).toBeLessThanOrEqual(values[k - 1]);
      const v = vectors.subarray(k * n, k * n + n);
      const av = matVec(a, Float64Array.from(v), n);
      for (let i = 0; i < n; i++) expect(av[i]).toBeCloseTo(values[k] * v[i], 10);
      for (let l = 0; l <= k; l++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += v[i] * vectors[l * n + i];
        expect(dot).toBeCloseTo(l === k ? 1 : 0, 12);
      }
    }
  });

  it('converges from start vectors of a nearby matrix to the same decomposition', () => {
    const rng = new SeededRng(8);
    const n = 12;
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        const v = rng.normal() + (i === j ? 3 * i : 0);
        a[i * n + j] = v;
        a[j * n + i] = v;
      }
    }
    const b = a.slice();
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) b[i * n + j] += 0.01 * Math.sin(i + j);
    const ea = symmetricEigen(a, n);
    const eb = symmetricEigen(b, n, ea.vectors);
    const ref = symmetricEigen(b, n);
    for (let k = 0; k < n; k++) {
      expect(eb.values[k]).toBeCloseTo(ref.values[k], 10);
      let dot = 0;
      for (let i = 0; i < n; i++) dot += eb.vectors[k * n + i] * ref.vectors[k * n + i];
      expect(Math.abs(dot)).toBeCloseTo(1, 8);
    }
  });

  it('finds the rank of a Gram matrix of rank 2', () => {
    const n = 7;
    const u = [1, 2, 3, 4, 3, 2, 1];
    const w = [0, 1, 0, -1, 0, 1, 0];
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = u[i] * u[j] + 0.5 * w[i] * w[j];
    const { values } = symmetricEigen(a, n);
    expect(values[0]).toBeCloseTo(44, 10);
    expect(values[1]).toBeCloseTo(1.5, 10);
    for (let k = 2; k < n; k++) expect(Math.abs(values[k])).toBeLessThan(1e-12);
  });
});
