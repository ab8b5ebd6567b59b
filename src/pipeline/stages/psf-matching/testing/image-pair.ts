/**
 * Synthetic science/template pairs for the PSF-matching and subtraction tests and benchmarks:
 * one star field rendered twice on the same pixel grid, with
 * - Gaussian or Moffat PSFs (pixel-integrated by 4 × 4 sub-sampling, each star normalised to its
 *   flux within the rendering radius), the template sharper;
 * - a weak spatial variation of the science PSF (its FWHM linear in x and y);
 * - a photometric scale (science flux = scale × template flux);
 * - different backgrounds (the science sky with a gradient, a small template pedestal);
 * - Poisson noise on the science image (its variance plane from the data, as ISR makes it) and
 *   Gaussian noise on a deeper template (its variance plane the expected one);
 * - optional sources only in the science image (new) or only in the template (vanished).
 * Deterministic for a seed. Not used by the pipeline itself.
 */
import { makeMaskedImage, type MaskedImage } from '../../../../core/image.ts';
import { SeededRng } from '../../../testing/rng.ts';
import { randomStars, type TruthStar } from '../../../testing/synthetic.ts';

export interface ExtraSource {
  readonly x: number;
  readonly y: number;
  /** Flux in science units (electrons in the science image). */
  readonly flux: number;
}

export interface ImagePairOptions {
  readonly width: number;
  readonly height: number;
  readonly seed: number;
  readonly nStars: number;
  /** Science-image fluxes (electrons), log-uniform. */
  readonly fluxMin: number;
  readonly fluxMax: number;
  readonly minSepPx?: number;
  readonly marginPx?: number;
  readonly psf?: 'gaussian' | 'moffat';
  /** Moffat β (default 4.765, Trujillo et al. 2001 for Kolmogorov turbulence). */
  readonly moffatBeta?: number;
  readonly scienceFwhmPx: number;
  readonly templateFwhmPx: number;
  /** Fractional change of the science FWHM from the image centre to the right edge (x) and top edge (y). */
  readonly scienceFwhmGradientX?: number;
  readonly scienceFwhmGradientY?: number;
  /** Science flux / template flux. */
  readonly photometricScale: number;
  readonly scienceSky: number;
  /** Sky change from the centre to the right edge (electrons). */
  readonly scienceSkyGradientX?: number;
  readonly templateBackground: number;
  /** Template sky variance (template units²); its star noise is its flux / templateDepth. */
  readonly templateSkyVariance: number;
  readonly templateDepth?: number;
  readonly readNoise?: number;
  /** Template shifted by this much (pixels) relative to the science image (misregistration). */
  readonly templateShiftXPx?: number;
  readonly templateShiftYPx?: number;
  readonly newSources?: readonly ExtraSource[];
  /** Sources only in the template; flux in science units (what the science image would have had). */
  readonly vanishedSources?: readonly ExtraSource[];
}

export interface ImagePair {
  readonly science: MaskedImage;
  readonly template: MaskedImage;
  /** The common stars; flux in science units, brightest first. */
  readonly stars: readonly TruthStar[];
  /** Science PSF FWHM (pixels) at (x, y). */
  readonly scienceFwhmAt: (x: number, y: number) => number;
  /** Unit-flux science PSF at (x, y) centred on (x, y) sampled on a (2R + 1)² grid around round(x), round(y). */
  readonly sciencePsfStamp: (x: number, y: number, radius: number) => Float64Array;
}

const SUB = 4;

/** Adds a star of total `flux` within its rendering radius, pixel-integrated by sub-sampling. */
export function renderStar(
  img: Float32Array,
  W: number,
  H: number,
  x: number,
  y: number,
  flux: number,
  fwhm: number,
  psf: 'gaussian' | 'moffat',
  beta: number,
  scratch: Float64Array,
): void {
  const R = Math.ceil(4 * fwhm) + 1;
  const cw = 2 * R + 1;
  if (scratch.length < cw * cw) throw new RangeError('renderStar: scratch too small');
  const xc = Math.round(x);
  const yc = Math.round(y);
  let sum = 0;
  const sigma = fwhm / (2 * Math.sqrt(2 * Math.log(2)));
  const alpha = fwhm / (2 * Math.sqrt(2 ** (1 / beta) - 1));
  const inv2s2 = 1 / (2 * sigma * sigma);
  const invA2 = 1 / (alpha * alpha);
  for (let j = 0; j < cw; j++) {
    for (let i = 0; i < cw; i++) {
      let s = 0;
      for (let sj = 0; sj < SUB; sj++) {
        const dy = yc - R + j - 0.5 + (sj + 0.5) / SUB - y;
        for (let si = 0; si < SUB; si++) {
          const dx = xc - R + i - 0.5 + (si + 0.5) / SUB - x;
          const r2 = dx * dx + dy * dy;
          s += psf === 'gaussian' ? Math.exp(-r2 * inv2s2) : (1 + r2 * invA2) ** -beta;
        }
      }
      scratch[j * cw + i] = s;
      sum += s;
    }
  }
  const f = flux / sum;
  for (let j = 0; j < cw; j++) {
    const yy = yc - R + j;
    if (yy < 0 || yy >= H) continue;
    for (let i = 0; i < cw; i++) {
      const xx = xc - R + i;
      if (xx < 0 || xx >= W) continue;
      img[yy * W + xx] += f * scratch[j * cw + i];
    }
  }
}

export function makeImagePair(o: ImagePairOptions): ImagePair {
  const { width: W, height: H } = o;
  const rng = new SeededRng(o.seed);
  const psf = o.psf ?? 'moffat';
  const beta = o.moffatBeta ?? 4.765;
  const gx = o.scienceFwhmGradientX ?? 0;
  const gy = o.scienceFwhmGradientY ?? 0;
  const depth = o.templateDepth ?? 4;
  const rn = o.readNoise ?? 5;
  const k = o.photometricScale;
  const scienceFwhmAt = (x: number, y: number): number =>
    o.scienceFwhmPx * (1 + gx * ((2 * x - (W - 1)) / (W - 1)) + gy * ((2 * y - (H - 1)) / (H - 1)));
  const stars = randomStars(rng, o.nStars, W, H, { margin: o.marginPx ?? 10, minSep: o.minSepPx ?? 0, fluxMin: o.fluxMin, fluxMax: o.fluxMax }).sort(
    (a, b) => b.flux - a.flux,
  );
  const sciModel = new Float32Array(W * H);
  const tmplModel = new Float32Array(W * H);
  const maxFwhm = Math.max(o.templateFwhmPx, o.scienceFwhmPx * (1 + Math.abs(gx) + Math.abs(gy)));
  const scratch = new Float64Array((2 * (Math.ceil(4 * maxFwhm) + 1) + 1) ** 2);
  const sx = o.templateShiftXPx ?? 0;
  const sy = o.templateShiftYPx ?? 0;
  for (const s of stars) {
    renderStar(sciModel, W, H, s.x, s.y, s.flux, scienceFwhmAt(s.x, s.y), psf, beta, scratch);
    renderStar(tmplModel, W, H, s.x + sx, s.y + sy, s.flux / k, o.templateFwhmPx, psf, beta, scratch);
  }
  for (const s of o.newSources ?? []) renderStar(sciModel, W, H, s.x, s.y, s.flux, scienceFwhmAt(s.x, s.y), psf, beta, scratch);
  for (const s of o.vanishedSources ?? []) renderStar(tmplModel, W, H, s.x + sx, s.y + sy, s.flux / k, o.templateFwhmPx, psf, beta, scratch);

  const science = makeMaskedImage(W, H);
  const template = makeMaskedImage(W, H);
  const skyGx = o.scienceSkyGradientX ?? 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = y * W + x;
      const sky = o.scienceSky + skyGx * ((2 * x - (W - 1)) / (W - 1));
      const v = rng.poisson(sky + sciModel[p]) + rn * rng.normal();
      science.image[p] = v;
      science.variance[p] = Math.max(v, 0) + rn * rn;
      const tv = o.templateSkyVariance + tmplModel[p] / depth;
      template.image[p] = o.templateBackground + tmplModel[p] + Math.sqrt(tv) * rng.normal();
      template.variance[p] = tv;
    }
  }
  const sciencePsfStamp = (x: number, y: number, radius: number): Float64Array => {
    const cw = 2 * radius + 1;
    const img = new Float32Array(cw * cw);
    const big = Math.ceil(4 * scienceFwhmAt(x, y)) + 1;
    const pad = Math.max(radius, big) + 2;
    const pw = 2 * pad + 1;
    const tmp = new Float32Array(pw * pw);
    const scr = new Float64Array((2 * big + 1) ** 2);
    renderStar(tmp, pw, pw, pad + (x - Math.round(x)), pad + (y - Math.round(y)), 1, scienceFwhmAt(x, y), psf, beta, scr);
    for (let j = 0; j < cw; j++) for (let i = 0; i < cw; i++) img[j * cw + i] = tmp[(pad - radius + j) * pw + pad - radius + i];
    return Float64Array.from(img);
  };
  return { science, template, stars, scienceFwhmAt, sciencePsfStamp };
}
