// Separable filtering with a symmetric kernel of half-width r, four pixels per SIMD operation,
// float32 throughout. The taps are c_0 … c_r (c_j the weight at distance j); each output is
//
//   out = c_0·a_0 + c_1·(a_−1 + a_+1) + c_2·(a_−2 + a_+2) + … + c_r·(a_−r + a_+r)
//
// summed from left to right, every product and sum rounded to float32 (the same value for a
// pixel whichever lane or loop computes it).
//
//   hrows: each of nRows source rows of W values (masked and NaN pixels as zero when a mask is
//          given), zero beyond the row ends, filtered along the row: out row k ← source row k.
//   vrows: filtered down the columns of a strip of rows (stride W): out row k ← strip rows
//          k − r … k + r, strip row k at `centre` + k·W (the r rows above it are read too).
//   above: the indices base + x of the values of a row above their threshold (v > t, in order).
//
// Pointers are byte offsets into this module's memory. SIMD loads may read up to 12 bytes past
// the end of a buffer (the caller leaves slack there); nothing is stored past the end.

// Sums the fold for n outputs: out[x] = c_0·a[x] + Σ_j c_j·(a[x − j·s] + a[x + j·s]), a at
// `centre`, s = `stride` bytes between taps.
@inline
function fold(centre: usize, out: usize, n: i32, stride: usize, taps: usize, r: i32): void {
  const c0s = load<f32>(taps);
  const c0 = f32x4.splat(c0s);
  let x = 0;
  for (; x + 16 <= n; x += 16) {
    const p = centre + (<usize>x << 2);
    let a0 = f32x4.mul(c0, v128.load(p));
    let a1 = f32x4.mul(c0, v128.load(p, 16));
    let a2 = f32x4.mul(c0, v128.load(p, 32));
    let a3 = f32x4.mul(c0, v128.load(p, 48));
    let lo = p;
    let hi = p;
    for (let j = 1; j <= r; j++) {
      lo -= stride;
      hi += stride;
      const cj = v128.load32_splat(taps + (<usize>j << 2));
      a0 = f32x4.add(a0, f32x4.mul(cj, f32x4.add(v128.load(lo), v128.load(hi))));
      a1 = f32x4.add(a1, f32x4.mul(cj, f32x4.add(v128.load(lo, 16), v128.load(hi, 16))));
      a2 = f32x4.add(a2, f32x4.mul(cj, f32x4.add(v128.load(lo, 32), v128.load(hi, 32))));
      a3 = f32x4.add(a3, f32x4.mul(cj, f32x4.add(v128.load(lo, 48), v128.load(hi, 48))));
    }
    const o = out + (<usize>x << 2);
    v128.store(o, a0);
    v128.store(o, a1, 16);
    v128.store(o, a2, 32);
    v128.store(o, a3, 48);
  }
  for (; x + 4 <= n; x += 4) {
    const p = centre + (<usize>x << 2);
    let a0 = f32x4.mul(c0, v128.load(p));
    let lo = p;
    let hi = p;
    for (let j = 1; j <= r; j++) {
      lo -= stride;
      hi += stride;
      const cj = v128.load32_splat(taps + (<usize>j << 2));
      a0 = f32x4.add(a0, f32x4.mul(cj, f32x4.add(v128.load(lo), v128.load(hi))));
    }
    v128.store(out + (<usize>x << 2), a0);
  }
  for (; x < n; x++) {
    const p = centre + (<usize>x << 2);
    let s: f32 = c0s * load<f32>(p);
    let lo = p;
    let hi = p;
    for (let j = 1; j <= r; j++) {
      lo -= stride;
      hi += stride;
      s += load<f32>(taps + (<usize>j << 2)) * (load<f32>(lo) + load<f32>(hi));
    }
    store<f32>(out + (<usize>x << 2), s);
  }
}

// dst[x] = src[x], or 0 where mask[x] & zeroBits or src[x] is NaN (mask ≠ 0), x ∈ [0, n).
@inline
function prepareRow(src: usize, mask: usize, dst: usize, n: i32, zeroBits: i32): void {
  let x = 0;
  if (mask == 0) {
    for (; x + 4 <= n; x += 4) v128.store(dst + (<usize>x << 2), v128.load(src + (<usize>x << 2)));
    for (; x < n; x++) store<f32>(dst + (<usize>x << 2), load<f32>(src + (<usize>x << 2)));
    return;
  }
  const zb = i32x4.splat(zeroBits);
  const zero = i32x4.splat(0);
  for (; x + 4 <= n; x += 4) {
    const off = <usize>x << 2;
    const v = v128.load(src + off);
    const keep = v128.and(i32x4.eq(v128.and(v128.load(mask + off), zb), zero), f32x4.eq(v, v));
    v128.store(dst + off, v128.and(v, keep));
  }
  for (; x < n; x++) {
    const off = <usize>x << 2;
    const v = load<f32>(src + off);
    store<f32>(dst + off, (load<i32>(mask + off) & zeroBits) != 0 || v != v ? <f32>0 : v);
  }
}

// rowBuf: W + 2r values of scratch. mask = 0: no mask (NaN kept).
export function hrows(src: usize, mask: usize, W: i32, nRows: i32, zeroBits: i32, taps: usize, r: i32, rowBuf: usize, out: usize): void {
  const pad = <usize>r << 2;
  const rowBytes = <usize>W << 2;
  const centre = rowBuf + pad;
  for (let j = 0; j < r; j++) {
    store<f32>(rowBuf + (<usize>j << 2), 0);
    store<f32>(centre + rowBytes + (<usize>j << 2), 0);
  }
  for (let k = 0; k < nRows; k++) {
    const off = <usize>k * rowBytes;
    prepareRow(src + off, mask == 0 ? 0 : mask + off, centre, W, zeroBits);
    fold(centre, out + off, W, 4, taps, r);
  }
}

export function vrows(centre: usize, out: usize, W: i32, nRows: i32, taps: usize, r: i32): void {
  const rowBytes = <usize>W << 2;
  for (let k = 0; k < nRows; k++) {
    const off = <usize>k * rowBytes;
    fold(centre + off, out + off, W, rowBytes, taps, r);
  }
}

export function above(row: usize, thr: usize, W: i32, base: i32, list: usize): i32 {
  let n = 0;
  let x = 0;
  for (; x + 16 <= W; x += 16) {
    const p = row + (<usize>x << 2);
    const t = thr + (<usize>x << 2);
    const m0 = f32x4.gt(v128.load(p), v128.load(t));
    const m1 = f32x4.gt(v128.load(p, 16), v128.load(t, 16));
    const m2 = f32x4.gt(v128.load(p, 32), v128.load(t, 32));
    const m3 = f32x4.gt(v128.load(p, 48), v128.load(t, 48));
    if (!v128.any_true(v128.or(v128.or(m0, m1), v128.or(m2, m3)))) continue;
    const bits = i32x4.bitmask(m0) | (i32x4.bitmask(m1) << 4) | (i32x4.bitmask(m2) << 8) | (i32x4.bitmask(m3) << 12);
    for (let i = 0; i < 16; i++) {
      if ((bits >> i) & 1) {
        store<i32>(list + (<usize>n << 2), base + x + i);
        n++;
      }
    }
  }
  for (; x < W; x++) {
    if (load<f32>(row + (<usize>x << 2)) > load<f32>(thr + (<usize>x << 2))) {
      store<i32>(list + (<usize>n << 2), base + x);
      n++;
    }
  }
  return n;
}

// Order statistics of float32 values (no NaN), exact: radix selection on the values' bits
// mapped to unsigned keys in the order of the values (−0 just before +0). A histogram of the
// keys in up to 2048 buckets of equal width (a power of two) says which bucket holds a given
// rank; the keys of that bucket are then gathered and selected among in the same way. Buffers:
// `keys` n values, `work` 4n, `hist` 4096 int32.

@inline
function sortKey(b: u32): u32 {
  return b ^ (<u32>(<i32>b >> 31) | 0x80000000);
}

@inline
function fromKey(k: u32): f64 {
  return <f64>reinterpret<f32>((k & 0x80000000) != 0 ? k ^ 0x80000000 : ~k);
}

// keys[i] = the key of values[i]; their range into kLo, kHi.
let kLo: u32 = 0;
let kHi: u32 = 0;
function toKeys(values: usize, keys: usize, n: i32): void {
  const top = i32x4.splat(0x80000000);
  let vlo = i32x4.splat(-1);
  let vhi = i32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(values + (<usize>i << 2));
    const key = v128.xor(v, v128.or(i32x4.shr_s(v, 31), top));
    v128.store(keys + (<usize>i << 2), key);
    vlo = i32x4.min_u(vlo, key);
    vhi = i32x4.max_u(vhi, key);
  }
  let lo = min<u32>(min<u32>(i32x4.extract_lane(vlo, 0), i32x4.extract_lane(vlo, 1)), min<u32>(i32x4.extract_lane(vlo, 2), i32x4.extract_lane(vlo, 3)));
  let hi = max<u32>(max<u32>(i32x4.extract_lane(vhi, 0), i32x4.extract_lane(vhi, 1)), max<u32>(i32x4.extract_lane(vhi, 2), i32x4.extract_lane(vhi, 3)));
  for (; i < n; i++) {
    const key = sortKey(load<u32>(values + (<usize>i << 2)));
    store<u32>(keys + (<usize>i << 2), key);
    lo = min<u32>(lo, key);
    hi = max<u32>(hi, key);
  }
  kLo = lo;
  kHi = hi;
}

// The last histogram: bucket of key v is (v − hLo) >> hShift, for keys in [hLo, hLo + hNb << hShift).
let hLo: u32 = 0;
let hShift: u32 = 0;
let hNb: i32 = 0;
// What rankBucket found: the rank within its bucket.
let rankInBucket: i32 = 0;

// Histogram of keys[0..n) (n > 0) into hist.
function histogram(keys: usize, n: i32, hist: usize): void {
  let lo: u32 = 0xffffffff;
  let hi: u32 = 0;
  for (let i = 0; i < n; i++) {
    const v = load<u32>(keys + (<usize>i << 2));
    lo = min<u32>(lo, v);
    hi = max<u32>(hi, v);
  }
  histogramIn(keys, n, lo, hi, hist);
}

// Histogram of keys[0..n) (n > 0), all in [lo, hi], into hist.
function histogramIn(keys: usize, n: i32, lo: u32, hi: u32, hist: usize): void {
  const bits = lo == hi ? 0 : 32 - <i32>clz<u32>(hi - lo);
  const shift: u32 = bits > 11 ? <u32>(bits - 11) : 0;
  hLo = lo;
  hShift = shift;
  hNb = <i32>((hi - lo) >> shift) + 1;
  for (let b = 0; b < hNb; b++) store<i32>(hist + (<usize>b << 2), 0);
  for (let i = 0; i < n; i++) {
    const h = hist + (<usize>((load<u32>(keys + (<usize>i << 2)) - lo) >> shift) << 2);
    store<i32>(h, load<i32>(h) + 1);
  }
}

// The bucket holding rank `rank` (0 ≤ rank < the histogram's count); its rank within the
// bucket into rankInBucket.
function rankBucket(rank: i32, hist: usize): u32 {
  let b = 0;
  for (; ; b++) {
    const c = load<i32>(hist + (<usize>b << 2));
    if (rank < c) break;
    rank -= c;
  }
  rankInBucket = rank;
  return <u32>b;
}

// The k-th smallest (from 0) of keys[0..n), 0 ≤ k < n; keys are left as they are, `work`
// (n values, may be `keys` when they are no longer needed) and `hist` are overwritten.
function kthKey(keys: usize, n: i32, k: i32, work: usize, hist: usize): u32 {
  let src = keys;
  let m = n;
  while (true) {
    histogram(src, m, hist);
    if (hNb == 1) return hLo;
    const b = rankBucket(k, hist);
    k = rankInBucket;
    if (hShift == 0) return hLo + b;
    m = gather(src, m, b, work);
    src = work;
  }
}

// Copies the keys of bucket b of the last histogram from keys[0..n) to dst (which may be keys);
// returns how many.
function gather(keys: usize, n: i32, b: u32, dst: usize): i32 {
  const lo = hLo;
  const shift = hShift;
  let w = 0;
  for (let i = 0; i < n; i++) {
    const v = load<u32>(keys + (<usize>i << 2));
    if ((v - lo) >> shift == b) {
      store<u32>(dst + (<usize>w << 2), v);
      w++;
    }
  }
  return w;
}

// The largest of keys[0..n) below `up`, or `up` when fewer than k are below it.
function belowKey(keys: usize, n: i32, up: u32, k: i32): u32 {
  let less = 0;
  let below: u32 = 0;
  for (let i = 0; i < n; i++) {
    const v = load<u32>(keys + (<usize>i << 2));
    if (v < up) {
      less++;
      below = max<u32>(below, v);
    }
  }
  return less < k ? up : below;
}

// Median of values[0..n) (the mean of the two middle values for even n); NaN for n = 0.
export function median(values: usize, n: i32, keys: usize, work: usize, hist: usize): f64 {
  if (n <= 0) return NaN;
  toKeys(values, keys, n);
  const k = n >>> 1;
  if (kLo == kHi) return fromKey(kLo);
  histogramIn(keys, n, kLo, kHi, hist);
  const b = rankBucket(k, hist);
  const r = rankInBucket;
  if (hShift == 0) {
    const up = hLo + b;
    if (n & 1) return fromKey(up);
    return 0.5 * (fromKey(up) + fromKey(r > 0 ? up : belowKey(keys, n, up, k)));
  }
  // The bucket's keys at work, selected among with work + n as scratch.
  const m = gather(keys, n, b, work);
  const scratch = work + (<usize>n << 2);
  const up = kthKey(work, m, r, scratch, hist);
  if (n & 1) return fromKey(up);
  return 0.5 * (fromKey(up) + fromKey(r > 0 ? kthKey(work, m, r - 1, scratch, hist) : belowKey(keys, n, up, k)));
}

// Iterative sigma clipping around the median (lib/stats.ts's sigmaClippedStatsInPlace): each
// iteration takes the median and the interquartile sigma (iqrToSigma · (q3 − q1), q1 and q3 the
// values of rank ⌊(n − 1)/4⌋ and max(⌊n/2⌋, ⌈3(n − 1)/4⌉); the standard deviation below 4
// values) of the values kept, then keeps those within nSigma sigma of the median. out
// (float64): median, mean, sigma, number kept.
//
// What an iteration keeps is a range of values, so the values kept are always those whose keys
// lie in a range [kl, kr]: the keys are sorted by bucket once (a counting sort into `work`), and
// every order statistic and count after that looks at a bucket or two. Scratch: `hist` 8192
// int32 (bucket starts, scatter positions, and the selection's own histogram).
export function clippedStats(values: usize, n: i32, nSigma: f64, iterations: i32, iqrToSigma: f64, keys: usize, work: usize, hist: usize, out: usize): void {
  if (n <= 0) {
    store<f64>(out, NaN);
    store<f64>(out, NaN, 8);
    store<f64>(out, NaN, 16);
    store<f64>(out, 0, 24);
    return;
  }
  toKeys(values, keys, n);
  const sorted = work;
  const scratch = work + (<usize>n << 2);
  const start = hist;
  const pos = hist + (2560 << 2);
  const sub = hist + (5120 << 2);
  histogramIn(keys, n, kLo, kHi, start);
  const lo0 = hLo;
  const shift = hShift;
  const nb = hNb;
  // Bucket b's keys at sorted[start[b] .. start[b + 1]).
  let acc = 0;
  for (let b = 0; b < nb; b++) {
    const c = load<i32>(start + (<usize>b << 2));
    store<i32>(start + (<usize>b << 2), acc);
    store<i32>(pos + (<usize>b << 2), acc);
    acc += c;
  }
  store<i32>(start + (<usize>nb << 2), acc);
  for (let i = 0; i < n; i++) {
    const v = load<u32>(keys + (<usize>i << 2));
    const q = pos + (<usize>((v - lo0) >> shift) << 2);
    const at = load<i32>(q);
    store<u32>(sorted + (<usize>at << 2), v);
    store<i32>(q, at + 1);
  }
  sStart = start;
  sSorted = sorted;
  sLo = lo0;
  sHi = kHi;
  sShift = shift;
  sNb = nb;
  sN = n;

  let kl = kLo;
  let kr = kHi;
  let below = 0;
  let count = n;
  let med: f64 = NaN;
  let sigma: f64 = NaN;
  for (let it = 0; it <= iterations && count > 0; it++) {
    const k = count >>> 1;
    const up = sortedRank(below + k, scratch, sub);
    med = fromKey(up);
    if (!(count & 1)) med = 0.5 * (med + fromKey(sortedRank(below + k - 1, scratch, sub)));
    if (count < 4) {
      sigma = count > 1 ? keyRangeStdev(kl, kr, count) : 0;
    } else {
      const q1 = fromKey(sortedRank(below + <i32>Math.floor(0.25 * <f64>(count - 1)), scratch, sub));
      const q3 = fromKey(sortedRank(below + max<i32>(k, <i32>Math.ceil(0.75 * <f64>(count - 1))), scratch, sub));
      sigma = iqrToSigma * (q3 - q1);
    }
    if (it == iterations || !(sigma > 0)) break;
    const nkl = max<u32>(kl, keyAtLeast(med - nSigma * sigma));
    const nkr = min<u32>(kr, keyAtMost(med + nSigma * sigma));
    const nBelow = rankBelow(nkl);
    const kept = nkl <= nkr ? rankAtMost(nkr) - nBelow : 0;
    if (kept == count) break;
    kl = nkl;
    kr = nkr;
    below = nBelow;
    count = kept;
  }
  store<f64>(out, med);
  store<f64>(out, count > 0 ? keyRangeSum(kl, kr) / <f64>count : NaN, 8);
  store<f64>(out, sigma, 16);
  store<f64>(out, <f64>count, 24);
}

// The bucket-sorted keys of clippedStats: bucket b at sSorted[start[b] .. start[b + 1]), keys in
// [sLo, sHi], sN of them.
let sStart: usize = 0;
let sSorted: usize = 0;
let sLo: u32 = 0;
let sHi: u32 = 0;
let sShift: u32 = 0;
let sNb: i32 = 0;
let sN: i32 = 0;

@inline
function bucketStart(b: i32): i32 {
  return load<i32>(sStart + (<usize>b << 2));
}

// The key of rank g (from 0) among the sorted keys.
function sortedRank(g: i32, scratch: usize, sub: usize): u32 {
  // The last bucket starting at or before g that holds keys.
  let lo = 0;
  let hi = sNb - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (bucketStart(mid) <= g) lo = mid;
    else hi = mid - 1;
  }
  while (bucketStart(lo + 1) <= g) lo++;
  const s = bucketStart(lo);
  return kthKey(sSorted + (<usize>s << 2), bucketStart(lo + 1) - s, g - s, scratch, sub);
}

// How many sorted keys are below x.
function rankBelow(x: u32): i32 {
  if (x <= sLo) return 0;
  if (x > sHi) return sN;
  const b = <i32>((x - sLo) >> sShift);
  let r = bucketStart(b);
  for (let i = r, end = bucketStart(b + 1); i < end; i++) if (load<u32>(sSorted + (<usize>i << 2)) < x) r++;
  return r;
}

// How many sorted keys are at most x.
function rankAtMost(x: u32): i32 {
  return x >= sHi ? sN : rankBelow(x + 1);
}

// The key of the smallest float32 v with v ≥ t (as float64).
function keyAtLeast(t: f64): u32 {
  let k = sortKey(reinterpret<u32>(<f32>t));
  while (k > 0 && fromKey(k - 1) >= t) k--;
  while (k < 0xffffffff && !(fromKey(k) >= t)) k++;
  return k;
}

// The key of the largest float32 v with v ≤ t (as float64).
function keyAtMost(t: f64): u32 {
  let k = sortKey(reinterpret<u32>(<f32>t));
  while (k < 0xffffffff && fromKey(k + 1) <= t) k++;
  while (k > 0 && !(fromKey(k) <= t)) k--;
  return k;
}

// Σ of the values whose keys lie in [kl, kr] (float64, in bucket order).
function keyRangeSum(kl: u32, kr: u32): f64 {
  let s: f64 = 0;
  const i0 = bucketStart(<i32>((kl - sLo) >> sShift));
  const i1 = bucketStart(<i32>((kr - sLo) >> sShift) + 1);
  for (let i = i0; i < i1; i++) {
    const v = load<u32>(sSorted + (<usize>i << 2));
    if (v >= kl && v <= kr) s += fromKey(v);
  }
  return s;
}

// The standard deviation of the n values whose keys lie in [kl, kr] (n > 1).
function keyRangeStdev(kl: u32, kr: u32, n: i32): f64 {
  const m = keyRangeSum(kl, kr) / <f64>n;
  let s2: f64 = 0;
  const i0 = bucketStart(<i32>((kl - sLo) >> sShift));
  const i1 = bucketStart(<i32>((kr - sLo) >> sShift) + 1);
  for (let i = i0; i < i1; i++) {
    const v = load<u32>(sSorted + (<usize>i << 2));
    if (v >= kl && v <= kr) {
      const d = fromKey(v) - m;
      s2 += d * d;
    }
  }
  return Math.sqrt(s2 / <f64>(n - 1));
}

// Subtracts a model that is linear along each row between mesh columns: for each row k of
// nRows rows of W float32 values (in place, stride W) and each segment s (int32 triples x0, x1,
// m in `segs`), img[x] −= f32(v[m]·wa[x] + v[m + 1]·wb[x]) for x ∈ [x0, x1), the sum in float64
// and v = rowVals + k·nx (float64); wa, wb float64 per column.
export function subtractRows(img: usize, W: i32, nRows: i32, rowVals: usize, nx: i32, segs: usize, nSeg: i32, wa: usize, wb: usize): void {
  for (let k = 0; k < nRows; k++) {
    const row = img + ((<usize>k * <usize>W) << 2);
    const v = rowVals + ((<usize>k * <usize>nx) << 3);
    for (let s = 0; s < nSeg; s++) {
      const x0 = load<i32>(segs + <usize>(12 * s));
      const x1 = load<i32>(segs + <usize>(12 * s + 4));
      const m = load<i32>(segs + <usize>(12 * s + 8));
      const a = load<f64>(v + (<usize>m << 3));
      const b = load<f64>(v + (<usize>(m + 1) << 3));
      const A = f64x2.splat(a);
      const B = f64x2.splat(b);
      let x = x0;
      for (; x + 4 <= x1; x += 4) {
        const pa = wa + (<usize>x << 3);
        const pb = wb + (<usize>x << 3);
        const lo = f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(A, v128.load(pa)), f64x2.mul(B, v128.load(pb))));
        const hi = f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(A, v128.load(pa, 16)), f64x2.mul(B, v128.load(pb, 16))));
        const p = row + (<usize>x << 2);
        v128.store(p, f32x4.sub(v128.load(p), v128.shuffle<u32>(lo, hi, 0, 1, 4, 5)));
      }
      for (; x < x1; x++) {
        const p = row + (<usize>x << 2);
        store<f32>(p, load<f32>(p) - <f32>(a * load<f64>(wa + (<usize>x << 3)) + b * load<f64>(wb + (<usize>x << 3))));
      }
    }
  }
}
