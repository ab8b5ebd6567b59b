import { z } from 'zod';
import { InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, type MaskedImage } from '../../../core/image.ts';
import { parseConfig } from '../../config.ts';
import { medianInPlace } from '../../lib/stats.ts';
import { maskToInt32, planeChunk, planeLength, planeToFloat32, planeValue, type MasterMask, type MasterPlane } from './master-planes.ts';

/** Pixels per chunk of the calibration passes. */
const CHUNK = 1 << 14;

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
 * optional, and any plane may be kept compactly (master-planes.ts: the file's stored integers, a
 * mask's non-zero pixels), with the same values. Bias is in electrons, dark in electrons per
 * second of dark time, flat unitless.
 */
export interface MasterCalibration {
  readonly width: number;
  readonly height: number;
  readonly image: MasterPlane;
  readonly variance?: MasterPlane;
  readonly mask?: MasterMask;
}

/** A master with every plane as a full Float32 (Int32 for the mask) plane. */
export interface ExpandedMaster {
  readonly width: number;
  readonly height: number;
  readonly image: Float32Array;
  readonly variance?: Float32Array;
  readonly mask?: Int32Array;
}

/** A master's planes expanded to full planes (those that already are are shared, not copied). */
export function expandMaster(m: MasterCalibration): ExpandedMaster {
  return {
    width: m.width,
    height: m.height,
    image: planeToFloat32(m.image),
    variance: m.variance ? planeToFloat32(m.variance) : undefined,
    mask: m.mask ? maskToInt32(m.mask) : undefined,
  };
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
  const n = planeLength(m.image);
  if (m.width !== exp.width || m.height !== exp.height || n !== exp.width * exp.height) {
    throw new InvalidInputError(`master ${name} is ${m.width}x${m.height}, the exposure ${exp.width}x${exp.height}`);
  }
  if (m.variance && planeLength(m.variance) !== n) throw new InvalidInputError(`master ${name} variance has the wrong size`);
  if (m.mask && planeLength(m.mask) !== n) throw new InvalidInputError(`master ${name} mask has the wrong size`);
}

/** A robust normalisation of the flat: median (or mean) of its finite positive pixels, on a subsample. */
function flatLevel(flat: MasterCalibration, how: 'median' | 'mean'): number {
  const n = planeLength(flat.image);
  const stride = Math.max(1, Math.floor(n / 1_000_000));
  const scratch = new Float32Array(Math.ceil(n / stride));
  let k = 0;
  let sum = 0;
  for (let i = 0; i < n; i += stride) {
    const v = planeValue(flat.image, i);
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
  if (useBias && bias.mask) newBad += orBad(mask, bias.mask, badBits);
  if (useDark && dark.mask) newBad += orBad(mask, dark.mask, badBits);
  let norm = 1;
  if (useFlat && cfg.flatNormalization !== 'none') {
    norm = flatLevel(flat, cfg.flatNormalization);
    if (!(norm > 0)) throw new InvalidInputError('master flat has no positive finite pixels');
  }
  const t = input.darkTimeS;
  const t2 = t * t;
  const inv = 1 / norm;
  // Pixel by pixel the steps are those of whole-plane passes (bias, dark, then flat), in that
  // order, a chunk of pixels at a time: compact master planes give their values as they are read
  // (the flat's through small scratch arrays), never as a full Float32 plane.
  const chunk = Math.min(n, CHUNK);
  const scratch = [new Float32Array(chunk), new Float32Array(chunk)];
  for (let i0 = 0; i0 < n; i0 += chunk) {
    const len = Math.min(chunk, n - i0);
    if (useBias) {
      subtractScaled(image, i0, bias.image, len, 1);
      if (bias.variance) addScaled(variance, i0, bias.variance, len, 1);
    }
    if (useDark) {
      subtractScaled(image, i0, dark.image, len, t);
      if (dark.variance) addScaled(variance, i0, dark.variance, len, t2);
    }
    if (useFlat) {
      const f = planeChunk(flat.image, i0, len, scratch[0]);
      newBad += flat.variance
        ? divideByFlatWithVariance(image, variance, mask, i0, f, planeChunk(flat.variance, i0, len, scratch[1]), len, inv)
        : divideByFlat(image, variance, mask, i0, f, len, inv);
    }
  }
  if (useFlat && flat.mask) newBad += orBad(mask, flat.mask, badBits);
  return {
    exposure: { width: src.width, height: src.height, image, mask, variance },
    biasApplied: useBias,
    darkApplied: useDark,
    flatApplied: useFlat,
    flatNormalization: useFlat ? norm : 1,
    newBadPixels: newBad,
  };
}

/**
 * image[i] −= s · m[i] for i0 ≤ i < i0 + len, m's values as a Float32 plane holds them (s = 1:
 * −= m[i], as a pass with no factor computes it).
 */
function subtractScaled(image: Float32Array, i0: number, m: MasterPlane, len: number, s: number): void {
  const end = i0 + len;
  if (m instanceof Float32Array) {
    if (s === 1) for (let i = i0; i < end; i++) image[i] -= m[i];
    else for (let i = i0; i < end; i++) image[i] -= s * m[i];
    return;
  }
  const { stored, bscale, bzero } = m;
  if (stored === null) {
    const v = Math.fround(m.constant * bscale + bzero);
    // x − (+0) is x, to the bit.
    if (v === 0 && !Object.is(v, -0)) return;
    if (s === 1) for (let i = i0; i < end; i++) image[i] -= v;
    else for (let i = i0; i < end; i++) image[i] -= s * v;
    return;
  }
  if (s === 1) for (let i = i0; i < end; i++) image[i] -= Math.fround(stored[i] * bscale + bzero);
  else for (let i = i0; i < end; i++) image[i] -= s * Math.fround(stored[i] * bscale + bzero);
}

/** variance[i] += s · m[i] for i0 ≤ i < i0 + len (s = 1: += m[i]). */
function addScaled(variance: Float32Array, i0: number, m: MasterPlane, len: number, s: number): void {
  const end = i0 + len;
  if (m instanceof Float32Array) {
    if (s === 1) for (let i = i0; i < end; i++) variance[i] += m[i];
    else for (let i = i0; i < end; i++) variance[i] += s * m[i];
    return;
  }
  const { stored, bscale, bzero } = m;
  if (stored === null) {
    const v = Math.fround(m.constant * bscale + bzero);
    if (s === 1) for (let i = i0; i < end; i++) variance[i] += v;
    else for (let i = i0; i < end; i++) variance[i] += s * v;
    return;
  }
  if (s === 1) for (let i = i0; i < end; i++) variance[i] += Math.fround(stored[i] * bscale + bzero);
  else for (let i = i0; i < end; i++) variance[i] += s * Math.fround(stored[i] * bscale + bzero);
}

/** Divides by the normalised flat f·inv, with its variance fv; returns the pixels newly BAD. */
function divideByFlatWithVariance(
  image: Float32Array,
  variance: Float32Array,
  mask: Int32Array,
  i0: number,
  f: Float32Array,
  fv: Float32Array,
  len: number,
  inv: number,
): number {
  let newBad = 0;
  for (let k = 0; k < len; k++) {
    const i = i0 + k;
    const fi = f[k] * inv;
    if (fi > 0 && Number.isFinite(fi)) {
      const v = image[i] / fi;
      image[i] = v;
      // var(I/F) = var(I)/F² + I²·var(F)/F² with I the flat-fielded value.
      variance[i] = (variance[i] + v * v * fv[k] * inv * inv) / (fi * fi);
    } else {
      if ((mask[i] & MaskBit.BAD) === 0) newBad++;
      mask[i] |= MaskBit.BAD;
      image[i] = 0;
    }
  }
  return newBad;
}

/** Divides by the normalised flat f·inv (no flat variance); returns the pixels newly BAD. */
function divideByFlat(image: Float32Array, variance: Float32Array, mask: Int32Array, i0: number, f: Float32Array, len: number, inv: number): number {
  let newBad = 0;
  for (let k = 0; k < len; k++) {
    const i = i0 + k;
    const fi = f[k] * inv;
    if (fi > 0 && Number.isFinite(fi)) {
      image[i] = image[i] / fi;
      variance[i] = variance[i] / (fi * fi);
    } else {
      if ((mask[i] & MaskBit.BAD) === 0) newBad++;
      mask[i] |= MaskBit.BAD;
      image[i] = 0;
    }
  }
  return newBad;
}

function orBad(mask: Int32Array, master: MasterMask, bits: number): number {
  let n = 0;
  if (bits === 0) return 0;
  if (master instanceof Int32Array) {
    for (let i = 0; i < mask.length; i++) {
      if (master[i] & bits) {
        if ((mask[i] & MaskBit.BAD) === 0) n++;
        mask[i] |= MaskBit.BAD;
      }
    }
    return n;
  }
  const { index, value } = master;
  for (let k = 0; k < index.length; k++) {
    if (value[k] & bits) {
      const i = index[k];
      if ((mask[i] & MaskBit.BAD) === 0) n++;
      mask[i] |= MaskBit.BAD;
    }
  }
  return n;
}
