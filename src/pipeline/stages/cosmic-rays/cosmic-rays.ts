import { z } from 'zod';
import { AlgorithmError, InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, type MaskedImage } from '../../../core/image.ts';
import { parseConfig } from '../../config.ts';

/**
 * Cosmic-ray rejection on a single exposure, by sharpness (for instruments with one snap per
 * visit, which cannot compare snaps), after the SDSS/LSST findCosmicRays conditions (Shimasaku,
 * Lupton) in the spirit of L.A.Cosmic (van Dokkum 2001): a PSF blurs, a cosmic ray does not.
 *
 * The image must be background-subtracted (on an unsubtracted one nothing stands out and nothing
 * is found). For each pixel p and each of the four pairs of opposite neighbours d (horizontal,
 * vertical, two diagonals) with pair mean m_d:
 *   1. p > nSigma·σ_p, and p − m_d > nSigma·sqrt(σ_p² + σ_m²)   (it stands above the pair);
 *   2. m_d + k·σ_m < (ρ_d / sharpnessFactor)·(p − k·σ_p)      (sharper than the PSF allows),
 * where σ comes from the variance plane, k = noiseMarginSigma, and ρ_d is the lowest ratio
 * (pair mean)/(pixel) that a pixel-integrated Gaussian PSF of the given sigma produces, over all
 * centres within the pixel (a Gaussian is log-concave, so no other pixel of a star does lower).
 * Pairs with a pixel off the image or with an ignored mask bit are not used. Pixels meeting both
 * conditions for some d are cores.
 *
 * Cores are grown, breadth first, to 8-connected neighbours above growSigma·σ that are sharper
 * than the PSF once the pixels already flagged are set aside (factor growSharpnessFactor, margin
 * growNoiseMarginSigma): a pair with one flagged (or off-image) pixel is judged on the other
 * against the lowest single-neighbour ratio a PSF centred in the pixel can produce, which keeps
 * a star's peak even when a cosmic ray touches it; a pixel with no pair left to judge (enclosed
 * by flagged pixels) is taken.
 *
 * Flagged pixels get MaskBit.CR | INTRP. Their values and variances are replaced by linear
 * interpolation between the nearest usable pixels on either side along each of the four
 * directions (weighted by 1/gap²), else the nearest usable pixel on one side. Usable: unflagged,
 * no ignored bit, and not a pixel above growSigma touching a flagged one (the unflagged remnant of
 * a cosmic ray that growth could not tell from a PSF). The interpolated variance is the
 * neighbourhood's per-pixel variance, not the (smaller) variance of the interpolate.
 */
export const CosmicRayConfig = z
  .object({
    /** Significance of a core pixel above the sky and above its neighbour pair. */
    nSigma: z.number().positive().default(6),
    /** A core's neighbour/peak ratio must be below the PSF's lowest ratio divided by this. */
    sharpnessFactor: z.number().min(1).default(1.5),
    /** Noise margin (sigmas) taken off the pixel and added to its neighbours in the sharpness tests. */
    noiseMarginSigma: z.number().min(0).default(2.5),
    /** Grown pixels must be this many sigma above the sky. */
    growSigma: z.number().positive().default(3),
    /** Sharpness factor for grown pixels (≤ sharpnessFactor: growth is the weaker test). */
    growSharpnessFactor: z.number().min(1).default(1.2),
    /** Noise margin (sigmas) of the growth test. */
    growNoiseMarginSigma: z.number().min(0).default(0.5),
    /** Pixels with these bits are never flagged, and are neither neighbours nor interpolation sources. */
    ignoreBits: z.number().int().min(0).default(MaskBit.BAD | MaskBit.SAT | MaskBit.NO_DATA),
    /** Interpolation looks this far (pixels along each direction) for unflagged pixels. */
    maxInterpolationPx: z.number().int().min(1).max(64).default(16),
    /** More flagged pixels than this fraction of the image is an AlgorithmError (stars taken for cosmic rays: a PSF sigma far too large). */
    maxCrPixelFraction: z.number().positive().max(1).default(0.02),
    /** Replace flagged pixels by interpolation (false: only mask them). */
    doInterpolate: z.boolean().default(true),
  })
  .superRefine((c, ctx) => {
    if (c.growSharpnessFactor > c.sharpnessFactor) {
      ctx.addIssue({ code: 'custom', path: ['growSharpnessFactor'], message: 'must not exceed sharpnessFactor' });
    }
  });
export type CosmicRayConfig = z.output<typeof CosmicRayConfig>;
export type CosmicRayConfigInput = z.input<typeof CosmicRayConfig>;

export function makeCosmicRayConfig(input: CosmicRayConfigInput = {}): CosmicRayConfig {
  return parseConfig(CosmicRayConfig, input, 'cosmic-rays');
}

export interface CosmicRayInput {
  /**
   * Gaussian sigma (pixels) of the sharpest PSF to protect. Stars sharper than this (by more
   * than sharpnessFactor in neighbour ratio) can be taken for cosmic rays, so with only a seeing
   * guess pass a lower bound (e.g. a FWHM of 2 px: sigma 0.85).
   */
  readonly psfSigmaPx: number;
}

export interface CosmicRayOptions {
  /** Repair the input's image, mask and variance (the caller owns them) instead of copies. */
  readonly inPlace?: boolean;
}

export interface CosmicRayResult {
  /** The repaired exposure (the input's arrays when inPlace). */
  readonly exposure: MaskedImage;
  /** The exposure's mask, with CR | INTRP on the flagged pixels. */
  readonly mask: Int32Array;
  /** Pixels flagged (cores and grown). */
  readonly crPixels: number;
  /** Cosmic rays: 8-connected groups of flagged pixels. */
  readonly crCount: number;
  /** Core pixels (before growth). */
  readonly crCorePixels: number;
  /** Flagged pixels that no direction could interpolate (set to 0, the sky). */
  readonly uninterpolatedPixels: number;
  /** PSF ratios used: lowest pair-mean/pixel ratio along an axis and a diagonal. */
  readonly psfAxisRatio: number;
  readonly psfDiagonalRatio: number;
}

/** erf with |error| < 1.2e-7 (Numerical Recipes erfc Chebyshev fit). */
function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

/** Neighbour ratios of a pixel-integrated circular Gaussian (see psfRatios). */
export interface PsfRatios {
  /** Lowest (left + right)/2 over the pixel, for a centre anywhere in the pixel. */
  readonly axisPair: number;
  readonly diagonalPair: number;
  /** Lowest single neighbour over the pixel containing the centre. */
  readonly axisSingle: number;
  readonly diagonalSingle: number;
}

/**
 * The lowest neighbour/pixel ratios a pixel-integrated Gaussian of `sigmaPx` produces at the
 * pixel holding its centre, scanned over centres in the pixel (the pair minima are at the pixel
 * centre, the single-neighbour minima at its far edge). Away from the centre's pixel a Gaussian's
 * pair ratios only grow (it is log-concave).
 */
export function psfRatios(sigmaPx: number): PsfRatios {
  const s = Math.SQRT2 * sigmaPx;
  // 1-D pixel fractions at offsets -1, 0, +1 for a centre at c in [-0.5, 0.5].
  const frac = (i: number, c: number): number => 0.5 * (erf((i + 0.5 - c) / s) - erf((i - 0.5 - c) / s));
  const N = 20;
  let axisPair = Infinity;
  let diagonalPair = Infinity;
  let axisSingle = Infinity;
  let diagonalSingle = Infinity;
  for (let a = 0; a <= N; a++) {
    const cx = -0.5 + a / N;
    const fx0 = frac(0, cx);
    const fxm = frac(-1, cx) / fx0;
    const fxp = frac(1, cx) / fx0;
    axisPair = Math.min(axisPair, 0.5 * (fxm + fxp));
    axisSingle = Math.min(axisSingle, fxm, fxp);
    for (let b = 0; b <= N; b++) {
      const cy = -0.5 + b / N;
      const fy0 = frac(0, cy);
      const fym = frac(-1, cy) / fy0;
      const fyp = frac(1, cy) / fy0;
      diagonalPair = Math.min(diagonalPair, 0.5 * (fxm * fym + fxp * fyp), 0.5 * (fxm * fyp + fxp * fym));
      diagonalSingle = Math.min(diagonalSingle, fxm * fym, fxp * fyp, fxm * fyp, fxp * fym);
    }
  }
  return { axisPair, diagonalPair, axisSingle, diagonalSingle };
}

/** Pixel states. */
const CLEAN = 0;
const CORE = 1;
const FLAGGED = 2;

/** Direction steps: horizontal, vertical, diagonal, anti-diagonal. */
const DX = [1, 0, 1, 1] as const;
const DY = [0, 1, 1, -1] as const;

export function runCosmicRays(
  exposure: MaskedImage,
  input: CosmicRayInput,
  cfg: CosmicRayConfig = makeCosmicRayConfig(),
  opts: CosmicRayOptions = {},
): CosmicRayResult {
  const { width: W, height: H } = exposure;
  const n = W * H;
  if (exposure.image.length !== n || exposure.mask.length !== n || exposure.variance.length !== n) {
    throw new InvalidInputError(`cosmic rays: image planes do not match ${W}x${H}`);
  }
  const sigma = input.psfSigmaPx;
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw new InvalidInputError(`cosmic rays: PSF sigma ${sigma} px is not usable`);
  const image = opts.inPlace ? exposure.image : exposure.image.slice();
  const mask = opts.inPlace ? exposure.mask : exposure.mask.slice();
  const variance = opts.inPlace ? exposure.variance : exposure.variance.slice();
  const out: MaskedImage = { width: W, height: H, image, mask, variance };

  const ratios = psfRatios(sigma);
  const f = cfg.sharpnessFactor;
  const pairLimit = [ratios.axisPair / f, ratios.axisPair / f, ratios.diagonalPair / f, ratios.diagonalPair / f];
  const g = cfg.growSharpnessFactor;
  const growPairLimit = [ratios.axisPair / g, ratios.axisPair / g, ratios.diagonalPair / g, ratios.diagonalPair / g];
  const growSingleLimit = [ratios.axisSingle / g, ratios.axisSingle / g, ratios.diagonalSingle / g, ratios.diagonalSingle / g];
  const nSig = cfg.nSigma;
  const nSig2 = nSig * nSig;
  const k = cfg.noiseMarginSigma;
  const kg = cfg.growNoiseMarginSigma;
  const grow2 = cfg.growSigma * cfg.growSigma;
  const ignore = cfg.ignoreBits;
  const maxPixels = Math.max(1, Math.floor(cfg.maxCrPixelFraction * n));
  // Pixel offsets of the four directions.
  const step = [1, W, W + 1, 1 - W];

  const state = new Uint8Array(n);
  let cores = new Int32Array(256);
  let nCores = 0;

  // 1. Cores, in one pass.
  for (let y = 0; y < H; y++) {
    const row = y * W;
    for (let x = 0; x < W; x++) {
      const i = row + x;
      const p = image[i];
      const v0 = variance[i];
      // Cheap test first: p > nSigma·σ (false for NaN).
      if (!(p > 0) || !(p * p > nSig2 * v0) || !(v0 > 0) || mask[i] & ignore) continue;
      const s0 = Math.sqrt(v0);
      for (let d = 0; d < 4; d++) {
        const dx = DX[d];
        const dy = DY[d];
        const xa = x - dx;
        const xb = x + dx;
        const ya = y - dy;
        const yb = y + dy;
        if (xa < 0 || xb >= W || ya < 0 || ya >= H || yb < 0 || yb >= H) continue;
        const a = i - step[d];
        const b = i + step[d];
        if ((mask[a] | mask[b]) & ignore) continue;
        const va = variance[a];
        const vb = variance[b];
        const m = 0.5 * (image[a] + image[b]);
        const vm = 0.25 * (va + vb);
        if (!(vm >= 0)) continue;
        const excess = p - m;
        if (!(excess > 0) || excess * excess <= nSig2 * (v0 + vm)) continue;
        if (m + k * Math.sqrt(vm) < pairLimit[d] * (p - k * s0)) {
          if (nCores === cores.length) {
            const bigger = new Int32Array(cores.length * 2);
            bigger.set(cores);
            cores = bigger;
          }
          cores[nCores++] = i;
          state[i] = CORE;
          break;
        }
      }
    }
  }

  // 2. Growth from each core not yet reached, breadth first; `list` is the queue and, at the
  // end, every flagged pixel.
  let list = new Int32Array(Math.max(256, nCores * 4));
  let nList = 0;
  const push = (i: number): void => {
    if (nList === list.length) {
      const bigger = new Int32Array(list.length * 2);
      bigger.set(list);
      list = bigger;
    }
    list[nList++] = i;
    state[i] = FLAGGED;
  };
  // The growth test for pixel i at (x, y).
  const grows = (i: number, x: number, y: number): boolean => {
    const q = image[i];
    const vq = variance[i];
    if (!(q > 0) || !(q * q > grow2 * vq) || !(vq > 0) || mask[i] & ignore) return false;
    const sq = Math.sqrt(vq);
    // Directions that could be judged: a pixel enclosed by flagged ones (or the edge) is taken.
    let judged = 0;
    for (let d = 0; d < 4; d++) {
      const dx = DX[d];
      const dy = DY[d];
      const xa = x - dx;
      const xb = x + dx;
      const ya = y - dy;
      const yb = y + dy;
      // A partner off the image counts as flagged (no information), one with an ignored bit
      // disqualifies the direction.
      const inA = xa >= 0 && ya >= 0 && ya < H;
      const inB = xb < W && yb >= 0 && yb < H;
      const a = i - step[d];
      const b = i + step[d];
      if ((inA && mask[a] & ignore) || (inB && mask[b] & ignore)) continue;
      const fa = !inA || state[a] !== CLEAN;
      const fb = !inB || state[b] !== CLEAN;
      if (fa && fb) continue;
      judged++;
      if (fa || fb) {
        const o = fa ? b : a;
        const vo = variance[o];
        if (!(vo >= 0)) continue;
        if (image[o] + kg * Math.sqrt(vo) < growSingleLimit[d] * (q - kg * sq)) return true;
      } else {
        const m = 0.5 * (image[a] + image[b]);
        const vm = 0.25 * (variance[a] + variance[b]);
        if (!(vm >= 0)) continue;
        if (m + kg * Math.sqrt(vm) < growPairLimit[d] * (q - kg * sq)) return true;
      }
    }
    return judged === 0;
  };
  let crCount = 0;
  for (let c = 0; c < nCores; c++) {
    const seed = cores[c];
    if (state[seed] === FLAGGED) continue;
    crCount++;
    let head = nList;
    push(seed);
    while (head < nList) {
      const i = list[head++];
      const x = i % W;
      const y = (i - x) / W;
      for (let yy = Math.max(0, y - 1); yy <= Math.min(H - 1, y + 1); yy++) {
        for (let xx = Math.max(0, x - 1); xx <= Math.min(W - 1, x + 1); xx++) {
          const j = yy * W + xx;
          const s = state[j];
          if (s === FLAGGED) continue;
          if (s === CORE || grows(j, xx, yy)) push(j);
        }
      }
      if (nList > maxPixels) {
        throw new AlgorithmError(`cosmic rays: more than ${maxPixels} pixels flagged; is the PSF sigma (${sigma} px) too large?`, {
          flaggedPixels: nList,
          cores: nCores,
          psfSigmaPx: sigma,
        });
      }
    }
  }

  // 3. Mask, and replace by interpolation from unflagged pixels (reads only unflagged pixels,
  // writes only flagged ones, so the order does not matter).
  // An interpolation source: unflagged, not ignored, and not a pixel above growSigma touching a
  // flagged one (the unflagged remnant of a cosmic ray that growth could not tell from a PSF).
  const usable = (j: number, x: number, y: number): boolean => {
    if (state[j] !== CLEAN || mask[j] & ignore) return false;
    const v = variance[j];
    if (!(v > 0)) return false;
    const q = image[j];
    if (!(q > 0 && q * q > grow2 * v)) return true;
    for (let yy = Math.max(0, y - 1); yy <= Math.min(H - 1, y + 1); yy++) {
      for (let xx = Math.max(0, x - 1); xx <= Math.min(W - 1, x + 1); xx++) if (state[yy * W + xx] === FLAGGED) return false;
    }
    return true;
  };
  const flag = MaskBit.CR | MaskBit.INTRP;
  const L = cfg.maxInterpolationPx;
  let uninterpolated = 0;
  for (let c = 0; c < nList; c++) {
    const i = list[c];
    mask[i] |= flag;
    if (!cfg.doInterpolate) continue;
    const x = i % W;
    const y = (i - x) / W;
    let sw = 0;
    let sv = 0;
    let svar = 0;
    // One-sided fallback: the nearest unflagged pixel in any direction.
    let nearD = Infinity;
    let nearV = 0;
    let nearVar = 0;
    for (let d = 0; d < 4; d++) {
      const dx = DX[d];
      const dy = DY[d];
      let ja = -1;
      let ka = 0;
      for (let t = 1; t <= L; t++) {
        const xx = x - t * dx;
        const yy = y - t * dy;
        if (xx < 0 || xx >= W || yy < 0 || yy >= H) break;
        const j = yy * W + xx;
        if (usable(j, xx, yy)) {
          ja = j;
          ka = t;
          break;
        }
      }
      let jb = -1;
      let kb = 0;
      for (let t = 1; t <= L; t++) {
        const xx = x + t * dx;
        const yy = y + t * dy;
        if (xx < 0 || xx >= W || yy < 0 || yy >= H) break;
        const j = yy * W + xx;
        if (usable(j, xx, yy)) {
          jb = j;
          kb = t;
          break;
        }
      }
      const unit = dx !== 0 && dy !== 0 ? Math.SQRT2 : 1;
      if (ja >= 0 && jb >= 0) {
        const wa = kb / (ka + kb);
        const wb = ka / (ka + kb);
        const gap = (ka + kb) * unit;
        const w = 1 / (gap * gap);
        sw += w;
        sv += w * (wa * image[ja] + wb * image[jb]);
        svar += w * (wa * variance[ja] + wb * variance[jb]);
      } else if (sw === 0) {
        if (ja >= 0 && ka * unit < nearD) {
          nearD = ka * unit;
          nearV = image[ja];
          nearVar = variance[ja];
        }
        if (jb >= 0 && kb * unit < nearD) {
          nearD = kb * unit;
          nearV = image[jb];
          nearVar = variance[jb];
        }
      }
    }
    if (sw > 0) {
      image[i] = sv / sw;
      variance[i] = svar / sw;
    } else if (nearD < Infinity) {
      image[i] = nearV;
      variance[i] = nearVar;
    } else {
      image[i] = 0;
      uninterpolated++;
    }
  }

  return {
    exposure: out,
    mask,
    crPixels: nList,
    crCount,
    crCorePixels: nCores,
    uninterpolatedPixels: uninterpolated,
    psfAxisRatio: ratios.axisPair,
    psfDiagonalRatio: ratios.diagonalPair,
  };
}
