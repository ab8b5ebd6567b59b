// Instrument-signature removal: streaming per-pixel kernels over chunks of the planes.
//
// Pointers are byte offsets into this module's memory. Every buffer is followed by spare bytes
// (the arena's slack): a kernel working on groups of pixels may read and write past the end of
// its buffers up to the end of the group (at most 7 pixels), never more.
//
// Where results must be those of the JavaScript loops they replace to the bit (decoding stored
// integers, assembly), the kernels compute as those do: in float64 lanes (f64x2) where they
// compute in float64 and store to a Float32Array, rounding to float32 where a Float32Array
// holds a value. The calibration steps and the sums of the snaps compute in float32.

/** Two float32 values at ptr as float64 lanes. */
// @ts-ignore: decorator
@inline function loadF32Pair(ptr: usize): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(ptr));
}

/**
 * 16-bit stored integers s (signed: int16, else uint16) to float32 fround(s · scale + zero), the
 * values a Float32 decode of the plane holds. Writes whole groups of 8 (past n: into the slack).
 */
export function decode16(src: usize, dst: usize, n: i32, signed: bool, scale: f64, zero: f64): void {
  const s2 = f64x2.splat(scale);
  const z2 = f64x2.splat(zero);
  // s · scale + 0 is s · scale when that is not −0 (s = 0 and scale > 0 give +0).
  const add = !(zero == 0 && scale > 0);
  const un = <usize>n;
  for (let i: usize = 0; i < un; i += 8) {
    const raw = v128.load(src + (i << 1));
    const a = signed ? i32x4.extend_low_i16x8_s(raw) : i32x4.extend_low_i16x8_u(raw);
    const b = signed ? i32x4.extend_high_i16x8_s(raw) : i32x4.extend_high_i16x8_u(raw);
    let a0 = f64x2.mul(f64x2.convert_low_i32x4_s(a), s2);
    let a1 = f64x2.mul(f64x2.convert_low_i32x4_s(i32x4.shuffle(a, a, 2, 3, 2, 3)), s2);
    let b0 = f64x2.mul(f64x2.convert_low_i32x4_s(b), s2);
    let b1 = f64x2.mul(f64x2.convert_low_i32x4_s(i32x4.shuffle(b, b, 2, 3, 2, 3)), s2);
    if (add) {
      a0 = f64x2.add(a0, z2);
      a1 = f64x2.add(a1, z2);
      b0 = f64x2.add(b0, z2);
      b1 = f64x2.add(b1, z2);
    }
    const lo = i32x4.shuffle(f32x4.demote_f64x2_zero(a0), f32x4.demote_f64x2_zero(a1), 0, 1, 4, 5);
    const hi = i32x4.shuffle(f32x4.demote_f64x2_zero(b0), f32x4.demote_f64x2_zero(b1), 0, 1, 4, 5);
    v128.store(dst + (i << 2), lo);
    v128.store(dst + (i << 2), hi, 16);
  }
}

/**
 * Bias, dark and flat of n pixels in place, in float32, four at a time:
 *   image −= bias;           variance += biasVar
 *   image −= t · dark;       variance += t2 · darkVar
 *   F = flat · inv; where F > 0 and finite:
 *     image ← image / F;     variance ← (variance + q² · flatVar · inv · inv) / F²  (q: the new image)
 *                            variance ← variance / F²                               (no flatVar)
 *   elsewhere image ← 0 and the pixel's index is written to `bad`.
 * The master planes are float32 (decode16 gives those of stored integers): `desc` holds the
 * pointers (int32; 0: absent, the step is skipped) of bias, biasVar, dark, darkVar, flat,
 * flatVar, then t, t2, inv (float64, from byte 24; used as float32). Works on whole groups of 4
 * pixels (past n: into the slack). Returns the count of `bad`.
 */
export function calibrate(n: i32, img: usize, vari: usize, desc: usize, bad: usize): i32 {
  const b = <usize>load<i32>(desc, 0);
  const bv = <usize>load<i32>(desc, 4);
  const d = <usize>load<i32>(desc, 8);
  const dv = <usize>load<i32>(desc, 12);
  const f = <usize>load<i32>(desc, 16);
  const fv = <usize>load<i32>(desc, 20);
  const t = f32x4.splat(<f32>load<f64>(desc, 24));
  const t2 = f32x4.splat(<f32>load<f64>(desc, 32));
  const inv = f32x4.splat(<f32>load<f64>(desc, 40));
  const zero = f32x4.splat(0);
  const inf = f32x4.splat(Infinity);
  const un = <usize>n;
  let nBad = 0;
  for (let i: usize = 0; i < un; i += 4) {
    const off = i << 2;
    let x = v128.load(img + off);
    let v = v128.load(vari + off);
    if (b != 0) x = f32x4.sub(x, v128.load(b + off));
    if (bv != 0) v = f32x4.add(v, v128.load(bv + off));
    if (d != 0) x = f32x4.sub(x, f32x4.mul(t, v128.load(d + off)));
    if (dv != 0) v = f32x4.add(v, f32x4.mul(t2, v128.load(dv + off)));
    if (f != 0) {
      const fi = f32x4.mul(v128.load(f + off), inv);
      const good = v128.and(f32x4.gt(fi, zero), f32x4.lt(fi, inf));
      const q = f32x4.div(x, fi);
      const fi2 = f32x4.mul(fi, fi);
      let nv: v128;
      if (fv != 0) nv = f32x4.div(f32x4.add(v, f32x4.mul(f32x4.mul(f32x4.mul(f32x4.mul(q, q), v128.load(fv + off)), inv), inv)), fi2);
      else nv = f32x4.div(v, fi2);
      x = v128.bitselect(q, zero, good);
      v = v128.bitselect(nv, v, good);
      if (!i32x4.all_true(good)) {
        const m = i32x4.bitmask(good);
        for (let j: usize = 0; j < 4; j++) {
          if ((m & (1 << <i32>j)) == 0 && i + j < un) {
            store<i32>(bad + (<usize>nBad << 2), <i32>(i + j));
            nBad++;
          }
        }
      }
    }
    v128.store(img + off, x);
    v128.store(vari + off, v);
  }
  return nBad;
}

/**
 * Rows of one amplifier in the detector's orientation, in electrons, with their variance: row k
 * of `raw` (stride rawW int32 values) from column x0, w pixels, with its level levels[k]
 * (float32) and the column levels cols[i] (float32; cols = 0: none):
 *   v = (r − level − col) · g;  image = v;  variance = (v > 0 ? v · ppu : 0) + rn2
 * written to rows of outImg and outVar (float32, stride outStride values): raw row k to row
 * nRows − 1 − k when flipY, else k; pixel i to w − 1 − i when flipX, else i. Returns the number
 * of raw values ≥ sat.
 */
export function assembleRows(
  raw: usize,
  rawW: i32,
  x0: i32,
  w: i32,
  nRows: i32,
  levels: usize,
  cols: usize,
  g: f64,
  ppu: f64,
  rn2: f64,
  sat: f64,
  flipX: bool,
  flipY: bool,
  outImg: usize,
  outVar: usize,
  outStride: i32,
): i32 {
  const g2 = f64x2.splat(g);
  const ppu2 = f64x2.splat(ppu);
  const rn22 = f64x2.splat(rn2);
  const sat2 = f64x2.splat(sat);
  const zero = f64x2.splat(0);
  const uw = <usize>w;
  const w2 = uw & ~(<usize>1);
  let nSat = 0;
  for (let k = 0; k < nRows; k++) {
    const src = raw + ((<usize>k * <usize>rawW + <usize>x0) << 2);
    const row = <usize>(flipY ? nRows - 1 - k : k) * <usize>outStride;
    const oi = outImg + (row << 2);
    const ov = outVar + (row << 2);
    const lv = <f64>load<f32>(levels + (<usize>k << 2));
    const lv2 = f64x2.splat(lv);
    for (let i: usize = 0; i < w2; i += 2) {
      const r = f64x2.convert_low_i32x4_s(v128.load64_zero(src + (i << 2)));
      let d = f64x2.sub(r, lv2);
      if (cols != 0) d = f64x2.sub(d, loadF32Pair(cols + (i << 2)));
      const v = f64x2.mul(d, g2);
      const va = f64x2.add(v128.bitselect(f64x2.mul(v, ppu2), zero, f64x2.gt(v, zero)), rn22);
      nSat += popcnt(i64x2.bitmask(f64x2.ge(r, sat2)));
      let fx = f32x4.demote_f64x2_zero(v);
      let fv = f32x4.demote_f64x2_zero(va);
      let o = i;
      if (flipX) {
        fx = i32x4.shuffle(fx, fx, 1, 0, 2, 3);
        fv = i32x4.shuffle(fv, fv, 1, 0, 2, 3);
        o = uw - 2 - i;
      }
      v128.store64_lane(oi + (o << 2), fx, 0);
      v128.store64_lane(ov + (o << 2), fv, 0);
    }
    if (w2 < uw) {
      const i = w2;
      const r = <f64>load<i32>(src + (i << 2));
      let d = r - lv;
      if (cols != 0) d -= <f64>load<f32>(cols + (i << 2));
      const v = d * g;
      const va = (v > 0 ? v * ppu : 0) + rn2;
      if (r >= sat) nSat++;
      const o = flipX ? uw - 1 - i : i;
      store<f32>(oi + (o << 2), <f32>v);
      store<f32>(ov + (o << 2), <f32>va);
    }
  }
  return nSat;
}

/** 2^-100: float32 products at least this large are normal. */
const TINY: f32 = 7.888609052210118e-31;

/**
 * Two snaps summed in place into the first: a += b, va += vb, ma |= mb (float32 sums). With
 * `screen`, the pixels i whose snap difference d = a − b might be significant, that is all but
 * those where d² ≤ k2 · (va + vb) certainly holds in float64, are written to `cand` (in
 * increasing i) and counted in the result. Writes to `masks` (int32) bit 0 when some mb is not
 * 0, bit 1 when some ma | mb is not 0.
 *
 * The screen is in float32: d² ≤ k2' · s with k2' a relative 1e-5 below k2 (far more than the
 * float32 roundings of d, s and the products can move either side) and k2' · s normal and finite
 * (so that those roundings are relative) implies d² ≤ k2 · s in float64. NaNs and infinite
 * differences pass it.
 */
export function combineSnaps(
  n: i32,
  a: usize,
  b: usize,
  va: usize,
  vb: usize,
  ma: usize,
  mb: usize,
  screen: bool,
  k2: f64,
  cand: usize,
  masks: usize,
): i32 {
  const un = <usize>n;
  const n4 = un & ~(<usize>3);
  let anyB = i32x4.splat(0);
  let anyOr = i32x4.splat(0);
  const k2s = <f32>(k2 * (1 - 1e-5));
  const k2s4 = f32x4.splat(k2s);
  const tiny = f32x4.splat(TINY);
  const inf = f32x4.splat(Infinity);
  let nCand = 0;
  for (let i: usize = 0; i < n4; i += 4) {
    const off = i << 2;
    const av = v128.load(a + off);
    const bv = v128.load(b + off);
    const vs = f32x4.add(v128.load(va + off), v128.load(vb + off));
    if (screen) {
      const d = f32x4.sub(av, bv);
      const rhs = f32x4.mul(k2s4, vs);
      const quiet = v128.and(f32x4.le(f32x4.mul(d, d), rhs), v128.and(f32x4.ge(rhs, tiny), f32x4.lt(rhs, inf)));
      if (!i32x4.all_true(quiet)) {
        const m = i32x4.bitmask(quiet);
        for (let j = 0; j < 4; j++) {
          if ((m & (1 << j)) == 0) {
            store<i32>(cand + (<usize>nCand << 2), <i32>i + j);
            nCand++;
          }
        }
      }
    }
    const mbv = v128.load(mb + off);
    const m = v128.or(v128.load(ma + off), mbv);
    anyB = v128.or(anyB, mbv);
    anyOr = v128.or(anyOr, m);
    v128.store(a + off, f32x4.add(av, bv));
    v128.store(va + off, vs);
    v128.store(ma + off, m);
  }
  let tailB = 0;
  let tailOr = 0;
  for (let i = n4; i < un; i++) {
    const off = i << 2;
    const ai = load<f32>(a + off);
    const bi = load<f32>(b + off);
    const vs = load<f32>(va + off) + load<f32>(vb + off);
    if (screen) {
      const d = ai - bi;
      const rhs = k2s * vs;
      if (!(d * d <= rhs && rhs >= TINY && rhs < Infinity)) {
        store<i32>(cand + (<usize>nCand << 2), <i32>i);
        nCand++;
      }
    }
    const mbi = load<i32>(mb + off);
    const m = load<i32>(ma + off) | mbi;
    tailB |= mbi;
    tailOr |= m;
    store<f32>(a + off, ai + bi);
    store<f32>(va + off, vs);
    store<i32>(ma + off, m);
  }
  store<i32>(masks, (v128.any_true(anyB) || tailB != 0 ? 1 : 0) | (v128.any_true(anyOr) || tailOr != 0 ? 2 : 0));
  return nCand;
}

/** Minimum and maximum of n ≥ 1 int32 values, written to out[0], out[1]. */
export function minMaxI32(src: usize, n: i32, out: usize): void {
  const un = <usize>n;
  const n4 = un & ~(<usize>3);
  let lo = load<i32>(src);
  let hi = lo;
  if (n4 > 0) {
    let vlo = v128.load(src);
    let vhi = vlo;
    for (let i: usize = 4; i < n4; i += 4) {
      const v = v128.load(src + (i << 2));
      vlo = i32x4.min_s(vlo, v);
      vhi = i32x4.max_s(vhi, v);
    }
    vlo = i32x4.min_s(vlo, i32x4.shuffle(vlo, vlo, 2, 3, 0, 1));
    vlo = i32x4.min_s(vlo, i32x4.shuffle(vlo, vlo, 1, 0, 3, 2));
    vhi = i32x4.max_s(vhi, i32x4.shuffle(vhi, vhi, 2, 3, 0, 1));
    vhi = i32x4.max_s(vhi, i32x4.shuffle(vhi, vhi, 1, 0, 3, 2));
    const a = i32x4.extract_lane(vlo, 0);
    const b = i32x4.extract_lane(vhi, 0);
    if (a < lo) lo = a;
    if (b > hi) hi = b;
  }
  for (let i = n4; i < un; i++) {
    const v = load<i32>(src + (i << 2));
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  store<i32>(out, lo);
  store<i32>(out, hi, 4);
}

/** int32 → int16 (signed: Int16Array; else unsigned: Uint16Array), saturating, n values. */
export function narrow16(src: usize, dst: usize, n: i32, signed: bool): void {
  const un = <usize>n;
  const n8 = un & ~(<usize>7);
  for (let i: usize = 0; i < n8; i += 8) {
    const a = v128.load(src + (i << 2));
    const b = v128.load(src + (i << 2), 16);
    v128.store(dst + (i << 1), signed ? i16x8.narrow_i32x4_s(a, b) : i16x8.narrow_i32x4_u(a, b));
  }
  for (let i = n8; i < un; i++) {
    const v = load<i32>(src + (i << 2));
    store<i16>(dst + (i << 1), <i16>(signed ? (v < -32768 ? -32768 : v > 32767 ? 32767 : v) : v < 0 ? 0 : v > 65535 ? 65535 : v));
  }
}

/**
 * Scaled int32 values to float32 (dst may be src): fround(s · bscale + bzero), NaN where
 * s = blank when hasBlank.
 */
export function scaleI32ToF32(src: usize, dst: usize, n: i32, bscale: f64, bzero: f64, hasBlank: bool, blank: i32): void {
  const un = <usize>n;
  const n4 = un & ~(<usize>3);
  const s2 = f64x2.splat(bscale);
  const z2 = f64x2.splat(bzero);
  const bl = i32x4.splat(blank);
  const nan = f32x4.splat(NaN);
  for (let i: usize = 0; i < n4; i += 4) {
    const v = v128.load(src + (i << 2));
    const lo = f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(f64x2.convert_low_i32x4_s(v), s2), z2));
    const hi = f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(f64x2.convert_low_i32x4_s(i32x4.shuffle(v, v, 2, 3, 2, 3)), s2), z2));
    let r = i32x4.shuffle(lo, hi, 0, 1, 4, 5);
    if (hasBlank) r = v128.bitselect(nan, r, i32x4.eq(v, bl));
    v128.store(dst + (i << 2), r);
  }
  for (let i = n4; i < un; i++) {
    const v = load<i32>(src + (i << 2));
    store<f32>(dst + (i << 2), hasBlank && v == blank ? NaN : <f32>(<f64>v * bscale + bzero));
  }
}

/**
 * The non-zero values of n int32 values: their indices plus base (increasing) to idx and the
 * values to val. Returns their count.
 */
export function gatherNonZero(src: usize, n: i32, base: i32, idx: usize, val: usize): i32 {
  const un = <usize>n;
  const n16 = un & ~(<usize>15);
  let k = 0;
  for (let i: usize = 0; i < n16; i += 16) {
    const p = src + (i << 2);
    const any = v128.or(v128.or(v128.load(p), v128.load(p, 16)), v128.or(v128.load(p, 32), v128.load(p, 48)));
    if (!v128.any_true(any)) continue;
    for (let j: usize = 0; j < 16; j++) {
      const v = load<i32>(p + (j << 2));
      if (v != 0) {
        store<i32>(idx + (<usize>k << 2), base + <i32>(i + j));
        store<i32>(val + (<usize>k << 2), v);
        k++;
      }
    }
  }
  for (let i = n16; i < un; i++) {
    const v = load<i32>(src + (i << 2));
    if (v != 0) {
      store<i32>(idx + (<usize>k << 2), base + <i32>i);
      store<i32>(val + (<usize>k << 2), v);
      k++;
    }
  }
  return k;
}
