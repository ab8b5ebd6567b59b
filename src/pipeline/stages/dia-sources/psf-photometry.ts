/**
 * Point-source photometry helpers for the DiaSource measurement: the pixel-integrated circular
 * Gaussian PSF, a one-PSF and a two-PSF (dipole) weighted linear fit of fluxes at fixed
 * positions, a circular aperture, and sign-adjusted stamps for the moment routines. Everything
 * works on a few hundred pixels per call with caller-owned scratch buffers; no allocation per
 * pixel or per call (except the scratch itself, sized once).
 */

/** erf(x), Abramowitz & Stegun 7.1.26: |error| < 1.5e-7. */
export function erf(x: number): number {
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}

/**
 * The continuous Gaussian sigma whose pixel-integrated profile has second moments sigmaMoment²
 * (a box of one pixel adds 1/12 px² of variance); at least 0.3 px.
 */
export function continuousSigma(sigmaMoment: number): number {
  return Math.sqrt(Math.max(0.09, sigmaMoment * sigmaMoment - 1 / 12));
}

/** out[i] = ∫ over pixel (i0 + i) of the unit Gaussian N(c, s), i < n; returns the sum. */
export function integratedGaussian1d(c: number, s: number, i0: number, n: number, out: Float64Array): number {
  const k = 1 / (Math.SQRT2 * s);
  let prev = erf((i0 - 0.5 - c) * k);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const next = erf((i0 + i + 0.5 - c) * k);
    const v = 0.5 * (next - prev);
    out[i] = v;
    sum += v;
    prev = next;
  }
  return sum;
}

/** A plane to measure on: image, variance and mask of the same width x height. */
export interface PlaneSet {
  readonly width: number;
  readonly height: number;
  readonly image: Float32Array;
  readonly variance: Float32Array;
  readonly mask: Int32Array;
}

export interface PsfFitOptions {
  /** Continuous Gaussian sigma of the PSF (pixels). */
  readonly sigma: number;
  /** Half-width of the square fit window (pixels). */
  readonly radius: number;
  /** Pixels with these bits are left out of the fit. */
  readonly rejectBits: number;
  /** Pixels with these bits in the window set `edge`. */
  readonly edgeBits: number;
  /** Variance multiplier (noiseScale²). */
  readonly varianceScale: number;
  /** Fraction of Σw² that usable pixels must cover. */
  readonly minCoverage: number;
}

/** Result of a PSF fit; reused between calls. */
export class PsfFit {
  flux = NaN;
  fluxErr = NaN;
  chi2 = NaN;
  nData = 0;
  /** Σw² of the usable pixels over Σw² of the whole model. */
  coverage = 0;
  /** The window leaves the image or holds edgeBits pixels. */
  edge = false;
  /** Coverage below the minimum. */
  noGoodPixels = false;
  /** A finite flux and error were measured. */
  ok = false;
  /** Mask bits ORed over the window (pixels on the image). */
  windowBits = 0;
  readonly gx: Float64Array;
  readonly gy: Float64Array;
  constructor(maxRadius: number) {
    this.gx = new Float64Array(2 * maxRadius + 1);
    this.gy = new Float64Array(2 * maxRadius + 1);
  }
}

/** The usable-pixel test shared by the fits: on the image, no reject bits, finite value, positive finite variance. */
function usable(img: Float32Array, vr: Float32Array, mask: Int32Array, p: number, rejectBits: number): boolean {
  const v = vr[p];
  const d = img[p];
  return (mask[p] & rejectBits) === 0 && v > 0 && v < Infinity && d === d && d !== Infinity && d !== -Infinity;
}

/**
 * Weighted least-squares PSF flux at fixed (xc, yc): flux = Σ w·D/V / Σ w²/V with w the
 * pixel-integrated unit-flux Gaussian, Var = 1 / Σ w²/V (V scaled by varianceScale),
 * χ² = Σ (D − flux·w)²/V. Written into `out`.
 */
export function fitPsfFlux(plane: PlaneSet, xc: number, yc: number, o: PsfFitOptions, out: PsfFit): PsfFit {
  const { width: W, height: H, image, variance, mask } = plane;
  const R = o.radius;
  const n = 2 * R + 1;
  const ix0 = Math.round(xc) - R;
  const iy0 = Math.round(yc) - R;
  integratedGaussian1d(xc, o.sigma, ix0, n, out.gx);
  integratedGaussian1d(yc, o.sigma, iy0, n, out.gy);
  let totW2x = 0;
  let totW2y = 0;
  for (let i = 0; i < n; i++) {
    totW2x += out.gx[i] * out.gx[i];
    totW2y += out.gy[i] * out.gy[i];
  }
  const totW2 = totW2x * totW2y;
  let swd = 0;
  let sww = 0;
  let sdd = 0;
  let w2good = 0;
  let nData = 0;
  let bits = 0;
  let edge = ix0 < 0 || iy0 < 0 || ix0 + n > W || iy0 + n > H;
  const s2 = o.varianceScale;
  const ya = Math.max(0, iy0);
  const yb = Math.min(H, iy0 + n);
  const xa = Math.max(0, ix0);
  const xb = Math.min(W, ix0 + n);
  for (let y = ya; y < yb; y++) {
    const wy = out.gy[y - iy0];
    const base = y * W;
    for (let x = xa; x < xb; x++) {
      const p = base + x;
      bits |= mask[p];
      if (!usable(image, variance, mask, p, o.rejectBits)) continue;
      const w = wy * out.gx[x - ix0];
      const iv = 1 / (s2 * variance[p]);
      const d = image[p];
      swd += w * d * iv;
      sww += w * w * iv;
      sdd += d * d * iv;
      w2good += w * w;
      nData++;
    }
  }
  if (bits & o.edgeBits) edge = true;
  out.windowBits = bits;
  out.edge = edge;
  out.nData = nData;
  out.coverage = totW2 > 0 ? w2good / totW2 : 0;
  out.noGoodPixels = !(out.coverage >= o.minCoverage);
  if (out.noGoodPixels || !(sww > 0)) {
    out.flux = NaN;
    out.fluxErr = NaN;
    out.chi2 = NaN;
    out.ok = false;
    return out;
  }
  const flux = swd / sww;
  out.flux = flux;
  out.fluxErr = Math.sqrt(1 / sww);
  out.chi2 = Math.max(0, sdd - flux * swd);
  out.ok = Number.isFinite(flux) && Number.isFinite(out.fluxErr);
  return out;
}

/** Result of the two-PSF fit. */
export class DipoleFit {
  flux1 = NaN;
  flux2 = NaN;
  var1 = NaN;
  var2 = NaN;
  cov12 = NaN;
  ok = false;
  readonly g1x: Float64Array;
  readonly g1y: Float64Array;
  readonly g2x: Float64Array;
  readonly g2y: Float64Array;
  constructor(maxRadius: number) {
    const n = 2 * maxRadius + 1;
    this.g1x = new Float64Array(n);
    this.g1y = new Float64Array(n);
    this.g2x = new Float64Array(n);
    this.g2y = new Float64Array(n);
  }
}

/**
 * Joint weighted least-squares fit of two PSF fluxes at fixed positions (the lobes of a dipole):
 * each PSF is truncated to its own square window (as in fitPsfFlux), the fit runs over the union
 * of the two windows, and the covariance is the inverse of the 2x2 normal matrix. The cost does
 * not depend on the separation.
 */
export function fitTwoPsfFluxes(plane: PlaneSet, x1: number, y1: number, x2: number, y2: number, o: PsfFitOptions, out: DipoleFit): DipoleFit {
  const { width: W, height: H, image, variance, mask } = plane;
  const R = o.radius;
  const n = 2 * R + 1;
  out.ok = false;
  if (n > out.g1x.length) throw new RangeError(`fit radius ${R} exceeds the DipoleFit buffers`);
  const ax = Math.round(x1) - R;
  const ay = Math.round(y1) - R;
  const bx = Math.round(x2) - R;
  const by = Math.round(y2) - R;
  integratedGaussian1d(x1, o.sigma, ax, n, out.g1x);
  integratedGaussian1d(y1, o.sigma, ay, n, out.g1y);
  integratedGaussian1d(x2, o.sigma, bx, n, out.g2x);
  integratedGaussian1d(y2, o.sigma, by, n, out.g2y);
  let a11 = 0;
  let a12 = 0;
  let a22 = 0;
  let b1 = 0;
  let b2 = 0;
  const s2 = o.varianceScale;
  // Window 1, then the pixels of window 2 outside window 1.
  for (let pass = 0; pass < 2; pass++) {
    const wx0 = pass === 0 ? ax : bx;
    const wy0 = pass === 0 ? ay : by;
    for (let y = Math.max(0, wy0); y < Math.min(H, wy0 + n); y++) {
      const in1y = y >= ay && y < ay + n;
      const in2y = y >= by && y < by + n;
      const w1y = in1y ? out.g1y[y - ay] : 0;
      const w2y = in2y ? out.g2y[y - by] : 0;
      const base = y * W;
      for (let x = Math.max(0, wx0); x < Math.min(W, wx0 + n); x++) {
        const in1 = in1y && x >= ax && x < ax + n;
        if (pass === 1 && in1) continue;
        const p = base + x;
        if (!usable(image, variance, mask, p, o.rejectBits)) continue;
        const w1 = in1 ? w1y * out.g1x[x - ax] : 0;
        const w2 = in2y && x >= bx && x < bx + n ? w2y * out.g2x[x - bx] : 0;
        const iv = 1 / (s2 * variance[p]);
        const d = image[p];
        a11 += w1 * w1 * iv;
        a12 += w1 * w2 * iv;
        a22 += w2 * w2 * iv;
        b1 += w1 * d * iv;
        b2 += w2 * d * iv;
      }
    }
  }
  const det = a11 * a22 - a12 * a12;
  if (!(det > 1e-12 * a11 * a22)) return out;
  out.var1 = a22 / det;
  out.var2 = a11 / det;
  out.cov12 = -a12 / det;
  out.flux1 = out.var1 * b1 + out.cov12 * b2;
  out.flux2 = out.cov12 * b1 + out.var2 * b2;
  out.ok = Number.isFinite(out.flux1) && Number.isFinite(out.flux2);
  return out;
}

export interface ApertureResult {
  flux: number;
  fluxErr: number;
  /** The aperture leaves the image or holds unusable pixels. */
  truncated: boolean;
  nPixels: number;
}

/** Sum over pixels whose centres lie within `radius` of (xc, yc); unusable pixels are skipped (truncated). */
export function apertureFlux(plane: PlaneSet, xc: number, yc: number, radius: number, rejectBits: number, varianceScale: number, out: ApertureResult): ApertureResult {
  const { width: W, height: H, image, variance, mask } = plane;
  const r2 = radius * radius;
  const x0 = Math.ceil(xc - radius);
  const x1 = Math.floor(xc + radius);
  const y0 = Math.ceil(yc - radius);
  const y1 = Math.floor(yc + radius);
  let truncated = x0 < 0 || y0 < 0 || x1 >= W || y1 >= H;
  let flux = 0;
  let fvar = 0;
  let n = 0;
  for (let y = Math.max(0, y0); y <= Math.min(H - 1, y1); y++) {
    const dy = y - yc;
    const dy2 = dy * dy;
    const base = y * W;
    for (let x = Math.max(0, x0); x <= Math.min(W - 1, x1); x++) {
      const dx = x - xc;
      if (dx * dx + dy2 > r2) continue;
      const p = base + x;
      if (!usable(image, variance, mask, p, rejectBits)) {
        truncated = true;
        continue;
      }
      flux += image[p];
      fvar += variance[p];
      n++;
    }
  }
  out.flux = n > 0 ? flux : NaN;
  out.fluxErr = n > 0 ? Math.sqrt(fvar * varianceScale) : NaN;
  out.truncated = truncated;
  out.nPixels = n;
  return out;
}

/**
 * Copies sign · image (and the variance) of the (2h+1)² pixels around (cx, cy) into the scratch
 * stamps; pixels off the image or unusable become 0 (variance 0). Returns the stamp origin in
 * `origin` ([x0, y0]).
 */
export function signedStamp(
  plane: PlaneSet,
  cx: number,
  cy: number,
  h: number,
  sign: number,
  rejectBits: number,
  outImg: Float32Array,
  outVar: Float32Array,
  origin: Int32Array,
): void {
  const { width: W, height: H, image, variance, mask } = plane;
  const S = 2 * h + 1;
  const ox = cx - h;
  const oy = cy - h;
  origin[0] = ox;
  origin[1] = oy;
  for (let j = 0; j < S; j++) {
    const y = oy + j;
    const row = j * S;
    if (y < 0 || y >= H) {
      outImg.fill(0, row, row + S);
      outVar.fill(0, row, row + S);
      continue;
    }
    const base = y * W;
    for (let i = 0; i < S; i++) {
      const x = ox + i;
      const p = base + x;
      if (x < 0 || x >= W || !usable(image, variance, mask, p, rejectBits)) {
        outImg[row + i] = 0;
        outVar[row + i] = 0;
      } else {
        outImg[row + i] = sign * image[p];
        outVar[row + i] = variance[p];
      }
    }
  }
}

/**
 * Subtracts flux · (pixel-integrated Gaussian at (x, y)) from a stamp made by signedStamp (stamp
 * pixel (a, b) is detector pixel (ox + a, oy + b)); unusable pixels (variance 0) stay 0. `gx`, `gy`
 * are scratch of at least S values.
 */
export function subtractPsfFromStamp(
  stampImg: Float32Array,
  stampVar: Float32Array,
  S: number,
  ox: number,
  oy: number,
  x: number,
  y: number,
  flux: number,
  sigma: number,
  gx: Float64Array,
  gy: Float64Array,
): void {
  integratedGaussian1d(x, sigma, ox, S, gx);
  integratedGaussian1d(y, sigma, oy, S, gy);
  for (let b = 0; b < S; b++) {
    const fy = flux * gy[b];
    if (Math.abs(fy) < 1e-12) continue;
    const row = b * S;
    for (let a = 0; a < S; a++) if (stampVar[row + a] > 0) stampImg[row + a] -= fy * gx[a];
  }
}
