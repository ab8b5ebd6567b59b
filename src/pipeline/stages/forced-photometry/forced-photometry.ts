/**
 * Forced PSF photometry at given sky positions (known DiaObjects, this visit's DiaSources) on
 * the difference image and on the science image of one detector-visit.
 *
 * Each position goes through the detector's WCS (TAN or TAN-SIP) to a 0-based pixel; positions
 * outside the image (shrunk by `marginPx`) or on the far hemisphere are skipped. At the pixel
 * position the flux is the weighted linear least-squares amplitude of the pixel-integrated
 * circular Gaussian PSF, with the very fit the DiaSource measurement uses (fitPsfFlux of
 * dia-sources/psf-photometry.ts) and the same conventions:
 *
 *   flux = Σ w·I/V / Σ w²/V,  error = 1 / √(Σ w²/V)
 *
 * over the square window of half-width ceil(psfFit.radiusSigmas · psfSigmaPx) (at least 2),
 * with w the unit-flux PSF of continuous sigma continuousSigma(psfSigmaPx), pixels with
 * psfFit.rejectBits (or non-finite values, or a variance that is not positive) left out. On the
 * difference image the variance plane is multiplied by noiseScale² (the empirical noise scale the
 * DiaSource measurement applies); on the science image it is used as it is. Fluxes are converted
 * from electrons to nJy with calibNjyPerElectron, as the DiaSource catalog's are, so a forced
 * flux at a DiaSource's position equals its psfFlux / scienceFlux.
 */
import { z } from 'zod';
import { skyToPixel, type TanWcs } from '../../../astro/index.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import type { MaskedImage } from '../../../core/image.ts';
import { parseConfig } from '../../config.ts';
import { sipSkyToPixel, type SipWcs } from '../../lib/sip-wcs.ts';
import { makeDiaSourcesConfig } from '../dia-sources/dia-sources.ts';
import { continuousSigma, fitPsfFlux, PsfFit, type PsfFitOptions } from '../dia-sources/psf-photometry.ts';

/** The DiaSource measurement's PSF-fit settings: the defaults here, so that both agree. */
const DIA_PSF_FIT = makeDiaSourcesConfig().psfFit;

export const ForcedPhotometryConfig = z.object({
  /**
   * A position is measured when its pixel lies at least this far inside the image:
   * marginPx − 0.5 ≤ x < width − 0.5 − marginPx (likewise y), pixel centres at integers. 0 keeps
   * every position on the image; fits whose window leaves the image carry the edge flag.
   */
  marginPx: z.number().min(0).default(0),
  psfFit: z
    .object({
      /** Half-width of the fit window in PSF sigmas. */
      radiusSigmas: z.number().min(1).max(8).default(DIA_PSF_FIT.radiusSigmas),
      /** Usable pixels must carry this fraction of Σw² of the PSF (else the noGoodPixels flag, flux NaN). */
      minCoverage: z.number().positive().max(1).default(DIA_PSF_FIT.minCoverage),
      /** Pixels with these mask bits are left out of the fits. */
      rejectBits: z.number().int().min(0).default(DIA_PSF_FIT.rejectBits),
      /** These bits in a fit window set the edge flags. */
      edgeBits: z.number().int().min(0).default(DIA_PSF_FIT.edgeBits),
    })
    .default({}),
});
export type ForcedPhotometryConfig = z.output<typeof ForcedPhotometryConfig>;
export type ForcedPhotometryConfigInput = z.input<typeof ForcedPhotometryConfig>;

export function makeForcedPhotometryConfig(input: ForcedPhotometryConfigInput = {}): ForcedPhotometryConfig {
  return parseConfig(ForcedPhotometryConfig, input, 'forced-photometry');
}

/** A sky position to measure, with the id it is reported under (a diaObjectId or a diaSourceId). */
export interface ForcedPosition {
  readonly id: bigint;
  /** ICRS, degrees. */
  readonly ra: number;
  readonly dec: number;
}

export interface ForcedPhotometryInput {
  readonly positions: readonly ForcedPosition[];
  /** The detector's fitted WCS (sky → 0-based pixel). */
  readonly wcs: SipWcs | TanWcs;
  /** Science minus template (electrons), with variance and mask. */
  readonly difference: MaskedImage;
  /** Background-subtracted science image (electrons), same grid. */
  readonly science: MaskedImage;
  /** PSF Gaussian sigma (pixels, second moments of the pixel data) of the difference image: DiaSourcesInput.psfSigmaPx. */
  readonly psfSigmaPx: number;
  /** PSF sigma for the science image; psfSigmaPx when absent (as the DiaSource measurement's scienceFlux). */
  readonly sciencePsfSigmaPx?: number;
  /** nJy per electron (the visit's photometric calibration). */
  readonly calibNjyPerElectron: number;
  /**
   * The difference variance plane is multiplied by noiseScale²: DiaSourcesResult
   * .diagnostics.noiseScaleUsed (1 when the empirical scale is not used).
   */
  readonly noiseScale: number;
}

/** Flags of one forced measurement. */
export interface ForcedMeasurementFlags {
  /** The difference-image fit failed or is flagged (edge or noGoodPixels). */
  readonly psfFlux: boolean;
  /** Its window leaves the image or holds edgeBits pixels. */
  readonly psfFluxEdge: boolean;
  /** Usable pixels cover less than psfFit.minCoverage of the PSF: psfFlux is NaN. */
  readonly psfFluxNoGoodPixels: boolean;
  /** The same three for the science-image fit. */
  readonly scienceFlux: boolean;
  readonly scienceFluxEdge: boolean;
  readonly scienceFluxNoGoodPixels: boolean;
}

/** Forced PSF photometry at one position on the detector. */
export interface ForcedMeasurement {
  readonly id: bigint;
  /** The position measured (degrees), as given. */
  readonly ra: number;
  readonly dec: number;
  /** Its 0-based pixel position through the WCS. */
  readonly x: number;
  readonly y: number;
  /** PSF flux on the difference image and its error (nJy); NaN when not measurable. */
  readonly psfFlux: number;
  readonly psfFluxErr: number;
  /** χ² of the difference fit (noise-scaled variance) and the pixels in it. */
  readonly psfChi2: number;
  readonly psfNdata: number;
  /** PSF flux on the science image and its error (nJy); NaN when not measurable. */
  readonly scienceFlux: number;
  readonly scienceFluxErr: number;
  readonly flags: ForcedMeasurementFlags;
}

export interface ForcedPhotometryResult {
  /** One per position on the detector, in the order of the input positions. */
  readonly measurements: ForcedMeasurement[];
  /** Positions skipped: off the image (with the margin) or not projectable. */
  readonly offDetector: number;
  /** Measurements whose difference-image flux is NaN. */
  readonly psfFluxFailures: number;
}

function checkPlanes(m: MaskedImage, W: number, H: number, what: string): void {
  const n = W * H;
  if (m.width !== W || m.height !== H) throw new InvalidInputError(`forced-photometry: ${what} is ${m.width}x${m.height}, the difference is ${W}x${H}`);
  if (m.image.length !== n || m.variance.length !== n || m.mask.length !== n) throw new InvalidInputError(`forced-photometry: ${what} planes do not match ${W}x${H}`);
}

function usableSigma(v: number | undefined, what: string): number {
  if (!(v !== undefined && v > 0 && v < 100)) throw new InvalidInputError(`forced-photometry: ${what} ${String(v)} px is not usable`);
  return v;
}

/** Sky → 0-based pixel through a TAN or TAN-SIP WCS. */
function toPixel(wcs: SipWcs | TanWcs, ra: number, dec: number, out: Float64Array): void {
  if ('sip' in wcs) sipSkyToPixel(wcs, ra, dec, out);
  else skyToPixel(wcs, ra, dec, out);
}

export function runForcedPhotometry(input: ForcedPhotometryInput, cfg: ForcedPhotometryConfig = makeForcedPhotometryConfig()): ForcedPhotometryResult {
  const { difference: D, science } = input;
  const W = D.width;
  const H = D.height;
  checkPlanes(D, W, H, 'difference');
  checkPlanes(science, W, H, 'science');
  const psfSigma = usableSigma(input.psfSigmaPx, 'PSF sigma');
  const sciSigma = usableSigma(input.sciencePsfSigmaPx ?? psfSigma, 'science PSF sigma');
  const cal = input.calibNjyPerElectron;
  if (!(cal > 0 && Number.isFinite(cal))) throw new InvalidInputError(`forced-photometry: calibNjyPerElectron ${cal} is not a positive number`);
  const scale = input.noiseScale;
  if (!(scale > 0 && Number.isFinite(scale))) throw new InvalidInputError(`forced-photometry: noiseScale ${scale} is not a positive number`);

  const pf = cfg.psfFit;
  const diffRadius = Math.max(2, Math.ceil(pf.radiusSigmas * psfSigma));
  const sciRadius = Math.max(2, Math.ceil(pf.radiusSigmas * sciSigma));
  const diffOpts: PsfFitOptions = {
    sigma: continuousSigma(psfSigma),
    radius: diffRadius,
    rejectBits: pf.rejectBits,
    edgeBits: pf.edgeBits,
    varianceScale: scale * scale,
    minCoverage: pf.minCoverage,
  };
  const sciOpts: PsfFitOptions = { ...diffOpts, sigma: continuousSigma(sciSigma), radius: sciRadius, varianceScale: 1 };
  const fit = new PsfFit(Math.max(diffRadius, sciRadius));
  const pix = new Float64Array(2);
  const m = cfg.marginPx;
  const xLo = m - 0.5;
  const xHi = W - 0.5 - m;
  const yLo = m - 0.5;
  const yHi = H - 0.5 - m;

  const measurements: ForcedMeasurement[] = [];
  let offDetector = 0;
  let psfFluxFailures = 0;
  for (const p of input.positions) {
    if (!(Number.isFinite(p.ra) && Number.isFinite(p.dec))) {
      offDetector++;
      continue;
    }
    toPixel(input.wcs, p.ra, p.dec, pix);
    const x = pix[0];
    const y = pix[1];
    if (!(x >= xLo && x < xHi && y >= yLo && y < yHi)) {
      offDetector++;
      continue;
    }
    fitPsfFlux(D, x, y, diffOpts, fit);
    const psfFlux = fit.flux * cal;
    const psfFluxErr = fit.fluxErr * cal;
    const psfChi2 = fit.chi2;
    const psfNdata = fit.nData;
    const dEdge = fit.edge;
    const dNoGood = fit.noGoodPixels;
    const dFlag = !fit.ok || fit.edge;
    if (!fit.ok) psfFluxFailures++;
    fitPsfFlux(science, x, y, sciOpts, fit);
    measurements.push({
      id: p.id,
      ra: p.ra,
      dec: p.dec,
      x,
      y,
      psfFlux,
      psfFluxErr,
      psfChi2,
      psfNdata,
      scienceFlux: fit.flux * cal,
      scienceFluxErr: fit.fluxErr * cal,
      flags: {
        psfFlux: dFlag,
        psfFluxEdge: dEdge,
        psfFluxNoGoodPixels: dNoGood,
        scienceFlux: !fit.ok || fit.edge,
        scienceFluxEdge: fit.edge,
        scienceFluxNoGoodPixels: fit.noGoodPixels,
      },
    });
  }
  return { measurements, offDetector, psfFluxFailures };
}
