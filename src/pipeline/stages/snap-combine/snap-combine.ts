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

/** Median of the lower of two snaps on a regular subsample of about 1e6 pixels. */
function lowerSnapSky(a: Float32Array, b: Float32Array): number {
  const n = a.length;
  const stride = Math.max(1, Math.floor(n / 1_000_000)) | 1;
  const s = new Float32Array(Math.ceil(n / stride));
  let k = 0;
  for (let i = 0; i < n; i += stride) {
    const v = a[i] < b[i] ? a[i] : b[i];
    if (Number.isFinite(v)) s[k++] = v;
  }
  return k > 0 ? medianInPlace(s, k) : 0;
}

export function runSnapCombine(snaps: readonly MaskedImage[], cfg: SnapCombineConfig = makeSnapCombineConfig()): SnapCombineResult {
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
  const image = new Float32Array(n);
  const variance = new Float32Array(n);
  const mask = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    image[i] = a[i] + b[i];
    variance[i] = va[i] + vb[i];
    mask[i] = A.mask[i] | B.mask[i];
  }
  if (!cfg.doRepair) {
    return { exposure: { width: W, height: H, image, mask, variance }, snaps: 2, crPixels: 0, crCorePixelsPerSnap: [0, 0], skyPerSnapE: NaN };
  }

  const sky = lowerSnapSky(a, b);
  const k2 = cfg.nSigma * cfg.nSigma;
  const ff = cfg.fluxFraction;
  const ignore = cfg.ignoreBits;
  // 1 = cosmic ray in A (A is higher), 2 = in B. Cores listed for growing.
  const code = new Uint8Array(n);
  let cores = new Int32Array(1024);
  let nCores = 0;
  let inA = 0;
  let inB = 0;
  for (let i = 0; i < n; i++) {
    const d = a[i] - b[i];
    const vs = va[i] + vb[i];
    if (d * d <= k2 * vs) continue;
    if (mask[i] & ignore) continue;
    // The part of the difference that a seeing change could explain is set aside first.
    const src = (d > 0 ? b[i] : a[i]) - sky;
    const excess = Math.abs(d) - (src > 0 ? ff * src : 0);
    if (excess <= 0 || excess * excess <= k2 * vs) continue;
    code[i] = d > 0 ? 1 : 2;
    if (d > 0) inA++;
    else inB++;
    if (nCores === cores.length) {
      const bigger = new Int32Array(cores.length * 2);
      bigger.set(cores);
      cores = bigger;
    }
    cores[nCores++] = i;
  }

  // Grow: neighbours take the code of the core that reaches them (cores keep their own).
  const r = cfg.growPx;
  if (r > 0) {
    for (let c = 0; c < nCores; c++) {
      const i = cores[c];
      const cd = code[i];
      const x = i % W;
      const y = (i - x) / W;
      const y0 = Math.max(0, y - r);
      const y1 = Math.min(H - 1, y + r);
      const x0 = Math.max(0, x - r);
      const x1 = Math.min(W - 1, x + r);
      for (let yy = y0; yy <= y1; yy++) {
        for (let xx = x0; xx <= x1; xx++) {
          const j = yy * W + xx;
          if (code[j] === 0) code[j] = cd | 4; // 4 marks a grown pixel (so it does not grow further)
        }
      }
    }
  }

  let crPixels = 0;
  for (let c = 0; c < nCores; c++) {
    const i = cores[c];
    // Cores and their grown neighbours are replaced in a second sweep of each core's box.
    const x = i % W;
    const y = (i - x) / W;
    for (let yy = Math.max(0, y - r); yy <= Math.min(H - 1, y + r); yy++) {
      for (let xx = Math.max(0, x - r); xx <= Math.min(W - 1, x + r); xx++) {
        const j = yy * W + xx;
        const cd = code[j];
        if (cd === 0 || cd === 8) continue;
        if ((cd & 3) === 1) {
          image[j] = 2 * b[j];
          variance[j] = 4 * vb[j];
        } else {
          image[j] = 2 * a[j];
          variance[j] = 4 * va[j];
        }
        mask[j] |= MaskBit.CR;
        code[j] = 8; // done
        crPixels++;
      }
    }
  }

  return {
    exposure: { width: W, height: H, image, mask, variance },
    snaps: 2,
    crPixels,
    crCorePixelsPerSnap: [inA, inB],
    skyPerSnapE: sky,
  };
}
