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

export function runMeasurement(input: MeasurementInput, cfg: MeasurementConfig = makeMeasurementConfig()): MeasurementResult {
  const { exposure, footprints: fp, psfSigmaPx, wcs } = input;
  const { width: W, height: H, image, variance, mask } = exposure;
  if (!(psfSigmaPx > 0)) throw new InvalidInputError(`measurement: PSF sigma ${psfSigmaPx} px is not usable`);
  // PSF model: P(dx, dy) = exp(-q/2) / (2π √det C), q = dᵀ C⁻¹ d; fitted where q ≤ rFit².
  const model = psfModel(psfSigmaPx, input.psfMoments);
  const det = model.ixx * model.iyy - model.ixy * model.ixy;
  const qxx = model.iyy / det;
  const qxy = -model.ixy / det;
  const qyy = model.ixx / det;
  const norm = 1 / (2 * Math.PI * Math.sqrt(det));
  const rFit = cfg.psfFitRadiusPsfSigmas;
  const rFit2 = rFit * rFit;
  // Half-widths of the ellipse's bounding box, and the model flux inside the ellipse.
  const fitHalfX = rFit * Math.sqrt(model.ixx);
  const fitHalfY = rFit * Math.sqrt(model.iyy);
  const stampModelFlux = 1 - Math.exp(-rFit2 / 2);
  const fitBad = cfg.psfFitBadBits;
  let psfFluxFailures = 0;
  const radius = cfg.apertureRadiusPsfSigmas !== undefined ? cfg.apertureRadiusPsfSigmas * psfSigmaPx : cfg.apertureRadiusPx;
  const r2 = radius * radius;
  const weightSigma = cfg.centroidWeightPsfSigmas * psfSigmaPx;
  const n = fp.count;
  const cat = makeSourceCatalog(n);
  const sky = new Float64Array(2);
  let centroidFailures = 0;
  let momentFailures = 0;

  for (let k = 0; k < n; k++) {
    let flags = fp.nPeaks[k] > 1 ? SourceFlag.BLENDED : 0;
    // Footprint: peak value, saturation.
    let peak = -Infinity;
    for (let q = fp.pixelOffsets[k]; q < fp.pixelOffsets[k + 1]; q++) {
      const p = fp.pixels[q];
      if (image[p] > peak) peak = image[p];
      if (mask[p] & MaskBit.SAT) flags |= SourceFlag.SATURATED;
    }

    // Centroid.
    let x: number;
    let y: number;
    let xErr: number;
    let yErr: number;
    const c = gaussianCentroid(image, variance, W, H, fp.peakX[k], fp.peakY[k], weightSigma);
    if (c.ok) {
      x = c.x;
      y = c.y;
      xErr = c.xErr;
      yErr = c.yErr;
    } else {
      flags |= SourceFlag.CENTROID_FAILED;
      centroidFailures++;
      // First moments of the positive footprint pixels.
      let s = 0;
      let sx = 0;
      let sy = 0;
      for (let q = fp.pixelOffsets[k]; q < fp.pixelOffsets[k + 1]; q++) {
        const p = fp.pixels[q];
        const v = image[p];
        if (!(v > 0)) continue;
        const px = p % W;
        s += v;
        sx += v * px;
        sy += v * ((p - px) / W);
      }
      x = s > 0 ? sx / s : fp.peakX[k];
      y = s > 0 ? sy / s : fp.peakY[k];
      xErr = NaN;
      yErr = NaN;
    }

    // Aperture.
    const ax0 = Math.floor(x - radius);
    const ax1 = Math.ceil(x + radius);
    const ay0 = Math.floor(y - radius);
    const ay1 = Math.ceil(y + radius);
    if (ax0 < 0 || ay0 < 0 || ax1 >= W || ay1 >= H) flags |= SourceFlag.EDGE;
    let flux = 0;
    let fvar = 0;
    let mbits = 0;
    for (let yy = Math.max(0, ay0); yy <= Math.min(H - 1, ay1); yy++) {
      const dy = yy - y;
      const dy2 = dy * dy;
      if (dy2 > r2) continue;
      const base = yy * W;
      for (let xx = Math.max(0, ax0); xx <= Math.min(W - 1, ax1); xx++) {
        const dx = xx - x;
        if (dx * dx + dy2 > r2) continue;
        const p = base + xx;
        flux += image[p];
        fvar += variance[p];
        mbits |= mask[p];
      }
    }
    if (mbits & MaskBit.SAT) flags |= SourceFlag.SATURATED;
    if (mbits & MaskBit.CR) flags |= SourceFlag.COSMIC_RAY;
    if (mbits & MaskBit.BAD) flags |= SourceFlag.BAD;
    if (mbits & MaskBit.SUSPECT) flags |= SourceFlag.SUSPECT;
    if (mbits & MaskBit.NO_DATA) flags |= SourceFlag.EDGE;
    const fluxErr = Math.sqrt(fvar);

    // PSF flux.
    let sPP = 0;
    let sPI = 0;
    let sII = 0;
    let sP = 0;
    let nFit = 0;
    for (let yy = Math.max(0, Math.ceil(y - fitHalfY)); yy <= Math.min(H - 1, Math.floor(y + fitHalfY)); yy++) {
      const dy = yy - y;
      const base = yy * W;
      for (let xx = Math.max(0, Math.ceil(x - fitHalfX)); xx <= Math.min(W - 1, Math.floor(x + fitHalfX)); xx++) {
        const dx = xx - x;
        const q = qxx * dx * dx + 2 * qxy * dx * dy + qyy * dy * dy;
        if (q > rFit2) continue;
        const p = base + xx;
        const v = variance[p];
        const iv = image[p];
        if (mask[p] & fitBad || !(v > 0 && v < Infinity) || iv !== iv) continue;
        const m = norm * Math.exp(-0.5 * q);
        const w = m / v;
        sPP += m * w;
        sPI += w * iv;
        sII += (iv * iv) / v;
        sP += m;
        nFit++;
      }
    }
    let psfFlux = NaN;
    let psfFluxErr = NaN;
    let psfChi2 = NaN;
    if (nFit >= 2 && sPP > 0 && sP >= cfg.psfFitMinCoverage * stampModelFlux) {
      psfFlux = sPI / sPP;
      psfFluxErr = 1 / Math.sqrt(sPP);
      // Σ (I − F·P)²/V = Σ I²/V − F·Σ P·I/V at the least-squares F.
      psfChi2 = Math.max(0, sII - psfFlux * sPI) / (nFit - 1);
    } else {
      flags |= SourceFlag.PSF_FLUX_FAILED;
      psfFluxFailures++;
    }

    // Shape.
    const mo = adaptiveMoments(image, W, H, x, y, psfSigmaPx);
    if (!mo.ok) {
      flags |= SourceFlag.MOMENTS_FAILED;
      momentFailures++;
    }

    if (wcs) {
      pixelToSky(wcs, x, y, sky);
      cat.ra[k] = sky[0];
      cat.dec[k] = sky[1];
    } else {
      cat.ra[k] = NaN;
      cat.dec[k] = NaN;
    }
    cat.id[k] = k + 1;
    cat.x[k] = x;
    cat.y[k] = y;
    cat.xErr[k] = xErr;
    cat.yErr[k] = yErr;
    cat.apFlux[k] = flux;
    cat.apFluxErr[k] = fluxErr;
    cat.snr[k] = fluxErr > 0 ? flux / fluxErr : NaN;
    cat.psfFlux[k] = psfFlux;
    cat.psfFluxErr[k] = psfFluxErr;
    cat.psfChi2[k] = psfChi2;
    cat.peak[k] = peak;
    cat.ixx[k] = mo.ixx;
    cat.iyy[k] = mo.iyy;
    cat.ixy[k] = mo.ixy;
    cat.area[k] = fp.area[k];
    cat.flags[k] = flags;
  }
  return { catalog: cat, apertureRadiusPx: radius, centroidFailures, momentFailures, psfFluxFailures, psfModel: model };
}
