import { z } from 'zod';
import { InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, type MaskedImage } from '../../../core/image.ts';
import { pixelToSky, type TanWcs } from '../../../astro/index.ts';
import { parseConfig } from '../../config.ts';
import { adaptiveMoments, gaussianCentroid } from '../../lib/moments.ts';
import { makeSourceCatalog, SourceFlag, type SourceCatalog } from '../../source-catalog.ts';
import type { Footprints } from '../detection/detection.ts';

/**
 * Source measurement on the background-subtracted image, per footprint: Gaussian-weighted
 * centroid (weight = the PSF) with linearised errors, circular-aperture flux with its error from
 * the variance plane, S/N, peak, adaptive second moments, mask-based flags, and sky coordinates
 * through the exposure's TAN WCS; and the PSF flux: the amplitude of a unit-sum Gaussian PSF
 * model (elliptical when the PSF's second moments are given, else circular of the PSF sigma)
 * at the centroid, by inverse-variance weighted linear least squares over the pixels within
 * psfFitRadiusPsfSigmas of the centre (in the PSF's own metric), masked pixels left out:
 *   psfFlux = Σ P·I/V / Σ P²/V,  psfFluxErr = (Σ P²/V)^-1/2,  psfChi2 = Σ (I − psfFlux·P)²/V / (n − 1).
 * The model is normalised over the whole plane, so pixels off the stamp, off the image or masked
 * change the error, not the flux. The model is a Gaussian: for a PSF with wings the PSF flux is
 * below the total flux by a constant factor (an aperture correction, not applied here).
 */
export const MeasurementConfig = z.object({
  /** Aperture radius (pixels), unless apertureRadiusPsfSigmas is set. */
  apertureRadiusPx: z.number().positive().default(12),
  /** When set, the aperture radius is this many PSF sigmas instead. */
  apertureRadiusPsfSigmas: z.number().positive().optional(),
  /** Centroid weight sigma in units of the PSF sigma. */
  centroidWeightPsfSigmas: z.number().positive().default(1),
  /** PSF fit stamp radius in PSF sigmas (Mahalanobis radius for an elliptical PSF). */
  psfFitRadiusPsfSigmas: z.number().min(1.5).max(8).default(3.5),
  /** Pixels with these mask bits are left out of the PSF fit. */
  psfFitBadBits: z.number().int().min(0).default(MaskBit.BAD | MaskBit.SAT | MaskBit.NO_DATA | MaskBit.CR),
  /**
   * Below this fraction of the stamp's model flux on usable pixels, the PSF flux is not
   * measured (NaN and PSF_FLUX_FAILED).
   */
  psfFitMinCoverage: z.number().min(0).max(1).default(0.5),
});
export type MeasurementConfig = z.output<typeof MeasurementConfig>;
export type MeasurementConfigInput = z.input<typeof MeasurementConfig>;

export function makeMeasurementConfig(input: MeasurementConfigInput = {}): MeasurementConfig {
  return parseConfig(MeasurementConfig, input, 'measurement');
}

/** Second moments (pixels²) of the PSF, e.g. a PsfEstimate; NaN values mean not measured. */
export interface PsfMoments {
  readonly ixx: number;
  readonly iyy: number;
  readonly ixy: number;
}

export interface MeasurementInput {
  /** Background-subtracted image, its mask (with DETECTED) and variance. */
  readonly exposure: MaskedImage;
  readonly footprints: Footprints;
  /** PSF Gaussian sigma (pixels), measured or guessed. */
  readonly psfSigmaPx: number;
  /**
   * The PSF's second moments (of the pixelised PSF, as adaptive moments measure them): when
   * finite and positive definite, the PSF flux model is the Gaussian of these moments instead of
   * the circular one of psfSigmaPx.
   */
  readonly psfMoments?: PsfMoments;
  readonly wcs: TanWcs | null;
}

export interface MeasurementResult {
  readonly catalog: SourceCatalog;
  readonly apertureRadiusPx: number;
  readonly centroidFailures: number;
  readonly momentFailures: number;
  readonly psfFluxFailures: number;
  /** The PSF model's covariance (pixels²) used for the PSF fluxes. */
  readonly psfModel: PsfMoments;
}

/** The PSF flux model: the covariance of a psfMoments input when usable, else circular. */
function psfModel(sigmaPx: number, m: PsfMoments | undefined): PsfMoments {
  if (m && Number.isFinite(m.ixx) && Number.isFinite(m.iyy) && Number.isFinite(m.ixy) && m.ixx > 0 && m.iyy > 0 && m.ixx * m.iyy - m.ixy * m.ixy > 0) {
    return { ixx: m.ixx, iyy: m.iyy, ixy: m.ixy };
  }
  return { ixx: sigmaPx * sigmaPx, iyy: sigmaPx * sigmaPx, ixy: 0 };
}

/** Sums over a circular aperture or a PSF fit window; reused between sources. */
class PixelSums {
  // The sums start as NaN, a double: fields that hold doubles from the start keep their layout
  // (a field that changes from small integers to doubles changes the objects' hidden class,
  // which discards the optimised code that reads it).
  /** Aperture: Σ image, Σ variance, OR of the mask bits. */
  flux = NaN;
  fvar = NaN;
  mbits = 0;
  /** PSF fit: Σ P²/V, Σ P·I/V, Σ I²/V, Σ P, pixels used. */
  sPP = NaN;
  sPI = NaN;
  sII = NaN;
  sP = NaN;
  nFit = 0;
  /** Per-column scratch of the PSF fit: exp(−qxx·dx²/2). */
  cols = new Float64Array(64);
}

/**
 * Reads one value per 64-byte line of the three planes over rows py ± R, columns px ± R: the
 * pixels the measurement of a source at (px, py) reads first. Done for the next source before
 * the current one is measured, the memory reads of the two overlap (the sources are scattered
 * over planes far larger than the caches). Returns a sum of the values read (they must be used).
 */
function touchAround(image: Float32Array, variance: Float32Array, mask: Int32Array, W: number, H: number, px: number, py: number, R: number): number {
  const x0 = Math.max(0, px - R);
  const x1 = Math.min(W - 1, px + R);
  const y0 = Math.max(0, py - R);
  const y1 = Math.min(H - 1, py + R);
  let s = 0;
  for (let y = y0; y <= y1; y++) {
    const b = y * W;
    for (let x = x0; x <= x1 + 15; x += 16) {
      const p = b + Math.min(x, x1);
      s += image[p] + variance[p] + mask[p];
    }
  }
  return s;
}

/** The footprint's largest pixel value; SATURATED in the returned flags when a pixel has SAT. */
function footprintPeak(offsets: Int32Array, pixels: Int32Array, k: number, image: Float32Array, mask: Int32Array, out: Float64Array): number {
  let peak = -Infinity;
  let sat = 0;
  for (let q = offsets[k]; q < offsets[k + 1]; q++) {
    const p = pixels[q];
    if (image[p] > peak) peak = image[p];
    sat |= mask[p] & MaskBit.SAT;
  }
  out[0] = peak;
  return sat ? SourceFlag.SATURATED : 0;
}

/** First moments of the positive footprint pixels (the peak when there are none) into out[0], out[1]. */
function footprintCentroid(offsets: Int32Array, pixels: Int32Array, k: number, image: Float32Array, W: number, peakX: number, peakY: number, out: Float64Array): void {
  let s = 0;
  let sx = 0;
  let sy = 0;
  for (let q = offsets[k]; q < offsets[k + 1]; q++) {
    const p = pixels[q];
    const v = image[p];
    if (!(v > 0)) continue;
    const px = p % W;
    s += v;
    sx += v * px;
    sy += v * ((p - px) / W);
  }
  out[0] = s > 0 ? sx / s : peakX;
  out[1] = s > 0 ? sy / s : peakY;
}

/** Σ image, Σ variance and the OR of the mask over the pixels within `radius` (r2 = radius²) of (x, y). */
function aperture(image: Float32Array, variance: Float32Array, mask: Int32Array, W: number, H: number, x: number, y: number, radius: number, r2: number, out: PixelSums): void {
  const ax0 = Math.max(0, Math.floor(x - radius));
  const ax1 = Math.min(W - 1, Math.ceil(x + radius));
  const ay0 = Math.max(0, Math.floor(y - radius));
  const ay1 = Math.min(H - 1, Math.ceil(y + radius));
  let flux = 0;
  let fvar = 0;
  let mbits = 0;
  for (let yy = ay0; yy <= ay1; yy++) {
    const dy = yy - y;
    const dy2 = dy * dy;
    if (dy2 > r2) continue;
    // The row's pixels within the circle: an interval.
    let x0 = ax0;
    while (x0 <= ax1 && (x0 - x) * (x0 - x) + dy2 > r2) x0++;
    let x1 = ax1;
    while (x1 >= x0 && (x1 - x) * (x1 - x) + dy2 > r2) x1--;
    const base = yy * W;
    for (let p = base + x0; p <= base + x1; p++) {
      flux += image[p];
      fvar += variance[p];
      mbits |= mask[p];
    }
  }
  out.flux = flux;
  out.fvar = fvar;
  out.mbits = mbits;
}

/**
 * The PSF fit's sums over the pixels within the Mahalanobis radius √rFit2 of (x, y) (bounding
 * box half-widths halfX, halfY) with no `bad` mask bits, a positive finite variance and a
 * non-NaN value, for the model P = norm·exp(−q/2), q = qxx·dx² + 2qxy·dx·dy + qyy·dy². With
 * `separable`, evaluated as norm·exp(−qxx·dx²/2)·exp(−qyy·dy²/2)·exp(−qxy·dy·dx), the last
 * geometric along a row (the caller makes sure these factors stay well within double range).
 */
function psfSums(
  image: Float32Array,
  variance: Float32Array,
  mask: Int32Array,
  W: number,
  H: number,
  x: number,
  y: number,
  qxx: number,
  qxy: number,
  qyy: number,
  norm: number,
  rFit2: number,
  halfX: number,
  halfY: number,
  bad: number,
  separable: boolean,
  out: PixelSums,
): void {
  const x0 = Math.max(0, Math.ceil(x - halfX));
  const x1 = Math.min(W - 1, Math.floor(x + halfX));
  const y0 = Math.max(0, Math.ceil(y - halfY));
  const y1 = Math.min(H - 1, Math.floor(y + halfY));
  let sPP = 0;
  let sPI = 0;
  let sII = 0;
  let sP = 0;
  let nFit = 0;
  const nx = x1 - x0 + 1;
  if (out.cols.length < nx) out.cols = new Float64Array(2 * nx);
  const ex = out.cols;
  for (let k = 0; k < nx; k++) {
    const dx = x0 + k - x;
    ex[k] = norm * Math.exp(-0.5 * qxx * dx * dx);
  }
  for (let yy = y0; yy <= y1; yy++) {
    const dy = yy - y;
    const base = yy * W;
    const ey = Math.exp(-0.5 * qyy * dy * dy);
    const ratio = Math.exp(-qxy * dy);
    let cross = Math.exp(-qxy * dy * (x0 - x));
    for (let xx = x0; xx <= x1; xx++, cross *= ratio) {
      const dx = xx - x;
      const q = qxx * dx * dx + 2 * qxy * dx * dy + qyy * dy * dy;
      if (q > rFit2) continue;
      const p = base + xx;
      const v = variance[p];
      const iv = image[p];
      if (mask[p] & bad || !(v > 0 && v < Infinity) || iv !== iv) continue;
      const m = separable ? ex[xx - x0] * ey * cross : norm * Math.exp(-0.5 * q);
      const w = m / v;
      sPP += m * w;
      sPI += w * iv;
      sII += (iv * iv) / v;
      sP += m;
      nFit++;
    }
  }
  out.sPP = sPP;
  out.sPI = sPI;
  out.sII = sII;
  out.sP = sP;
  out.nFit = nFit;
}

/**
 * The measurement of one source at a time, with what is fixed for the exposure. The per-source
 * code reads the footprints' arrays and writes the catalog's columns held here, not through the
 * footprints and catalog objects, so that its optimised code does not depend on how objects made
 * elsewhere for each exposure are laid out.
 */
class SourceMeasurer {
  readonly W: number;
  readonly H: number;
  readonly image: Float32Array;
  readonly variance: Float32Array;
  readonly mask: Int32Array;
  /** The footprints' arrays. */
  readonly pixelOffsets: Int32Array;
  readonly pixels: Int32Array;
  readonly peakX: Int32Array;
  readonly peakY: Int32Array;
  readonly nPeaks: Int32Array;
  readonly area: Int32Array;
  /** The catalog's columns. */
  readonly colId: Int32Array;
  readonly colX: Float64Array;
  readonly colY: Float64Array;
  readonly colXErr: Float32Array;
  readonly colYErr: Float32Array;
  readonly colApFlux: Float32Array;
  readonly colApFluxErr: Float32Array;
  readonly colSnr: Float32Array;
  readonly colPsfFlux: Float32Array;
  readonly colPsfFluxErr: Float32Array;
  readonly colPsfChi2: Float32Array;
  readonly colPeak: Float32Array;
  readonly colIxx: Float32Array;
  readonly colIyy: Float32Array;
  readonly colIxy: Float32Array;
  readonly colArea: Int32Array;
  readonly colFlags: Int32Array;
  readonly psfSigmaPx: number;
  readonly weightSigma: number;
  readonly radius: number;
  readonly r2: number;
  // PSF model: P(dx, dy) = exp(-q/2) / (2π √det C), q = dᵀ C⁻¹ d; fitted where q ≤ rFit².
  readonly qxx: number;
  readonly qxy: number;
  readonly qyy: number;
  readonly norm: number;
  readonly rFit2: number;
  /** Half-widths of the ellipse's bounding box, and the model flux inside the ellipse. */
  readonly fitHalfX: number;
  readonly fitHalfY: number;
  readonly stampModelFlux: number;
  readonly fitBad: number;
  readonly minCoverage: number;
  readonly separable: boolean;
  /** Rows and columns around a peak read first (centroid box and its moves, aperture). */
  readonly reach: number;
  readonly pos: Float64Array;
  readonly sums: PixelSums;
  centroidFailures: number;
  momentFailures: number;
  psfFluxFailures: number;
  /** Sum of the values read ahead (touchAround). */
  readAhead: number;

  constructor(input: MeasurementInput, cfg: MeasurementConfig, model: PsfMoments, cat: SourceCatalog) {
    const { exposure, psfSigmaPx } = input;
    this.W = exposure.width;
    this.H = exposure.height;
    this.image = exposure.image;
    this.variance = exposure.variance;
    this.mask = exposure.mask;
    const fp = input.footprints;
    this.pixelOffsets = fp.pixelOffsets;
    this.pixels = fp.pixels;
    this.peakX = fp.peakX;
    this.peakY = fp.peakY;
    this.nPeaks = fp.nPeaks;
    this.area = fp.area;
    this.colId = cat.id;
    this.colX = cat.x;
    this.colY = cat.y;
    this.colXErr = cat.xErr;
    this.colYErr = cat.yErr;
    this.colApFlux = cat.apFlux;
    this.colApFluxErr = cat.apFluxErr;
    this.colSnr = cat.snr;
    this.colPsfFlux = cat.psfFlux;
    this.colPsfFluxErr = cat.psfFluxErr;
    this.colPsfChi2 = cat.psfChi2;
    this.colPeak = cat.peak;
    this.colIxx = cat.ixx;
    this.colIyy = cat.iyy;
    this.colIxy = cat.ixy;
    this.colArea = cat.area;
    this.colFlags = cat.flags;
    this.psfSigmaPx = psfSigmaPx;
    const det = model.ixx * model.iyy - model.ixy * model.ixy;
    this.qxx = model.iyy / det;
    this.qxy = -model.ixy / det;
    this.qyy = model.ixx / det;
    this.norm = 1 / (2 * Math.PI * Math.sqrt(det));
    const rFit = cfg.psfFitRadiusPsfSigmas;
    this.rFit2 = rFit * rFit;
    this.fitHalfX = rFit * Math.sqrt(model.ixx);
    this.fitHalfY = rFit * Math.sqrt(model.iyy);
    this.stampModelFlux = 1 - Math.exp(-this.rFit2 / 2);
    this.fitBad = cfg.psfFitBadBits;
    this.minCoverage = cfg.psfFitMinCoverage;
    // Within the bounding box each factor of the separable model is within exp(±rFit²/(2(1 − ρ²))).
    this.separable = (0.5 * this.rFit2 * model.ixx * model.iyy) / det <= 300;
    this.radius = cfg.apertureRadiusPsfSigmas !== undefined ? cfg.apertureRadiusPsfSigmas * psfSigmaPx : cfg.apertureRadiusPx;
    this.r2 = this.radius * this.radius;
    this.weightSigma = cfg.centroidWeightPsfSigmas * psfSigmaPx;
    this.reach = Math.min(64, Math.ceil(Math.max(4 * this.weightSigma + Math.max(2, 1.5 * this.weightSigma) + 2, this.radius + 1)));
    this.pos = new Float64Array(2);
    this.sums = new PixelSums();
    this.centroidFailures = 0;
    this.momentFailures = 0;
    this.psfFluxFailures = 0;
    this.readAhead = NaN;
  }

  /** Reads ahead the pixels source k reads first (see touchAround). */
  readAheadFor(k: number): void {
    this.readAhead += touchAround(this.image, this.variance, this.mask, this.W, this.H, this.peakX[k], this.peakY[k], this.reach);
  }

  measure(k: number): void {
    const { W, H, image, variance, mask, radius, sums, pos } = this;
    let flags = this.nPeaks[k] > 1 ? SourceFlag.BLENDED : 0;
    // Footprint: peak value, saturation.
    flags |= footprintPeak(this.pixelOffsets, this.pixels, k, image, mask, pos);
    const peak = pos[0];

    // Centroid.
    let x: number;
    let y: number;
    let xErr: number;
    let yErr: number;
    const px = this.peakX[k];
    const py = this.peakY[k];
    const c = gaussianCentroid(image, variance, W, H, px, py, this.weightSigma);
    if (c.ok) {
      x = c.x;
      y = c.y;
      xErr = c.xErr;
      yErr = c.yErr;
    } else {
      flags |= SourceFlag.CENTROID_FAILED;
      this.centroidFailures++;
      // First moments of the positive footprint pixels.
      footprintCentroid(this.pixelOffsets, this.pixels, k, image, W, px, py, pos);
      x = pos[0];
      y = pos[1];
      xErr = NaN;
      yErr = NaN;
    }

    // Aperture.
    if (Math.floor(x - radius) < 0 || Math.floor(y - radius) < 0 || Math.ceil(x + radius) >= W || Math.ceil(y + radius) >= H) flags |= SourceFlag.EDGE;
    aperture(image, variance, mask, W, H, x, y, radius, this.r2, sums);
    const flux = sums.flux;
    const mbits = sums.mbits;
    if (mbits & MaskBit.SAT) flags |= SourceFlag.SATURATED;
    if (mbits & MaskBit.CR) flags |= SourceFlag.COSMIC_RAY;
    if (mbits & MaskBit.BAD) flags |= SourceFlag.BAD;
    if (mbits & MaskBit.SUSPECT) flags |= SourceFlag.SUSPECT;
    if (mbits & MaskBit.NO_DATA) flags |= SourceFlag.EDGE;
    const fluxErr = Math.sqrt(sums.fvar);

    // PSF flux.
    psfSums(image, variance, mask, W, H, x, y, this.qxx, this.qxy, this.qyy, this.norm, this.rFit2, this.fitHalfX, this.fitHalfY, this.fitBad, this.separable, sums);
    const { sPP, sPI, sII, sP, nFit } = sums;
    let psfFlux = NaN;
    let psfFluxErr = NaN;
    let psfChi2 = NaN;
    if (nFit >= 2 && sPP > 0 && sP >= this.minCoverage * this.stampModelFlux) {
      psfFlux = sPI / sPP;
      psfFluxErr = 1 / Math.sqrt(sPP);
      // Σ (I − F·P)²/V = Σ I²/V − F·Σ P·I/V at the least-squares F.
      psfChi2 = Math.max(0, sII - psfFlux * sPI) / (nFit - 1);
    } else {
      flags |= SourceFlag.PSF_FLUX_FAILED;
      this.psfFluxFailures++;
    }

    // Shape.
    const mo = adaptiveMoments(image, W, H, x, y, this.psfSigmaPx);
    if (!mo.ok) {
      flags |= SourceFlag.MOMENTS_FAILED;
      this.momentFailures++;
    }

    this.colId[k] = k + 1;
    this.colX[k] = x;
    this.colY[k] = y;
    this.colXErr[k] = xErr;
    this.colYErr[k] = yErr;
    this.colApFlux[k] = flux;
    this.colApFluxErr[k] = fluxErr;
    this.colSnr[k] = fluxErr > 0 ? flux / fluxErr : NaN;
    this.colPsfFlux[k] = psfFlux;
    this.colPsfFluxErr[k] = psfFluxErr;
    this.colPsfChi2[k] = psfChi2;
    this.colPeak[k] = peak;
    this.colIxx[k] = mo.ixx;
    this.colIyy[k] = mo.iyy;
    this.colIxy[k] = mo.ixy;
    this.colArea[k] = this.area[k];
    this.colFlags[k] = flags;
  }
}

export function runMeasurement(input: MeasurementInput, cfg: MeasurementConfig = makeMeasurementConfig()): MeasurementResult {
  if (!(input.psfSigmaPx > 0)) throw new InvalidInputError(`measurement: PSF sigma ${input.psfSigmaPx} px is not usable`);
  const model = psfModel(input.psfSigmaPx, input.psfMoments);
  const cat = makeSourceCatalog(input.footprints.count);
  const m = new SourceMeasurer(input, cfg, model, cat);
  const n = input.footprints.count;
  if (n > 0) m.readAheadFor(0);
  for (let k = 0; k < n; k++) {
    if (k + 1 < n) m.readAheadFor(k + 1);
    m.measure(k);
  }
  const wcs = input.wcs;
  const sky = new Float64Array(2);
  for (let k = 0; k < n; k++) {
    if (wcs) {
      pixelToSky(wcs, cat.x[k], cat.y[k], sky);
      cat.ra[k] = sky[0];
      cat.dec[k] = sky[1];
    } else {
      cat.ra[k] = NaN;
      cat.dec[k] = NaN;
    }
  }
  return {
    catalog: cat,
    apertureRadiusPx: m.radius,
    centroidFailures: m.centroidFailures,
    momentFailures: m.momentFailures,
    psfFluxFailures: m.psfFluxFailures,
    psfModel: model,
  };
}
