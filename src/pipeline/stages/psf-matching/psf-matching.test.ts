import { beforeAll, describe, expect, it } from 'vitest';
import { AlgorithmError, ConfigError, InvalidInputError } from '../../../core/errors.ts';
import { makeMaskedImage, MaskBit } from '../../../core/image.ts';
import { SeededRng } from '../../testing/rng.ts';
import { addGaussianStar } from '../../testing/synthetic.ts';
import { backgroundAt, kernelSumAt, makeAlBasis, realizeKernel, type MatchingKernel } from './kernel.ts';
import { makePsfMatchingConfig, runPsfMatching, stampConvolutions, StampStatus, type PsfMatchingResult } from './psf-matching.ts';
import { makeImagePair, type ImagePair, type ImagePairOptions } from './testing/image-pair.ts';

/** The test field: 0.7″ template and 1.0″ science seeing at 0.2″/px, Moffat β = 4.765. */
const FIELD: ImagePairOptions = {
  width: 1024,
  height: 1024,
  seed: 3,
  nStars: 400,
  fluxMin: 2e4,
  fluxMax: 1e6,
  minSepPx: 25,
  marginPx: 20,
  psf: 'moffat',
  scienceFwhmPx: 5,
  templateFwhmPx: 3.5,
  scienceFwhmGradientX: 0.03,
  scienceFwhmGradientY: 0.02,
  photometricScale: 1.05,
  scienceSky: 1000,
  scienceSkyGradientX: 30,
  templateBackground: 20,
  templateSkyVariance: 250,
  templateShiftXPx: 0.03,
};

function candidatesOf(pair: ImagePair, n = pair.stars.length): { x: number[]; y: number[] } {
  const s = pair.stars.slice(0, n);
  return { x: s.map((t) => t.x), y: s.map((t) => t.y) };
}

describe('psf-matching: Alard–Lupton basis', () => {
  it('renormalises the basis: b_0 sums to 1, the others to 0, and the kernel sum is the first coefficient', () => {
    const basis = makeAlBasis(9, [0.75, 1.5, 3], [4, 3, 2]);
    expect(basis.count).toBe(15 + 10 + 6);
    const n2 = basis.size ** 2;
    for (let i = 0; i < basis.count; i++) {
      let s = 0;
      let s2 = 0;
      for (let k = 0; k < n2; k++) {
        s += basis.images[i * n2 + k];
        s2 += basis.images[i * n2 + k] ** 2;
      }
      expect(s).toBeCloseTo(i === 0 ? 1 : 0, 12);
      if (i > 0) expect(s2).toBeCloseTo(1, 12);
    }
    const coefficients = new Float64Array(basis.count * 3);
    const rng = new SeededRng(1);
    for (let i = 0; i < coefficients.length; i++) coefficients[i] = rng.normal();
    const k: MatchingKernel = { basis, width: 100, height: 80, spatialDegree: 1, coefficients, backgroundDegree: 1, backgroundCoefficients: Float64Array.of(5, 1, -2) };
    const img = realizeKernel(k, 30, 70);
    const sum = img.reduce((a, v) => a + v, 0);
    expect(sum).toBeCloseTo(kernelSumAt(k, 30, 70), 10);
    // Scaled coordinates: (30 − 49.5) / 49.5 and (70 − 39.5) / 39.5.
    expect(backgroundAt(k, 30, 70)).toBeCloseTo(5 + (30 - 49.5) / 49.5 - (2 * (70 - 39.5)) / 39.5, 12);
  });

  it('convolves a stamp with every basis function like a direct 2-D convolution', () => {
    const W = 60;
    const H = 50;
    const rng = new SeededRng(2);
    const img = Float32Array.from({ length: W * H }, () => rng.normal());
    const basis = makeAlBasis(4, [0.8, 1.6], [3, 1]);
    const h = 5;
    const sw = 2 * h + 1;
    const npix = sw * sw;
    const hbuf = new Float64Array(2 * basis.maxPowers * (sw + 8) * sw);
    const design = new Float64Array(npix * (basis.count + 1));
    const xc = 30;
    const yc = 22;
    stampConvolutions(img, W, xc, yc, h, basis, hbuf, design);
    const r = basis.halfWidthPx;
    const n2 = basis.size ** 2;
    for (let i = 0; i < basis.count; i++) {
      for (let j = 0; j < sw; j += 3) {
        for (let q = 0; q < sw; q += 2) {
          const x = xc - h + q;
          const y = yc - h + j;
          let s = 0;
          for (let v = -r; v <= r; v++) for (let u = -r; u <= r; u++) s += basis.images[i * n2 + (v + r) * basis.size + u + r] * img[(y - v) * W + x - u];
          expect(design[i * npix + j * sw + q]).toBeCloseTo(s, 9);
        }
      }
    }
    for (let p = 0; p < npix; p++) expect(design[basis.count * npix + p]).toBe(1);
  });
});

describe('psf-matching: exact Gaussian case (noise-free)', () => {
  it('recovers the Gaussian matching kernel, the scale and the background', () => {
    // Template σ 1.5, kernel σ 1.4 → science σ √(1.5² + 1.4²); scale 1.05; background 40 + gradient.
    const W = 512;
    const H = 512;
    const rng = new SeededRng(4);
    const sci = makeMaskedImage(W, H);
    const tmpl = makeMaskedImage(W, H);
    const sT = 1.5;
    const sK = 1.4;
    const sS = Math.hypot(sT, sK);
    const xs: number[] = [];
    const ys: number[] = [];
    for (let k = 0; k < 80; k++) {
      const x = 40 + (k % 9) * 54 + rng.uniform() * 4;
      const y = 40 + Math.floor(k / 9) * 50 + rng.uniform() * 4;
      const f = 2e4 * (1 + 10 * rng.uniform());
      addGaussianStar(tmpl.image, W, H, x, y, f, sT);
      addGaussianStar(sci.image, W, H, x, y, 1.05 * f, sS);
      xs.push(x);
      ys.push(y);
    }
    for (let p = 0; p < W * H; p++) {
      const x = p % W;
      sci.image[p] += 40 + (10 * (x - (W - 1) / 2)) / ((W - 1) / 2);
      sci.variance[p] = 100;
      tmpl.variance[p] = 25;
    }
    const r = runPsfMatching({ science: sci, template: tmpl, candidates: { x: xs, y: ys } }, makePsfMatchingConfig({ spatialDegree: 0, clipIterations: 0 }));
    expect(r.convolved).toBe('template');
    expect(r.kernelSum).toBeCloseTo(1.05, 4);
    expect(r.chi2PerDof).toBeLessThan(1e-3);
    // PSF sizes from moments: σ² + 1/12 for pixel-integrated Gaussians.
    expect(r.templatePsfSigmaPx).toBeCloseTo(Math.sqrt(sT * sT + 1 / 12), 2);
    expect(r.sciencePsfSigmaPx).toBeCloseTo(Math.sqrt(sS * sS + 1 / 12), 2);
    expect(r.matchingSigmaPx).toBeCloseTo(sK, 1);
    expect(backgroundAt(r.kernel, 0, 100)).toBeCloseTo(30, 1);
    expect(backgroundAt(r.kernel, W - 1, 100)).toBeCloseTo(50, 1);
    // The kernel matches the PSFs: K ⊗ G(σ_T) = 1.05 G(σ_S) (sampled Gaussians). The kernel's
    // own pixels are not unique (combinations the template's PSF smooths away are not
    // constrained by the data), its action on the template is.
    const K = realizeKernel(r.kernel, W / 2, H / 2);
    const n = r.kernel.basis.size;
    const c = (n - 1) / 2;
    const R = c + 8;
    const g = (s: number, x: number, y: number) => Math.exp(-(x * x + y * y) / (2 * s * s)) / (2 * Math.PI * s * s);
    let maxErr = 0;
    let peak = 0;
    for (let y = -R; y <= R; y++) {
      for (let x = -R; x <= R; x++) {
        let conv = 0;
        for (let v = -c; v <= c; v++) for (let u = -c; u <= c; u++) conv += K[(v + c) * n + u + c] * g(sT, x - u, y - v);
        const want = 1.05 * g(sS, x, y);
        peak = Math.max(peak, want);
        maxErr = Math.max(maxErr, Math.abs(conv - want));
      }
    }
    expect(maxErr).toBeLessThan(2e-3 * peak);
  });
});

describe('psf-matching: synthetic star field (Moffat PSFs, noise, spatial variation)', () => {
  let pair: ImagePair;
  let r: PsfMatchingResult;
  beforeAll(() => {
    pair = makeImagePair(FIELD);
    r = runPsfMatching({ science: pair.science, template: pair.template, candidates: candidatesOf(pair) });
  });

  it('convolves the sharper template and recovers the photometric scale within 0.5%', () => {
    expect(r.convolved).toBe('template');
    expect(r.templatePsfSigmaPx).toBeLessThan(r.sciencePsfSigmaPx);
    expect(Math.abs(r.kernelSum / 1.05 - 1)).toBeLessThan(0.005);
    expect(r.kernelSumErr).toBeGreaterThan(0);
    expect(r.kernelSumErr).toBeLessThan(0.001);
    // Constant kernel sum over the image.
    expect(kernelSumAt(r.kernel, 0, 0)).toBeCloseTo(r.kernelSum, 12);
    expect(kernelSumAt(r.kernel, 1023, 1023)).toBeCloseTo(r.kernelSum, 12);
  });

  it('fits to the noise: χ²/dof ≈ 1, few stamps rejected, full rank', () => {
    expect(r.chi2PerDof).toBeGreaterThan(0.95);
    expect(r.chi2PerDof).toBeLessThan(1.1);
    expect(r.nStampsUsed).toBeGreaterThan(0.9 * Math.min(300, pair.stars.length));
    expect(r.nStampsUsed + r.nStampsRejected + r.nStampsOffImage + r.nStampsMasked).toBe(Math.min(300, pair.stars.length));
    expect(r.rank).toBe(r.nUnknowns);
    // 31 basis functions × 3 spatial terms, minus 2 for the constant kernel sum, + 3 background terms.
    expect(r.nUnknowns).toBe(31 * 3 - 2 + 3);
    const used = r.stamps.status.filter((s) => s === StampStatus.USED).length;
    expect(used).toBe(r.nStampsUsed);
    expect(r.stamps.status.filter((s) => s === StampStatus.NOT_TRIED).length).toBe(pair.stars.length - 300);
  });

  it('models the differential background (science sky 1000 + gradient, template pedestal 20)', () => {
    // S ≈ K ⊗ T + B: B = sky − k · 20.
    for (const x of [50, 512, 970]) {
      const want = 1000 + 30 * ((2 * x - 1023) / 1023) - r.kernelSum * 20;
      expect(Math.abs(backgroundAt(r.kernel, x, 512) - want)).toBeLessThan(1);
    }
  });

  it('picks the other direction when the science image is the sharper one, and obeys a forced direction', () => {
    const swapped = makeImagePair({ ...FIELD, seed: 8, nStars: 150, scienceFwhmPx: 3.5, templateFwhmPx: 5, scienceFwhmGradientX: 0, scienceFwhmGradientY: 0 });
    const s = runPsfMatching({ science: swapped.science, template: swapped.template, candidates: candidatesOf(swapped) });
    expect(s.convolved).toBe('science');
    // K ⊗ S ≈ T: the kernel sum is template flux / science flux.
    expect(Math.abs(s.kernelSum * 1.05 - 1)).toBeLessThan(0.005);
    const forced = runPsfMatching(
      { science: swapped.science, template: swapped.template, candidates: candidatesOf(swapped) },
      makePsfMatchingConfig({ convolve: 'template', minStamps: 5 }),
    );
    expect(forced.convolved).toBe('template');
  });

  it('rejects a variable star from the fit and leaves the kernel sum unchanged', () => {
    const p = makeImagePair({ ...FIELD, seed: 9, nStars: 150 });
    const sci = { ...p.science, image: p.science.image.slice() };
    // The third brightest star is 40% brighter in the science image.
    const v = p.stars[2];
    const extra = makeImagePair({ ...FIELD, seed: 9, nStars: 0, scienceSky: 0, templateSkyVariance: 1e-6, readNoise: 0, newSources: [{ x: v.x, y: v.y, flux: 0.4 * v.flux }] });
    for (let k = 0; k < sci.image.length; k++) sci.image[k] += extra.science.image[k];
    const clean = runPsfMatching({ science: p.science, template: p.template, candidates: candidatesOf(p) });
    const withVar = runPsfMatching({ science: sci, template: p.template, candidates: candidatesOf(p) });
    expect([StampStatus.LOCAL_FIT, StampStatus.CLIPPED]).toContain(withVar.stamps.status[2]);
    expect(Math.abs(withVar.kernelSum - clean.kernelSum)).toBeLessThan(3 * clean.kernelSumErr);
  });

  it('drops masked and off-image stamps', () => {
    const tmpl = { ...pair.template, mask: pair.template.mask.slice() };
    const s0 = pair.stars[0];
    tmpl.mask[Math.round(s0.y) * 1024 + Math.round(s0.x) + 3] |= MaskBit.SAT;
    const cand = candidatesOf(pair, 60);
    cand.x.push(3, 1020);
    cand.y.push(500, 1021);
    const m = runPsfMatching({ science: pair.science, template: tmpl, candidates: cand }, makePsfMatchingConfig({ psf: { maxStars: 30 } }));
    expect(m.stamps.status[0]).toBe(StampStatus.MASKED);
    expect(m.stamps.status[60]).toBe(StampStatus.OFF_IMAGE);
    expect(m.stamps.status[61]).toBe(StampStatus.OFF_IMAGE);
    expect(m.nStampsMasked).toBe(1);
    expect(m.nStampsOffImage).toBe(2);
  });
});

describe('psf-matching: bad input', () => {
  it('raises AlgorithmError on too few stars, naming the counts', () => {
    const p = makeImagePair({ ...FIELD, width: 256, height: 256, nStars: 4 });
    const run = () => runPsfMatching({ science: p.science, template: p.template, candidates: candidatesOf(p) });
    expect(run).toThrow(AlgorithmError);
    expect(run).toThrow(/too few stars: only 4 of 4 candidates.*need at least 10/);
    // Enough candidates for the PSF sizes, but their stamps are off the image.
    const q = makeImagePair({ ...FIELD, width: 256, height: 256, nStars: 30, marginPx: 20 });
    const cand = candidatesOf(q);
    const run2 = () =>
      runPsfMatching(
        { science: q.science, template: q.template, candidates: cand, sciencePsfSigmaPx: 2.3, templatePsfSigmaPx: 1.6 },
        makePsfMatchingConfig({ minStamps: 40, maxStamps: 60 }),
      );
    expect(run2).toThrow(/too few stars: \d+ usable star stamps before fitting \(of 30 candidates/);
    try {
      run2();
    } catch (e) {
      expect(e).toBeInstanceOf(AlgorithmError);
      expect((e as AlgorithmError).metadata.candidates).toBe(30);
    }
  });

  it('raises InvalidInputError for images of different sizes and ConfigError for a bad config', () => {
    const a = makeMaskedImage(64, 64);
    const b = makeMaskedImage(64, 65);
    expect(() => runPsfMatching({ science: a, template: b, candidates: { x: [], y: [] } })).toThrow(InvalidInputError);
    expect(() => runPsfMatching({ science: a, template: a, candidates: { x: [1], y: [] } })).toThrow(InvalidInputError);
    expect(() => makePsfMatchingConfig({ degrees: [4, 3] })).toThrow(ConfigError);
    expect(() => makePsfMatchingConfig({ minStamps: 500 })).toThrow(/minStamps/);
  });
});
