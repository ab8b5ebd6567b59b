/**
 * Per-source moment measurements on small stamps: the Gaussian-weighted (iterated) centroid with
 * its linearised error, and adaptive second moments. These loop over at most a few hundred
 * pixels per source; the callers loop over sources.
 */

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
  const inv2s2 = 1 / (2 * sigma * sigma);
  const invS2 = 1 / (sigma * sigma);
  let xc = x0;
  let yc = y0;
  let ok = false;
  const maxShift = Math.max(2, 1.5 * sigma);
  const wx = new Float64Array(2 * R + 2);
  const wy = new Float64Array(2 * R + 2);
  for (let it = 0; it < maxIter; it++) {
    const ix0 = Math.max(0, Math.floor(xc) - R);
    const ix1 = Math.min(W - 1, Math.floor(xc) + R + 1);
    const iy0 = Math.max(0, Math.floor(yc) - R);
    const iy1 = Math.min(H - 1, Math.floor(yc) + R + 1);
    for (let x = ix0; x <= ix1; x++) wx[x - ix0] = Math.exp(-(x - xc) * (x - xc) * inv2s2);
    for (let y = iy0; y <= iy1; y++) wy[y - iy0] = Math.exp(-(y - yc) * (y - yc) * inv2s2);
    let s0 = 0;
    let sx = 0;
    let sy = 0;
    for (let y = iy0; y <= iy1; y++) {
      const base = y * W;
      const wyv = wy[y - iy0];
      const dy = y - yc;
      for (let x = ix0; x <= ix1; x++) {
        const wi = wyv * wx[x - ix0] * image[base + x];
        s0 += wi;
        sx += wi * (x - xc);
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

export interface MomentsResult {
  ixx: number;
  iyy: number;
  ixy: number;
  ok: boolean;
}

/**
 * Adaptive second moments about a fixed centre: the Gaussian weight's covariance is iterated to
 * twice the weighted moments, which converges to the source covariance for a Gaussian source.
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
    const mxx = sxx / s0;
    const myy = syy / s0;
    const mxy = sxy / s0;
    const nxx = 2 * mxx;
    const nyy = 2 * myy;
    const nxy = 2 * mxy;
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
