import { z } from 'zod';
import { InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, type MaskedImage } from '../../../core/image.ts';
import { parseConfig } from '../../config.ts';
import { isrKernels } from '../../../wasm/isr.ts';
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

/** Pixels per chunk of the combining kernel (its buffers stay in the core's cache). */
const COMBINE_CHUNK = 1 << 14;

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
  const image = opts.inPlace ? A.image : new Float32Array(n);
  const variance = opts.inPlace ? A.variance : new Float32Array(n);
  const mask = opts.inPlace ? A.mask : new Int32Array(n);
  const exposure: MaskedImage = { width: W, height: H, image, mask, variance };
  const repair = cfg.doRepair;
  const k2 = cfg.nSigma * cfg.nSigma;
  const ff = cfg.fluxFraction;
  const ignore = cfg.ignoreBits;

  // One pass, a chunk at a time in the isr kernel: the sum, the sky's sample and the pixels whose
  // snap difference may be significant (few; with the first snap's values, which the sum may
  // overwrite). They are tested once the sky is known.
  const skyStride = Math.max(1, Math.floor(n / 100_000)) | 1;
  const skySample = new Float32Array(repair ? Math.ceil(n / skyStride) : 0);
  const cand = new Candidates();
  const nSky = combineInChunks(A, B, exposure, opts.inPlace === true, repair, k2, skyStride, skySample, cand);
  const sky = !repair ? NaN : nSky > 0 ? medianInPlace(skySample, nSky) : 0;
  const cores = cosmicRayCores(cand, B, k2, ff, ignore, sky);
  // The sum overwrote the first snap when in place: it is recovered from the sum and the second.
  const crPixels = replaceCosmicRays(cores, exposure, opts.inPlace ? null : A, B, cfg.growPx);
  return {
    exposure,
    snaps: 2,
    crPixels,
    crCorePixelsPerSnap: [cores.inA, cores.inB],
    skyPerSnapE: sky,
  };
}

// The loops of runSnapCombine, each a function of its own: runSnapCombine runs once per visit and
// stays in the interpreter, while these keep their optimised code from visit to visit (a
// once-a-visit function with hot loops was compiled again, on the stack, every visit).

/**
 * The sum of the snaps into `out` (which may be A's planes: `inPlace`), a chunk at a time in the
 * isr kernel; with `repair`, the lower snap's value every skyStride-th pixel into skySample and
 * the pixels whose difference may be significant into `cand`. Returns the sky samples taken.
 */
function combineInChunks(
  A: MaskedImage,
  B: MaskedImage,
  out: MaskedImage,
  inPlace: boolean,
  repair: boolean,
  k2: number,
  skyStride: number,
  skySample: Float32Array,
  cand: Candidates,
): number {
  const n = A.width * A.height;
  const { image: a, variance: va, mask: ma } = A;
  const { image: b, variance: vb, mask: mb } = B;
  const { image, variance, mask } = out;
  const { exports: k, arena } = isrKernels();
  const chunk = Math.min(n, COMBINE_CHUNK);
  const [ba, bb, bva, bvb, bma, bmb, bc, bflags] = arena.layout([
    ['f32', chunk],
    ['f32', chunk],
    ['f32', chunk],
    ['f32', chunk],
    ['i32', chunk],
    ['i32', chunk],
    ['i32', repair ? chunk : 0],
    ['i32', 1],
  ]);
  let nSky = 0;
  for (let i0 = 0; i0 < n; i0 += chunk) {
    const len = Math.min(chunk, n - i0);
    const i1 = i0 + len;
    ba.view.set(a.subarray(i0, i1));
    bb.view.set(b.subarray(i0, i1));
    bva.view.set(va.subarray(i0, i1));
    bvb.view.set(vb.subarray(i0, i1));
    bma.view.set(ma.subarray(i0, i1));
    bmb.view.set(mb.subarray(i0, i1));
    if (repair) {
      // The lower snap on a regular subsample, its median the sky.
      for (let i = Math.ceil(i0 / skyStride) * skyStride - i0; i < len; i += skyStride) {
        const v = ba.view[i] < bb.view[i] ? ba.view[i] : bb.view[i];
        if (v === v) skySample[nSky++] = v;
      }
    }
    const found = k.combineSnaps(len, ba.ptr, bb.ptr, bva.ptr, bvb.ptr, bma.ptr, bmb.ptr, repair, k2, bc.ptr, bflags.ptr);
    for (let c = 0; c < found; c++) cand.push(i0 + bc.view[c], a, va, ma);
    image.set(len === chunk ? ba.view : ba.view.subarray(0, len), i0);
    variance.set(len === chunk ? bva.view : bva.view.subarray(0, len), i0);
    // The mask is written only where it changes: the first snap's where the second's has bits,
    // a new one where either has (it starts all zero), so that untouched memory stays so.
    if (bflags.view[0] & (inPlace ? 1 : 2)) mask.set(len === chunk ? bma.view : bma.view.subarray(0, len), i0);
  }
  return nSky;
}

/** Cosmic-ray cores: codes +i+1 (hit the first snap) or −(i+1) (the second), in increasing i. */
interface Cores {
  readonly codes: Int32Array;
  readonly count: number;
  readonly inA: number;
  readonly inB: number;
}

/**
 * The candidates that are cosmic-ray cores, with the snap they hit: a pixel whose difference, less
 * the part a seeing change could explain, is significant.
 */
function cosmicRayCores(cand: Candidates, B: MaskedImage, k2: number, ff: number, ignore: number, sky: number): Cores {
  const { image: b, variance: vb, mask: mb } = B;
  const codes = new Int32Array(cand.count);
  let count = 0;
  let inA = 0;
  let inB = 0;
  for (let c = 0; c < cand.count; c++) {
    const i = cand.index[c];
    const ai = cand.a[c];
    const bi = b[i];
    const d = ai - bi;
    const vs = cand.va[c] + vb[i];
    if (d * d <= k2 * vs || (cand.m[c] | mb[i]) & ignore) continue;
    const src = (d > 0 ? bi : ai) - sky;
    const excess = (d > 0 ? d : -d) - (src > 0 ? ff * src : 0);
    if (excess <= 0 || excess * excess <= k2 * vs) continue;
    if (d > 0) {
      codes[count++] = i + 1;
      inA++;
    } else {
      codes[count++] = -(i + 1);
      inB++;
    }
  }
  return { codes, count, inA, inB };
}

/**
 * Replaces the cores, then their neighbours within growPx not yet replaced, each with twice the
 * snap that the core found clean (four times its variance), and sets CR. `A`: the first snap, or
 * null when the sum overwrote it (its values are then the sum less the second's). Returns the
 * pixels replaced.
 */
function replaceCosmicRays(cores: Cores, out: MaskedImage, A: MaskedImage | null, B: MaskedImage, growPx: number): number {
  const { width: W, height: H, mask } = out;
  const { codes, count } = cores;
  let crPixels = 0;
  for (let c = 0; c < count; c++) {
    const code = codes[c];
    const j = (code > 0 ? code : -code) - 1;
    if (!(mask[j] & MaskBit.CR)) {
      replacePixel(j, code > 0, out, A, B);
      crPixels++;
    }
  }
  const r = growPx;
  if (r > 0) {
    for (let c = 0; c < count; c++) {
      const code = codes[c];
      const i = (code > 0 ? code : -code) - 1;
      const x = i % W;
      const y = (i - x) / W;
      for (let yy = Math.max(0, y - r); yy <= Math.min(H - 1, y + r); yy++) {
        for (let xx = Math.max(0, x - r); xx <= Math.min(W - 1, x + r); xx++) {
          const j = yy * W + xx;
          if (!(mask[j] & MaskBit.CR)) {
            replacePixel(j, code > 0, out, A, B);
            crPixels++;
          }
        }
      }
    }
  }
  return crPixels;
}

/** Pixel j of `out` from twice the snap a cosmic ray did not hit (see replaceCosmicRays). */
function replacePixel(j: number, hitA: boolean, out: MaskedImage, A: MaskedImage | null, B: MaskedImage): void {
  const { image, variance, mask } = out;
  const bj = B.image[j];
  const vbj = B.variance[j];
  if (hitA) {
    image[j] = 2 * bj;
    variance[j] = 4 * vbj;
  } else {
    const aj = A ? A.image[j] : image[j] - bj;
    const vaj = A ? A.variance[j] : variance[j] - vbj;
    image[j] = 2 * aj;
    variance[j] = 4 * vaj;
  }
  mask[j] |= MaskBit.CR;
}

/** Pixels kept for the cosmic-ray test: their index and the first snap's values. */
class Candidates {
  count = 0;
  index = new Int32Array(1024);
  a = new Float32Array(1024);
  va = new Float32Array(1024);
  m = new Int32Array(1024);

  push(i: number, a: Float32Array, va: Float32Array, m: Int32Array): void {
    if (this.count === this.index.length) {
      const size = 2 * this.count;
      const grow = <T extends Int32Array | Float32Array>(x: T, y: T): T => {
        y.set(x);
        return y;
      };
      this.index = grow(this.index, new Int32Array(size));
      this.a = grow(this.a, new Float32Array(size));
      this.va = grow(this.va, new Float32Array(size));
      this.m = grow(this.m, new Int32Array(size));
    }
    const c = this.count++;
    this.index[c] = i;
    this.a[c] = a[i];
    this.va[c] = va[i];
    this.m[c] = m[i];
  }
}
