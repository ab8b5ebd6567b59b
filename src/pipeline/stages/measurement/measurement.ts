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
 * through the exposure's TAN WCS.
 */
export const MeasurementConfig = z.object({
  /** Aperture radius (pixels), unless apertureRadiusPsfSigmas is set. */
  apertureRadiusPx: z.number().positive().default(12),
  /** When set, the aperture radius is this many PSF sigmas instead. */
  apertureRadiusPsfSigmas: z.number().positive().optional(),
  /** Centroid weight sigma in units of the PSF sigma. */
  centroidWeightPsfSigmas: z.number().positive().default(1),
});
export type MeasurementConfig = z.output<typeof MeasurementConfig>;
export type MeasurementConfigInput = z.input<typeof MeasurementConfig>;

export function makeMeasurementConfig(input: MeasurementConfigInput = {}): MeasurementConfig {
  return parseConfig(MeasurementConfig, input, 'measurement');
}

export interface MeasurementInput {
  /** Background-subtracted image, its mask (with DETECTED) and variance. */
  readonly exposure: MaskedImage;
  readonly footprints: Footprints;
  /** PSF Gaussian sigma (pixels), measured or guessed. */
  readonly psfSigmaPx: number;
  readonly wcs: TanWcs | null;
}

export interface MeasurementResult {
  readonly catalog: SourceCatalog;
  readonly apertureRadiusPx: number;
  readonly centroidFailures: number;
  readonly momentFailures: number;
}

export function runMeasurement(input: MeasurementInput, cfg: MeasurementConfig = makeMeasurementConfig()): MeasurementResult {
  const { exposure, footprints: fp, psfSigmaPx, wcs } = input;
  const { width: W, height: H, image, variance, mask } = exposure;
  if (!(psfSigmaPx > 0)) throw new InvalidInputError(`measurement: PSF sigma ${psfSigmaPx} px is not usable`);
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
    cat.peak[k] = peak;
    cat.ixx[k] = mo.ixx;
    cat.iyy[k] = mo.iyy;
    cat.ixy[k] = mo.ixy;
    cat.area[k] = fp.area[k];
    cat.flags[k] = flags;
  }
  return { catalog: cat, apertureRadiusPx: radius, centroidFailures, momentFailures };
}
