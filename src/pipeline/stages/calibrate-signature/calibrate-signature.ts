import { z } from 'zod';
import { InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, type MaskedImage } from '../../../core/image.ts';
import { parseConfig } from '../../config.ts';
import { medianInPlace } from '../../lib/stats.ts';
import type { ArenaBuffer, ArenaRequest } from '../../../wasm/arena.ts';
import { CALIBRATE_DESC_BYTES, calibrateDesc, isrKernels, type IsrKernels } from '../../../wasm/isr.ts';
import { maskToInt32, patchWidePixels, planeLength, planeToFloat32, planeValue, type MasterMask, type MasterPlane, type ScaledPlane } from './master-planes.ts';

/** Pixels per chunk of the calibration kernel (its buffers stay in the core's cache). */
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
  const img = flat.image;
  const n = planeLength(img);
  const stride = Math.max(1, Math.floor(n / 1_000_000));
  if (how === 'median' && !(img instanceof Float32Array) && img.stored !== null && !img.wide && img.bscale !== 0) {
    return storedMedian(img.stored, stride, img.bscale, img.bzero);
  }
  const scratch = new Float32Array(Math.ceil(n / stride));
  let k = 0;
  let sum = 0;
  for (let i = 0; i < n; i += stride) {
    const v = planeValue(img, i);
    if (v > 0 && Number.isFinite(v)) {
      scratch[k++] = v;
      sum += v;
    }
  }
  if (k === 0) return NaN;
  return how === 'mean' ? sum / k : medianInPlace(scratch, k);
}

/**
 * What flatLevel's median gives for a plane of 16-bit stored integers s (values
 * fround(s · bscale + bzero), bscale ≠ 0), without sorting: the values are monotonic in s, so
 * the order statistics of the finite positive values of the subsample are read off a histogram
 * of its stored integers. NaN when there are none.
 */
function storedMedian(stored: Int16Array | Uint16Array, stride: number, bscale: number, bzero: number): number {
  const offset = stored instanceof Int16Array ? 32768 : 0;
  const counts = new Int32Array(65536);
  for (let i = 0; i < stored.length; i += stride) counts[stored[i] + offset]++;
  const value = (bin: number): number => Math.fround((bin - offset) * bscale + bzero);
  // The bins of finite positive values, in increasing value order.
  const ascending = bscale > 0;
  const usable: number[] = [];
  let k = 0;
  for (let q = 0; q < 65536; q++) {
    const bin = ascending ? q : 65535 - q;
    if (counts[bin] === 0) continue;
    const v = value(bin);
    if (v > 0 && Number.isFinite(v)) {
      usable.push(bin);
      k += counts[bin];
    }
  }
  if (k === 0) return NaN;
  // The value of rank r (0-based) among them.
  const ranked = (r: number): number => {
    let below = 0;
    for (const bin of usable) {
      below += counts[bin];
      if (below > r) return value(bin);
    }
    return NaN;
  };
  const half = k >>> 1;
  const upper = ranked(half);
  return k & 1 ? upper : 0.5 * (upper + ranked(half - 1));
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
  newBad += applyMasters(image, variance, mask, useBias ? bias : undefined, useDark ? dark : undefined, useFlat ? flat : undefined, t, t2, 1 / norm);
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
 * The master planes' pixels applied to the exposure, a chunk at a time in the isr kernels: each
 * chunk of image and variance is copied in once, gets the bias, dark and flat steps in float32
 * (in that order, see calibrate in assembly/isr.ts) and is copied back; the masters' chunks are
 * copied in as they are stored (float32, or 16-bit integers decoded to the float32 values of
 * their plane). Pixels whose flat is not usable are made BAD; returns how many were not BAD
 * already.
 */
function applyMasters(
  image: Float32Array,
  variance: Float32Array,
  mask: Int32Array,
  bias: MasterCalibration | undefined,
  dark: MasterCalibration | undefined,
  flat: MasterCalibration | undefined,
  t: number,
  t2: number,
  inv: number,
): number {
  const n = image.length;
  if (n === 0) return 0;
  const chunk = Math.min(n, CHUNK);
  const planes: Array<MasterPlane | undefined> = [bias?.image, bias?.variance, dark?.image, dark?.variance, flat?.image, flat?.variance];
  const { exports: k, arena } = isrKernels();
  const buffers = arena.layout([
    ['f32', chunk],
    ['f32', chunk],
    ['u8', CALIBRATE_DESC_BYTES],
    ['i32', chunk],
    // Each master plane's chunk as float32 ...
    ...planes.map((p): ArenaRequest => ['f32', p === undefined ? 0 : chunk]),
    // ... and a chunk of the stored integers of those that have them.
    ...planes.map((p): ArenaRequest => ['u8', p !== undefined && !(p instanceof Float32Array) && p.stored !== null ? 2 * chunk : 0]),
  ]);
  const [img, vari, descBuf, bad] = buffers;
  const desc = calibrateDesc(descBuf.view.buffer, descBuf.ptr);
  // Per chunk: float32 planes are copied in, stored integers copied in and decoded.
  const copies: Array<{ src: Float32Array; dst: Float32Array }> = [];
  const decodes: PlaneDecode[] = [];
  planes.forEach((p, j) => {
    const f32 = buffers[4 + j];
    const i16 = buffers[10 + j];
    desc.planes[j] = p === undefined ? 0 : f32.ptr;
    if (p === undefined) return;
    if (p instanceof Float32Array) {
      copies.push({ src: p, dst: f32.view as Float32Array });
    } else if (p.stored === null) {
      // A constant plane: its value in every pixel of the chunk, once.
      (f32.view as Float32Array).fill(p.constant * p.bscale + p.bzero);
    } else {
      const signed = p.stored instanceof Int16Array;
      const bytes = i16.view.buffer;
      decodes.push({
        plane: p,
        values: f32.view as Float32Array,
        wideAt: 0,
        src: p.stored,
        dst: signed ? new Int16Array(bytes, i16.ptr, chunk) : new Uint16Array(bytes, i16.ptr, chunk),
        ptr: i16.ptr,
        out: f32.ptr,
        signed,
        bscale: p.bscale,
        bzero: p.bzero,
      });
    }
  });
  desc.params[0] = t;
  desc.params[1] = t2;
  desc.params[2] = inv;
  return calibrateInChunks(image, variance, mask, k, img, vari, descBuf.ptr, bad, copies, decodes);
}

/** A master plane stored as 16-bit integers, decoded a chunk at a time into the kernel's memory. */
interface PlaneDecode {
  readonly plane: ScaledPlane;
  readonly src: Int16Array | Uint16Array;
  /** Where a chunk of the integers is copied (in the kernel's memory, at `ptr`). */
  readonly dst: Int16Array | Uint16Array;
  readonly ptr: number;
  /** Where the chunk's float32 values are decoded (`values`, at `out`). */
  readonly out: number;
  readonly values: Float32Array;
  readonly signed: boolean;
  readonly bscale: number;
  readonly bzero: number;
  /** The next of the plane's wide pixels (patchWidePixels). */
  wideAt: number;
}

/**
 * applyMasters' loop, a function of its own (applyMasters then stays in the interpreter, and
 * this keeps its optimised code from visit to visit): a chunk at a time, the image, variance and
 * master planes into the kernel's memory, calibrated there (descriptor at descPtr), and back;
 * BAD set on the pixels the kernel reports. Returns the pixels newly BAD.
 */
function calibrateInChunks(
  image: Float32Array,
  variance: Float32Array,
  mask: Int32Array,
  k: IsrKernels,
  img: ArenaBuffer<Float32Array>,
  vari: ArenaBuffer<Float32Array>,
  descPtr: number,
  bad: ArenaBuffer<Int32Array>,
  copies: ReadonlyArray<{ readonly src: Float32Array; readonly dst: Float32Array }>,
  decodes: readonly PlaneDecode[],
): number {
  const n = image.length;
  const imgView = img.view;
  const varView = vari.view;
  const badView = bad.view;
  const chunk = imgView.length;
  let newBad = 0;
  for (let i0 = 0; i0 < n; i0 += chunk) {
    const len = Math.min(chunk, n - i0);
    const i1 = i0 + len;
    imgView.set(image.subarray(i0, i1));
    varView.set(variance.subarray(i0, i1));
    for (let c = 0; c < copies.length; c++) copies[c].dst.set(copies[c].src.subarray(i0, i1));
    for (let j = 0; j < decodes.length; j++) {
      const d = decodes[j];
      d.dst.set(d.src.subarray(i0, i1));
      k.decode16(d.ptr, d.out, len, d.signed, d.bscale, d.bzero);
      if (d.plane.wide) d.wideAt = patchWidePixels(d.plane, i0, len, d.values, d.wideAt);
    }
    const nBad = k.calibrate(len, img.ptr, vari.ptr, descPtr, bad.ptr);
    image.set(len === chunk ? imgView : imgView.subarray(0, len), i0);
    variance.set(len === chunk ? varView : varView.subarray(0, len), i0);
    for (let b = 0; b < nBad; b++) {
      const i = i0 + badView[b];
      if ((mask[i] & MaskBit.BAD) === 0) newBad++;
      mask[i] |= MaskBit.BAD;
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
