// The numeric loops of image subtraction (pipeline/stages/subtraction), over buffers in this
// module's memory: the one-dimensional correlation passes of a separable convolution, the
// growth of a strip's mask by the kernel footprint, the combination of a strip's convolutions
// with the other image, the background refit's subtraction and the noise statistics (float32,
// four pixels per SIMD operation); the cells' kernels and their separable approximations
// (float64); medians. Pointers are byte offsets into this module's memory; row strides are in
// pixels; taps are float32.
//
//   hpass:  dst[k·D + x] = Σ_t c_t · src[k·S + x + t]                k ∈ [0, nRows), x ∈ [0, n)
//   vpass:  dst[k·D + x] (+)= Σ_t c_t · src[(k + t)·S + x]         k ∈ [0, nRows), x ∈ [x0, x1)
//   maxOf:  the largest src[k·S + x] (k ∈ [0, nRows), x ∈ [0, n)), NaN skipped; −∞ if none
//   growMask, combine, diagnoseRows, weightedSum, separable, median, clippedMedian: below.
//
// The passes' sums run in tap order in float32, each pixel's the same way. They go 16 pixels at
// a time: a row's last step reads up to 15 values past the columns described (past the row's
// end, as far as the 64 bytes of slack the arena leaves after a buffer) and leaves the pixels
// beyond them as they were (it stores them back unchanged).

// Stores the lanes of a (pixels i … i + 3) that fall in [lo, hi) at q, the others unchanged.
// @ts-ignore: decorator
@inline
function storeWithin(q: usize, a: v128, i: i32, lo: i32, hi: i32): void {
  if (i >= lo && i + 4 <= hi) v128.store(q, a);
  else if (i + 4 > lo && i < hi) {
    const lane = i32x4.add(i32x4.splat(i), i32x4(0, 1, 2, 3));
    const inside = v128.and(i32x4.ge_s(lane, i32x4.splat(lo)), i32x4.lt_s(lane, i32x4.splat(hi)));
    v128.store(q, v128.bitselect(a, v128.load(q), inside));
  }
}

// Correlation along rows, 16 pixels per step: four independent sums sharing each tap (more run
// slower: the engine keeps the loaded vectors in registers until the arithmetic and runs out
// of them). A row's last step may extend past n and stores only the pixels within.
export function hpass(src: usize, srcStride: i32, dst: usize, dstStride: i32, n: i32, nRows: i32, taps: usize, T: i32): void {
  for (let k = 0; k < nRows; k++) {
    const s0 = src + ((<usize>k * <usize>srcStride) << 2);
    const d0 = dst + ((<usize>k * <usize>dstStride) << 2);
    for (let x = 0; x < n; x += 16) {
      let a0 = f32x4.splat(0);
      let a1 = a0;
      let a2 = a0;
      let a3 = a0;
      let p = s0 + (<usize>x << 2);
      for (let t = 0; t < T; t++, p += 4) {
        const c = v128.load32_splat(taps + (<usize>t << 2));
        a0 = f32x4.add(a0, f32x4.mul(v128.load(p), c));
        a1 = f32x4.add(a1, f32x4.mul(v128.load(p, 16), c));
        a2 = f32x4.add(a2, f32x4.mul(v128.load(p, 32), c));
        a3 = f32x4.add(a3, f32x4.mul(v128.load(p, 48), c));
      }
      const q = d0 + (<usize>x << 2);
      if (x + 16 <= n) {
        v128.store(q, a0);
        v128.store(q, a1, 16);
        v128.store(q, a2, 32);
        v128.store(q, a3, 48);
      } else {
        storeWithin(q, a0, x, 0, n);
        storeWithin(q + 16, a1, x + 4, 0, n);
        storeWithin(q + 32, a2, x + 8, 0, n);
        storeWithin(q + 48, a3, x + 12, 0, n);
      }
    }
  }
}

// Correlation along columns, columns [x0, x1) of each output row; the same steps.
export function vpass(src: usize, srcStride: i32, dst: usize, dstStride: i32, nRows: i32, x0: i32, x1: i32, taps: usize, T: i32, accumulate: bool): void {
  const sStride = <usize>srcStride << 2;
  const dStride = <usize>dstStride << 2;
  for (let k = 0; k < nRows; k++) {
    const s0 = src + <usize>k * sStride;
    const d0 = dst + <usize>k * dStride;
    for (let x = x0; x < x1; x += 16) {
      let a0 = f32x4.splat(0);
      let a1 = a0;
      let a2 = a0;
      let a3 = a0;
      let p = s0 + (<usize>x << 2);
      for (let t = 0; t < T; t++, p += sStride) {
        const c = v128.load32_splat(taps + (<usize>t << 2));
        a0 = f32x4.add(a0, f32x4.mul(v128.load(p), c));
        a1 = f32x4.add(a1, f32x4.mul(v128.load(p, 16), c));
        a2 = f32x4.add(a2, f32x4.mul(v128.load(p, 32), c));
        a3 = f32x4.add(a3, f32x4.mul(v128.load(p, 48), c));
      }
      const q = d0 + (<usize>x << 2);
      if (accumulate) {
        a0 = f32x4.add(a0, v128.load(q));
        a1 = f32x4.add(a1, v128.load(q, 16));
        a2 = f32x4.add(a2, v128.load(q, 32));
        a3 = f32x4.add(a3, v128.load(q, 48));
      }
      if (x + 16 <= x1) {
        v128.store(q, a0);
        v128.store(q, a1, 16);
        v128.store(q, a2, 32);
        v128.store(q, a3, 48);
      } else {
        storeWithin(q, a0, x, x0, x1);
        storeWithin(q + 16, a1, x + 4, x0, x1);
        storeWithin(q + 32, a2, x + 8, x0, x1);
        storeWithin(q + 48, a3, x + 12, x0, x1);
      }
    }
  }
}

export function maxOf(src: usize, stride: i32, n: i32, nRows: i32): f32 {
  const n4 = n & ~3;
  let m4 = f32x4.splat(-Infinity);
  let m: f32 = -Infinity;
  for (let k = 0; k < nRows; k++) {
    const s0 = src + ((<usize>k * <usize>stride) << 2);
    let x = 0;
    // pmax(m, v) = m < v ? v : m: a NaN v leaves m.
    for (; x < n4; x += 4) m4 = f32x4.pmax(m4, v128.load(s0 + (<usize>x << 2)));
    for (; x < n; x++) {
      const v = load<f32>(s0 + (<usize>x << 2));
      if (v > m) m = v;
    }
  }
  for (let i = 0; i < 4; i++) {
    const v = f32x4.extract_lane(m4, 0);
    if (v > m) m = v;
    m4 = v128.shuffle<f32>(m4, m4, 1, 2, 3, 0);
  }
  return m;
}

// True (all bits) in the lanes of v that are not finite.
// @ts-ignore: decorator
@inline
function nonFinite(v: v128): v128 {
  return f32x4.ne(f32x4.sub(v, v), f32x4.splat(0));
}

// The mask of a strip grown by a (2r + 1)² box. Input rows k ∈ [0, nIn): the mask `msk` (row
// stride W), image `img` and variance `vr` (row stride P ≥ W + r, pixel x at column r + x):
//
//   m_k(x)   = (msk & bits) | (noData where the image or the variance is not finite)
//   hor_k(x) = OR of m_k(x − r … x + r)                     (zero beyond the row)
//   out(k, x) = (msk(k + r, x) & ~bits) | OR of hor_k … hor_{k+2r}   k ∈ [0, nIn − 2r)
//
// into `out` (row stride W). Non-finite image and variance values are replaced by zero in
// place. Scratch: `line` (W + 2r i32), `hor` (nIn · W i32), `flags` (nIn bytes: hor_k ≠ 0).
export function growMask(msk: usize, img: usize, vr: usize, P: i32, W: i32, r: i32, nIn: i32, bits: i32, noData: i32, out: usize, line: usize, hor: usize, flags: usize): void {
  const W4 = W & ~3;
  const L = W + 2 * r;
  const T = 2 * r + 1;
  const vBits = i32x4.splat(bits);
  const vNoData = i32x4.splat(noData);
  for (let i = 0; i < L; i++) store<i32>(line + (<usize>i << 2), 0);
  const lineX = line + (<usize>r << 2);
  for (let k = 0; k < nIn; k++) {
    const mRow = msk + ((<usize>k * <usize>W) << 2);
    const iRow = img + ((<usize>k * <usize>P + <usize>r) << 2);
    const vRow = vr + ((<usize>k * <usize>P + <usize>r) << 2);
    let nz = i32x4.splat(0);
    let bad = nz;
    let x = 0;
    for (; x < W4; x += 4) {
      const off = <usize>x << 2;
      const nf = v128.or(nonFinite(v128.load(iRow + off)), nonFinite(v128.load(vRow + off)));
      const m = v128.or(v128.and(v128.load(mRow + off), vBits), v128.and(nf, vNoData));
      v128.store(lineX + off, m);
      nz = v128.or(nz, m);
      bad = v128.or(bad, nf);
    }
    let nzs: i32 = 0;
    let bads = false;
    for (; x < W; x++) {
      const off = <usize>x << 2;
      const a = load<f32>(iRow + off);
      const b = load<f32>(vRow + off);
      const finite = a - a + (b - b) == 0;
      const m = (load<i32>(mRow + off) & bits) | (finite ? 0 : noData);
      store<i32>(lineX + off, m);
      nzs |= m;
      if (!finite) bads = true;
    }
    if (bads || v128.any_true(bad)) {
      for (let x = 0; x < W4; x += 4) {
        const off = <usize>x << 2;
        const a = v128.load(iRow + off);
        const b = v128.load(vRow + off);
        v128.store(iRow + off, v128.andnot(a, nonFinite(a)));
        v128.store(vRow + off, v128.andnot(b, nonFinite(b)));
      }
      for (let x = W4; x < W; x++) {
        const off = <usize>x << 2;
        const a = load<f32>(iRow + off);
        const b = load<f32>(vRow + off);
        if (a - a != 0) store<f32>(iRow + off, 0);
        if (b - b != 0) store<f32>(vRow + off, 0);
      }
    }
    const any = nzs != 0 || v128.any_true(nz);
    store<u8>(flags + <usize>k, any ? 1 : 0);
    if (!any) continue;
    const hRow = hor + ((<usize>k * <usize>W) << 2);
    for (let x = 0; x < W4; x += 4) {
      let p = line + (<usize>x << 2);
      let a = v128.load(p);
      for (let t = 1; t < T; t++) {
        p += 4;
        a = v128.or(a, v128.load(p));
      }
      v128.store(hRow + (<usize>x << 2), a);
    }
    for (let x = W4; x < W; x++) {
      let a: i32 = 0;
      for (let t = 0; t < T; t++) a |= load<i32>(line + (<usize>(x + t) << 2));
      store<i32>(hRow + (<usize>x << 2), a);
    }
  }
  const keep = ~bits;
  const vKeep = i32x4.splat(keep);
  for (let k = 0; k + 2 * r < nIn; k++) {
    const oRow = out + ((<usize>k * <usize>W) << 2);
    const mRow = msk + ((<usize>(k + r) * <usize>W) << 2);
    let x = 0;
    for (; x < W4; x += 4) v128.store(oRow + (<usize>x << 2), v128.and(v128.load(mRow + (<usize>x << 2)), vKeep));
    for (; x < W; x++) store<i32>(oRow + (<usize>x << 2), load<i32>(mRow + (<usize>x << 2)) & keep);
    for (let s = 0; s < T; s++) {
      if (load<u8>(flags + <usize>(k + s)) == 0) continue;
      const hRow = hor + ((<usize>(k + s) * <usize>W) << 2);
      for (x = 0; x < W4; x += 4) {
        const off = <usize>x << 2;
        v128.store(oRow + off, v128.or(v128.load(oRow + off), v128.load(hRow + off)));
      }
      for (; x < W; x++) {
        const off = <usize>x << 2;
        store<i32>(oRow + off, load<i32>(oRow + off) | load<i32>(hRow + off));
      }
    }
  }
}

// The difference over rows k ∈ [0, nRows) of a strip (row stride W), image row y0 + k of H:
//
//   img(k, x)  ← scale · (oImg − img − B_k(x)),   B_k(x) = Σ_e bg[k·(deg + 1) + e] · xh[x]^e
//   var(k, x)  ← s2 · (oVar + var)
//   mask(k, x) ← ((mask | oMask | rowBits | noData where oImg is not finite) & keep)
//                | border within r of the left and right edges
//   img, var   ← fill where the mask has noData
//
// with rowBits = border for rows within r of the top or bottom, 0 otherwise; no background
// when deg < 0 (the sum in float32, highest power first).
export function combine(
  img: usize,
  vr: usize,
  mask: usize,
  oImg: usize,
  oVar: usize,
  oMask: usize,
  W: i32,
  nRows: i32,
  y0: i32,
  H: i32,
  r: i32,
  bg: usize,
  deg: i32,
  xh: usize,
  scale: f32,
  s2: f32,
  keep: i32,
  noData: i32,
  border: i32,
  fill: f32,
): void {
  const W4 = W & ~3;
  const vScale = f32x4.splat(scale);
  const vS2 = f32x4.splat(s2);
  const vKeep = i32x4.splat(keep);
  const vNoData = i32x4.splat(noData);
  const vFill = f32x4.splat(fill);
  const zero = i32x4.splat(0);
  for (let k = 0; k < nRows; k++) {
    const y = y0 + k;
    const rowBits = y < r || y >= H - r ? border : 0;
    const vRowBits = i32x4.splat(rowBits);
    const off0 = (<usize>k * <usize>W) << 2;
    const iRow = img + off0;
    const vRow = vr + off0;
    const mRow = mask + off0;
    const oiRow = oImg + off0;
    const ovRow = oVar + off0;
    const omRow = oMask + off0;
    const c = bg + ((<usize>k * <usize>(deg + 1)) << 2);
    let x = 0;
    for (; x < W4; x += 4) {
      const off = <usize>x << 2;
      const v = v128.load(oiRow + off);
      let d = f32x4.sub(v, v128.load(iRow + off));
      if (deg >= 0) {
        const t = v128.load(xh + off);
        let b = v128.load32_splat(c + (<usize>deg << 2));
        for (let e = deg - 1; e >= 0; e--) b = f32x4.add(f32x4.mul(b, t), v128.load32_splat(c + (<usize>e << 2)));
        d = f32x4.sub(d, b);
      }
      d = f32x4.mul(vScale, d);
      const w = f32x4.mul(vS2, f32x4.add(v128.load(ovRow + off), v128.load(vRow + off)));
      const m = v128.and(v128.or(v128.or(v128.load(mRow + off), v128.load(omRow + off)), v128.or(vRowBits, v128.and(nonFinite(v), vNoData))), vKeep);
      v128.store(mRow + off, m);
      const nd = i32x4.ne(v128.and(m, vNoData), zero);
      v128.store(iRow + off, v128.bitselect(vFill, d, nd));
      v128.store(vRow + off, v128.bitselect(vFill, w, nd));
    }
    for (; x < W; x++) {
      const off = <usize>x << 2;
      const v = load<f32>(oiRow + off);
      let d = v - load<f32>(iRow + off);
      if (deg >= 0) {
        const t = load<f32>(xh + off);
        let b = load<f32>(c + (<usize>deg << 2));
        for (let e = deg - 1; e >= 0; e--) b = b * t + load<f32>(c + (<usize>e << 2));
        d -= b;
      }
      const m = (load<i32>(mRow + off) | load<i32>(omRow + off) | rowBits | (v - v == 0 ? 0 : noData)) & keep;
      store<i32>(mRow + off, m);
      const nd = (m & noData) != 0;
      store<f32>(iRow + off, nd ? fill : scale * d);
      store<f32>(vRow + off, nd ? fill : s2 * (load<f32>(ovRow + off) + load<f32>(vRow + off)));
    }
    // Left and right borders.
    for (let i = 0; i < r && i < W; i++) {
      for (let j = 0; j < 2; j++) {
        const off = <usize>(j == 0 ? i : W - 1 - i) << 2;
        const m = load<i32>(mRow + off) | border;
        store<i32>(mRow + off, m);
        if (m & noData) {
          store<f32>(iRow + off, fill);
          store<f32>(vRow + off, fill);
        }
      }
    }
  }
}

// The re-measured background and the noise statistics over rows k ∈ [0, nRows) of a strip (row
// stride W), image row y0 + k:
//
//   img ← img − B_k(x) where the mask has no noData bit (all pixels when noData = 0),
//         B_k(x) = Σ_e bg[k·(deg + 1) + e] · xh[x]^e (float32, highest power first; nothing
//         when deg < 0)
//
// then, over rows with (y0 + k) mod step = off and columns off, off + step, …, pixels with no
// `bad` bits in the mask, no `srcBits` in maskA | maskB and variance > 0: z = img / √var
// (float64); |z| ≤ clip adds to stats[0] (count), stats[1] (Σ z) and stats[2] (Σ z²), any other
// z to stats[3] (outliers), in row order (stats: four float64). The mask is read only in the
// sampled rows when noData = 0.
export function diagnoseRows(
  img: usize,
  vr: usize,
  mask: usize,
  maskA: usize,
  maskB: usize,
  W: i32,
  nRows: i32,
  y0: i32,
  bg: usize,
  deg: i32,
  xh: usize,
  noData: i32,
  step: i32,
  off: i32,
  bad: i32,
  srcBits: i32,
  clip: f64,
  stats: usize,
): void {
  const W4 = W & ~3;
  const vNoData = i32x4.splat(noData);
  const zero = i32x4.splat(0);
  let n = load<f64>(stats);
  let s = load<f64>(stats, 8);
  let s2 = load<f64>(stats, 16);
  let out = load<f64>(stats, 24);
  for (let k = 0; k < nRows; k++) {
    const off0 = (<usize>k * <usize>W) << 2;
    const iRow = img + off0;
    const mRow = mask + off0;
    if (deg >= 0) {
      const c = bg + ((<usize>k * <usize>(deg + 1)) << 2);
      const top = v128.load32_splat(c + (<usize>deg << 2));
      let x = 0;
      for (; x < W4; x += 4) {
        const q = <usize>x << 2;
        const t = v128.load(xh + q);
        let b = top;
        for (let e = deg - 1; e >= 0; e--) b = f32x4.add(f32x4.mul(b, t), v128.load32_splat(c + (<usize>e << 2)));
        const v = v128.load(iRow + q);
        const d = f32x4.sub(v, b);
        if (noData == 0) v128.store(iRow + q, d);
        else v128.store(iRow + q, v128.bitselect(v, d, i32x4.ne(v128.and(v128.load(mRow + q), vNoData), zero)));
      }
      for (; x < W; x++) {
        const q = <usize>x << 2;
        if (load<i32>(mRow + q) & noData) continue;
        const t = load<f32>(xh + q);
        let b = load<f32>(c + (<usize>deg << 2));
        for (let e = deg - 1; e >= 0; e--) b = b * t + load<f32>(c + (<usize>e << 2));
        store<f32>(iRow + q, load<f32>(iRow + q) - b);
      }
    }
    if ((y0 + k) % step != off) continue;
    const aRow = maskA + off0;
    const bRow = maskB + off0;
    const vRow = vr + off0;
    for (let x = off; x < W; x += step) {
      const q = <usize>x << 2;
      if (load<i32>(mRow + q) & bad || (load<i32>(aRow + q) | load<i32>(bRow + q)) & srcBits) continue;
      const v = <f64>load<f32>(vRow + q);
      if (!(v > 0)) continue;
      const z = <f64>load<f32>(iRow + q) / Math.sqrt(v);
      if (!(Math.abs(z) <= clip)) {
        out += 1;
        continue;
      }
      n += 1;
      s += z;
      s2 += z * z;
    }
  }
  store<f64>(stats, n);
  store<f64>(stats, s, 8);
  store<f64>(stats, s2, 16);
  store<f64>(stats, out, 24);
}

// ---------------------------------------------------------------------------------------------
// The cells' kernels and their separable approximations (pipeline/stages/subtraction/
// separable.ts describes them): float64, every sum in a fixed order (ascending index), so that
// the results do not depend on which are grouped in SIMD operations.

// @ts-ignore: decorator
@inline
function f64at(base: usize, i: i32): f64 {
  return load<f64>(base + (<usize>i << 3));
}

// @ts-ignore: decorator
@inline
function setf64(base: usize, i: i32, v: f64): void {
  store<f64>(base + (<usize>i << 3), v);
}

// out[k] = Σ_j a_j · images[j·n + k] over the a_j ≠ 0 (j ascending), sq[k] = out[k]², k ∈ [0, n).
export function weightedSum(images: usize, count: i32, n: i32, a: usize, out: usize, sq: usize): void {
  const n2 = n & ~1;
  let k = 0;
  for (; k < n2; k += 2) {
    let s = f64x2.splat(0);
    for (let j = 0; j < count; j++) {
      const aj = f64at(a, j);
      if (aj == 0) continue;
      s = f64x2.add(s, f64x2.mul(f64x2.splat(aj), v128.load(images + ((<usize>j * <usize>n + <usize>k) << 3))));
    }
    v128.store(out + (<usize>k << 3), s);
    v128.store(sq + (<usize>k << 3), f64x2.mul(s, s));
  }
  for (; k < n; k++) {
    let s: f64 = 0;
    for (let j = 0; j < count; j++) {
      const aj = f64at(a, j);
      if (aj == 0) continue;
      s += aj * f64at(images, j * n + k);
    }
    setf64(out, k, s);
    setf64(sq, k, s * s);
  }
}

// Float64 values the scratch of `separable` needs.
export function separableScratch(size: i32, limit: i32, L: i32): i32 {
  const n2 = size * size;
  const m = size + L - 1;
  return 6 * n2 + 3 * limit * size + limit * limit + 2 * size + size * m + m * m + 2 * m + 8;
}

// Eigen-decomposition of the symmetric n × n matrix at `a` (row-major, not modified) by cyclic
// Jacobi rotations until the off-diagonal norm is at most 1e-30 of the squared Frobenius norm
// (at most 100 sweeps): the eigenvectors as rows into `vectors`, largest eigenvalue first (ties
// in index order). Scratch: m, v (n² each), order (n).
function symmetricEigen(a: usize, n: i32, vectors: usize, m: usize, v: usize, order: usize): void {
  const nn = n * n;
  for (let i = 0; i < nn; i++) {
    setf64(m, i, f64at(a, i));
    setf64(v, i, 0);
  }
  for (let i = 0; i < n; i++) setf64(v, i * n + i, 1);
  let frob: f64 = 0;
  for (let i = 0; i < nn; i++) frob += f64at(m, i) * f64at(m, i);
  const tol = 1e-30 * frob;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off: f64 = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += f64at(m, p * n + q) * f64at(m, p * n + q);
    if (off <= tol) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = f64at(m, p * n + q);
        if (apq == 0) continue;
        const app = f64at(m, p * n + p);
        const aqq = f64at(m, q * n + q);
        const theta = (aqq - app) / (2 * apq);
        const t = (theta >= 0 ? 1.0 : -1.0) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = f64at(m, k * n + p);
          const mkq = f64at(m, k * n + q);
          setf64(m, k * n + p, c * mkp - s * mkq);
          setf64(m, k * n + q, s * mkp + c * mkq);
        }
        for (let k = 0; k < n; k++) {
          const mpk = f64at(m, p * n + k);
          const mqk = f64at(m, q * n + k);
          setf64(m, p * n + k, c * mpk - s * mqk);
          setf64(m, q * n + k, s * mpk + c * mqk);
        }
        for (let k = 0; k < n; k++) {
          const vkp = f64at(v, k * n + p);
          const vkq = f64at(v, k * n + q);
          setf64(v, k * n + p, c * vkp - s * vkq);
          setf64(v, k * n + q, s * vkp + c * vkq);
        }
      }
    }
  }
  // Stable insertion sort of the indices by descending diagonal.
  for (let i = 0; i < n; i++) {
    const di = f64at(m, i * n + i);
    let j = i;
    while (j > 0) {
      const prev = <i32>load<i32>(order + (<usize>(j - 1) << 2));
      if (!(di - f64at(m, prev * n + prev) > 0)) break;
      store<i32>(order + (<usize>j << 2), prev);
      j--;
    }
    store<i32>(order + (<usize>j << 2), i);
  }
  for (let k = 0; k < n; k++) {
    const i = load<i32>(order + (<usize>k << 2));
    for (let r = 0; r < n; r++) setf64(vectors, k * n + r, f64at(v, r * n + i));
  }
}

// Row i (at vi) of m minus its projections on rows 0 … i − 1, each removed twice; its squared norm.
function project(m: usize, n: i32, vi: i32, i: i32): f64 {
  for (let pass = 0; pass < 2; pass++) {
    for (let j = 0; j < i; j++) {
      let d: f64 = 0;
      for (let t = 0; t < n; t++) d += f64at(m, vi + t) * f64at(m, j * n + t);
      for (let t = 0; t < n; t++) setf64(m, vi + t, f64at(m, vi + t) - d * f64at(m, j * n + t));
    }
  }
  let s: f64 = 0;
  for (let t = 0; t < n; t++) s += f64at(m, vi + t) * f64at(m, vi + t);
  return s;
}

// Gram–Schmidt on the k rows (length n) of m; a row with (almost) nothing left becomes the unit
// vector most orthogonal to the others.
function orthonormalise(m: usize, n: i32, k: i32): void {
  for (let i = 0; i < k; i++) {
    const vi = i * n;
    let s0: f64 = 0;
    for (let t = 0; t < n; t++) s0 += f64at(m, vi + t) * f64at(m, vi + t);
    let s = project(m, n, vi, i);
    if (!(s > 1e-20 * s0) || !(s > 0)) {
      let best = 0;
      let bestS: f64 = -1;
      for (let e = 0; e < n && bestS <= 0.5; e++) {
        for (let t = 0; t < n; t++) setf64(m, vi + t, 0);
        setf64(m, vi + e, 1);
        const se = project(m, n, vi, i);
        if (se > bestS) {
          bestS = se;
          best = e;
        }
      }
      for (let t = 0; t < n; t++) setf64(m, vi + t, 0);
      setf64(m, vi + best, 1);
      s = project(m, n, vi, i);
    }
    const inv = 1 / Math.sqrt(s);
    for (let t = 0; t < n; t++) setf64(m, vi + t, f64at(m, vi + t) * inv);
  }
}

// dst_i = A src_i for the k rows (length n) of src; A symmetric (its column r read as row r),
// two outputs per SIMD operation, each sum in ascending t.
function multiply(a: usize, n: i32, k: i32, src: usize, dst: usize): void {
  for (let i = 0; i < k; i++) {
    const si = i * n;
    let r = 0;
    for (; r + 1 < n; r += 2) {
      let s = f64x2.splat(0);
      for (let t = 0; t < n; t++) s = f64x2.add(s, f64x2.mul(v128.load(a + ((<usize>(t * n + r)) << 3)), f64x2.splat(f64at(src, si + t))));
      v128.store(dst + (<usize>(si + r) << 3), s);
    }
    for (; r < n; r++) {
      let s: f64 = 0;
      for (let t = 0; t < n; t++) s += f64at(a, r * n + t) * f64at(src, si + t);
      setf64(dst, si + r, s);
    }
  }
}

// Full 1-D convolution of n values f[f0 + i] with g (L taps): Σ_i f_i g[y − i] (i ascending)
// into out[y], y ∈ [0, n + L − 1).
function convolveFull(f: usize, f0: i32, n: i32, g: usize, L: i32, out: usize): void {
  for (let y = 0; y < n + L - 1; y++) {
    let s: f64 = 0;
    const lo = y - L + 1 > 0 ? y - L + 1 : 0;
    const hi = n - 1 < y ? n - 1 : y;
    for (let i = lo; i <= hi; i++) s += f64at(f, f0 + i) * f64at(g, y - i);
    setf64(out, y, s);
  }
}

// The separable approximation of the kernel K (size², K(u, v) at [v·size + u]):
//   Gram matrix over u; its leading `limit` eigenvectors h_p (rows) by three steps of orthogonal
//   iteration from `start` and a Rayleigh–Ritz rotation (start = 0: Jacobi on the Gram matrix);
//   g_p(v) = Σ_u h_p(u) K(u, v); the rank: the first R whose relative error after smoothing by
//   the taps g (L of them) is ≤ tol, or `limit`.
// Out: the eigenvectors (limit × size) at vecOut, g_p (limit × size, p < rank) at projOut, the
// last error measured at errOut (0 when not a positive number); returns the rank.
export function separable(kern: usize, size: i32, g: usize, L: i32, start: usize, limit: i32, tol: f64, vecOut: usize, projOut: usize, errOut: usize, scratch: usize): i32 {
  const n2 = size * size;
  const m = size + L - 1;
  const m2 = m * m;
  const k = limit;
  let at = scratch;
  const gram = at;
  at += <usize>n2 << 3;
  const full = at;
  at += <usize>n2 << 3;
  const jm = at;
  at += <usize>n2 << 3;
  const jv = at;
  at += <usize>n2 << 3;
  const bm = at;
  at += <usize>n2 << 3;
  const bv = at;
  at += <usize>n2 << 3;
  let v = at;
  at += <usize>(k * size) << 3;
  let y = at;
  at += <usize>(k * size) << 3;
  const b = at;
  at += <usize>(k * k) << 3;
  const order = at;
  at += <usize>(2 * size) << 3;
  const rowsS = at;
  at += <usize>(size * m) << 3;
  const resid = at;
  at += <usize>m2 << 3;
  const hs = at;
  at += <usize>m << 3;
  const gs = at;

  // Gram matrix over u (lower triangle, then mirrored).
  for (let i = 0; i < n2; i++) setf64(gram, i, 0);
  for (let vv = 0; vv < size; vv++) {
    const row = vv * size;
    for (let u1 = 0; u1 < size; u1++) {
      const a = f64at(kern, row + u1);
      if (a == 0) continue;
      for (let u2 = 0; u2 <= u1; u2++) setf64(gram, u1 * size + u2, f64at(gram, u1 * size + u2) + a * f64at(kern, row + u2));
    }
  }
  for (let u1 = 0; u1 < size; u1++) for (let u2 = u1 + 1; u2 < size; u2++) setf64(gram, u1 * size + u2, f64at(gram, u2 * size + u1));

  if (start == 0) {
    symmetricEigen(gram, size, full, jm, jv, order);
    for (let i = 0; i < k * size; i++) setf64(vecOut, i, f64at(full, i));
  } else {
    for (let i = 0; i < k * size; i++) setf64(v, i, f64at(start, i));
    orthonormalise(v, size, k);
    for (let it = 0; it < 3; it++) {
      multiply(gram, size, k, v, y);
      orthonormalise(y, size, k);
      const t = v;
      v = y;
      y = t;
    }
    // Rayleigh–Ritz: B = V A Vᵀ, its eigenvectors rotate V.
    multiply(gram, size, k, v, y);
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        let s: f64 = 0;
        for (let t = 0; t < size; t++) s += f64at(v, i * size + t) * f64at(y, j * size + t);
        setf64(b, i * k + j, s);
      }
    }
    for (let i = 0; i < k; i++) {
      for (let j = i + 1; j < k; j++) {
        const s = 0.5 * (f64at(b, i * k + j) + f64at(b, j * k + i));
        setf64(b, j * k + i, s);
        setf64(b, i * k + j, s);
      }
    }
    symmetricEigen(b, k, full, bm, bv, order);
    for (let i = 0; i < k * size; i++) setf64(vecOut, i, 0);
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        const c = f64at(full, i * k + j);
        if (c == 0) continue;
        for (let t = 0; t < size; t++) setf64(vecOut, i * size + t, f64at(vecOut, i * size + t) + c * f64at(v, j * size + t));
      }
    }
  }

  // The smoothed kernel S(K): rows v along u (rowsS[v·m + x] = Σ_u K(u, v) g(x − u)), then
  // along v (S(x, y) = Σ_v rowsS[v·m + x] g(y − v)), two columns x per SIMD operation.
  for (let i = 0; i < size * m; i++) setf64(rowsS, i, 0);
  for (let vv = 0; vv < size; vv++) {
    for (let u = 0; u < size; u++) {
      const kvu = f64at(kern, vv * size + u);
      const o = vv * m + u;
      for (let j = 0; j < L; j++) setf64(rowsS, o + j, f64at(rowsS, o + j) + kvu * f64at(g, j));
    }
  }
  const m2v = m & ~1;
  for (let yy = 0; yy < m; yy++) {
    const o = yy * m;
    const lo = yy - L + 1 > 0 ? yy - L + 1 : 0;
    const hi = size - 1 < yy ? size - 1 : yy;
    let x = 0;
    for (; x < m2v; x += 2) {
      let s = f64x2.splat(0);
      for (let vv = lo; vv <= hi; vv++) s = f64x2.add(s, f64x2.mul(v128.load(rowsS + (<usize>(vv * m + x) << 3)), f64x2.splat(f64at(g, yy - vv))));
      v128.store(resid + (<usize>(o + x) << 3), s);
    }
    for (; x < m; x++) {
      let s: f64 = 0;
      for (let vv = lo; vv <= hi; vv++) s += f64at(rowsS, vv * m + x) * f64at(g, yy - vv);
      setf64(resid, o + x, s);
    }
  }
  let norm2: f64 = 0;
  for (let q = 0; q < m2; q++) norm2 += f64at(resid, q) * f64at(resid, q);

  let rank = k;
  let err: f64 = 0;
  for (let p = 0; p < k; p++) {
    const h = p * size;
    convolveFull(vecOut, h, size, g, L, hs);
    const out = p * size;
    for (let vv = 0; vv < size; vv++) {
      let s: f64 = 0;
      const row = vv * size;
      for (let u = 0; u < size; u++) s += f64at(vecOut, h + u) * f64at(kern, row + u);
      setf64(projOut, out + vv, s);
    }
    convolveFull(projOut, out, size, g, L, gs);
    let e2: f64 = 0;
    for (let yy = 0; yy < m; yy++) {
      const gy = f64at(gs, yy);
      const rrow = yy * m;
      for (let x = 0; x < m; x++) {
        const r = f64at(resid, rrow + x) - f64at(hs, x) * gy;
        setf64(resid, rrow + x, r);
        e2 += r * r;
      }
    }
    const e = norm2 > 0 ? Math.sqrt(e2 / norm2) : 0;
    err = e > 0 ? e : 0;
    if (err <= tol) {
      rank = p + 1;
      break;
    }
  }
  setf64(errOut, 0, err);
  return rank;
}

// ---------------------------------------------------------------------------------------------
// Order statistics of float32 samples (as core/select.ts and pipeline/lib/stats.ts; the values
// returned do not depend on how the selection permutes the samples, and this one permutes
// them as those do).

// @ts-ignore: decorator
@inline
function f32at(a: usize, i: i32): f32 {
  return load<f32>(a + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline
function swapf32(a: usize, i: i32, j: i32): void {
  const t = f32at(a, i);
  store<f32>(a + (<usize>i << 2), f32at(a, j));
  store<f32>(a + (<usize>j << 2), t);
}

// Rearranges a[lo..hi) so that a[k] holds the value it would have if sorted, everything before
// it ≤ a[k] and everything after ≥ a[k] (median-of-three quickselect); returns a[k]. No NaN.
function select(a: usize, lo: i32, hi: i32, k: i32): f32 {
  let l = lo;
  let r = hi - 1;
  while (r > l) {
    const m = (l + r) >>> 1;
    if (f32at(a, m) < f32at(a, l)) swapf32(a, m, l);
    if (f32at(a, r) < f32at(a, l)) swapf32(a, r, l);
    if (f32at(a, r) < f32at(a, m)) swapf32(a, r, m);
    const pivot = f32at(a, m);
    let i = l;
    let j = r;
    while (i <= j) {
      while (f32at(a, i) < pivot) i++;
      while (f32at(a, j) > pivot) j--;
      if (i <= j) {
        swapf32(a, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) r = j;
    else if (k >= i) l = i;
    else break;
  }
  return f32at(a, k);
}

// Median of a[0..n) (the mean of the two middle values for even n; NaN for n = 0). Reorders a.
export function median(a: usize, n: i32): f64 {
  if (n <= 0) return NaN;
  const k = n >>> 1;
  const upper = <f64>select(a, 0, n, k);
  if (n & 1) return upper;
  let m: f64 = -Infinity;
  for (let i = 0; i < k; i++) if (<f64>f32at(a, i) > m) m = <f64>f32at(a, i);
  return 0.5 * (upper + m);
}

// The median of a[0..n) after sigma clipping (lib/stats.ts sigmaClippedStatsInPlace): up to
// `iterations` times, the values beyond median ± nSigma · σ are dropped, σ from the
// interquartile range (× iqrToSigma) or, below four values, the standard deviation. Reorders a.
export function clippedMedian(a: usize, n: i32, nSigma: f64, iterations: i32, iqrToSigma: f64): f64 {
  let count = n;
  let med: f64 = NaN;
  for (let it = 0; it <= iterations && count > 0; it++) {
    med = median(a, count);
    let sigma: f64;
    if (count < 4) {
      if (count > 1) {
        let s: f64 = 0;
        for (let i = 0; i < count; i++) s += <f64>f32at(a, i);
        const mean = s / count;
        let s2: f64 = 0;
        for (let i = 0; i < count; i++) s2 += (<f64>f32at(a, i) - mean) * (<f64>f32at(a, i) - mean);
        sigma = Math.sqrt(s2 / (count - 1));
      } else sigma = 0;
    } else {
      const k = count >>> 1;
      const q1 = <f64>select(a, 0, k, <i32>Math.floor(0.25 * (count - 1)));
      const q3 = <f64>select(a, k, count, max(k, <i32>Math.ceil(0.75 * (count - 1))));
      sigma = iqrToSigma * (q3 - q1);
    }
    if (it == iterations || !(sigma > 0)) break;
    const lo = med - nSigma * sigma;
    const hi = med + nSigma * sigma;
    let kept = 0;
    for (let i = 0; i < count; i++) {
      const v = f32at(a, i);
      if (<f64>v >= lo && <f64>v <= hi) {
        store<f32>(a + (<usize>kept << 2), v);
        kept++;
      }
    }
    if (kept == count) break;
    count = kept;
  }
  return med;
}
