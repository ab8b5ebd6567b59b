import { z } from 'zod';
import { InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, type MaskedImage } from '../../../core/image.ts';
import { parseConfig } from '../../config.ts';
import { medianInPlace } from '../../lib/stats.ts';

/**
 * The calibration part of ISR: subtract the master bias, subtract the master dark scaled by the
 * dark time, divide by the normalised master flat. Each step runs when its master is given and
 * the config enables it. Variance is propagated; flat pixels <= 0 or not finite become BAD.
 */
export const CalibrateSignatureConfig = z.object({
  doBias: z.boolean().default(true),
  doDark: z.boolean().default(true),
  doFlat: z.boolean().default(true),
  /** The flat is divided by this statistic of its good pixels first ('none': used as is). */
  flatNormalization: z.enum(['median', 'mean', 'none']).default('median'),
  /** Master mask bits that make a pixel BAD in the science image. */
  masterBadBits: z.number().int().min(0).default(MaskBit.BAD),
});
export type CalibrateSignatureConfig = z.output<typeof CalibrateSignatureConfig>;
export type CalibrateSignatureConfigInput = z.input<typeof CalibrateSignatureConfig>;

export function makeCalibrateSignatureConfig(input: CalibrateSignatureConfigInput = {}): CalibrateSignatureConfig {
  return parseConfig(CalibrateSignatureConfig, input, 'calibrate-signature');
}

/**
 * A master calibration in detector coordinates. A MaskedImage qualifies; variance and mask are
 * optional. Bias is in electrons, dark in electrons per second of dark time, flat unitless.
 */
export interface MasterCalibration {
  readonly width: number;
  readonly height: number;
  readonly image: Float32Array;
  readonly variance?: Float32Array;
  readonly mask?: Int32Array;
}

export interface CalibrationMasters {
  readonly bias?: MasterCalibration;
  readonly dark?: MasterCalibration;
  readonly flat?: MasterCalibration;
}

export interface CalibrateSignatureInput {
  readonly exposure: MaskedImage;
  readonly masters: CalibrationMasters;
  /** Dark time of the exposure (seconds), scaling the dark. */
  readonly darkTimeS: number;
}

export interface CalibrateSignatureResult {
  readonly exposure: MaskedImage;
  readonly biasApplied: boolean;
  readonly darkApplied: boolean;
  readonly flatApplied: boolean;
  /** The value the flat was divided by (1 when not normalised or not applied). */
  readonly flatNormalization: number;
  /** Pixels made BAD by the flat (<= 0 or not finite) or by the masters' masks. */
  readonly newBadPixels: number;
}

function check(m: MasterCalibration, name: string, exp: MaskedImage): void {
  if (m.width !== exp.width || m.height !== exp.height || m.image.length !== exp.width * exp.height) {
    throw new InvalidInputError(`master ${name} is ${m.width}x${m.height}, the exposure ${exp.width}x${exp.height}`);
  }
  if (m.variance && m.variance.length !== m.image.length) throw new InvalidInputError(`master ${name} variance has the wrong size`);
  if (m.mask && m.mask.length !== m.image.length) throw new InvalidInputError(`master ${name} mask has the wrong size`);
}

/** A robust normalisation of the flat: median (or mean) of its finite positive pixels, on a subsample. */
function flatLevel(flat: MasterCalibration, how: 'median' | 'mean'): number {
  const n = flat.image.length;
  const stride = Math.max(1, Math.floor(n / 1_000_000));
  const scratch = new Float32Array(Math.ceil(n / stride));
  let k = 0;
  let sum = 0;
  for (let i = 0; i < n; i += stride) {
    const v = flat.image[i];
    if (v > 0 && Number.isFinite(v)) {
      scratch[k++] = v;
      sum += v;
    }
  }
  if (k === 0) return NaN;
  return how === 'mean' ? sum / k : medianInPlace(scratch, k);
}

export function runCalibrateSignature(
  input: CalibrateSignatureInput,
  cfg: CalibrateSignatureConfig = makeCalibrateSignatureConfig(),
  opts: { readonly inPlace?: boolean } = {},
): CalibrateSignatureResult {
  const src = input.exposure;
  const { bias, dark, flat } = input.masters;
  const useBias = cfg.doBias && bias !== undefined;
  const useDark = cfg.doDark && dark !== undefined;
  const useFlat = cfg.doFlat && flat !== undefined;
  if (useBias) check(bias, 'bias', src);
  if (useDark) check(dark, 'dark', src);
  if (useFlat) check(flat, 'flat', src);
  if (useDark && !(input.darkTimeS >= 0 && Number.isFinite(input.darkTimeS))) {
    throw new InvalidInputError(`dark time ${input.darkTimeS} s is not usable to scale the dark`);
  }
  if (!useBias && !useDark && !useFlat) {
    // Nothing to apply: the input passes through uncopied.
    return { exposure: src, biasApplied: false, darkApplied: false, flatApplied: false, flatNormalization: 1, newBadPixels: 0 };
  }
  const n = src.width * src.height;
  // In place when the caller owns the exposure (the runner); a copy otherwise.
  const image = opts.inPlace ? src.image : src.image.slice();
  const variance = opts.inPlace ? src.variance : src.variance.slice();
  const mask = opts.inPlace ? src.mask : src.mask.slice();
  const badBits = cfg.masterBadBits;
  let newBad = 0;

  if (useBias) {
    const b = bias.image;
    const bv = bias.variance;
    const bm = bias.mask;
    for (let i = 0; i < n; i++) image[i] -= b[i];
    if (bv) for (let i = 0; i < n; i++) variance[i] += bv[i];
    if (bm) newBad += orBad(mask, bm, badBits);
  }
  if (useDark) {
    const t = input.darkTimeS;
    const d = dark.image;
    for (let i = 0; i < n; i++) image[i] -= t * d[i];
    const dv = dark.variance;
    if (dv) {
      const t2 = t * t;
      for (let i = 0; i < n; i++) variance[i] += t2 * dv[i];
    }
    if (dark.mask) newBad += orBad(mask, dark.mask, badBits);
  }
  let norm = 1;
  if (useFlat) {
    if (cfg.flatNormalization !== 'none') {
      norm = flatLevel(flat, cfg.flatNormalization);
      if (!(norm > 0)) throw new InvalidInputError('master flat has no positive finite pixels');
    }
    const f = flat.image;
    const fv = flat.variance;
    const inv = 1 / norm;
    for (let i = 0; i < n; i++) {
      const fi = f[i] * inv;
      if (fi > 0 && Number.isFinite(fi)) {
        const v = image[i] / fi;
        image[i] = v;
        // var(I/F) = var(I)/F² + I²·var(F)/F² with I the flat-fielded value.
        variance[i] = fv ? (variance[i] + v * v * fv[i] * inv * inv) / (fi * fi) : variance[i] / (fi * fi);
      } else {
        if ((mask[i] & MaskBit.BAD) === 0) newBad++;
        mask[i] |= MaskBit.BAD;
        image[i] = 0;
      }
    }
    if (flat.mask) newBad += orBad(mask, flat.mask, badBits);
  }
  return {
    exposure: { width: src.width, height: src.height, image, mask, variance },
    biasApplied: useBias,
    darkApplied: useDark,
    flatApplied: useFlat,
    flatNormalization: useFlat ? norm : 1,
    newBadPixels: newBad,
  };
}

function orBad(mask: Int32Array, master: Int32Array, bits: number): number {
  let n = 0;
  if (bits === 0) return 0;
  for (let i = 0; i < mask.length; i++) {
    if (master[i] & bits) {
      if ((mask[i] & MaskBit.BAD) === 0) n++;
      mask[i] |= MaskBit.BAD;
    }
  }
  return n;
}
