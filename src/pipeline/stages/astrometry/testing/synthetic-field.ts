/**
 * A synthetic star field for the calibration tests and benchmarks: a reference catalog around a
 * detector, the sources a detection of it would give through a known (true) WCS — with centroid
 * noise that grows as the S/N falls, undetected reference stars, and spurious detections that are
 * in no catalog — and header WCSs perturbed from the truth. Deterministic for a seed.
 */
import type { TanWcs } from '../../../../astro/index.ts';
import { sipPixelToSky, sipSkyToPixel, type SipWcs } from '../../../lib/sip-wcs.ts';
import { makeSourceCatalog, type SourceCatalog } from '../../../source-catalog.ts';
import { SeededRng } from '../../../testing/rng.ts';
import { makeReferenceCatalog, type ReferenceCatalog } from '../reference-catalog.ts';

export interface SyntheticFieldOptions {
  readonly seed: number;
  readonly truth: SipWcs;
  readonly width: number;
  readonly height: number;
  /** Reference stars over the detector and a margin around it. */
  readonly refStars: number;
  /** Margin of the reference catalog around the detector, pixels. */
  readonly marginPx?: number;
  /** Fraction of the reference stars on the detector that are detected. */
  readonly detectedFraction?: number;
  /** Fraction of the detections that are spurious (in no catalog). */
  readonly spuriousFraction?: number;
  /** nJy per electron of the sources' fluxes. */
  readonly calibNjyPerElectron?: number;
  /** Magnitude range of the reference stars (counts ∝ 10^(0.3 m)). */
  readonly magRange?: readonly [number, number];
  /** Sky + read noise variance per pixel (electrons²) and PSF sigma (pixels) for the S/N and centroid errors. */
  readonly skyVarianceE2?: number;
  readonly psfSigmaPx?: number;
  /** Relative flux scatter of the detected stars. */
  readonly fluxScatter?: number;
}

export interface SyntheticField {
  readonly refcat: ReferenceCatalog;
  readonly sources: SourceCatalog;
  /** Reference row of each source (−1: spurious). */
  readonly trueRef: Int32Array;
}

export function syntheticField(o: SyntheticFieldOptions): SyntheticField {
  const rng = new SeededRng(o.seed);
  const W = o.width;
  const H = o.height;
  const margin = o.marginPx ?? 300;
  const [m0, m1] = o.magRange ?? [15, 23];
  const calib = o.calibNjyPerElectron ?? 0.575;
  const skyVar = o.skyVarianceE2 ?? 900;
  const sigma = o.psfSigmaPx ?? 1.7;
  const scatter = o.fluxScatter ?? 0.01;
  const n = o.refStars;
  const ra = new Float64Array(n);
  const dec = new Float64Array(n);
  const flux = new Float64Array(n);
  const onChip: number[] = [];
  const sky = new Float64Array(2);
  // m from counts ∝ 10^(0.3 m): inverse CDF.
  const a0 = 10 ** (0.3 * m0);
  const a1 = 10 ** (0.3 * m1);
  const mag = (): number => Math.log10(a0 + rng.uniform() * (a1 - a0)) / 0.3;
  for (let j = 0; j < n; j++) {
    const x = -margin + rng.uniform() * (W + 2 * margin);
    const y = -margin + rng.uniform() * (H + 2 * margin);
    sipPixelToSky(o.truth, x, y, sky);
    ra[j] = sky[0];
    dec[j] = sky[1];
    flux[j] = 10 ** (-0.4 * (mag() - 31.4));
    if (x >= 0 && x <= W - 1 && y >= 0 && y <= H - 1) onChip.push(j);
  }
  const refcat = makeReferenceCatalog(ra, dec, flux, Float64Array.from(flux, (f) => 0.01 * f));
  const detected = onChip.filter(() => rng.uniform() < (o.detectedFraction ?? 1));
  const spuriousFraction = o.spuriousFraction ?? 0;
  const nSpurious = Math.round((detected.length * spuriousFraction) / (1 - spuriousFraction));
  const total = detected.length + nSpurious;
  const cat = makeSourceCatalog(total);
  const trueRef = new Int32Array(total).fill(-1);
  const pix = new Float64Array(2);
  const area = 4 * Math.PI * sigma * sigma;
  const put = (k: number, x: number, y: number, f: number): void => {
    const snr = f / Math.sqrt(f + area * skyVar);
    const err = (Math.SQRT2 * sigma) / snr;
    cat.id[k] = k + 1;
    cat.x[k] = x + err * rng.normal();
    cat.y[k] = y + err * rng.normal();
    cat.xErr[k] = err;
    cat.yErr[k] = err;
    cat.apFlux[k] = f * (1 + scatter * rng.normal()) + (f / snr) * rng.normal();
    cat.apFluxErr[k] = f / snr;
    cat.snr[k] = cat.apFlux[k] / cat.apFluxErr[k];
  };
  // Interleave true and spurious detections in a seeded order.
  const order = Array.from({ length: total }, (_, k) => k);
  for (let k = total - 1; k > 0; k--) {
    const r = Math.floor(rng.uniform() * (k + 1));
    [order[k], order[r]] = [order[r], order[k]];
  }
  for (let t = 0; t < total; t++) {
    const k = order[t];
    if (t < detected.length) {
      const j = detected[t];
      sipSkyToPixel(o.truth, ra[j], dec[j], pix);
      put(k, pix[0], pix[1], flux[j] / calib);
      trueRef[k] = j;
    } else {
      put(k, rng.uniform() * (W - 1), rng.uniform() * (H - 1), 10 ** (-0.4 * (mag() - 31.4)) / calib);
    }
  }
  return { refcat, sources: cat, trueRef };
}

/**
 * A header WCS perturbed from the truth: the sky position of the reference pixel moved by
 * (east, north) arcsec, the CD matrix rotated by `rotationDeg` (on the sky, counter-clockwise in
 * (east, north)) and scaled by `scale`. Distortion is dropped.
 */
export function perturbWcs(truth: TanWcs, eastArcsec: number, northArcsec: number, rotationDeg: number, scale: number): TanWcs {
  const t = (rotationDeg * Math.PI) / 180;
  const c = Math.cos(t) * scale;
  const s = Math.sin(t) * scale;
  const cd = truth.cd;
  const centre = sipPixelToSky({ crvalDeg: truth.crvalDeg, crpix: [0, 0], cd: [[1, 0], [0, 1]], sip: null }, eastArcsec / 3600, northArcsec / 3600);
  return {
    crvalDeg: [centre[0], centre[1]],
    crpix: truth.crpix,
    cd: [
      [c * cd[0][0] - s * cd[1][0], c * cd[0][1] - s * cd[1][1]],
      [s * cd[0][0] + c * cd[1][0], s * cd[0][1] + c * cd[1][1]],
    ],
  };
}
