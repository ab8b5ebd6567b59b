/**
 * Per-source moment measurements on small stamps: the Gaussian-weighted (iterated) centroid with
 * its linearised error, and adaptive second moments. These loop over at most a few hundred
 * pixels per source; the callers loop over sources.
 *
 * The iterations run in WebAssembly (wasm/moments.ts) on a copy of the pixels they can reach:
 * the Gaussian weights there are separable (one exponential recurrence per axis, and for an
 * elliptical weight a cross factor carried from row to row by one factor per column), the sums
 * taken row by row in float64. The results equal those of a two-dimensional exponential per pixel (the direct
 * evaluation below, used for inputs the kernels do not take: non-finite or far-off positions,
 * very wide weights) to within a few units in the last place of the sums; the iterations and
 * their stopping rules are the same.
 */
import { momentKernels, type MomentKernels } from '../../wasm/moments.ts';

export interface CentroidResult {
  x: number;
  y: number;
  xErr: number;
  yErr: number;
  /** Weighted flux sum Σ w·I (diagnostic). */
  weightedFlux: number;
  /** False when the iteration did not converge or ran off the stamp; x, y then hold the start. */
  ok: boolean;
}

export interface MomentsResult {
  ixx: number;
  iyy: number;
  ixy: number;
  ok: boolean;
}

/** Largest weight sigma and box radius (pixels) the kernels take; beyond, the direct evaluation. */
const MAX_KERNEL_RADIUS = 512;
/** The moments' first stamp reaches this many pixels beyond the first box (the weight grows to the source's size). */
const MOMENTS_STAMP_MARGIN = 3;

/**
 * Where the stamps, scratch and results are in the module's memory (byte offsets), and how many
 * pixels and scratch values they hold (0: not laid out yet): numbers only, the views are made per
 * call from the memory's buffer. The memory never shrinks, so the places stay valid after layouts
 * by other users of the module (which do not interleave with these calls).
 */
const IMG = 0;
const VR = 1;
const SCRATCH = 2;
const OUT = 3;
const PIXELS = 4;
const SCRATCH_VALUES = 5;
const places = new Float64Array(6);

/** The kernels, with the memory laid out for stamps of `pixels` and boxes of `radius`. */
function kernelsFor(pixels: number, radius: number): MomentKernels {
  const { exports: kernels, arena } = momentKernels();
  const scratchValues = 5 * (2 * radius + 4);
  if (places[PIXELS] < pixels || places[SCRATCH_VALUES] < scratchValues) {
    const P = Math.max(pixels, places[PIXELS], 4096);
    const S = Math.max(scratchValues, places[SCRATCH_VALUES], 5 * (2 * 64 + 4));
    const [img, vr, scratch, out] = arena.layout([
      ['f32', P],
      ['f32', P],
      ['f64', S],
      ['f64', 8],
    ]);
    places[IMG] = img.ptr;
    places[VR] = vr.ptr;
    places[SCRATCH] = scratch.ptr;
    places[OUT] = out.ptr;
    places[PIXELS] = P;
    places[SCRATCH_VALUES] = S;
  }
  return kernels;
}

/** Copies image columns x0 … x0 + sw − 1 of rows y0 … y0 + sh − 1 to dst (row stride dstStride, from dstOffset). */
function copyBox(src: Float32Array, W: number, x0: number, y0: number, sw: number, sh: number, dst: Float32Array, dstOffset: number, dstStride: number): void {
  for (let j = 0; j < sh; j++) {
    let s = (y0 + j) * W + x0;
    let d = dstOffset + j * dstStride;
    const end = d + sw;
    while (d < end) dst[d++] = src[s++];
  }
}

/**
 * Iterated Gaussian-weighted centroid with a circular weight of `sigma` px, starting at (x0, y0).
 * The error is the first-order propagation of the pixel variances through the fixed point
 * Σ w(r - c) I (r - c) = 0, which accounts for the weight moving with the centre.
 */
export function gaussianCentroid(
  image: Float32Array,
  variance: Float32Array,
  W: number,
  H: number,
  x0: number,
  y0: number,
  sigma: number,
  maxIter = 30,
): CentroidResult {
  const R = Math.ceil(4 * sigma);
  const maxShift = Math.max(2, 1.5 * sigma);
  // The boxes of every centre within maxShift of the start (one pixel more on each side).
  const bx0 = Math.max(0, Math.floor(x0 - maxShift) - R - 1);
  const bx1 = Math.min(W - 1, Math.floor(x0 + maxShift) + R + 2);
  const by0 = Math.max(0, Math.floor(y0 - maxShift) - R - 1);
  const by1 = Math.min(H - 1, Math.floor(y0 + maxShift) + R + 2);
  if (!(sigma > 0 && R <= MAX_KERNEL_RADIUS && bx0 <= bx1 && by0 <= by1 && maxIter >= 0 && maxIter < 2 ** 31)) {
    return gaussianCentroidDirect(image, variance, W, H, x0, y0, sigma, maxIter);
  }
  const sw = bx1 - bx0 + 1;
  const sh = by1 - by0 + 1;
  const k = kernelsFor(sw * sh, R);
  const buffer = k.memory.buffer;
  const img = places[IMG];
  const vr = places[VR];
  const scratch = places[SCRATCH];
  const outPtr = places[OUT];
  copyBox(image, W, bx0, by0, sw, sh, new Float32Array(buffer, img, sw * sh), 0, sw);
  const status = k.centroid(img, bx0, by0, sw, sh, W, H, x0, y0, sigma, Math.ceil(maxIter), scratch, outPtr);
  if (status === 2) return gaussianCentroidDirect(image, variance, W, H, x0, y0, sigma, maxIter);
  if (status !== 1) return { x: x0, y: y0, xErr: NaN, yErr: NaN, weightedFlux: NaN, ok: false };
  const out = new Float64Array(buffer, outPtr, 3);
  const xc = out[0];
  const yc = out[1];
  // The variance of the final box, at its place in the stamp.
  const fx0 = Math.max(0, Math.floor(xc) - R);
  const fx1 = Math.min(W - 1, Math.floor(xc) + R + 1);
  const fy0 = Math.max(0, Math.floor(yc) - R);
  const fy1 = Math.min(H - 1, Math.floor(yc) + R + 1);
  if (fx0 <= fx1 && fy0 <= fy1) copyBox(variance, W, fx0, fy0, fx1 - fx0 + 1, fy1 - fy0 + 1, new Float32Array(buffer, vr, sw * sh), (fy0 - by0) * sw + fx0 - bx0, sw);
  const good = k.centroidErrors(img, vr, bx0, by0, sw, W, H, xc, yc, sigma, scratch, outPtr);
  return { x: xc, y: yc, xErr: out[1], yErr: out[2], weightedFlux: out[0], ok: good === 1 };
}

/**
 * Adaptive second moments about a fixed centre: the Gaussian weight's covariance is iterated to
 * twice the weighted moments, which converges to the source covariance for a Gaussian source.
 * Pixels where the weight's exponent exceeds 9 are left out.
 */
export function adaptiveMoments(
  image: Float32Array,
  W: number,
  H: number,
  xc: number,
  yc: number,
  initSigma: number,
  maxIter = 40,
  maxRadius = 40,
): MomentsResult {
  const w0 = initSigma * initSigma;
  const fx = Math.floor(xc);
  const fy = Math.floor(yc);
  if (
    !(w0 > 0 && w0 < Infinity && Number.isInteger(maxRadius) && maxRadius >= 1 && maxRadius <= MAX_KERNEL_RADIUS && maxIter >= 0 && maxIter < 2 ** 31) ||
    !(Math.abs(fx) < 2 ** 30 && Math.abs(fy) < 2 ** 30)
  ) {
    return adaptiveMomentsDirect(image, W, H, xc, yc, initSigma, maxIter, maxRadius);
  }
  let Rs = Math.min(maxRadius, Math.ceil(4 * Math.sqrt(w0)) + MOMENTS_STAMP_MARGIN);
  // The iteration's state: weight covariance and iterations done.
  let wxx = w0;
  let wyy = w0;
  let wxy = 0;
  let done = 0;
  for (;;) {
    const sx0 = Math.max(0, fx - Rs);
    const sx1 = Math.min(W - 1, fx + Rs + 1);
    const sy0 = Math.max(0, fy - Rs);
    const sy1 = Math.min(H - 1, fy + Rs + 1);
    const sw = Math.max(0, sx1 - sx0 + 1);
    const sh = Math.max(0, sy1 - sy0 + 1);
    const k = kernelsFor(sw * sh, maxRadius);
    const buffer = k.memory.buffer;
    const img = places[IMG];
    const outPtr = places[OUT];
    if (sw > 0 && sh > 0) copyBox(image, W, sx0, sy0, sw, sh, new Float32Array(buffer, img, sw * sh), 0, sw);
    const s = new Float64Array(buffer, outPtr, 5);
    s[0] = wxx;
    s[1] = wyy;
    s[2] = wxy;
    s[3] = done;
    const status = k.moments(img, sx0, sy0, sw, sh, W, H, xc, yc, Math.ceil(maxIter), maxRadius, places[SCRATCH], outPtr);
    if (status === 1) return { ixx: s[0], iyy: s[1], ixy: s[2], ok: true };
    if (status !== 2 || !(s[4] > Rs)) return { ixx: NaN, iyy: NaN, ixy: NaN, ok: false };
    wxx = s[0];
    wyy = s[1];
    wxy = s[2];
    done = s[3];
    Rs = Math.min(maxRadius, Math.max(s[4] + MOMENTS_STAMP_MARGIN, Math.ceil(1.5 * Rs)));
  }
}

/** gaussianCentroid with a two-dimensional exponential per pixel. */
export function gaussianCentroidDirect(
  image: Float32Array,
  variance: Float32Array,
  W: number,
  H: number,
  x0: number,
  y0: number,
  sigma: number,
  maxIter = 30,
): CentroidResult {
  const R = Math.ceil(4 * sigma);
  const inv2s2 = 1 / (2 * sigma * sigma);
  const invS2 = 1 / (sigma * sigma);
  let xc = x0;
  let yc = y0;
  let ok = false;
  const maxShift = Math.max(2, 1.5 * sigma);
  for (let it = 0; it < maxIter; it++) {
    const ix0 = Math.max(0, Math.floor(xc) - R);
    const ix1 = Math.min(W - 1, Math.floor(xc) + R + 1);
    const iy0 = Math.max(0, Math.floor(yc) - R);
    const iy1 = Math.min(H - 1, Math.floor(yc) + R + 1);
    let s0 = 0;
    let sx = 0;
    let sy = 0;
    for (let y = iy0; y <= iy1; y++) {
      const base = y * W;
      const dy = y - yc;
      for (let x = ix0; x <= ix1; x++) {
        const dx = x - xc;
        const wi = Math.exp(-(dx * dx + dy * dy) * inv2s2) * image[base + x];
        s0 += wi;
        sx += wi * dx;
        sy += wi * dy;
      }
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
      ok = true;
      break;
    }
  }
  if (!ok) return { x: x0, y: y0, xErr: NaN, yErr: NaN, weightedFlux: NaN, ok: false };

  // Errors at the converged centre.
  const ix0 = Math.max(0, Math.floor(xc) - R);
  const ix1 = Math.min(W - 1, Math.floor(xc) + R + 1);
  const iy0 = Math.max(0, Math.floor(yc) - R);
  const iy1 = Math.min(H - 1, Math.floor(yc) + R + 1);
  let s0 = 0;
  let sxx = 0;
  let syy = 0;
  let vx = 0;
  let vy = 0;
  for (let y = iy0; y <= iy1; y++) {
    const base = y * W;
    const dy = y - yc;
    for (let x = ix0; x <= ix1; x++) {
      const dx = x - xc;
      const w = Math.exp(-(dx * dx + dy * dy) * inv2s2);
      const wi = w * image[base + x];
      s0 += wi;
      sxx += wi * dx * dx;
      syy += wi * dy * dy;
      const w2v = w * w * variance[base + x];
      vx += w2v * dx * dx;
      vy += w2v * dy * dy;
    }
  }
  const dX = s0 - sxx * invS2;
  const dY = s0 - syy * invS2;
  if (!(dX > 0) || !(dY > 0)) return { x: xc, y: yc, xErr: NaN, yErr: NaN, weightedFlux: s0, ok: false };
  return { x: xc, y: yc, xErr: Math.sqrt(vx) / dX, yErr: Math.sqrt(vy) / dY, weightedFlux: s0, ok: true };
}

/** adaptiveMoments with a two-dimensional exponential per pixel. */
export function adaptiveMomentsDirect(
  image: Float32Array,
  W: number,
  H: number,
  xc: number,
  yc: number,
  initSigma: number,
  maxIter = 40,
  maxRadius = 40,
): MomentsResult {
  let wxx = initSigma * initSigma;
  let wyy = wxx;
  let wxy = 0;
  for (let it = 0; it < maxIter; it++) {
    const det = wxx * wyy - wxy * wxy;
    if (!(det > 0)) break;
    // Inverse covariance / 2 for the exponent.
    const a = wyy / det / 2;
    const b = -wxy / det / 2;
    const c = wxx / det / 2;
    const R = Math.min(maxRadius, Math.ceil(4 * Math.sqrt(Math.max(wxx, wyy))));
    const ix0 = Math.max(0, Math.floor(xc) - R);
    const ix1 = Math.min(W - 1, Math.floor(xc) + R + 1);
    const iy0 = Math.max(0, Math.floor(yc) - R);
    const iy1 = Math.min(H - 1, Math.floor(yc) + R + 1);
    let s0 = 0;
    let sxx = 0;
    let syy = 0;
    let sxy = 0;
    for (let y = iy0; y <= iy1; y++) {
      const base = y * W;
      const dy = y - yc;
      const cy = c * dy * dy;
      const by = 2 * b * dy;
      for (let x = ix0; x <= ix1; x++) {
        const dx = x - xc;
        const e = a * dx * dx + by * dx + cy;
        if (e > 9) continue;
        const wi = Math.exp(-e) * image[base + x];
        s0 += wi;
        sxx += wi * dx * dx;
        syy += wi * dy * dy;
        sxy += wi * dx * dy;
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
    if (change < 1e-5 * (wxx + wyy)) return { ixx: wxx, iyy: wyy, ixy: wxy, ok: true };
    if (wxx > maxRadius * maxRadius || wyy > maxRadius * maxRadius) break;
  }
  return { ixx: NaN, iyy: NaN, ixy: NaN, ok: false };
}
