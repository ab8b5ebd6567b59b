import { z } from 'zod';
import { InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, type MaskedImage } from '../../../core/image.ts';
import { parseConfig } from '../../config.ts';
import { medianInPlace } from '../../lib/stats.ts';

/**
 * Sums the ISR'd snaps of a visit. With two snaps, cosmic rays are found by comparing them: a
 * pixel whose snap difference, less fluxFraction times the lower snap's signal above the sky
 * (the part a seeing change between snaps can explain in the cores and wings of bright stars),
 * still exceeds nSigma·sqrt(var_a + var_b) is a cosmic ray in the higher snap. Flagged pixels and their neighbours within growPx take twice the clean snap's
 * value (and four times its variance) and get MaskBit.CR. One snap passes through unchanged.
 */
export const SnapCombineConfig = z.object({
  doRepair: z.boolean().default(true),
  /** Significance of the snap difference needed to flag a pixel. */
  nSigma: z.number().positive().default(5),
  /** This fraction of the lower snap's value above the sky is taken off the difference before the test. */
  fluxFraction: z.number().min(0).default(1),
  /** Flagged pixels are grown by this many pixels (square). */
  growPx: z.number().int().min(0).max(5).default(1),
  /** Pixels with any of these bits in either snap are never flagged. */
  ignoreBits: z.number().int().min(0).default(MaskBit.SAT | MaskBit.BAD | MaskBit.NO_DATA),
});
export type SnapCombineConfig = z.output<typeof SnapCombineConfig>;
export type SnapCombineConfigInput = z.input<typeof SnapCombineConfig>;

export function makeSnapCombineConfig(input: SnapCombineConfigInput = {}): SnapCombineConfig {
  return parseConfig(SnapCombineConfig, input, 'snap-combine');
}

export interface SnapCombineResult {
  /** Sum of the snaps (electrons for the whole visit), mask OR'ed, variance summed. */
  readonly exposure: MaskedImage;
  readonly snaps: number;
  /** Pixels replaced and flagged CR (after growing). */
  readonly crPixels: number;
  /** Core (ungrown) cosmic-ray pixels found in each snap. */
  readonly crCorePixelsPerSnap: readonly number[];
  /** Sky level per snap used for the flux-proportional term (electrons), NaN when not computed. */
  readonly skyPerSnapE: number;
}

/** Median of the lower of two snaps on a sparse regular subsample (~100k pixels). */
function lowerSnapSky(a: Float32Array, b: Float32Array): number {
  const n = a.length;
  const stride = Math.max(1, Math.floor(n / 100_000)) | 1;
  const s = new Float32Array(Math.ceil(n / stride));
  let k = 0;
  for (let i = 0; i < n; i += stride) {
    const v = a[i] < b[i] ? a[i] : b[i];
    if (v === v) s[k++] = v;
  }
  return k > 0 ? medianInPlace(s, k) : 0;
}

export interface SnapCombineOptions {
  /** Write the sum into the first snap's arrays (the caller owns them and drops the snaps). */
  readonly inPlace?: boolean;
}

export function runSnapCombine(
  snaps: readonly MaskedImage[],
  cfg: SnapCombineConfig = makeSnapCombineConfig(),
  opts: SnapCombineOptions = {},
): SnapCombineResult {
  if (snaps.length === 0) throw new InvalidInputError('snap combine needs at least one snap');
  if (snaps.length === 1) {
    return { exposure: snaps[0], snaps: 1, crPixels: 0, crCorePixelsPerSnap: [0], skyPerSnapE: NaN };
  }
  if (snaps.length > 2) throw new InvalidInputError(`snap combine takes one or two snaps, got ${snaps.length}`);
  const [A, B] = snaps;
  if (A.width !== B.width || A.height !== B.height) {
    throw new InvalidInputError(`snaps differ in size: ${A.width}x${A.height} and ${B.width}x${B.height}`);
  }
  const W = A.width;
  const H = A.height;
  const n = W * H;
  const a = A.image;
  const b = B.image;
  const va = A.variance;
  const vb = B.variance;
  const ma = A.mask;
  const mb = B.mask;
  const image = opts.inPlace ? a : new Float32Array(n);
  const variance = opts.inPlace ? va : new Float32Array(n);
  const mask = opts.inPlace ? ma : new Int32Array(n);
  const exposure: MaskedImage = { width: W, height: H, image, mask, variance };
  const repair = cfg.doRepair;
  const sky = repair ? lowerSnapSky(a, b) : NaN;
  const k2 = cfg.nSigma * cfg.nSigma;
  const ff = cfg.fluxFraction;
  const ignore = cfg.ignoreBits;
  // Cosmic-ray cores, with the snap they hit: +i+1 in A, -(i+1) in B.
  let cores = new Int32Array(1024);
  let nCores = 0;
  let inA = 0;
  let inB = 0;

  // One pass: sum, and the comparison of the snaps.
  for (let i = 0; i < n; i++) {
    const ai = a[i];
    const bi = b[i];
    const vai = va[i];
    const vbi = vb[i];
    const m = ma[i] | mb[i];
    image[i] = ai + bi;
    variance[i] = vai + vbi;
    mask[i] = m;
    if (!repair) continue;
    const d = ai - bi;
    const vs = vai + vbi;
    if (d * d <= k2 * vs || m & ignore) continue;
    // The part of the difference that a seeing change could explain is set aside first.
    const src = (d > 0 ? bi : ai) - sky;
    const excess = (d > 0 ? d : -d) - (src > 0 ? ff * src : 0);
    if (excess <= 0 || excess * excess <= k2 * vs) continue;
    if (nCores === cores.length) {
      const bigger = new Int32Array(cores.length * 2);
      bigger.set(cores);
      cores = bigger;
    }
    if (d > 0) {
      cores[nCores++] = i + 1;
      inA++;
    } else {
      cores[nCores++] = -(i + 1);
      inB++;
    }
  }

  // Replace: cores first, then their neighbours within growPx that are not yet replaced, each
  // with twice the snap that the core found clean. The snaps are recovered from the sum when
  // the sum overwrote A.
  let crPixels = 0;
  const replace = (j: number, hitA: boolean): void => {
    const bj = b[j];
    const vbj = vb[j];
    if (hitA) {
      image[j] = 2 * bj;
      variance[j] = 4 * vbj;
    } else {
      const aj = opts.inPlace ? image[j] - bj : a[j];
      const vaj = opts.inPlace ? variance[j] - vbj : va[j];
      image[j] = 2 * aj;
      variance[j] = 4 * vaj;
    }
    mask[j] |= MaskBit.CR;
    crPixels++;
  };
  for (let c = 0; c < nCores; c++) {
    const code = cores[c];
    const j = (code > 0 ? code : -code) - 1;
    if (!(mask[j] & MaskBit.CR)) replace(j, code > 0);
  }
  const r = cfg.growPx;
  if (r > 0) {
    for (let c = 0; c < nCores; c++) {
      const code = cores[c];
      const i = (code > 0 ? code : -code) - 1;
      const x = i % W;
      const y = (i - x) / W;
      for (let yy = Math.max(0, y - r); yy <= Math.min(H - 1, y + r); yy++) {
        for (let xx = Math.max(0, x - r); xx <= Math.min(W - 1, x + r); xx++) {
          const j = yy * W + xx;
          if (!(mask[j] & MaskBit.CR)) replace(j, code > 0);
        }
      }
    }
  }

  return {
    exposure,
    snaps: 2,
    crPixels,
    crCorePixelsPerSnap: [inA, inB],
    skyPerSnapE: sky,
  };
}
