/**
 * Synthetic calibration exposures and masters for this stage's tests: known level, noise and
 * gradients, seeded noise (core Rng). Variance planes are made as assembly makes them
 * (max(signal, 0) + read noise²). Masters carry the noise their variance plane claims (that of
 * N_COMBINED frames), as a real combination would.
 */
import { makeMaskedImage, type MaskedImage } from '../../../core/image.ts';
import { createRng } from '../../../core/rng.ts';
import type { VerificationAmp } from './verify-calibration.ts';

export const SIZE = 512;
export const READ_NOISE_E = 6;
/** Frames a synthetic master stands for (its variance). */
export const N_COMBINED = 20;

/** Four amplifiers (2 x 2) of the synthetic detector with their read noise. */
export const SYNTHETIC_AMPS: readonly VerificationAmp[] = [
  { name: 'C00', detector: { x0: 0, y0: 0, x1: SIZE / 2, y1: SIZE / 2 }, readNoiseE: 5 },
  { name: 'C01', detector: { x0: SIZE / 2, y0: 0, x1: SIZE, y1: SIZE / 2 }, readNoiseE: 6 },
  { name: 'C10', detector: { x0: 0, y0: SIZE / 2, x1: SIZE / 2, y1: SIZE }, readNoiseE: 7 },
  { name: 'C11', detector: { x0: SIZE / 2, y0: SIZE / 2, x1: SIZE, y1: SIZE }, readNoiseE: 8 },
];

function ampAt(x: number, y: number): VerificationAmp {
  return SYNTHETIC_AMPS[(y < SIZE / 2 ? 0 : 2) + (x < SIZE / 2 ? 0 : 1)];
}

export interface SyntheticOptions {
  readonly seed: number;
  /** Added to every pixel (electrons). */
  readonly offsetE?: number;
  /** Extra signal at (x, y), electrons (BIAS, DARK) or relative (FLAT: multiplies). */
  readonly pattern?: (x: number, y: number) => number;
  /** Read noise per amplifier (SYNTHETIC_AMPS) instead of READ_NOISE_E. */
  readonly perAmpReadNoise?: boolean;
}

/** expected(x, y) electrons, Gaussian noise of sqrt(max(expected, 0) + rn²). */
function exposure(expected: (x: number, y: number) => number, opts: SyntheticOptions): MaskedImage {
  const mi = makeMaskedImage(SIZE, SIZE);
  const rng = createRng(opts.seed);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const i = y * SIZE + x;
      const rn = opts.perAmpReadNoise ? (ampAt(x, y).readNoiseE as number) : READ_NOISE_E;
      const lam = expected(x, y);
      const v = lam + Math.sqrt(Math.max(lam, 0) + rn * rn) * rng.normal() + (opts.offsetE ?? 0);
      mi.image[i] = v;
      mi.variance[i] = (v > 0 ? v : 0) + rn * rn;
    }
  }
  return mi;
}

/** A bias frame after overscan subtraction: zero plus read noise. */
export function syntheticBias(opts: SyntheticOptions): MaskedImage {
  const p = opts.pattern;
  return exposure((x, y) => (p ? p(x, y) : 0), opts);
}

/** Adds Gaussian noise of the variance plane to a master's image. */
function addOwnNoise(mi: MaskedImage, seed: number): MaskedImage {
  const rng = createRng(`master/${seed}`);
  for (let i = 0; i < mi.image.length; i++) mi.image[i] += Math.sqrt(mi.variance[i]) * rng.normal();
  return mi;
}

/** The master bias: zero plus the noise of N_COMBINED frames. */
export function syntheticMasterBias(seed = 1): MaskedImage {
  const mi = makeMaskedImage(SIZE, SIZE);
  mi.variance.fill((READ_NOISE_E * READ_NOISE_E) / N_COMBINED);
  return addOwnNoise(mi, seed);
}

export const DARK_RATE_E_PER_S = 0.5;
export const HOT_RATE_E_PER_S = 20;
export const DARK_TIME_S = 100;
/** Every 997th pixel is hot. */
export function isHot(i: number): boolean {
  return i % 997 === 13;
}

/** The master dark (electrons per second): a uniform rate and hot pixels, the noise of N_COMBINED darks of 30 s. */
export function syntheticMasterDark(seed = 2): MaskedImage {
  const mi = makeMaskedImage(SIZE, SIZE);
  const T = 30;
  for (let i = 0; i < mi.image.length; i++) {
    const r = DARK_RATE_E_PER_S + (isHot(i) ? HOT_RATE_E_PER_S : 0);
    mi.image[i] = r;
    mi.variance[i] = (r * T + READ_NOISE_E * READ_NOISE_E) / (N_COMBINED * T * T);
  }
  return addOwnNoise(mi, seed);
}

/** A bias-subtracted dark of DARK_TIME_S whose dark current (and hot pixels) are `factor` times the master's. */
export function syntheticDark(opts: SyntheticOptions & { readonly factor?: number }): MaskedImage {
  const f = opts.factor ?? 1;
  return exposure((x, y) => f * DARK_TIME_S * (DARK_RATE_E_PER_S + (isHot(y * SIZE + x) ? HOT_RATE_E_PER_S : 0)), opts);
}

export const FLAT_LEVEL_E = 20000;

let response: Float32Array | null = null;

/** Flat-field response: 3 % radial vignetting and per-amplifier steps of ±1 %, mean 1. */
function flatResponse(): Float32Array {
  if (response) return response;
  const f = new Float32Array(SIZE * SIZE);
  const c = (SIZE - 1) / 2;
  const steps = [1.01, 0.99, 0.995, 1.005];
  let sum = 0;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const r2 = ((x - c) ** 2 + (y - c) ** 2) / (2 * c * c);
      const v = steps[SYNTHETIC_AMPS.indexOf(ampAt(x, y))] * (1 - 0.03 * r2);
      f[y * SIZE + x] = v;
      sum += v;
    }
  }
  const inv = f.length / sum;
  for (let i = 0; i < f.length; i++) f[i] *= inv;
  response = f;
  return f;
}

/** The master flat: the response (mean 1) with the noise of N_COMBINED flats of FLAT_LEVEL_E. */
export function syntheticMasterFlat(seed = 3): MaskedImage {
  const mi = makeMaskedImage(SIZE, SIZE);
  mi.image.set(flatResponse());
  for (let i = 0; i < mi.image.length; i++) mi.variance[i] = mi.image[i] / (N_COMBINED * FLAT_LEVEL_E);
  return addOwnNoise(mi, seed);
}

/** A flat of FLAT_LEVEL_E electrons through the response, times pattern(x, y) when given. */
export function syntheticFlat(opts: SyntheticOptions): MaskedImage {
  const f = flatResponse();
  const p = opts.pattern;
  return exposure((x, y) => FLAT_LEVEL_E * f[y * SIZE + x] * (p ? p(x, y) : 1), opts);
}
