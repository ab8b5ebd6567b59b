import { describe, expect, it } from 'vitest';
import { PivotedCholesky } from '../pipeline/lib/dense-symmetric.ts';
import { makeConvolutionPlan } from '../pipeline/stages/psf-matching/convolution-plan.ts';
import { makeAlBasis, type AlBasis } from '../pipeline/stages/psf-matching/kernel.ts';
import { stampConvolutions } from '../pipeline/stages/psf-matching/psf-matching.ts';
import { matchingKernels } from './matching.ts';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

/** Relative difference of two values against a scale. */
const rel = (a: number, b: number, scale: number): number => Math.abs(a - b) / scale;

interface StampRun {
  design: Float64Array;
  m: Float64Array;
  b: Float64Array;
  swp: number;
}

/** stampNormal on the stamp of half-width h at (xc, yc) of img (W wide), weights w and targets t per stamp pixel (row-major, sw × sw). */
function runStampNormal(basis: AlBasis, img: Float32Array, W: number, xc: number, yc: number, h: number, w: Float64Array, t: Float64Array): StampRun {
  const { exports: k, arena } = matchingKernels();
  const r = basis.halfWidthPx;
  const sw = 2 * h + 1;
  const swp = sw + (sw & 1);
  const npixp = sw * swp;
  const ext = sw + 2 * r;
  const cs = swp + 2 * r;
  const nc = basis.count + 1;
  const plan = makeConvolutionPlan(basis);
  const [cut, hbuf, design, wcol, weight, target, prof, hplan, vplan, rawSums, norms, m, b] = arena.layout([
    ['f64', ext * cs],
    ['f64', basis.sigmasPx.length * basis.maxPowers * ext * swp],
    ['f64', nc * npixp],
    ['f64', 2 * npixp],
    ['f64', npixp],
    ['f64', npixp],
    ['f64', basis.profiles.length],
    ['i32', plan.horizontal.length],
    ['i32', plan.vertical.length],
    ['f64', basis.count],
    ['f64', basis.count],
    ['f64', nc * nc],
    ['f64', nc],
  ]);
  // Garbage where the kernel must not look, zeros where it may (the cut-out's extra columns).
  design.view.fill(NaN);
  hbuf.view.fill(NaN);
  cut.view.fill(0);
  weight.view.fill(0);
  target.view.fill(0);
  for (let j = 0; j < ext; j++) for (let i = 0; i < ext; i++) cut.view[j * cs + i] = img[(yc - h - r + j) * W + xc - h - r + i];
  for (let j = 0; j < sw; j++) {
    for (let i = 0; i < sw; i++) {
      weight.view[j * swp + i] = w[j * sw + i];
      target.view[j * swp + i] = t[j * sw + i];
    }
  }
  prof.view.set(basis.profiles);
  hplan.view.set(plan.horizontal);
  vplan.view.set(plan.vertical);
  rawSums.view.set(basis.rawSums);
  norms.view.set(basis.norms);
  k.stampNormal(
    cut.ptr,
    cs,
    sw,
    swp,
    r,
    prof.ptr,
    basis.size,
    hplan.ptr,
    plan.horizontal.length >> 3,
    vplan.ptr,
    plan.vertical.length >> 3,
    hbuf.ptr,
    basis.count,
    rawSums.ptr,
    norms.ptr,
    weight.ptr,
    target.ptr,
    design.ptr,
    wcol.ptr,
    m.ptr,
    b.ptr,
  );
  return { design: design.view.slice(), m: m.view.slice(), b: b.view.slice(), swp };
}

describe('PSF-matching stamp kernel', () => {
  const cases: Array<{ r: number; sigmas: number[]; degrees: number[]; h: number }> = [
    { r: 6, sigmas: [0.7, 0.92, 1.85], degrees: [4, 3, 2], h: 10 },
    { r: 4, sigmas: [0.8, 1.6], degrees: [3, 1], h: 5 },
    { r: 9, sigmas: [0.75, 1.5, 3], degrees: [4, 3, 2], h: 8 },
    { r: 3, sigmas: [0.3], degrees: [0], h: 2 },
    { r: 5, sigmas: [0.5, 1, 2], degrees: [5, 2, 1], h: 7 },
  ];

  it('convolves like the plain passes (stampConvolutions) and a direct 2-D convolution, renormalised, background column 1', () => {
    const rnd = lcg(3);
    for (const { r, sigmas, degrees, h } of cases) {
      const basis = makeAlBasis(r, sigmas, degrees);
      const W = 2 * (h + r) + 9;
      const H = 2 * (h + r) + 5;
      const img = Float32Array.from({ length: W * H }, () => 100 + 50 * rnd());
      const xc = h + r + 4;
      const yc = h + r + 2;
      const sw = 2 * h + 1;
      const npix = sw * sw;
      const ones = new Float64Array(npix).fill(1);
      const got = runStampNormal(basis, img, W, xc, yc, h, ones, ones);
      const hbuf = new Float64Array(sigmas.length * basis.maxPowers * (sw + 2 * r) * sw);
      const ref = new Float64Array(npix * (basis.count + 1));
      stampConvolutions(img, W, xc, yc, h, basis, hbuf, ref);
      const n2 = basis.size ** 2;
      for (let i = 0; i <= basis.count; i++) {
        let scale = 0;
        for (let p = 0; p < npix; p++) scale = Math.max(scale, Math.abs(ref[i * npix + p]));
        for (let y = 0; y < sw; y++) {
          for (let x = 0; x < sw; x++) {
            const v = got.design[i * sw * got.swp + y * got.swp + x];
            expect(rel(v, ref[i * npix + y * sw + x], scale)).toBeLessThan(1e-12);
            if (i === basis.count) {
              expect(v).toBe(1);
              continue;
            }
            if ((x + 2 * y) % 5 !== 0) continue;
            let s = 0;
            for (let v2 = -r; v2 <= r; v2++) {
              for (let u = -r; u <= r; u++) s += basis.images[i * n2 + (v2 + r) * basis.size + u + r] * img[(yc - h + y - v2) * W + xc - h + x - u];
            }
            expect(rel(v, s, scale)).toBeLessThan(1e-11);
          }
        }
        // The extra column holds finite values.
        if (sw < got.swp) for (let y = 0; y < sw; y++) expect(Number.isFinite(got.design[i * sw * got.swp + y * got.swp + sw])).toBe(true);
      }
    }
  });

  it('forms M = DᵀWD (both triangles, symmetric) and b = DᵀWy over the stamp pixels only', () => {
    const rnd = lcg(4);
    for (const { r, sigmas, degrees, h } of cases) {
      const basis = makeAlBasis(r, sigmas, degrees);
      const W = 2 * (h + r) + 3;
      const img = Float32Array.from({ length: W * W }, () => 10 + 5 * rnd());
      const c = h + r + 1;
      const sw = 2 * h + 1;
      const npix = sw * sw;
      const w = Float64Array.from({ length: npix }, () => 0.5 + Math.abs(rnd()));
      const t = Float64Array.from({ length: npix }, (_, p) => w[p] * (20 * rnd()));
      const got = runStampNormal(basis, img, W, c, c, h, w, t);
      const nc = basis.count + 1;
      const col = (i: number, p: number): number => got.design[i * sw * got.swp + Math.floor(p / sw) * got.swp + (p % sw)];
      for (let i = 0; i < nc; i++) {
        let bi = 0;
        let bs = 0;
        for (let p = 0; p < npix; p++) {
          bi += col(i, p) * t[p];
          bs += Math.abs(col(i, p) * t[p]);
        }
        expect(rel(got.b[i], bi, bs)).toBeLessThan(1e-13);
        for (let k = 0; k < nc; k++) {
          let s = 0;
          let sa = 0;
          for (let p = 0; p < npix; p++) {
            s += w[p] * col(i, p) * col(k, p);
            sa += Math.abs(w[p] * col(i, p) * col(k, p));
          }
          expect(rel(got.m[i * nc + k], s, sa)).toBeLessThan(1e-13);
          expect(got.m[i * nc + k]).toBe(got.m[k * nc + i]);
        }
      }
    }
  });

  it('plans every basis function once, pairing factors of one parity', () => {
    const basis = makeAlBasis(6, [0.7, 0.92, 1.85], [4, 3, 2]);
    const { horizontal, vertical } = makeConvolutionPlan(basis);
    const rows = new Set<number>();
    for (let o = 0; o < horizontal.length; o += 8) {
      rows.add(horizontal[o + 1]);
      if (horizontal[o + 7]) rows.add(horizontal[o + 3]);
    }
    expect(rows.size).toBe(5 + 4 + 3);
    const done = new Array<number>(basis.count).fill(0);
    for (let o = 0; o < vertical.length; o += 8) {
      const [src, d0, c0, d1, c1, odd, R, two] = vertical.subarray(o, o + 8);
      for (const [d, f] of two ? [[d0, c0], [d1, c1]] : [[d0, c0]]) {
        done[d]++;
        expect(src).toBe(basis.gauss[d] * basis.maxPowers + basis.powU[d]);
        expect(f).toBe(basis.gauss[d] * basis.maxPowers + basis.powV[d]);
        expect(basis.powV[d] & 1).toBe(odd);
      }
      expect(R).toBeLessThanOrEqual(basis.halfWidthPx);
    }
    expect(done.every((n) => n === 1)).toBe(true);
  });
});

/** A random symmetric positive semi-definite n × n matrix of rank ≤ k, both triangles rounded independently. */
function randomGram(rnd: () => number, n: number, k: number, dependent: boolean): Float64Array {
  const J = Array.from({ length: k * n }, () => rnd() * Math.exp(2 * rnd()));
  if (dependent) for (let i = 0; i < k; i++) J[i * n + n - 1] = 2 * J[i * n];
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let q = 0; q < k; q++) s += J[q * n + i] * J[q * n + j];
      a[i * n + j] = s;
      a[j * n + i] = s;
    }
  }
  return a;
}

function quadChi2(m: Float64Array, b: Float64Array, yy: number, a: Float64Array, n: number): number {
  let s = yy;
  for (let i = 0; i < n; i++) {
    let mi = 0;
    for (let k = 0; k < n; k++) mi += m[i * n + k] * a[k];
    s += a[i] * (mi - 2 * b[i]);
  }
  return Math.max(0, s);
}

describe('PSF-matching fits', () => {
  it('localFits equals PivotedCholesky to the bit: solution, error of a_0, dropped flag', () => {
    const { exports: k, arena } = matchingKernels();
    const rnd = lcg(5);
    for (const nc of [1, 2, 5, 17, 32]) {
      const nStamps = 12;
      const npix = 50;
      const [mats, rhs, yWy, scratch, out] = arena.layout([
        ['f64', nStamps * nc * nc],
        ['f64', nStamps * nc],
        ['f64', nStamps],
        ['f64', nc * nc + 6 * nc],
        ['f64', 3 * nStamps],
      ]);
      const ms: Float64Array[] = [];
      for (let s = 0; s < nStamps; s++) {
        const m = randomGram(rnd, nc, s % 4 === 3 ? Math.max(1, nc - 2) : nc + 3, s % 5 === 1 && nc > 1);
        if (s === 7) m.fill(0, 0, nc); // unknown 0 carries nothing: dropped
        if (s === 7) for (let i = 0; i < nc; i++) m[i * nc] = 0;
        ms.push(m);
        mats.view.set(m, s * nc * nc);
        for (let i = 0; i < nc; i++) rhs.view[s * nc + i] = 10 * rnd();
        yWy.view[s] = 1000 * Math.abs(rnd());
      }
      k.localFits(mats.ptr, rhs.ptr, yWy.ptr, nStamps, nc, npix, 1e-12, scratch.ptr, out.ptr);
      for (let s = 0; s < nStamps; s++) {
        const f = new PivotedCholesky(ms[s], nc, { rcond: 1e-12 });
        const b = rhs.view.slice(s * nc, (s + 1) * nc);
        const a = f.solve(b);
        const chi2 = quadChi2(ms[s], b, yWy.view[s], a, nc);
        const dof = Math.max(1, npix - f.rank);
        expect(out.view[3 * s]).toBe(a[0]);
        expect(out.view[3 * s + 1]).toStrictEqual(Math.sqrt(f.inverseDiagonal(0) * Math.max(1, chi2 / dof)));
        expect(out.view[3 * s + 2]).toBe(f.isDropped(0) ? 1 : 0);
      }
    }
  });

  it('spatialSolve equals PivotedCholesky to the bit, for matrices whose triangles differ in the last bit too', () => {
    const { exports: k, arena } = matchingKernels();
    const rnd = lcg(6);
    for (const n of [1, 3, 10, 40, 94]) {
      for (const rankDeficient of [false, true]) {
        const a = randomGram(rnd, n, rankDeficient ? Math.max(1, n - 3) : n + 5, rankDeficient && n > 1);
        for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) a[i * n + j] *= 1 + 2 ** -52 * Math.sign(rnd());
        const [G, g, scratch, sol, out] = arena.layout([
          ['f64', n * n],
          ['f64', n],
          ['f64', n * n + 5 * n],
          ['f64', n],
          ['f64', 2],
        ]);
        G.view.set(a);
        for (let i = 0; i < n; i++) g.view[i] = rnd();
        for (const k0 of [0, n - 1]) {
          const rank = k.spatialSolve(G.ptr, n, 1e-12, g.ptr, k0, scratch.ptr, sol.ptr, out.ptr);
          const f = new PivotedCholesky(a, n, { rcond: 1e-12 });
          expect(rank).toBe(f.rank);
          const x = f.solve(g.view);
          for (let i = 0; i < n; i++) expect(sol.view[i]).toBe(x[i]);
          expect(out.view[0]).toBe(f.isDropped(k0) ? 1 : 0);
          expect(out.view[1]).toStrictEqual(f.inverseDiagonal(k0));
        }
      }
    }
  });

  it('spatialNormal and spatialChi2 equal the per-stamp expansion of the local normal equations', () => {
    const { exports: k, arena } = matchingKernels();
    const rnd = lcg(7);
    for (const [nb, nT, nBg, constant] of [
      [31, 3, 3, true],
      [31, 3, 3, false],
      [6, 1, 0, false],
      [5, 6, 1, true],
      [4, 3, 6, true],
    ] as const) {
      const nc = nb + 1;
      const nTT = nT + nBg;
      const nStamps = 9;
      const unknownOf = new Int32Array(nb * nT).fill(-1);
      let nU = 0;
      for (let i = 0; i < nb; i++) for (let j = 0; j < nT; j++) if (!(i === 0 && constant && j > 0)) unknownOf[i * nT + j] = nU++;
      const bg0 = nU;
      nU += nBg;
      const [mats, rhs, yWy, active, terms, unk, acc, G, g, sol, a, chi2] = arena.layout([
        ['f64', nStamps * nc * nc],
        ['f64', nStamps * nc],
        ['f64', nStamps],
        ['u8', nStamps],
        ['f64', nStamps * nTT],
        ['i32', nb * nT],
        ['f64', k.spatialScratch(nc, nT, nBg)],
        ['f64', nU * nU],
        ['f64', nU],
        ['f64', nU],
        ['f64', nc],
        ['f64', nStamps],
      ]);
      unk.view.set(unknownOf);
      for (let s = 0; s < nStamps; s++) {
        mats.view.set(randomGram(rnd, nc, nc + 2, false), s * nc * nc);
        for (let i = 0; i < nc; i++) rhs.view[s * nc + i] = rnd();
        for (let i = 0; i < nTT; i++) terms.view[s * nTT + i] = i === 0 ? 1 : rnd();
        yWy.view[s] = 100 + rnd();
        active.view[s] = s % 4 === 2 ? 0 : 1;
      }
      // Unknowns and weights of local column c of stamp s.
      const expand = (s: number, c: number): Array<[number, number]> => {
        const t = terms.view.subarray(s * nTT, (s + 1) * nTT);
        if (c === nb) return Array.from({ length: nBg }, (_, q) => [bg0 + q, t[nT + q]]);
        const e: Array<[number, number]> = [];
        for (let j = 0; j < nT; j++) if (unknownOf[c * nT + j] >= 0) e.push([unknownOf[c * nT + j], t[j]]);
        return e;
      };
      const refG = new Float64Array(nU * nU);
      const absG = new Float64Array(nU * nU);
      const refg = new Float64Array(nU);
      for (let s = 0; s < nStamps; s++) {
        if (!active.view[s]) continue;
        for (let c1 = 0; c1 < nc; c1++) {
          for (const [u1, w1] of expand(s, c1)) {
            refg[u1] += w1 * rhs.view[s * nc + c1];
            for (let c2 = 0; c2 < nc; c2++) {
              for (const [u2, w2] of expand(s, c2)) {
                const v = mats.view[s * nc * nc + c1 * nc + c2] * w1 * w2;
                refG[u1 * nU + u2] += v;
                absG[u1 * nU + u2] += Math.abs(v);
              }
            }
          }
        }
      }
      G.view.fill(NaN);
      g.view.fill(NaN);
      k.spatialNormal(mats.ptr, rhs.ptr, nStamps, active.ptr, nc, terms.ptr, nT, nBg, unk.ptr, bg0, acc.ptr, G.ptr, g.ptr, nU);
      for (let i = 0; i < nU * nU; i++) {
        expect(Math.abs(G.view[i] - refG[i])).toBeLessThanOrEqual(1e-13 * absG[i]);
        expect(G.view[i]).toBe(G.view[(i % nU) * nU + Math.floor(i / nU)]);
      }
      for (let i = 0; i < nU; i++) expect(g.view[i]).toBeCloseTo(refg[i], 12);

      for (let i = 0; i < nU; i++) sol.view[i] = rnd();
      k.spatialChi2(mats.ptr, rhs.ptr, yWy.ptr, nStamps, nc, terms.ptr, nT, nBg, unk.ptr, bg0, sol.ptr, a.ptr, chi2.ptr);
      for (let s = 0; s < nStamps; s++) {
        const local = new Float64Array(nc);
        for (let c = 0; c < nc; c++) for (const [u, w] of expand(s, c)) local[c] += w * sol.view[u];
        const m = mats.view.slice(s * nc * nc, (s + 1) * nc * nc);
        const want = quadChi2(m, rhs.view.slice(s * nc, (s + 1) * nc), yWy.view[s], local, nc);
        expect(chi2.view[s]).toBe(want);
      }
    }
  });
});
