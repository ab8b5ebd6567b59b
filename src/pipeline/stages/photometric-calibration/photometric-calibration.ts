import { z } from 'zod';
import { AlgorithmError, InvalidInputError } from '../../../core/errors.ts';
import { parseConfig } from '../../config.ts';
import { medianInPlace, MAD_TO_SIGMA } from '../../lib/stats.ts';
import { SourceFlag } from '../../source-catalog.ts';

/**
 * Photometric zero point of one detector-visit from the astrometric matches: for each matched
 * pair of a measured source (instrumental flux in electrons) and a reference star (flux in nJy
 * in the exposure's band), m_i = 2.5 log10(refFlux / instFlux) — the AB magnitude of a source
 * giving 1 electron, less the AB zero point of 1 nJy. Sources below minSnr, flagged, or without a
 * positive flux on either side are not used; the rest are sigma-clipped about their median
 * (scale from the median absolute deviation). The calibration is the clipped median:
 *   calib (nJy per electron) = 10^(0.4 · median m),  zeroPointMag = 31.4 − 2.5 log10(calib)
 * (AB magnitude of a source giving 1 electron in the exposure), with the error of a median,
 * 1.2533 σ / √n. An optional linear colour term (`colorTerm` · reference colour, magnitudes, added
 * to the reference magnitude) is off by default.
 */
export const PhotometricCalibrationConfig = z.object({
  /** Sources below this aperture S/N are not used. */
  minSnr: z.number().min(0).default(20),
  /** Sources with any of these SourceFlag bits are not used. */
  rejectFlags: z
    .number()
    .int()
    .min(0)
    .default(SourceFlag.SATURATED | SourceFlag.EDGE | SourceFlag.BAD | SourceFlag.COSMIC_RAY | SourceFlag.BLENDED | SourceFlag.SUSPECT),
  /** Only pairs used in the astrometric fit (true) or every match within the final radius. */
  onlyAstrometricFit: z.boolean().default(false),
  clipSigma: z.number().positive().default(3),
  clipIterations: z.number().int().min(0).max(20).default(5),
  /** Fewer stars than this after clipping: AlgorithmError. */
  minStars: z.number().int().min(1).default(5),
  /** Colour term: reference magnitude += colorTerm × reference colour (0: off; needs refColorMag). */
  colorTerm: z.number().default(0),
});
export type PhotometricCalibrationConfig = z.output<typeof PhotometricCalibrationConfig>;
export type PhotometricCalibrationConfigInput = z.input<typeof PhotometricCalibrationConfig>;

export function makePhotometricCalibrationConfig(input: PhotometricCalibrationConfigInput = {}): PhotometricCalibrationConfig {
  return parseConfig(PhotometricCalibrationConfig, input, 'photometric calibration');
}

/** AB magnitude of 1 nJy. */
export const AB_MAG_OF_1_NJY = 31.4;

type Column = Float64Array | Float32Array;

export interface PhotometricCalibrationInput {
  /** Matched pairs: rows in the source catalog and the reference catalog (AstrometryResult.pairs). */
  readonly pairs: { readonly source: Int32Array; readonly ref: Int32Array; readonly usedInFit?: Uint8Array };
  /** Instrumental flux (electrons in the exposure), its error, and flags of the sources. */
  readonly sourceFlux: Column;
  readonly sourceFluxErr?: Column;
  readonly sourceFlags?: Int32Array;
  /** Reference flux in the band, nJy. */
  readonly refFlux: Column;
  /** Reference colour (magnitudes) for the colour term. */
  readonly refColorMag?: Column;
  /** Exposure time of the image (seconds), for the zero point per second. */
  readonly exposureTimeS?: number;
}

export interface PhotometricCalibrationResult {
  /** nJy per electron, and its 1σ error. */
  readonly calibNjyPerElectron: number;
  readonly calibErrNjyPerElectron: number;
  /** AB magnitude giving 1 electron in the exposure, and its error. */
  readonly zeroPointMag: number;
  readonly zeroPointErrMag: number;
  /** AB magnitude giving 1 electron per second (null without exposureTimeS). */
  readonly zeroPointPerSecondMag: number | null;
  /** Robust scatter (σ from the MAD) of the per-star zero points kept, magnitudes. */
  readonly scatterMag: number;
  /** Stars kept, candidates before clipping, and pairs offered. */
  readonly nUsed: number;
  readonly nCandidates: number;
  readonly nPairs: number;
  /** Per pair: 1 when it entered the final median. */
  readonly used: Uint8Array;
  /** Per pair: 2.5 log10(refFlux / instFlux), NaN for pairs that were not candidates. */
  readonly starZeroPointMag: Float32Array;
}

export function runPhotometricCalibration(
  input: PhotometricCalibrationInput,
  cfg: PhotometricCalibrationConfig = makePhotometricCalibrationConfig(),
): PhotometricCalibrationResult {
  const { pairs, sourceFlux, sourceFluxErr, sourceFlags, refFlux, refColorMag } = input;
  const n = pairs.source.length;
  if (pairs.ref.length !== n) throw new InvalidInputError(`photometric calibration: ${n} source rows but ${pairs.ref.length} reference rows in the pairs`);
  if (cfg.colorTerm !== 0 && !refColorMag) throw new InvalidInputError('photometric calibration: a colour term needs the reference colours (refColorMag)');
  const zp = new Float32Array(n).fill(NaN);
  const cand = new Uint8Array(n);
  let nCand = 0;
  for (let q = 0; q < n; q++) {
    const i = pairs.source[q];
    const j = pairs.ref[q];
    if (i < 0 || i >= sourceFlux.length || j < 0 || j >= refFlux.length) {
      throw new InvalidInputError(`photometric calibration: pair ${q} (${i}, ${j}) is outside the catalogs`);
    }
    if (cfg.onlyAstrometricFit && pairs.usedInFit && !pairs.usedInFit[q]) continue;
    const f = sourceFlux[i];
    const r = refFlux[j];
    if (!(f > 0) || !(r > 0)) continue;
    if (sourceFlags && sourceFlags[i] & cfg.rejectFlags) continue;
    if (sourceFluxErr && !(f >= cfg.minSnr * sourceFluxErr[i])) continue;
    let m = 2.5 * Math.log10(r / f);
    if (cfg.colorTerm !== 0 && refColorMag) {
      const c = refColorMag[j];
      if (!Number.isFinite(c)) continue;
      m -= cfg.colorTerm * c; // reference magnitude + term ⇒ flux × 10^(−0.4 term)
    }
    zp[q] = m;
    cand[q] = 1;
    nCand++;
  }
  const meta = { pairs: n, candidates: nCand, minStars: cfg.minStars };
  if (nCand < cfg.minStars) {
    throw new AlgorithmError(`photometric calibration: only ${nCand} usable matched stars (need ${cfg.minStars})`, meta);
  }
  const used = cand.slice();
  const scratch = new Float32Array(nCand);
  let median = NaN;
  let sigma = NaN;
  let nUsed = nCand;
  for (let it = 0; ; it++) {
    let k = 0;
    for (let q = 0; q < n; q++) if (used[q]) scratch[k++] = zp[q];
    nUsed = k;
    median = medianInPlace(scratch, k);
    for (let a = 0; a < k; a++) scratch[a] = Math.abs(scratch[a] - median);
    sigma = MAD_TO_SIGMA * medianInPlace(scratch, k);
    if (it >= cfg.clipIterations || !(sigma > 0)) break;
    let changed = false;
    for (let q = 0; q < n; q++) {
      if (!cand[q]) continue;
      const keep = Math.abs(zp[q] - median) <= cfg.clipSigma * sigma ? 1 : 0;
      if (keep !== used[q]) changed = true;
      used[q] = keep;
    }
    if (!changed) break;
  }
  if (nUsed < cfg.minStars) {
    throw new AlgorithmError(`photometric calibration: only ${nUsed} stars survive the clipping (need ${cfg.minStars})`, { ...meta, used: nUsed });
  }
  const errMag = (1.2533 * sigma) / Math.sqrt(nUsed);
  const calib = 10 ** (0.4 * median);
  const zeroPointMag = AB_MAG_OF_1_NJY - 2.5 * Math.log10(calib);
  const t = input.exposureTimeS;
  return {
    calibNjyPerElectron: calib,
    calibErrNjyPerElectron: calib * (Math.LN10 / 2.5) * errMag,
    zeroPointMag,
    zeroPointErrMag: errMag,
    zeroPointPerSecondMag: t !== undefined && t > 0 ? zeroPointMag - 2.5 * Math.log10(t) : null,
    scatterMag: sigma,
    nUsed,
    nCandidates: nCand,
    nPairs: n,
    used,
    starZeroPointMag: zp,
  };
}
