// Lanczos resampling of one source image onto rows of a target grid (pipeline/stages/warp/warp.ts
// describes the warp; this is its per-pixel loop). Pointers are byte offsets into this module's
// memory. The caller describes the kernel table, the source, the transform grid and the target
// once (setTable, setSource, setGrid, setTarget) and then warps the target band by band
// (warpRows).
//
// Per target pixel (x, y) of a band that no source has filled yet (its coverage bit is clear):
// the source position (u, v) is interpolated from the grid (f64, as the grid cell's row
// segment u = ua + du·t); the pixel is covered when floor(u) ∈ [uLo, uHi], floor(v) ∈ [vLo, vHi]
// and the NO_DATA flag of its footprint is clear. Then, with n = 2a taps per axis and the table
// rows kx, ky of the fractional offsets rounded to the nearest step:
//
//   image    = Σ_j wy_j Σ_i wx_i I[j][i] · s       variance = Σ_j wy_j² Σ_i wx_i² V[j][i] · s²
//   mask     = OR of M[j][i] over |wy_j wx_i| > thr (only where the footprint has mask bits)
//
// s = |det J| (flux mode) or 1. The source's image and variance are planes of the same row
// stride: each kernel row adds four taps of each plane at a time times wy (image) and wy²
// (variance), and the last two taps of both (n = 6, 10) in one register times (wy, wy, wy², wy²);
// the sums over the rows are then weighted by the wx (image) and wx² (variance) of their taps and
// added up (float32 throughout); the mask test is in float64. Each covered
// pixel is written into the band buffers at (y − y0)·W + x, its coverage bit is set, and the band
// row's first and last covered columns and count are recorded.

// Kernel table: rows k = 0 … steps of n taps.
let tY: usize = 0; // f32 rows of n groups (w_t, w_t, w_t², w_t²)
let tX: usize = 0; // f32 rows: per four taps (w_4q … w_4q+3) then their squares; for n = 6, 10 then (w_n-2, w_n-1, w²_n-2, w²_n-1)
let tAbs: usize = 0; // f64 |w|, rows of n
let tMaxAbs: usize = 0; // f64 max |w| per row
let tSumSq: usize = 0; // f64 Σ w² per row
let tN: i32 = 6;
let tSteps: f64 = 1024;

// Source: planes of row stride sW (image, variance f32; mask i32; flags u8), each pointer at the
// window's first pixel (col0, row0); flags (0: none): bit 0 = some mask bit in the footprint
// anchored there, bit 1 = NO_DATA in it. Covered pixels have floor(u) ∈ [uLo, uHi], floor(v) ∈
// [vLo, vHi] (all taps inside the window).
let sImg: usize = 0;
let sVar: usize = 0;
let sMask: usize = 0;
let sFlags: usize = 0;
let sW: i32 = 0;
let sCol0: i32 = 0;
let sRow0: i32 = 0;
let uLo: i32 = 0;
let uHi: i32 = 0;
let vLo: i32 = 0;
let vHi: i32 = 0;

// Transform grid: nodes (f64, row-major ny × nx) u, v, |det J|; node rows nodeY; per target
// column its position in its cell colT; per cell (u8, (nx − 1) per row) whether it may reach the
// source at all.
let gU: usize = 0;
let gV: usize = 0;
let gJ: usize = 0;
let gNodeY: usize = 0;
let gColT: usize = 0;
let gCellOk: usize = 0;
let gNx: i32 = 0;
let gNy: i32 = 0;
let gSpacing: i32 = 0;

// Target: width, coverage bits (one per pixel), band buffers (image f32, variance f32, mask i32,
// row stride W), per band row [first, last, count] (i32), stats (f64: filled, Σ|det J|, Σ Σw², masked),
// and scratch for one segment's pixels (16 bytes and a float64 each).
let oW: i32 = 0;
let oCover: usize = 0;
let bImg: usize = 0;
let bVar: usize = 0;
let bMask: usize = 0;
let bRows: usize = 0;
let bStats: usize = 0;
let bJobs: usize = 0;
let bJobJac: usize = 0;
let oFlux: bool = true;
let oScale: f64 = 1;
let oThr: f64 = 0;
// The touch loads of warpRows land here, so that they are not optimised away.
let touchSink: f32 = 0;

export function setTable(yWeights: usize, xWeights: usize, weightsAbs: usize, maxAbs: usize, sumSq: usize, n: i32, steps: i32): void {
  tY = yWeights;
  tX = xWeights;
  tAbs = weightsAbs;
  tMaxAbs = maxAbs;
  tSumSq = sumSq;
  tN = n;
  tSteps = <f64>steps;
}

export function setSource(image: usize, variance: usize, mask: usize, flags: usize, stride: i32, col0: i32, row0: i32, uMin: i32, uMax: i32, vMin: i32, vMax: i32): void {
  sImg = image;
  sVar = variance;
  sCol0 = col0;
  sMask = mask;
  sFlags = flags;
  sW = stride;
  sRow0 = row0;
  uLo = uMin;
  uHi = uMax;
  vLo = vMin;
  vHi = vMax;
}

export function setGrid(u: usize, v: usize, jac: usize, nodeY: usize, colT: usize, cellOk: usize, nx: i32, ny: i32, spacing: i32): void {
  gU = u;
  gV = v;
  gJ = jac;
  gNodeY = nodeY;
  gColT = colT;
  gCellOk = cellOk;
  gNx = nx;
  gNy = ny;
  gSpacing = spacing;
}

export function setTarget(width: i32, cover: usize, image: usize, variance: usize, mask: usize, rows: usize, stats: usize, jobs: usize, jobJac: usize, flux: bool, threshold: f64, scale: f64): void {
  bJobs = jobs;
  bJobJac = jobJac;
  oW = width;
  oCover = cover;
  bImg = image;
  bVar = variance;
  bMask = mask;
  bRows = rows;
  bStats = stats;
  oFlux = flux;
  oThr = threshold;
  oScale = scale;
}

@inline
function f64At(p: usize, i: i32): f64 {
  return load<f64>(p + (<usize>i << 3));
}

/** Whether any of `rows` rows of `width` int32 at p (rows `stride` values apart) is nonzero. */
export function anyBits(p: usize, stride: i32, width: i32, rows: i32): bool {
  const w4 = width & ~3;
  let acc = i32x4.splat(0);
  for (let r = 0; r < rows; r++) {
    const row = p + (<usize>(r * stride) << 2);
    for (let i = 0; i < w4; i += 4) acc = v128.or(acc, v128.load(row + (<usize>i << 2)));
    let m = 0;
    for (let i = w4; i < width; i++) m |= load<i32>(row + (<usize>i << 2));
    if (m != 0) return true;
  }
  return v128.any_true(acc);
}

/** Target rows y0 … y1 − 1 (the band) with n taps per axis (a constant once inlined). */
@inline
function warpRowsN(n: i32, y0: i32, y1: i32): void {
  const m = n >> 1; // the order a
  const quads = n >> 2; // four taps of a plane per register
  const tail = (n & 3) != 0; // and the last two of both planes in one
  const tailBytes = <usize>(n - 2) << 2;
  const yBytes = <usize>n << 4;
  const xBytes = <usize>m << 4;
  const Ws = sW;
  const stride = <usize>Ws << 2;
  const row0 = sRow0;
  const col0 = sCol0;
  // The window's pixel (u, v) (source coordinates) is c = v·Ws + u − origin from its start; the
  // taps of the pixel anchored there start at c − back. The bases below are offset accordingly
  // (address arithmetic wraps: only the sums are used).
  const origin = row0 * Ws + col0;
  const back = (m - 1) * Ws + (m - 1) + origin;
  const imgBase = sImg - (<usize>back << 2);
  const varBase = sVar - (<usize>back << 2);
  const maskBase = sMask - (<usize>back << 2);
  const flags = sFlags;
  const flagBase = flags - <usize>origin;
  const lo = uLo;
  const loY = vLo;
  const spanX = <u32>(uHi - uLo);
  const spanY = <u32>(vHi - vLo);
  const loF = <f64>uLo;
  const hiXF = <f64>uHi + 1;
  const loYF = <f64>vLo;
  const hiYF = <f64>vHi + 1;
  const W = oW;
  const nx = gNx;
  const ny = gNy;
  const spacing = gSpacing;
  const gu = gU;
  const gv = gV;
  const gj = gJ;
  const colT = gColT;
  const cover = oCover;
  const outImg = bImg;
  const outVar = bVar;
  const outMask = bMask;
  const ty0 = tY;
  const tx0 = tX;
  const sumSq = tSumSq;
  const steps = tSteps;
  const thr = oThr;
  const flux = oFlux;
  const scale = oScale;
  const zero = f32x4.splat(0);
  const one = f64x2.splat(1);
  const half = f64x2.splat(0.5);
  const stepsV = f64x2.splat(steps);
  const loV = i32x4(uLo, uLo, vLo, vLo);
  const spanV = i32x4(uHi - uLo, uHi - uLo, vHi - vLo, vHi - vLo);
  const jobs = bJobs;
  const jobJac = bJobJac;

  for (let r = 0; r < y1 - y0; r++) {
    const q = bRows + (<usize>(3 * r) << 2);
    store<i32>(q, W);
    store<i32>(q, -1, 4);
    store<i32>(q, 0, 8);
  }
  let filled = 0;
  let sumJac: f64 = 0;
  let sumW2: f64 = 0;
  let masked = 0;
  let touched = zero;
  for (let i = 0; i < nx - 1; i++) {
    const xStart = i * spacing;
    const xEnd = i == nx - 2 ? W : (i + 1) * spacing;
    const jFirst = min(ny - 2, y0 / spacing);
    const jLast = min(ny - 2, (y1 - 1) / spacing);
    {
      // Read one value per cache line of the source rectangle the tile (this cell column of the
      // band) can reach, as independent loads: their misses then overlap instead of stalling
      // the pixel loop one after the other.
      let uMn = Infinity;
      let uMx = -Infinity;
      let vMn = Infinity;
      let vMx = -Infinity;
      let any = false;
      for (let jj = jFirst; jj <= jLast; jj++) {
        if (load<u8>(gCellOk + <usize>(jj * (nx - 1) + i)) == 0) continue;
        any = true;
        for (let kk = jj * nx + i, kEnd = kk + 2 * nx; kk < kEnd; kk += nx) {
          uMn = min(uMn, min(f64At(gu, kk), f64At(gu, kk + 1)));
          uMx = max(uMx, max(f64At(gu, kk), f64At(gu, kk + 1)));
          vMn = min(vMn, min(f64At(gv, kk), f64At(gv, kk + 1)));
          vMx = max(vMx, max(f64At(gv, kk), f64At(gv, kk + 1)));
        }
      }
      if (!any) continue;
      if (uMx >= loF && uMn < hiXF && vMx >= loYF && vMn < hiYF) {
        const c0 = <i32>max(loF, Math.floor(uMn)) - (m - 1);
        const c1 = <i32>min(hiXF - 1, Math.floor(uMx)) + m;
        const r0 = <i32>max(loYF, Math.floor(vMn)) - (m - 1);
        const r1 = <i32>min(hiYF - 1, Math.floor(vMx)) + m;
        for (let rr = r0; rr <= r1; rr++) {
          const at = <usize>((rr - row0) * Ws - col0) << 2;
          for (let cc = c0; cc <= c1; cc += 16) {
            touched = f32x4.add(touched, v128.load(sImg + at + (<usize>cc << 2)));
            touched = f32x4.add(touched, v128.load(sVar + at + (<usize>cc << 2)));
          }
        }
      }
    }
    for (let y = y0; y < y1; y++) {
      const j = min(ny - 2, y / spacing);
      if (load<u8>(gCellOk + <usize>(j * (nx - 1) + i)) == 0) continue;
      const ny0 = f64At(gNodeY, j);
      const ty = (<f64>y - ny0) / (f64At(gNodeY, j + 1) - ny0);
      const k0 = j * nx + i;
      const k1 = k0 + nx;
      const u00 = f64At(gu, k0);
      const u01 = f64At(gu, k0 + 1);
      const v00 = f64At(gv, k0);
      const v01 = f64At(gv, k0 + 1);
      const ua = u00 + (f64At(gu, k1) - u00) * ty;
      const ub = u01 + (f64At(gu, k1 + 1) - u01) * ty;
      const va = v00 + (f64At(gv, k1) - v00) * ty;
      const vb = v01 + (f64At(gv, k1 + 1) - v01) * ty;
      // u and v are linear in x along the row within a cell: skip segments wholly off the source (and NaN).
      if (!(max(ua, ub) >= loF && min(ua, ub) < hiXF && max(va, vb) >= loYF && min(va, vb) < hiYF)) continue;
      const du = ub - ua;
      const dv = vb - va;
      const j00 = f64At(gj, k0);
      const j01 = f64At(gj, k0 + 1);
      const ja = j00 + (f64At(gj, k1) - j00) * ty;
      const dj = j01 + (f64At(gj, k1 + 1) - j01) * ty - ja;
      const rowBase = y * W;
      const band = (y - y0) * W;
      const q = bRows + (<usize>(3 * (y - y0)) << 2);
      // Pass 1: the pixels of the segment this source covers, as jobs (x, tap origin, kx, ky;
      // |det J|), two pixels at a time; their coverage bits are set (pass 2 fills every job).
      // Truncation is floor wherever the range test can pass (lo ≥ 1); NaN gives 0 and fails it.
      const uA = f64x2.splat(ua);
      const uD = f64x2.splat(du);
      const vA = f64x2.splat(va);
      const vD = f64x2.splat(dv);
      const jA = f64x2.splat(ja);
      const jD = f64x2.splat(dj);
      let nj = 0;
      for (let x = xStart; x < xEnd; x += 2) {
        // the last pixel of an odd segment is computed twice (lane 1 is dropped)
        const tt = x + 1 < xEnd ? v128.load(colT + (<usize>x << 3)) : f64x2.splat(f64At(colT, x));
        const uu = f64x2.add(uA, f64x2.mul(uD, tt));
        const vv = f64x2.add(vA, f64x2.mul(vD, tt));
        const iu = i32x4.trunc_sat_f64x2_s_zero(uu);
        const iv = i32x4.trunc_sat_f64x2_s_zero(vv);
        const ii = i32x4.shuffle(iu, iv, 0, 1, 4, 5); // (u₀, u₁, v₀, v₁)
        const okBits = i32x4.bitmask(i32x4.le_u(i32x4.sub(ii, loV), spanV));
        const ok = okBits & (okBits >> 2) & (x + 1 < xEnd ? 3 : 1);
        if (ok == 0) continue;
        const ku = i32x4.trunc_sat_f64x2_s_zero(f64x2.add(f64x2.mul(f64x2.sub(uu, f64x2.convert_low_i32x4_s(iu)), stepsV), half));
        const kv = i32x4.trunc_sat_f64x2_s_zero(f64x2.add(f64x2.mul(f64x2.sub(vv, f64x2.convert_low_i32x4_s(iv)), stepsV), half));
        const jj = f64x2.add(jA, f64x2.mul(jD, tt));
        const k = rowBase + x;
        if ((ok & 1) != 0) {
          const cb = cover + (<usize>k >>> 3);
          const bits = <i32>load<u8>(cb);
          const bit = 1 << (k & 7);
          const centre = i32x4.extract_lane(ii, 2) * Ws + i32x4.extract_lane(ii, 0);
          if ((bits & bit) == 0 && (flags == 0 || (load<u8>(flagBase + <usize>centre) & 2) == 0)) {
            const jb = jobs + (<usize>nj << 4);
            store<i32>(jb, x);
            store<i32>(jb, centre, 4);
            store<i32>(jb, i32x4.extract_lane(ku, 0), 8);
            store<i32>(jb, i32x4.extract_lane(kv, 0), 12);
            store<f64>(jobJac + (<usize>nj << 3), f64x2.extract_lane(jj, 0));
            store<u8>(cb, bits | bit);
            nj++;
          }
        }
        if ((ok & 2) != 0) {
          const k1 = k + 1;
          const cb = cover + (<usize>k1 >>> 3);
          const bits = <i32>load<u8>(cb);
          const bit = 1 << (k1 & 7);
          const centre = i32x4.extract_lane(ii, 3) * Ws + i32x4.extract_lane(ii, 1);
          if ((bits & bit) == 0 && (flags == 0 || (load<u8>(flagBase + <usize>centre) & 2) == 0)) {
            const jb = jobs + (<usize>nj << 4);
            store<i32>(jb, x + 1);
            store<i32>(jb, centre, 4);
            store<i32>(jb, i32x4.extract_lane(ku, 1), 8);
            store<i32>(jb, i32x4.extract_lane(kv, 1), 12);
            store<f64>(jobJac + (<usize>nj << 3), f64x2.extract_lane(jj, 1));
            store<u8>(cb, bits | bit);
            nj++;
          }
        }
      }
      if (nj == 0) continue;
      // Pass 2: their sums.
      for (let jn = 0; jn < nj; jn++) {
        const jb = jobs + (<usize>jn << 4);
        const x = load<i32>(jb);
        const centre = load<i32>(jb, 4);
        const kx = load<i32>(jb, 8);
        const ky = load<i32>(jb, 12);
        const jac = load<f64>(jobJac + (<usize>jn << 3));
        let mk: i32 = 0;
        if (flags != 0 && load<u8>(flagBase + <usize>centre) != 0) {
          const mx = f64At(tMaxAbs, kx);
          const ax = tAbs + (<usize>(kx * n) << 3);
          const ay = tAbs + (<usize>(ky * n) << 3);
          const mStride = <usize>Ws << 2;
          let pm = maskBase + (<usize>centre << 2);
          for (let tj = 0; tj < n; tj++, pm += mStride) {
            const wyA = load<f64>(ay + (<usize>tj << 3));
            if (wyA * mx <= thr) continue;
            for (let ti = 0; ti < n; ti++) {
              if (wyA * load<f64>(ax + (<usize>ti << 3)) > thr) mk |= load<i32>(pm + (<usize>ti << 2));
            }
          }
          if (mk != 0) masked++;
        }
        let pI = imgBase + (<usize>centre << 2);
        let pV = varBase + (<usize>centre << 2);
        const wy = ty0 + <usize>ky * yBytes;
        let i0 = zero;
        let v0 = zero;
        let i1 = zero;
        let v1 = zero;
        let t = zero;
        for (let tj = 0; tj < n; tj++) {
          const wp = wy + (<usize>tj << 4);
          const cI = v128.load32_splat(wp);
          const cV = v128.load32_splat(wp + 8);
          i0 = f32x4.add(i0, f32x4.mul(v128.load(pI), cI));
          v0 = f32x4.add(v0, f32x4.mul(v128.load(pV), cV));
          if (quads > 1) {
            i1 = f32x4.add(i1, f32x4.mul(v128.load(pI, 16), cI));
            v1 = f32x4.add(v1, f32x4.mul(v128.load(pV, 16), cV));
          }
          if (tail) t = f32x4.add(t, f32x4.mul(v128.load64_lane(pV + tailBytes, v128.load64_zero(pI + tailBytes), 1), v128.load(wp)));
          pI += stride;
          pV += stride;
        }
        const wx = tx0 + <usize>kx * xBytes;
        let sI = f32x4.mul(i0, v128.load(wx));
        let sV = f32x4.mul(v0, v128.load(wx, 16));
        if (quads > 1) {
          sI = f32x4.add(sI, f32x4.mul(i1, v128.load(wx, 32)));
          sV = f32x4.add(sV, f32x4.mul(v1, v128.load(wx, 48)));
        }
        // (I₀ + I₂, I₁ + I₃, V₀ + V₂, V₁ + V₃), plus the tail's (I, I, V, V), then the halves added:
        // lanes (image, variance, …)
        let h = f32x4.add(i32x4.shuffle(sI, sV, 0, 1, 4, 5), i32x4.shuffle(sI, sV, 2, 3, 6, 7));
        if (tail) h = f32x4.add(h, f32x4.mul(t, v128.load(wx + (<usize>quads << 5))));
        const s = f32x4.add(i32x4.shuffle(h, h, 0, 2, 0, 2), i32x4.shuffle(h, h, 1, 3, 1, 3));
        // (image · s, variance · s · s) in float64, s = |det J| (or 1) times the value scale,
        // then rounded to float32
        let d = f64x2.promote_low_f32x4(s);
        const sc = flux ? jac * scale : scale;
        if (sc != 1) d = f64x2.mul(f64x2.mul(d, f64x2.splat(sc)), f64x2.replace_lane(one, 1, sc));
        const r32 = f32x4.demote_f64x2_zero(d);
        const o = <usize>(band + x) << 2;
        store<f32>(outImg + o, f32x4.extract_lane(r32, 0));
        store<f32>(outVar + o, f32x4.extract_lane(r32, 1));
        store<i32>(outMask + o, mk);
        sumJac += jac;
        sumW2 += f64At(sumSq, kx) * f64At(sumSq, ky);
      }
      // x increases along a row from segment to segment
      if (load<i32>(q, 8) == 0) store<i32>(q, load<i32>(jobs));
      store<i32>(q, load<i32>(jobs + (<usize>(nj - 1) << 4)), 4);
      store<i32>(q, load<i32>(q, 8) + nj, 8);
      filled += nj;
    }
  }
  store<f64>(bStats, <f64>filled);
  store<f64>(bStats, sumJac, 8);
  store<f64>(bStats, sumW2, 16);
  store<f64>(bStats, <f64>masked, 24);
  touchSink = f32x4.extract_lane(touched, 0);
}

/**
 * Warps target rows y0 … y1 − 1 (at most the band buffers' height): see the module comment.
 * The stats are those of this call.
 */
export function warpRows(y0: i32, y1: i32): void {
  const n = tN;
  if (n == 6) warpRows6(y0, y1);
  else if (n == 4) warpRows4(y0, y1);
  else if (n == 8) warpRows8(y0, y1);
  else if (n == 10) warpRows10(y0, y1);
}

function warpRows4(y0: i32, y1: i32): void {
  warpRowsN(4, y0, y1);
}

function warpRows6(y0: i32, y1: i32): void {
  warpRowsN(6, y0, y1);
}

function warpRows8(y0: i32, y1: i32): void {
  warpRowsN(8, y0, y1);
}

function warpRows10(y0: i32, y1: i32): void {
  warpRowsN(10, y0, y1);
}

/**
 * Footprint flags of a W × H mask (i32, rows `stride` values apart) for a kernel of order a:
 * flags[y·stride + x] (u8) gets bit 0 when some pixel of x − a + 1 … x + a by y − a + 1 … y + a
 * (clipped) has a mask bit, bit 1 when one has `noData`. Returns false, writing nothing, when
 * the mask is all zero. `ring` holds a rows of W bytes, `rowAny` H bytes.
 */
export function footprintFlags(mask: usize, stride: i32, W: i32, H: i32, a: i32, noData: i32, flags: usize, ring: usize, rowAny: usize): bool {
  const W4 = W & ~3;
  const rowBytes = <usize>stride << 2;
  let any = false;
  // Horizontal: pixel x lies in the footprints anchored at x − a … x + a − 1.
  for (let y = 0; y < H; y++) {
    const src = mask + <usize>y * rowBytes;
    let acc = i32x4.splat(0);
    for (let x = 0; x < W4; x += 4) acc = v128.or(acc, v128.load(src + (<usize>x << 2)));
    let m = i32x4.extract_lane(acc, 0) | i32x4.extract_lane(acc, 1) | i32x4.extract_lane(acc, 2) | i32x4.extract_lane(acc, 3);
    for (let x = W4; x < W; x++) m |= load<i32>(src + (<usize>x << 2));
    store<u8>(rowAny + <usize>y, m != 0 ? 1 : 0);
    if (m == 0) continue; // left as it is: rows without bits are never read below
    any = true;
    const dst = flags + <usize>y * <usize>stride;
    memory.fill(dst, 0, <usize>W);
    for (let x = 0; x < W; x++) {
      const mv = load<i32>(src + (<usize>x << 2));
      if (mv == 0) continue;
      const f = <u8>(1 | ((mv & noData) != 0 ? 2 : 0));
      const x1 = min(W - 1, x + a - 1);
      for (let i = max(0, x - a); i <= x1; i++) store<u8>(dst + <usize>i, load<u8>(dst + <usize>i) | f);
    }
  }
  if (!any) return false;
  // Vertical, in place: row y ORs the horizontal rows y − a + 1 … y + a. Rows above y are no
  // longer horizontal once written, so the last a horizontal rows are kept in the ring.
  const Wb = <usize>W;
  const Sb = <usize>stride;
  const W16 = W & ~15;
  for (let y = 0; y < H; y++) {
    const row = flags + <usize>y * Sb;
    const slot = ring + <usize>(y % a) * Wb;
    if (load<u8>(rowAny + <usize>y) != 0) memory.copy(slot, row, Wb);
    const jLo = max(0, y - a + 1);
    const jHi = min(H - 1, y + a);
    let have = false;
    for (let jj = jLo; jj <= jHi; jj++) {
      if (load<u8>(rowAny + <usize>jj) == 0) continue;
      const from = jj <= y ? ring + <usize>(jj % a) * Wb : flags + <usize>jj * Sb;
      if (!have) {
        if (from != row) memory.copy(row, from, Wb);
        have = true;
        continue;
      }
      for (let x = 0; x < W16; x += 16) {
        const o = <usize>x;
        v128.store(row + o, v128.or(v128.load(row + o), v128.load(from + o)));
      }
      for (let x = W16; x < W; x++) {
        const o = <usize>x;
        store<u8>(row + o, load<u8>(row + o) | load<u8>(from + o));
      }
    }
    if (!have) memory.fill(row, 0, Wb);
  }
  return true;
}
