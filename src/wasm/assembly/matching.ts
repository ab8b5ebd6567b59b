// The numeric loops of PSF matching (pipeline/stages/psf-matching), in float64: the
// convolutions of a star stamp with the Alard–Lupton basis and its normal equations (two pixels
// per SIMD operation); the stamps' own fits and the spatial fit's solution (the pivoted Cholesky
// factorisation of pipeline/lib/dense-symmetric.ts, operation for operation); the spatial fit's
// normal equations and per-stamp χ² from the stamps' normal equations. Pointers are byte offsets
// into this module's memory; all values are float64 unless said otherwise, indices int32.
//
// Stamp layout: a stamp has sw × sw pixels stored with a row stride swp = sw rounded up to even
// (npixp = sw · swp values); the cut-out of the convolved image around it has ext = sw + 2r rows
// of stride cs = swp + 2r (its columns ext … cs − 1 zero). The extra column of a stamp holds
// finite values that the weights (zero there) leave out of every sum.
//
// A 1-D factor f of the basis (a Gaussian g_a times t^p) has its taps at prof[f·size + r + t],
// t ∈ [−r, r]; being even or odd in t, its correlation folds into pairs:
//
//   out(x) = c_0 · s(x) + Σ_{u=1..R} c_u · (s(x − u) ± s(x + u))   (+ for even, − for odd p; no
//   centre term for odd p), c_u = prof[f·size + r + u].
//
// A plan (int32, 8 per operation) lists the filter operations: [src, dst0, coef0, dst1, coef1,
// odd, R, two]: the factors coef0 (and coef1 when `two`) of the same parity applied to the
// same source, out of R taps each side.
//   Horizontal operations: the cut-out's rows into the row passes hb_f (ext rows × swp, slot
//     f = dst at hbuf + f · ext · swp).
//   Vertical operations: the row pass at slot src along the columns into the raw basis
//     convolution dst (sw rows × swp at design + dst · npixp).

// @ts-ignore: decorator
@inline
function f64at(p: usize, i: i32): f64 {
  return load<f64>(p + (<usize>i << 3));
}

// @ts-ignore: decorator
@inline
function setf64(p: usize, i: i32, v: f64): void {
  store<f64>(p + (<usize>i << 3), v);
}

// @ts-ignore: decorator
@inline
function i32at(p: usize, i: i32): i32 {
  return load<i32>(p + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline
function hsum(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

// The folded correlation of `rows` lines of a source (line k's first centre at src + k·srcStride
// values, the taps `step` values apart) for `pairs` pairs of adjacent centres, two pairs per
// step: one factor (c0 → d0) or two (c1 → d1) sharing the loads. `sign`: the sign bit in odd
// operations (s(x − u) − s(x + u)).
// @ts-ignore: decorator
@inline
function bankRows(src: usize, srcStride: i32, step: i32, rows: i32, pairs: i32, c0: usize, c1: usize, R: i32, odd: bool, two: bool, d0: usize, d1: usize, dstStride: i32): void {
  const sign = odd ? i64x2.splat(<i64>0x8000000000000000) : i64x2.splat(0);
  const stepB = <usize>step << 3;
  const k00 = f64x2.splat(odd ? 0 : load<f64>(c0));
  const k10 = f64x2.splat(odd ? 0 : load<f64>(c1));
  for (let row = 0; row < rows; row++) {
    const s = src + ((<usize>row * <usize>srcStride) << 3);
    const q0 = d0 + ((<usize>row * <usize>dstStride) << 3);
    const q1 = d1 + ((<usize>row * <usize>dstStride) << 3);
    let xp = 0;
    for (; xp + 2 <= pairs; xp += 2) {
      const p = s + (<usize>xp << 4);
      const ca = v128.load(p);
      const cb = v128.load(p, 16);
      let a0 = f64x2.mul(ca, k00);
      let b0 = f64x2.mul(cb, k00);
      let a1 = two ? f64x2.mul(ca, k10) : a0;
      let b1 = two ? f64x2.mul(cb, k10) : b0;
      let lo = p - stepB;
      let hi = p + stepB;
      for (let u = 1; u <= R; u++) {
        const ea = f64x2.add(v128.load(lo), v128.xor(v128.load(hi), sign));
        const eb = f64x2.add(v128.load(lo, 16), v128.xor(v128.load(hi, 16), sign));
        const w0 = v128.load64_splat(c0 + (<usize>u << 3));
        a0 = f64x2.add(a0, f64x2.mul(ea, w0));
        b0 = f64x2.add(b0, f64x2.mul(eb, w0));
        if (two) {
          const w1 = v128.load64_splat(c1 + (<usize>u << 3));
          a1 = f64x2.add(a1, f64x2.mul(ea, w1));
          b1 = f64x2.add(b1, f64x2.mul(eb, w1));
        }
        lo -= stepB;
        hi += stepB;
      }
      v128.store(q0 + (<usize>xp << 4), a0);
      v128.store(q0 + (<usize>xp << 4), b0, 16);
      if (two) {
        v128.store(q1 + (<usize>xp << 4), a1);
        v128.store(q1 + (<usize>xp << 4), b1, 16);
      }
    }
    if (xp < pairs) {
      const p = s + (<usize>xp << 4);
      const ca = v128.load(p);
      let a0 = f64x2.mul(ca, k00);
      let a1 = two ? f64x2.mul(ca, k10) : a0;
      let lo = p - stepB;
      let hi = p + stepB;
      for (let u = 1; u <= R; u++) {
        const ea = f64x2.add(v128.load(lo), v128.xor(v128.load(hi), sign));
        a0 = f64x2.add(a0, f64x2.mul(ea, v128.load64_splat(c0 + (<usize>u << 3))));
        if (two) a1 = f64x2.add(a1, f64x2.mul(ea, v128.load64_splat(c1 + (<usize>u << 3))));
        lo -= stepB;
        hi += stepB;
      }
      v128.store(q0 + (<usize>xp << 4), a0);
      if (two) v128.store(q1 + (<usize>xp << 4), a1);
    }
  }
}

function bank(src: usize, srcStride: i32, step: i32, rows: i32, pairs: i32, c0: usize, c1: usize, R: i32, odd: bool, two: bool, d0: usize, d1: usize, dstStride: i32): void {
  if (two) bankRows(src, srcStride, step, rows, pairs, c0, c1, R, odd, true, d0, d1, dstStride);
  else bankRows(src, srcStride, step, rows, pairs, c0, c0, R, odd, false, d0, d0, dstStride);
}

// out = w ⊙ d (n values, n even) and b[i] = Σ d · target.
// @ts-ignore: decorator
@inline
function weighted(d: usize, weight: usize, target: usize, out: usize, n: i32, b: usize, i: i32): void {
  let bs = f64x2.splat(0);
  for (let p = 0; p < n; p += 2) {
    const q = <usize>p << 3;
    const v = v128.load(d + q);
    v128.store(out + q, f64x2.mul(v128.load(weight + q), v));
    bs = f64x2.add(bs, f64x2.mul(v, v128.load(target + q)));
  }
  setf64(b, i, hsum(bs));
}

// Σ a · b over n values (n even), two sums.
function dot(a: usize, b: usize, n: i32): f64 {
  let s = f64x2.splat(0);
  for (let p = 0; p < n; p += 2) {
    const q = <usize>p << 3;
    s = f64x2.add(s, f64x2.mul(v128.load(a + q), v128.load(b + q)));
  }
  return hsum(s);
}

// One stamp's basis convolutions and normal equations.
//   cut: the cut-out (ext rows, stride cs, float64); hbuf: nF · ext · swp scratch; prof: the
//   factors (size = 2r + 1 taps each); hplan (nh operations), vplan (nv): the plans above.
//   Renormalisation (psf-matching/kernel.ts): b_0 = B_0 · norms[0], b_i = (B_i − rawSums[i] ·
//   b_0) · (1 / norms[i]) (no subtraction where rawSums[i] = 0); column `count` of the design is
//   1 (the background). design: (count + 1) · npixp values.
//   weight, target: w and w·y per stamp pixel (npixp, zero in the extra column). wcol: 2 · npixp
//   scratch.
//   Out: m (nc × nc, nc = count + 1, both triangles) = Dᵀ W D, b (nc) = Dᵀ W y.
export function stampNormal(
  cut: usize,
  cs: i32,
  sw: i32,
  swp: i32,
  r: i32,
  prof: usize,
  size: i32,
  hplan: usize,
  nh: i32,
  vplan: usize,
  nv: i32,
  hbuf: usize,
  count: i32,
  rawSums: usize,
  norms: usize,
  weight: usize,
  target: usize,
  design: usize,
  wcol: usize,
  m: usize,
  b: usize,
): void {
  const ext = sw + 2 * r;
  const pairs = swp >> 1;
  const slot = <usize>(ext * swp) << 3;
  const npixp = sw * swp;
  const col = <usize>npixp << 3;
  for (let o = 0; o < nh; o++) {
    const op = hplan + (<usize>o << 5);
    const c0 = prof + ((<usize>(i32at(op, 2) * size + r)) << 3);
    const c1 = prof + ((<usize>(i32at(op, 4) * size + r)) << 3);
    bank(cut + (<usize>r << 3), cs, 1, ext, pairs, c0, c1, i32at(op, 6), i32at(op, 5) != 0, i32at(op, 7) != 0, hbuf + <usize>i32at(op, 1) * slot, hbuf + <usize>i32at(op, 3) * slot, swp);
  }
  // The vertical passes run over the stamp's rows as one line of npixp values (the row pass and
  // the design share the row stride swp), the taps swp values apart.
  for (let o = 0; o < nv; o++) {
    const op = vplan + (<usize>o << 5);
    const c0 = prof + ((<usize>(i32at(op, 2) * size + r)) << 3);
    const c1 = prof + ((<usize>(i32at(op, 4) * size + r)) << 3);
    const src = hbuf + <usize>i32at(op, 0) * slot + ((<usize>(r * swp)) << 3);
    bank(src, 0, swp, 1, npixp >> 1, c0, c1, i32at(op, 6), i32at(op, 5) != 0, i32at(op, 7) != 0, design + <usize>i32at(op, 1) * col, design + <usize>i32at(op, 3) * col, swp);
  }
  // Renormalisation and the background column.
  const n0 = f64x2.splat(f64at(norms, 0));
  for (let p = 0; p < npixp; p += 2) v128.store(design + (<usize>p << 3), f64x2.mul(v128.load(design + (<usize>p << 3)), n0));
  for (let i = 1; i < count; i++) {
    const ci = design + <usize>i * col;
    const si = f64at(rawSums, i);
    const inv = f64x2.splat(1 / f64at(norms, i));
    if (si == 0) {
      for (let p = 0; p < npixp; p += 2) v128.store(ci + (<usize>p << 3), f64x2.mul(v128.load(ci + (<usize>p << 3)), inv));
    } else {
      const sv = f64x2.splat(si);
      for (let p = 0; p < npixp; p += 2) {
        const q = <usize>p << 3;
        v128.store(ci + q, f64x2.mul(f64x2.sub(v128.load(ci + q), f64x2.mul(sv, v128.load(design + q))), inv));
      }
    }
  }
  const one = f64x2.splat(1);
  const bgCol = design + <usize>count * col;
  for (let p = 0; p < npixp; p += 2) v128.store(bgCol + (<usize>p << 3), one);

  // M = Dᵀ W D (lower triangle; two rows by four columns per pass over the pixels), b = Dᵀ W y.
  // wcol holds w ⊙ D_i and w ⊙ D_{i+1} (npixp each).
  const nc = count + 1;
  const wcol1 = wcol + col;
  for (let i = 0; i < nc; i += 2) {
    const pair = i + 1 < nc;
    weighted(design + <usize>i * col, weight, target, wcol, npixp, b, i);
    if (pair) weighted(design + <usize>(i + 1) * col, weight, target, wcol1, npixp, b, i + 1);
    const m0 = m + ((<usize>(i * nc)) << 3);
    const m1 = m0 + ((<usize>nc) << 3);
    let k = 0;
    if (pair) {
      for (; k + 3 <= i; k += 4) {
        const e0 = design + <usize>k * col;
        const e1 = e0 + col;
        const e2 = e1 + col;
        const e3 = e2 + col;
        let s0 = f64x2.splat(0);
        let s1 = s0;
        let s2 = s0;
        let s3 = s0;
        let t0 = s0;
        let t1 = s0;
        let t2 = s0;
        let t3 = s0;
        for (let p = 0; p < npixp; p += 2) {
          const q = <usize>p << 3;
          const w = v128.load(wcol + q);
          const x = v128.load(wcol1 + q);
          const d0 = v128.load(e0 + q);
          const d1 = v128.load(e1 + q);
          const d2 = v128.load(e2 + q);
          const d3 = v128.load(e3 + q);
          s0 = f64x2.add(s0, f64x2.mul(w, d0));
          t0 = f64x2.add(t0, f64x2.mul(x, d0));
          s1 = f64x2.add(s1, f64x2.mul(w, d1));
          t1 = f64x2.add(t1, f64x2.mul(x, d1));
          s2 = f64x2.add(s2, f64x2.mul(w, d2));
          t2 = f64x2.add(t2, f64x2.mul(x, d2));
          s3 = f64x2.add(s3, f64x2.mul(w, d3));
          t3 = f64x2.add(t3, f64x2.mul(x, d3));
        }
        setf64(m0, k, hsum(s0));
        setf64(m0, k + 1, hsum(s1));
        setf64(m0, k + 2, hsum(s2));
        setf64(m0, k + 3, hsum(s3));
        setf64(m1, k, hsum(t0));
        setf64(m1, k + 1, hsum(t1));
        setf64(m1, k + 2, hsum(t2));
        setf64(m1, k + 3, hsum(t3));
      }
      for (; k <= i; k++) {
        const e0 = design + <usize>k * col;
        let s0 = f64x2.splat(0);
        let t0 = s0;
        for (let p = 0; p < npixp; p += 2) {
          const q = <usize>p << 3;
          const d0 = v128.load(e0 + q);
          s0 = f64x2.add(s0, f64x2.mul(v128.load(wcol + q), d0));
          t0 = f64x2.add(t0, f64x2.mul(v128.load(wcol1 + q), d0));
        }
        setf64(m0, k, hsum(s0));
        setf64(m1, k, hsum(t0));
      }
      setf64(m1, i + 1, dot(wcol1, design + <usize>(i + 1) * col, npixp));
    } else {
      for (; k <= i; k++) setf64(m0, k, dot(wcol, design + <usize>k * col, npixp));
    }
  }
  for (let i = 0; i < nc; i++) for (let k = i + 1; k < nc; k++) setf64(m, i * nc + k, f64at(m, k * nc + i));
}

// The spatial fit. Stamp s's local columns expand to the unknowns through its terms
// terms[s·nTT …] (nTT = nT + nBg: the nT spatial terms at its centre, then the nBg background
// terms): basis column c < nb = nc − 1 to the unknowns unknownOf[c·nT + j] (int32, −1: none)
// with the weights t_j, the background column nb to bg0 + m with the weights q_m.

// @ts-ignore: decorator
@inline
function pairIndex(j: i32, l: i32, nT: i32): i32 {
  return j <= l ? j * nT - ((j * (j - 1)) >> 1) + l - j : l * nT - ((l * (l - 1)) >> 1) + j - l;
}

// The local coefficients of stamp s from the solution: a_c = Σ_j t_j · sol[unknownOf[c·nT + j]]
// (j ascending, unknowns that exist), a_nb = Σ_m q_m · sol[bg0 + m].
function localCoefficients(t: usize, nT: i32, nBg: i32, nc: i32, unknownOf: usize, bg0: i32, sol: usize, a: usize): void {
  const nb = nc - 1;
  for (let c = 0; c < nb; c++) {
    let v: f64 = 0;
    for (let j = 0; j < nT; j++) {
      const u = i32at(unknownOf, c * nT + j);
      if (u >= 0) v += f64at(t, j) * f64at(sol, u);
    }
    setf64(a, c, v);
  }
  let v: f64 = 0;
  for (let m = 0; m < nBg; m++) v += f64at(t, nT + m) * f64at(sol, bg0 + m);
  setf64(a, nb, v);
}

// The normal equations G (nU × nU, both triangles) and g (nU) summed over the stamps with
// active[s] ≠ 0 (bytes): G[u(c1, j), u(c2, l)] = Σ_s t_j t_l M_s[c1, c2] and the like, from
// the sums over the stamps per pair of terms (in `acc`: spatialScratch(nc, nT, nBg) values),
// each pair's nb × nb block two columns per SIMD operation.
export function spatialNormal(mats: usize, rhs: usize, nStamps: i32, active: usize, nc: i32, terms: usize, nT: i32, nBg: i32, unknownOf: usize, bg0: i32, acc: usize, G: usize, g: usize, nU: i32): void {
  const nb = nc - 1;
  const nTT = nT + nBg;
  const nPP = (nT * (nT + 1)) >> 1;
  const block = nb * nb;
  const app = acc;
  const apq = app + ((<usize>(nPP * block)) << 3);
  const aqq = apq + ((<usize>(nT * nBg * nb)) << 3);
  const gp = aqq + ((<usize>(nBg * nBg)) << 3);
  const gq = gp + ((<usize>(nT * nb)) << 3);
  const total = spatialScratch(nc, nT, nBg);
  for (let i = 0; i < total; i++) setf64(acc, i, 0);
  const nb2 = nb & ~1;
  for (let s = 0; s < nStamps; s++) {
    if (load<u8>(active + <usize>s) == 0) continue;
    const m = mats + ((<usize>s * <usize>(nc * nc)) << 3);
    const b = rhs + ((<usize>s * <usize>nc) << 3);
    const t = terms + ((<usize>s * <usize>nTT) << 3);
    let pair = 0;
    for (let j = 0; j < nT; j++) {
      for (let l = j; l < nT; l++, pair++) {
        const w = f64at(t, j) * f64at(t, l);
        const wv = f64x2.splat(w);
        const out = app + ((<usize>(pair * block)) << 3);
        for (let c1 = 0; c1 < nb; c1++) {
          const row = m + ((<usize>(c1 * nc)) << 3);
          const o = out + ((<usize>(c1 * nb)) << 3);
          let c2 = 0;
          for (; c2 < nb2; c2 += 2) {
            const q = <usize>c2 << 3;
            v128.store(o + q, f64x2.add(v128.load(o + q), f64x2.mul(wv, v128.load(row + q))));
          }
          for (; c2 < nb; c2++) setf64(o, c2, f64at(o, c2) + w * f64at(row, c2));
        }
      }
      const tj = f64at(t, j);
      for (let c = 0; c < nb; c++) setf64(gp, j * nb + c, f64at(gp, j * nb + c) + tj * f64at(b, c));
      for (let q = 0; q < nBg; q++) {
        const w = tj * f64at(t, nT + q);
        const o = apq + ((<usize>((j * nBg + q) * nb)) << 3);
        for (let c = 0; c < nb; c++) setf64(o, c, f64at(o, c) + w * f64at(m, c * nc + nb));
      }
    }
    const mbb = f64at(m, nb * nc + nb);
    for (let q1 = 0; q1 < nBg; q1++) {
      const t1 = f64at(t, nT + q1);
      for (let q2 = 0; q2 < nBg; q2++) setf64(aqq, q1 * nBg + q2, f64at(aqq, q1 * nBg + q2) + t1 * f64at(t, nT + q2) * mbb);
      setf64(gq, q1, f64at(gq, q1) + t1 * f64at(b, nb));
    }
  }
  for (let i = 0; i < nU * nU; i++) setf64(G, i, 0);
  for (let i = 0; i < nU; i++) setf64(g, i, 0);
  for (let c1 = 0; c1 < nb; c1++) {
    for (let j = 0; j < nT; j++) {
      const u1 = i32at(unknownOf, c1 * nT + j);
      if (u1 < 0) continue;
      setf64(g, u1, f64at(gp, j * nb + c1));
      const row = G + ((<usize>(u1 * nU)) << 3);
      for (let c2 = 0; c2 < nb; c2++) {
        for (let l = 0; l < nT; l++) {
          const u2 = i32at(unknownOf, c2 * nT + l);
          if (u2 >= 0) setf64(row, u2, f64at(app, pairIndex(j, l, nT) * block + c1 * nb + c2));
        }
      }
      for (let q = 0; q < nBg; q++) {
        const v = f64at(apq, (j * nBg + q) * nb + c1);
        setf64(row, bg0 + q, v);
        setf64(G, (bg0 + q) * nU + u1, v);
      }
    }
  }
  for (let q1 = 0; q1 < nBg; q1++) {
    setf64(g, bg0 + q1, f64at(gq, q1));
    for (let q2 = 0; q2 < nBg; q2++) setf64(G, (bg0 + q1) * nU + bg0 + q2, f64at(aqq, q1 * nBg + q2));
  }
}

// The float64 values of spatialNormal's `acc`.
export function spatialScratch(nc: i32, nT: i32, nBg: i32): i32 {
  const nb = nc - 1;
  return ((nT * (nT + 1)) >> 1) * nb * nb + nT * nBg * nb + nBg * nBg + nT * nb + nBg;
}

// χ² = yᵀWy − 2 aᵀb + aᵀMa (at least 0) of the normal equations M (n × n), b, yᵀWy = yy.
function quadChi2(m: usize, b: usize, yy: f64, a: usize, n: i32): f64 {
  let s = yy;
  for (let i = 0; i < n; i++) {
    let mi: f64 = 0;
    const row = m + ((<usize>(i * n)) << 3);
    for (let k = 0; k < n; k++) mi += f64at(row, k) * f64at(a, k);
    s += f64at(a, i) * (mi - 2 * f64at(b, i));
  }
  return max<f64>(0, s);
}

// Every stamp's χ² against the spatial solution `sol` (its local coefficients into `a`, nc
// values), into chi2[s].
export function spatialChi2(mats: usize, rhs: usize, yWy: usize, nStamps: i32, nc: i32, terms: usize, nT: i32, nBg: i32, unknownOf: usize, bg0: i32, sol: usize, a: usize, chi2: usize): void {
  const nTT = nT + nBg;
  for (let s = 0; s < nStamps; s++) {
    localCoefficients(terms + ((<usize>s * <usize>nTT) << 3), nT, nBg, nc, unknownOf, bg0, sol, a);
    const m = mats + ((<usize>s * <usize>(nc * nc)) << 3);
    const b = rhs + ((<usize>s * <usize>nc) << 3);
    setf64(chi2, s, quadChi2(m, b, f64at(yWy, s), a, nc));
  }
}

// ---------------------------------------------------------------------------------------------
// The per-stamp fits: pipeline/lib/dense-symmetric.ts's PivotedCholesky (the same operations in
// the same order, so the same values) on each stamp's normal equations.

// @ts-ignore: decorator
@inline
function swapf64(p: usize, i: i32, j: i32): void {
  const t = f64at(p, i);
  setf64(p, i, f64at(p, j));
  setf64(p, j, t);
}

// Factorises the n × n matrix at a (row-major, both triangles) after equilibration into l
// (n × n; the factor's lower triangle), perm (int32) and scale; returns the rank. Pivots on
// the largest remaining diagonal, stops below rcond. The first step swaps whole rows and
// columns, as the matrix need not be symmetric to the last bit; the trailing block is
// symmetric from then on and later swaps move its lower triangle only.
function pivotedCholesky(a: usize, n: i32, rcond: f64, l: usize, perm: usize, scale: usize): i32 {
  for (let i = 0; i < n; i++) {
    const d = f64at(a, i * n + i);
    setf64(scale, i, d > 0 && d - d == 0 ? 1 / Math.sqrt(d) : 0);
  }
  for (let i = 0; i < n; i++) {
    const si = f64at(scale, i);
    for (let j = 0; j < n; j++) setf64(l, i * n + j, f64at(a, i * n + j) * si * f64at(scale, j));
  }
  for (let i = 0; i < n; i++) store<i32>(perm + (<usize>i << 2), i);
  let rank = 0;
  for (let k = 0; k < n; k++) {
    let best = k;
    let bestV = f64at(l, k * n + k);
    for (let j = k + 1; j < n; j++) {
      const v = f64at(l, j * n + j);
      if (v > bestV) {
        bestV = v;
        best = j;
      }
    }
    if (!(bestV > rcond)) break;
    if (best != k) {
      if (k == 0) {
        for (let j = 0; j < n; j++) swapf64(l, k * n + j, best * n + j);
        for (let i = 0; i < n; i++) swapf64(l, i * n + k, i * n + best);
      } else {
        for (let j = 0; j < k; j++) swapf64(l, k * n + j, best * n + j);
        swapf64(l, k * n + k, best * n + best);
        for (let j = k + 1; j < best; j++) swapf64(l, j * n + k, best * n + j);
        for (let i = best + 1; i < n; i++) swapf64(l, i * n + k, i * n + best);
      }
      const t = i32at(perm, k);
      store<i32>(perm + (<usize>k << 2), i32at(perm, best));
      store<i32>(perm + (<usize>best << 2), t);
    }
    const lkk = Math.sqrt(bestV);
    setf64(l, k * n + k, lkk);
    const inv = 1 / lkk;
    for (let i = k + 1; i < n; i++) setf64(l, i * n + k, f64at(l, i * n + k) * inv);
    for (let i = k + 1; i < n; i++) {
      const lik = f64at(l, i * n + k);
      if (lik == 0) continue;
      const ri = i * n;
      for (let j = k + 1; j <= i; j++) setf64(l, ri + j, f64at(l, ri + j) - lik * f64at(l, j * n + k));
    }
    rank++;
  }
  return rank;
}

// x = A⁻¹ b through the factor (the basic solution: dropped unknowns zero); y: n scratch.
function choleskySolve(l: usize, n: i32, rank: i32, perm: usize, scale: usize, b: usize, y: usize, x: usize): void {
  for (let k = 0; k < rank; k++) {
    const pk = i32at(perm, k);
    setf64(y, k, f64at(b, pk) * f64at(scale, pk));
  }
  for (let i = 0; i < rank; i++) {
    let s = f64at(y, i);
    const ri = i * n;
    for (let j = 0; j < i; j++) s -= f64at(l, ri + j) * f64at(y, j);
    setf64(y, i, s / f64at(l, ri + i));
  }
  for (let i = rank - 1; i >= 0; i--) {
    let s = f64at(y, i);
    for (let j = i + 1; j < rank; j++) s -= f64at(l, j * n + i) * f64at(y, j);
    setf64(y, i, s / f64at(l, i * n + i));
  }
  for (let i = 0; i < n; i++) setf64(x, i, 0);
  for (let k = 0; k < rank; k++) {
    const pk = i32at(perm, k);
    setf64(x, pk, f64at(y, k) * f64at(scale, pk));
  }
}

// Each stamp's own fit of its normal equations (mats, rhs, yWy as in spatialChi2; npix pixels):
// the solution a, χ² = quadChi2, dof = max(1, npix − rank); out[3s …]: a_0, the error of a_0
// (√((A⁻¹)_00 · max(1, χ²/dof)), NaN when unknown 0 is dropped), 1 when unknown 0 is dropped
// else 0. scratch: nc² + 6 · nc float64 values.
export function localFits(mats: usize, rhs: usize, yWy: usize, nStamps: i32, nc: i32, npix: i32, rcond: f64, scratch: usize, out: usize): void {
  const l = scratch;
  const scale = l + ((<usize>(nc * nc)) << 3);
  const y = scale + ((<usize>nc) << 3);
  const a = y + ((<usize>nc) << 3);
  const e = a + ((<usize>nc) << 3);
  const x = e + ((<usize>nc) << 3);
  const perm = x + ((<usize>nc) << 3);
  for (let s = 0; s < nStamps; s++) {
    const m = mats + ((<usize>s * <usize>(nc * nc)) << 3);
    const b = rhs + ((<usize>s * <usize>nc) << 3);
    const rank = pivotedCholesky(m, nc, rcond, l, perm, scale);
    choleskySolve(l, nc, rank, perm, scale, b, y, a);
    const chi2 = quadChi2(m, b, f64at(yWy, s), a, nc);
    const dof = max<i32>(1, npix - rank);
    let dropped = true;
    for (let k = 0; k < rank; k++) if (i32at(perm, k) == 0) dropped = false;
    let err: f64 = NaN;
    if (!dropped) {
      for (let i = 0; i < nc; i++) setf64(e, i, 0);
      setf64(e, 0, 1);
      choleskySolve(l, nc, rank, perm, scale, e, y, x);
      err = Math.sqrt(f64at(x, 0) * max<f64>(1, chi2 / <f64>dof));
    }
    setf64(out, 3 * s, f64at(a, 0));
    setf64(out, 3 * s + 1, err);
    setf64(out, 3 * s + 2, dropped ? 1 : 0);
  }
}

// The spatial fit's solution: G (n × n) factorised as in localFits, sol = G⁻¹ g (the basic
// solution); out[0]: 1 when unknown k0 is dropped (else 0), out[1]: (G⁻¹)_{k0 k0} (NaN when
// dropped). Returns the rank. scratch: n² + 5 · n float64 values.
export function spatialSolve(G: usize, n: i32, rcond: f64, g: usize, k0: i32, scratch: usize, sol: usize, out: usize): i32 {
  const l = scratch;
  const scale = l + ((<usize>(n * n)) << 3);
  const y = scale + ((<usize>n) << 3);
  const e = y + ((<usize>n) << 3);
  const x = e + ((<usize>n) << 3);
  const perm = x + ((<usize>n) << 3);
  const rank = pivotedCholesky(G, n, rcond, l, perm, scale);
  choleskySolve(l, n, rank, perm, scale, g, y, sol);
  let dropped = true;
  for (let k = 0; k < rank; k++) if (i32at(perm, k) == k0) dropped = false;
  let inv: f64 = NaN;
  if (!dropped) {
    for (let i = 0; i < n; i++) setf64(e, i, 0);
    setf64(e, k0, 1);
    choleskySolve(l, n, rank, perm, scale, e, y, x);
    inv = f64at(x, k0);
  }
  setf64(out, 0, dropped ? 1 : 0);
  setf64(out, 1, inv);
  return rank;
}
