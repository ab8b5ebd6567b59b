/**
 * Synthetic science / template / difference triples for the dia-sources tests: Gaussian noise,
 * pixel-integrated Gaussian stars, the difference as science − template (no convolution, so its
 * variance plane is exact unless noise is correlated on purpose), and an optional NO_DATA | EDGE
 * border of NaN pixels as the subtraction leaves.
 */
import { makeTanWcs, type TanWcs } from '../../../../astro/index.ts';
import { MaskBit, makeMaskedImage, type MaskedImage } from '../../../../core/image.ts';
import { SeededRng } from '../../../testing/rng.ts';
import { addGaussianStar } from '../../../testing/synthetic.ts';
import { convolveSeparable, gaussianKernel } from '../../detection/detection.ts';

/** Continuous PSF sigma of the scenes and the second-moment sigma the stage is given. */
export const PSF_SIGMA_C = 1.7;
export const PSF_SIGMA_MOMENT = Math.sqrt(PSF_SIGMA_C * PSF_SIGMA_C + 1 / 12);
export const FWHM_PX = 2 * Math.sqrt(2 * Math.log(2)) * PSF_SIGMA_MOMENT;
export const VISIT = 2025043000001;
export const DETECTOR = 42;

export function sceneWcs(W: number, H: number): TanWcs {
  return makeTanWcs({ raDeg: 150.1, decDeg: 2.2, crpix: [W / 2, H / 2], pixelScaleArcsec: 0.2, rotationDeg: 30 });
}

export interface Scene {
  readonly width: number;
  readonly height: number;
  readonly science: MaskedImage;
  readonly template: MaskedImage;
  readonly rng: SeededRng;
  readonly scienceNoise: number;
  readonly templateNoise: number;
}

/** Science and template with white noise (sigma per pixel) and flat variance planes. */
export function makeScene(W: number, H: number, seed: number, scienceNoise = 10, templateNoise = 6): Scene {
  const rng = new SeededRng(seed);
  const science = makeMaskedImage(W, H);
  const template = makeMaskedImage(W, H);
  for (let i = 0; i < W * H; i++) {
    science.image[i] = scienceNoise * rng.normal();
    template.image[i] = templateNoise * rng.normal();
  }
  science.variance.fill(scienceNoise * scienceNoise);
  template.variance.fill(templateNoise * templateNoise);
  return { width: W, height: H, science, template, rng, scienceNoise, templateNoise };
}

export function addStar(img: MaskedImage, x: number, y: number, flux: number): void {
  addGaussianStar(img.image, img.width, img.height, x, y, flux, PSF_SIGMA_C);
}

/** science − template, variance the sum, masks ORed; a border of borderPx gets NO_DATA | EDGE and NaN. */
export function differenceOf(scene: Scene, borderPx = 0): MaskedImage {
  const { width: W, height: H, science, template } = scene;
  const d = makeMaskedImage(W, H);
  for (let i = 0; i < W * H; i++) {
    d.image[i] = science.image[i] - template.image[i];
    d.variance[i] = science.variance[i] + template.variance[i];
    d.mask[i] = science.mask[i] | template.mask[i];
  }
  if (borderPx > 0) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        if (x >= borderPx && y >= borderPx && x < W - borderPx && y < H - borderPx) continue;
        const p = y * W + x;
        d.image[p] = NaN;
        d.variance[p] = NaN;
        d.mask[p] |= MaskBit.NO_DATA | MaskBit.EDGE;
      }
    }
  }
  return d;
}

/**
 * A difference of pure, spatially correlated noise: white noise smoothed by a Gaussian of
 * `smoothSigmaPx`, with a variance plane that holds the right per-pixel variance but ignores the
 * correlation (as a warped, convolved template's does).
 */
export function correlatedNoiseDifference(W: number, H: number, seed: number, smoothSigmaPx: number, pixelNoise = 10): MaskedImage {
  const rng = new SeededRng(seed);
  const white = new Float32Array(W * H);
  for (let i = 0; i < white.length; i++) white[i] = rng.normal();
  const r = Math.ceil(4 * smoothSigmaPx);
  const k = gaussianKernel(smoothSigmaPx, r);
  let s1 = 0;
  for (let i = 0; i < k.length; i++) s1 += k[i] * k[i];
  const gain = pixelNoise / Math.sqrt(s1 * s1); // per-pixel variance of the smoothed noise is Σk²(2-D) = (Σk²(1-D))²
  const d = makeMaskedImage(W, H);
  convolveSeparable(white, W, H, k, new Float32Array(W * H), d.image);
  for (let i = 0; i < d.image.length; i++) d.image[i] *= gain;
  d.variance.fill(pixelNoise * pixelNoise);
  return d;
}

/** PSF flux that gives an optimal (PSF-weighted) S/N on flat noise of `sigma` per pixel. */
export function fluxForSnr(snr: number, sigma: number): number {
  return snr * sigma * Math.sqrt(4 * Math.PI * PSF_SIGMA_MOMENT * PSF_SIGMA_MOMENT);
}
