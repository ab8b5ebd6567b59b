// Per-source moments on a stamp (pipeline/lib/moments.ts): the iterated Gaussian-weighted
// centroid and its linearised errors, and adaptive second moments; and the pixels of a strip of
// the DiaSource significance that may be beyond a threshold (pipeline/stages/dia-sources).
// Float64 arithmetic, two pixels per SIMD operation.
//
// A stamp is a copy of part of an image: float32 rows of `sw` pixels, pixel (x, y) of the image
// (W x H) at stamp + 4·((y − sy0)·sw + x − sx0). The kernels work in image coordinates and read
// only the pixels of the boxes the iterations need; `scratch` holds 5·(2·maxR + 4) float64
// values, maxR the largest box radius of the call.
//
// The Gaussian weights are separable: exp(−a·dx²) per column and exp(−c·dy²) per row (Gaussian
// recurrences: three exponentials per axis), and for an elliptical weight a cross factor
// exp(−2b·dx·dy), carried from one row to the next by exp(−2b·dx) per column. Sums are taken row
// by row. Where a recurrence could leave the double range (extremely elongated weights, tiny
// sigmas) the weights are exponentials per value or per pixel.

const RANGE: f64 = 600;

// out[k] = exp(−h·(d0 + k)²), k < n.
function gaussianSequence(out: usize, n: i32, d0: f64, h: f64): void {
  const m = Math.max(Math.abs(d0), Math.abs(d0 + <f64>(n - 1)));
  if (!(h * m * m <= RANGE && h * (2 * m + 1) <= RANGE)) {
    for (let k = 0; k < n; k++) {
      const d = d0 + <f64>k;
      store<f64>(out + (<usize>k << 3), Math.exp(-h * d * d));
    }
    return;
  }
  let g = Math.exp(-h * d0 * d0);
  let q = Math.exp(-h * (2 * d0 + 1));
  const r = Math.exp(-2 * h);
  for (let k = 0; k < n; k++) {
    store<f64>(out + (<usize>k << 3), g);
    g *= q;
    q *= r;
  }
}

// @ts-ignore: decorator
@inline
function hsum(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

// @ts-ignore: decorator
@inline
function pair(p: usize): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(p));
}

// Results of the row sums below.
let sumA: f64 = 0;
let sumB: f64 = 0;
let sumC: f64 = 0;

// Σ w0[k]·I[k] and Σ w1[k]·I[k] over k < n (I float32 at row), into sumA, sumB.
// @ts-ignore: decorator
@inline
function rowSums2(row: usize, w0: usize, w1: usize, n: i32): void {
  let a0 = f64x2.splat(0);
  let a1 = a0;
  let b0 = a0;
  let b1 = a0;
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const p = row + (<usize>k << 2);
    const q = <usize>k << 3;
    const v0 = pair(p);
    const v1 = pair(p + 8);
    a0 = f64x2.add(a0, f64x2.mul(v128.load(w0 + q), v0));
    b0 = f64x2.add(b0, f64x2.mul(v128.load(w1 + q), v0));
    a1 = f64x2.add(a1, f64x2.mul(v128.load(w0 + q, 16), v1));
    b1 = f64x2.add(b1, f64x2.mul(v128.load(w1 + q, 16), v1));
  }
  let ra = hsum(f64x2.add(a0, a1));
  let rb = hsum(f64x2.add(b0, b1));
  for (; k < n; k++) {
    const v = <f64>load<f32>(row + (<usize>k << 2));
    ra += load<f64>(w0 + (<usize>k << 3)) * v;
    rb += load<f64>(w1 + (<usize>k << 3)) * v;
  }
  sumA = ra;
  sumB = rb;
}

// The centroid iteration from (x0, y0) (pipeline/lib/moments.ts gaussianCentroid): out[0], out[1]
// the centre reached; returns 1 when it converged, 0 when not, 2 when a box the iteration needs
// is not within the stamp (the boxes of centres within maxShift of the start are needed).
export function centroid(img: usize, sx0: i32, sy0: i32, sw: i32, sh: i32, W: i32, H: i32, x0: f64, y0: f64, sigma: f64, maxIter: i32, scratch: usize, out: usize): i32 {
  const R = <i32>Math.ceil(4 * sigma);
  const inv2s2 = 1 / (2 * sigma * sigma);
  const cap = <usize>(2 * R + 4) << 3;
  const wx = scratch;
  const wxd = wx + cap;
  const wy = wxd + cap;
  let xc = x0;
  let yc = y0;
  let ok = 0;
  const maxShift = Math.max(2, 1.5 * sigma);
  for (let it = 0; it < maxIter; it++) {
    const fx = <i32>Math.floor(xc);
    const fy = <i32>Math.floor(yc);
    const ix0 = max(0, fx - R);
    const ix1 = min(W - 1, fx + R + 1);
    const iy0 = max(0, fy - R);
    const iy1 = min(H - 1, fy + R + 1);
    if (ix0 <= ix1 && iy0 <= iy1 && (ix0 < sx0 || iy0 < sy0 || ix1 >= sx0 + sw || iy1 >= sy0 + sh)) return 2;
    const nx = ix1 - ix0 + 1;
    const d0 = <f64>ix0 - xc;
    gaussianSequence(wx, nx, d0, inv2s2);
    gaussianSequence(wy, iy1 - iy0 + 1, <f64>iy0 - yc, inv2s2);
    for (let k = 0; k < nx; k++) store<f64>(wxd + (<usize>k << 3), load<f64>(wx + (<usize>k << 3)) * (d0 + <f64>k));
    let s0: f64 = 0;
    let sx: f64 = 0;
    let sy: f64 = 0;
    for (let y = iy0; y <= iy1; y++) {
      rowSums2(img + ((<usize>((y - sy0) * sw + ix0 - sx0)) << 2), wx, wxd, nx);
      const wyv = load<f64>(wy + (<usize>(y - iy0) << 3));
      const r0 = sumA * wyv;
      s0 += r0;
      sx += wyv * sumB;
      sy += r0 * (<f64>y - yc);
    }
    if (!(s0 > 0)) break;
    let dx = sx / s0;
    let dy = sy / s0;
    const step = Math.hypot(dx, dy);
    if (step > 1) {
      dx /= step;
      dy /= step;
    }
    xc += dx;
    yc += dy;
    if (Math.hypot(xc - x0, yc - y0) > maxShift) break;
    if (step < 1e-5) {
      ok = 1;
      break;
    }
  }
  store<f64>(out, xc);
  store<f64>(out, yc, 8);
  return ok;
}

// The centroid's errors at (xc, yc): the image stamp `img` and the variance stamp `vr` (the same
// geometry; only the box of the centre is read). out[0] = Σ w·I, out[1], out[2] the x and y
// errors; returns 0 when the linearisation is not usable (errors NaN), else 1.
export function centroidErrors(img: usize, vr: usize, sx0: i32, sy0: i32, sw: i32, W: i32, H: i32, xc: f64, yc: f64, sigma: f64, scratch: usize, out: usize): i32 {
  const R = <i32>Math.ceil(4 * sigma);
  const inv2s2 = 1 / (2 * sigma * sigma);
  const invS2 = 1 / (sigma * sigma);
  const cap = <usize>(2 * R + 4) << 3;
  const wx = scratch;
  const wx2 = wx + cap;
  const wy = wx2 + cap;
  const wxd2 = wy + cap;
  const wx2d2 = wxd2 + cap;
  const fx = <i32>Math.floor(xc);
  const fy = <i32>Math.floor(yc);
  const ix0 = max(0, fx - R);
  const ix1 = min(W - 1, fx + R + 1);
  const iy0 = max(0, fy - R);
  const iy1 = min(H - 1, fy + R + 1);
  const nx = ix1 - ix0 + 1;
  const d0 = <f64>ix0 - xc;
  gaussianSequence(wx, nx, d0, inv2s2);
  gaussianSequence(wy, iy1 - iy0 + 1, <f64>iy0 - yc, inv2s2);
  for (let k = 0; k < nx; k++) {
    const q = <usize>k << 3;
    const w = load<f64>(wx + q);
    const d = d0 + <f64>k;
    store<f64>(wx2 + q, w * w);
    store<f64>(wxd2 + q, w * d * d);
    store<f64>(wx2d2 + q, w * w * d * d);
  }
  let s0: f64 = 0;
  let sxx: f64 = 0;
  let syy: f64 = 0;
  let vx: f64 = 0;
  let vy: f64 = 0;
  for (let y = iy0; y <= iy1; y++) {
    const off = (<usize>((y - sy0) * sw + ix0 - sx0)) << 2;
    rowSums2(img + off, wx, wxd2, nx);
    const a0 = sumA;
    const a2 = sumB;
    rowSums2(vr + off, wx2, wx2d2, nx);
    const dy = <f64>y - yc;
    const dy2 = dy * dy;
    const wyv = load<f64>(wy + (<usize>(y - iy0) << 3));
    const wy2 = wyv * wyv;
    s0 += wyv * a0;
    sxx += wyv * a2;
    syy += wyv * a0 * dy2;
    vx += wy2 * sumB;
    vy += wy2 * sumA * dy2;
  }
  const dX = s0 - sxx * invS2;
  const dY = s0 - syy * invS2;
  store<f64>(out, s0);
  if (!(dX > 0) || !(dY > 0)) {
    store<f64>(out, NaN, 8);
    store<f64>(out, NaN, 16);
    return 0;
  }
  store<f64>(out, Math.sqrt(vx) / dX, 8);
  store<f64>(out, Math.sqrt(vy) / dY, 16);
  return 1;
}

// Σ g[k]·I[k], Σ …·d[k], Σ …·d2[k] over k ∈ [k0, k1] (I float32 at row), into sumA, sumB, sumC.
// @ts-ignore: decorator
@inline
function rowMoments(row: usize, g: usize, d: usize, d2: usize, k0: i32, k1: i32): void {
  let a = f64x2.splat(0);
  let b = a;
  let c = a;
  let k = k0;
  for (; k < k1; k += 2) {
    const q = <usize>k << 3;
    const w = f64x2.mul(v128.load(g + q), pair(row + (<usize>k << 2)));
    a = f64x2.add(a, w);
    b = f64x2.add(b, f64x2.mul(w, v128.load(d + q)));
    c = f64x2.add(c, f64x2.mul(w, v128.load(d2 + q)));
  }
  let ra = hsum(a);
  let rb = hsum(b);
  let rc = hsum(c);
  if (k === k1) {
    const q = <usize>k << 3;
    const w = load<f64>(g + q) * <f64>load<f32>(row + (<usize>k << 2));
    ra += w;
    rb += w * load<f64>(d + q);
    rc += w * load<f64>(d2 + q);
  }
  sumA = ra;
  sumB = rb;
  sumC = rc;
}

// g[k] *= s[k], k < n (and at most one value beyond, within the arrays' room).
// @ts-ignore: decorator
@inline
function scaleBy(g: usize, s: usize, n: i32): void {
  for (let k = 0; k < n; k += 2) {
    const q = <usize>k << 3;
    v128.store(g + q, f64x2.mul(v128.load(g + q), v128.load(s + q)));
  }
}

// Adaptive second moments about (xc, yc) (pipeline/lib/moments.ts adaptiveMoments), continuing
// from state = [wxx, wyy, wxy, iterations done] (float64). Returns 1 when converged (state[0..2]
// the moments), 0 on failure, 2 when the next iteration's box is not within the stamp: state is
// then where to continue from and state[4] the box radius needed.
export function moments(img: usize, sx0: i32, sy0: i32, sw: i32, sh: i32, W: i32, H: i32, xc: f64, yc: f64, maxIter: i32, maxRadius: i32, scratch: usize, state: usize): i32 {
  let wxx = load<f64>(state);
  let wyy = load<f64>(state, 8);
  let wxy = load<f64>(state, 16);
  const cap = <usize>(2 * maxRadius + 4) << 3;
  const g = scratch;
  const dxs = g + cap;
  const dx2s = dxs + cap;
  const ey = dx2s + cap;
  const gs = ey + cap;
  const fx = <i32>Math.floor(xc);
  const fy = <i32>Math.floor(yc);
  const maxR2 = <f64>maxRadius * <f64>maxRadius;
  for (let it = <i32>load<f64>(state, 24); it < maxIter; it++) {
    const det = wxx * wyy - wxy * wxy;
    if (!(det > 0)) break;
    const a = wyy / det / 2;
    const b = -wxy / det / 2;
    const c = wxx / det / 2;
    const R = min(maxRadius, <i32>Math.ceil(4 * Math.sqrt(Math.max(wxx, wyy))));
    const ix0 = max(0, fx - R);
    const ix1 = min(W - 1, fx + R + 1);
    const iy0 = max(0, fy - R);
    const iy1 = min(H - 1, fy + R + 1);
    if (ix0 <= ix1 && iy0 <= iy1 && (ix0 < sx0 || iy0 < sy0 || ix1 >= sx0 + sw || iy1 >= sy0 + sh)) {
      store<f64>(state, wxx);
      store<f64>(state, wyy, 8);
      store<f64>(state, wxy, 16);
      store<f64>(state, <f64>it, 24);
      store<f64>(state, <f64>R, 32);
      return 2;
    }
    const nx = ix1 - ix0 + 1;
    const ny = iy1 - iy0 + 1;
    const dx0 = <f64>ix0 - xc;
    const dy0 = <f64>iy0 - yc;
    const mx = Math.max(1, Math.max(Math.abs(dx0), Math.abs(<f64>ix1 - xc)));
    const my = Math.max(1, Math.max(Math.abs(dy0), Math.abs(<f64>iy1 - yc)));
    let s0: f64 = 0;
    let sxx: f64 = 0;
    let syy: f64 = 0;
    let sxy: f64 = 0;
    const bxy = 2 * Math.abs(b) * mx * my;
    if (a * mx * mx + bxy <= RANGE && c * my * my + bxy <= RANGE) {
      // The row's weights without exp(−c·dy²): g[k] = exp(−a·dx² − 2b·dy·dx), from the first
      // row's down the rows by gs[k] = exp(−2b·dx) (all within exp(±RANGE)).
      gaussianSequence(g, nx, dx0, a);
      gaussianSequence(ey, ny, dy0, c);
      let cross = Math.exp(-2 * b * dy0 * dx0);
      const crossStep = Math.exp(-2 * b * dy0);
      let step = Math.exp(-2 * b * dx0);
      const stepStep = Math.exp(-2 * b);
      for (let k = 0; k < nx; k++) {
        const q = <usize>k << 3;
        const d = dx0 + <f64>k;
        store<f64>(dxs + q, d);
        store<f64>(dx2s + q, d * d);
        store<f64>(g + q, load<f64>(g + q) * cross);
        store<f64>(gs + q, step);
        cross *= crossStep;
        step *= stepStep;
      }
      for (let y = iy0; y <= iy1; y++) {
        const dy = <f64>y - yc;
        const cy = c * dy * dy;
        const by = 2 * b * dy;
        // Pixels with exponent a·dx² + by·dx + cy ≤ 9: an interval of the row.
        let k0 = 0;
        while (k0 < nx) {
          const d = load<f64>(dxs + (<usize>k0 << 3));
          if (!(a * d * d + by * d + cy > 9)) break;
          k0++;
        }
        let k1 = nx - 1;
        while (k1 >= k0) {
          const d = load<f64>(dxs + (<usize>k1 << 3));
          if (!(a * d * d + by * d + cy > 9)) break;
          k1--;
        }
        if (k1 < k0) {
          scaleBy(g, gs, nx);
          continue;
        }
        rowMoments(img + ((<usize>((y - sy0) * sw + ix0 - sx0)) << 2), g, dxs, dx2s, k0, k1);
        scaleBy(g, gs, nx);
        const wy = load<f64>(ey + (<usize>(y - iy0) << 3));
        const r0 = sumA * wy;
        s0 += r0;
        sxx += wy * sumC;
        syy += r0 * dy * dy;
        sxy += wy * sumB * dy;
      }
    } else {
      for (let y = iy0; y <= iy1; y++) {
        const row = img + ((<usize>((y - sy0) * sw)) << 2);
        const dy = <f64>y - yc;
        const cy = c * dy * dy;
        const by = 2 * b * dy;
        for (let x = ix0; x <= ix1; x++) {
          const dx = <f64>x - xc;
          const e = a * dx * dx + by * dx + cy;
          if (e > 9) continue;
          const wi = Math.exp(-e) * <f64>load<f32>(row + (<usize>(x - sx0) << 2));
          s0 += wi;
          sxx += wi * dx * dx;
          syy += wi * dy * dy;
          sxy += wi * dx * dy;
        }
      }
    }
    if (!(s0 > 0)) break;
    const nxx = 2 * (sxx / s0);
    const nyy = 2 * (syy / s0);
    const nxy = 2 * (sxy / s0);
    if (!(nxx > 0) || !(nyy > 0) || nxx * nyy - nxy * nxy <= 0) break;
    const change = Math.abs(nxx - wxx) + Math.abs(nyy - wyy) + Math.abs(nxy - wxy);
    wxx = nxx;
    wyy = nyy;
    wxy = nxy;
    if (change < 1e-5 * (wxx + wyy)) {
      store<f64>(state, wxx);
      store<f64>(state, wyy, 8);
      store<f64>(state, wxy, 16);
      return 1;
    }
    if (wxx > maxR2 || wyy > maxR2) break;
  }
  return 0;
}

// The pixels of a DiaSource significance strip that may be beyond a threshold tl: the indices
// i ∈ [0, n) of the float32 filtered difference d and filtered variance v with d[i] ≠ 0 and not
// (v[i] > 0, v[i] < ∞ and d[i]² ≤ tl2·v[i]) (in float64; tl2 = tl² with a margin below it),
// appended in order to `list` (int32). Returns how many. Beyond these pixels |d / √v| ≤ tl.
export function candidates(d: usize, v: usize, n: i32, tl2: f64, list: usize): i32 {
  const n4 = n & ~3;
  const t2 = f64x2.splat(tl2);
  const zero = f32x4.splat(0);
  const inf = f32x4.splat(Infinity);
  let c = 0;
  let i = 0;
  for (; i < n4; i += 4) {
    const q = <usize>i << 2;
    const dv = v128.load(d + q);
    const vv = v128.load(v + q);
    const dlo = f64x2.promote_low_f32x4(dv);
    const dhi = f64x2.promote_low_f32x4(v128.shuffle<f32>(dv, dv, 2, 3, 0, 1));
    const vlo = f64x2.promote_low_f32x4(vv);
    const vhi = f64x2.promote_low_f32x4(v128.shuffle<f32>(vv, vv, 2, 3, 0, 1));
    const lo = f64x2.le(f64x2.mul(dlo, dlo), f64x2.mul(t2, vlo));
    const hi = f64x2.le(f64x2.mul(dhi, dhi), f64x2.mul(t2, vhi));
    const within = v128.shuffle<i32>(lo, hi, 0, 2, 4, 6);
    const valid = v128.and(f32x4.gt(vv, zero), f32x4.lt(vv, inf));
    const below = v128.or(v128.and(valid, within), f32x4.eq(dv, zero));
    if (v128.all_true<i32>(below)) continue;
    let bits = ~i32x4.bitmask(below) & 15;
    while (bits !== 0) {
      const j = ctz(bits);
      store<i32>(list + (<usize>c << 2), i + j);
      c++;
      bits &= bits - 1;
    }
  }
  for (; i < n; i++) {
    const q = <usize>i << 2;
    const dd = <f64>load<f32>(d + q);
    const vf = load<f32>(v + q);
    const vd = <f64>vf;
    if (dd == 0 || (vf > 0 && vf < Infinity && dd * dd <= tl2 * vd)) continue;
    store<i32>(list + (<usize>c << 2), i);
    c++;
  }
  return c;
}
