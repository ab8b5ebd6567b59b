import { z } from 'zod';
import { AlgorithmError, InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, type MaskedImage } from '../../../core/image.ts';
import { parseConfig } from '../../config.ts';
import { adaptiveMoments, gaussianCentroid } from '../../lib/moments.ts';
import { IQR_TO_SIGMA, medianInPlace, selectInPlace } from '../../lib/stats.ts';
import { matchingKernels, releaseMatchingKernels } from '../../../wasm/matching.ts';
import { makeConvolutionPlan } from './convolution-plan.ts';
import { makeAlBasis, polynomialTermCount, polynomialTerms, scaledCoordinate, type AlBasis, type MatchingKernel } from './kernel.ts';

/**
 * PSF matching: an Alard–Lupton kernel K, fitted on star stamps, such that K ⊗ (the image with
 * the sharper PSF) + a differential background ≈ the other image. The science exposure and the
 * template must be on the same pixel grid (the template already warped).
 *
 * 1. PSF sizes: adaptive second moments of the candidate stars in both images (each on a
 *    cut-out with its local background, the median of the cut-out's border, removed); the
 *    median σ² = (Ixx + Iyy) / 2 of each image. `convolve: 'auto'` convolves the image with the
 *    smaller PSF; the matching width is σ_k = √(σ_broad² − σ_sharp²).
 * 2. Basis (kernel.ts): Gaussians of σ_k × `gaussianSigmaFactors` (at least
 *    `minGaussianSigmaPx`) times polynomials of `degrees`, renormalised so that the kernel sum
 *    is the first coefficient. Half-width `kernelHalfWidthSigmas` × the widest Gaussian unless
 *    `kernelHalfWidthPx` is set.
 * 3. Stamps: (2h + 1)² pixels around each candidate, h = `stampHalfWidthFwhms` × the broader
 *    FWHM. Every basis function is separable, so the convolution of a stamp with it is two 1-D
 *    passes over the stamp plus a border of r. A stamp is dropped when it or its border leaves
 *    the image, or has a `badMaskBits` pixel or a non-finite value or variance. Each stamp gives
 *    its normal equations over the local columns (the basis convolutions and a constant), with
 *    weights 1 / (var_target + κ var_convolved), κ = 1 / (4π σ_k²) (≈ ΣK² for a Gaussian
 *    kernel of unit sum): fixed before the fit, so they do not depend on the solution.
 * 4. Local fits (one kernel per stamp) flag stamps whose kernel sum is not finite and positive
 *    or departs from the median by more than `clipSigma` (in units of its own error, scaled up
 *    to the scatter of those deviations when they scatter more than the errors say).
 * 5. Spatial fit: each coefficient a polynomial of `spatialDegree` in x, y (the kernel sum
 *    constant over the image when `constantKernelSum`, so that it is the photometric scale), the
 *    background a polynomial of `backgroundDegree`, the stamp's pixels taken at its centre's
 *    coefficients; normal equations summed over stamps and solved by a pivoted Cholesky
 *    factorisation. Stamps whose χ² per pixel exceeds the median by `clipSigma` robust sigmas
 *    (at least the pure-noise scatter √(2 / n)) are rejected and the fit repeated, up to
 *    `clipIterations` times.
 *
 * Fewer than `minStamps` usable stamps, before or after clipping, is an AlgorithmError.
 *
 * Limits. The kernel reaches r pixels. PSFs with extended wings (Moffat-like) need a matching
 * kernel with wings too; a truncated kernel cannot move flux that far, so the kernel sum comes
 * out slightly low and the stamps' background absorbs part of the wings: on the synthetic field
 * with Moffat β = 4.765 PSFs of 3.5 and 5 px FWHM, −0.2% at r = 10 and −0.4% at r = 9 with the
 * brightest stars only (−1.1 to −1.7% for β = 3), 0 for Gaussian PSFs; a larger kernel (r ≈ 15
 * with a fourth, wider Gaussian) removes it for β = 4.765, at a cost in subtraction time.
 * (subtraction re-measures the background on the whole difference image for that reason.)
 */
export const PsfMatchingConfig = z
  .object({
    /** Which image is convolved: the one with the smaller PSF ('auto'), or forced. */
    convolve: z.enum(['auto', 'template', 'science']).default('auto'),
    /** Basis Gaussian widths in units of the matching width σ_k. */
    gaussianSigmaFactors: z.array(z.number().positive()).min(1).max(6).default([0.5, 1, 2]),
    /** Polynomial degree per Gaussian. */
    degrees: z.array(z.number().int().min(0).max(8)).min(1).max(6).default([4, 3, 2]),
    /** Lower limit on a basis Gaussian's sigma (pixels). */
    minGaussianSigmaPx: z.number().positive().default(0.7),
    /** Kernel half-width (pixels); when absent, kernelHalfWidthSigmas × the widest Gaussian, clamped. */
    kernelHalfWidthPx: z.number().int().min(2).max(40).optional(),
    kernelHalfWidthSigmas: z.number().positive().default(3),
    minKernelHalfWidthPx: z.number().int().min(2).default(5),
    maxKernelHalfWidthPx: z.number().int().min(2).max(40).default(15),
    /** Stamp half-width in FWHMs of the broader PSF (at least minStampHalfWidthPx). */
    stampHalfWidthFwhms: z.number().positive().default(2),
    minStampHalfWidthPx: z.number().int().min(2).default(8),
    /** Degree of the kernel coefficients' polynomials in x, y. */
    spatialDegree: z.number().int().min(0).max(4).default(1),
    /** Hold the kernel sum constant over the image (the photometric scale). */
    constantKernelSum: z.boolean().default(true),
    /** Degree of the differential-background polynomial; −1 fits no background. */
    backgroundDegree: z.number().int().min(-1).max(3).default(1),
    /** At most this many candidates become stamps (in the order given: pass the best first). */
    maxStamps: z.number().int().min(1).default(300),
    /** Fewer usable stamps than this: AlgorithmError. */
    minStamps: z.number().int().min(1).default(10),
    clipSigma: z.number().positive().default(3),
    clipIterations: z.number().int().min(0).max(20).default(5),
    /** A stamp with any of these bits (in either image, stamp or border) is not used. */
    badMaskBits: z.number().int().min(0).default(MaskBit.SAT | MaskBit.BAD | MaskBit.CR | MaskBit.NO_DATA | MaskBit.EDGE),
    /** Pivot threshold of the solver (relative, after equilibration). */
    rcond: z.number().positive().default(1e-12),
    psf: z
      .object({
        /** Cut-out half-width (pixels) for the PSF moments. */
        radiusPx: z.number().int().min(4).default(15),
        /** Starting Gaussian sigma (pixels) of the centroid and moments. */
        guessSigmaPx: z.number().positive().default(2),
        /** Use at most this many candidates. */
        maxStars: z.number().int().min(1).default(100),
      })
      .default({}),
  })
  .superRefine((c, ctx) => {
    if (c.degrees.length !== c.gaussianSigmaFactors.length) {
      ctx.addIssue({ code: 'custom', path: ['degrees'], message: `one degree per Gaussian: ${c.degrees.length} degrees for ${c.gaussianSigmaFactors.length} Gaussians` });
    }
    if (c.minKernelHalfWidthPx > c.maxKernelHalfWidthPx) {
      ctx.addIssue({ code: 'custom', path: ['minKernelHalfWidthPx'], message: 'must not exceed maxKernelHalfWidthPx' });
    }
    if (c.minStamps > c.maxStamps) ctx.addIssue({ code: 'custom', path: ['minStamps'], message: 'must not exceed maxStamps' });
  });
export type PsfMatchingConfig = z.output<typeof PsfMatchingConfig>;
export type PsfMatchingConfigInput = z.input<typeof PsfMatchingConfig>;

export function makePsfMatchingConfig(input: PsfMatchingConfigInput = {}): PsfMatchingConfig {
  return parseConfig(PsfMatchingConfig, input, 'psf-matching');
}

export interface PsfMatchingInput {
  readonly science: MaskedImage;
  /** The template, warped onto the science pixel grid (same size). */
  readonly template: MaskedImage;
  /** Candidate star positions (0-based pixels): bright, unsaturated, isolated, best first. */
  readonly candidates: { readonly x: ArrayLike<number>; readonly y: ArrayLike<number> };
  /** PSF Gaussian sigmas (pixels) when already known; measured from the candidates otherwise. */
  readonly sciencePsfSigmaPx?: number;
  readonly templatePsfSigmaPx?: number;
}

/** Why a candidate is not in the final fit. */
export const StampStatus = {
  USED: 0,
  /** Stamp or its convolution border leaves the image. */
  OFF_IMAGE: 1,
  /** A bad mask bit, a non-finite value or a non-positive variance. */
  MASKED: 2,
  /** The stamp's own kernel fit failed or its kernel sum is an outlier. */
  LOCAL_FIT: 3,
  /** Rejected by the χ² clipping of the spatial fit. */
  CLIPPED: 4,
  /** Beyond maxStamps. */
  NOT_TRIED: 5,
} as const;

export interface StampDiagnostics {
  /** Stamp centres (the rounded candidate positions). */
  readonly x: Int32Array;
  readonly y: Int32Array;
  /** StampStatus per candidate. */
  readonly status: Uint8Array;
  /** χ² per pixel against the final spatial solution (NaN when not fitted). */
  readonly chi2PerPixel: Float32Array;
  /** Kernel sum of the stamp's own fit (NaN when not fitted). */
  readonly localKernelSum: Float32Array;
}

export interface PsfMatchingResult {
  readonly kernel: MatchingKernel;
  /** The image the kernel convolves. */
  readonly convolved: 'template' | 'science';
  /** Kernel sum at the image centre (the same everywhere with constantKernelSum): flux in the other image / flux in the convolved one. */
  readonly kernelSum: number;
  /** Its standard error (from the normal equations, scaled by √(χ²/dof) when that exceeds 1). */
  readonly kernelSumErr: number;
  /** Gaussian sigmas (pixels) of the two PSFs (second moments) and of the matching kernel. */
  readonly sciencePsfSigmaPx: number;
  readonly templatePsfSigmaPx: number;
  readonly matchingSigmaPx: number;
  /** Stars whose moments gave the PSF sizes (0 when the sizes were given). */
  readonly psfStars: number;
  readonly stampHalfWidthPx: number;
  readonly nCandidates: number;
  readonly nStampsUsed: number;
  /** Stamps rejected by the local-fit test or by clipping (not counting off-image or masked ones). */
  readonly nStampsRejected: number;
  readonly nStampsOffImage: number;
  readonly nStampsMasked: number;
  /** Clipping iterations run. */
  readonly iterations: number;
  readonly nUnknowns: number;
  /** Numerical rank of the final normal equations. */
  readonly rank: number;
  readonly chi2: number;
  readonly dof: number;
  readonly chi2PerDof: number;
  readonly stamps: StampDiagnostics;
}

const FWHM_PER_SIGMA = 2 * Math.sqrt(2 * Math.log(2));
/** A fit whose buffers took more of the kernels' memory than this lets the instance (and the memory) go. */
const RELEASE_ARENA_BYTES = 64 << 20;

export function runPsfMatching(input: PsfMatchingInput, cfg: PsfMatchingConfig = makePsfMatchingConfig()): PsfMatchingResult {
  const { science, template, candidates } = input;
  const W = science.width;
  const H = science.height;
  for (const [name, mi] of [['science', science], ['template', template]] as const) {
    const n = mi.width * mi.height;
    if (mi.image.length !== n || mi.mask.length !== n || mi.variance.length !== n) {
      throw new InvalidInputError(`psf-matching: ${name} planes do not match ${mi.width}x${mi.height}`);
    }
  }
  if (template.width !== W || template.height !== H) {
    throw new InvalidInputError(`psf-matching: template ${template.width}x${template.height} is not on the science grid ${W}x${H} (warp it first)`);
  }
  if (candidates.x.length !== candidates.y.length) {
    throw new InvalidInputError(`psf-matching: ${candidates.x.length} candidate x but ${candidates.y.length} y`);
  }
  const nCand = candidates.x.length;

  // 1. PSF sizes and the direction.
  let sigmaSci = input.sciencePsfSigmaPx ?? NaN;
  let sigmaTmpl = input.templatePsfSigmaPx ?? NaN;
  let psfStars = 0;
  if (!(sigmaSci > 0) || !(sigmaTmpl > 0)) {
    const m = measurePsfSigmas(science, template, candidates, cfg);
    psfStars = m.nStars;
    if (m.nStars < cfg.minStamps) {
      throw new AlgorithmError(
        `psf-matching: too few stars: only ${m.nStars} of ${nCand} candidates gave PSF moments in both images (need at least ${cfg.minStamps})`,
        { candidates: nCand, psfStars: m.nStars, minStamps: cfg.minStamps },
      );
    }
    if (!(sigmaSci > 0)) sigmaSci = m.science;
    if (!(sigmaTmpl > 0)) sigmaTmpl = m.template;
  }
  const convolved: 'template' | 'science' = cfg.convolve === 'auto' ? (sigmaTmpl <= sigmaSci ? 'template' : 'science') : cfg.convolve;
  const src = convolved === 'template' ? template : science;
  const dst = convolved === 'template' ? science : template;
  const sigmaSrc = convolved === 'template' ? sigmaTmpl : sigmaSci;
  const sigmaDst = convolved === 'template' ? sigmaSci : sigmaTmpl;
  const sigmaK = Math.sqrt(Math.max(0, sigmaDst * sigmaDst - sigmaSrc * sigmaSrc));

  // 2. Basis.
  const sigmas = cfg.gaussianSigmaFactors.map((f) => Math.max(cfg.minGaussianSigmaPx, f * sigmaK));
  const r =
    cfg.kernelHalfWidthPx ??
    Math.min(cfg.maxKernelHalfWidthPx, Math.max(cfg.minKernelHalfWidthPx, Math.round(cfg.kernelHalfWidthSigmas * Math.max(...sigmas))));
  const basis = makeAlBasis(r, sigmas, cfg.degrees);
  const nb = basis.count;
  const nc = nb + 1; // local columns: the basis convolutions and the background constant
  const fwhmBroad = FWHM_PER_SIGMA * Math.max(sigmaSci, sigmaTmpl);
  const h = Math.max(cfg.minStampHalfWidthPx, Math.ceil(cfg.stampHalfWidthFwhms * fwhmBroad));
  const kappa = Math.min(1, 1 / (4 * Math.PI * Math.max(sigmaK, cfg.minGaussianSigmaPx) ** 2));

  // 3. Stamps: normal equations per stamp (wasm/matching.ts), in the arena of the module's
  // instance with everything the fit needs: a stamp's pixels have the row stride swp (sw rounded
  // up to even) with zero weight in the extra column, its cut-out the stride cs = swp + 2r.
  const sx = new Int32Array(nCand);
  const sy = new Int32Array(nCand);
  const status = new Uint8Array(nCand).fill(StampStatus.NOT_TRIED);
  const chi2PerPixel = new Float32Array(nCand).fill(NaN);
  const localKs = new Float32Array(nCand).fill(NaN);
  const sw = 2 * h + 1;
  const npix = sw * sw;
  const swp = sw + (sw & 1);
  const npixp = sw * swp;
  const ext = sw + 2 * r;
  const cs = swp + 2 * r;
  const bad = cfg.badMaskBits;
  let nOff = 0;
  let nMasked = 0;
  for (let c = 0; c < nCand; c++) {
    sx[c] = Number.isFinite(candidates.x[c]) ? Math.round(candidates.x[c]) : -1;
    sy[c] = Number.isFinite(candidates.y[c]) ? Math.round(candidates.y[c]) : -1;
  }
  const tries = Math.min(nCand, cfg.maxStamps);
  // Unknowns of the spatial fit (step 5).
  const nT = polynomialTermCount(cfg.spatialDegree);
  const nBg = polynomialTermCount(cfg.backgroundDegree);
  const unknownOf = new Int32Array(nb * nT).fill(-1);
  let nU = 0;
  for (let i = 0; i < nb; i++) {
    for (let j = 0; j < nT; j++) if (!(i === 0 && cfg.constantKernelSum && j > 0)) unknownOf[i * nT + j] = nU++;
  }
  const bg0 = nU;
  nU += nBg;
  const plan = makeConvolutionPlan(basis);
  const { exports: wk, arena } = matchingKernels();
  const nTT = nT + nBg;
  const [cutB, hbufB, designB, wcolB, weightB, targetB, profB, hplanB, vplanB, rawSumsB, normsB, matsB, rhsB, yWyB, activeB, localB, fitsB, unknownB, termsB, accB, GB, gB, solB, solvedB, aB, chi2B] =
    arena.layout([
      ['f64', ext * cs], // the source cut-out
      ['f64', sigmas.length * basis.maxPowers * ext * swp], // its row passes
      ['f64', nc * npixp], // the design matrix, column by column
      ['f64', 2 * npixp], // scratch: weighted columns
      ['f64', npixp], // weights
      ['f64', npixp], // weight · target
      ['f64', basis.profiles.length],
      ['i32', plan.horizontal.length],
      ['i32', plan.vertical.length],
      ['f64', nb], // rawSums
      ['f64', nb], // norms
      ['f64', tries * nc * nc], // per stamp: normal matrix,
      ['f64', tries * nc], // right-hand side,
      ['f64', tries], // yᵀWy,
      ['u8', tries], // in the spatial fit,
      ['f64', Math.max(nc * nc + 6 * nc, nU * nU + 5 * nU)], // scratch of the factorisations
      ['f64', 3 * tries], // per stamp: the local fit,
      ['i32', nb * nT], // unknownOf
      ['f64', tries * nTT], // per stamp: spatial and background terms
      ['f64', wk.spatialScratch(nc, nT, nBg)],
      ['f64', nU * nU], // G
      ['f64', nU], // g
      ['f64', nU], // the solution
      ['f64', 2], // unknown 0 dropped, its inverse diagonal
      ['f64', nc], // scratch: local coefficients
      ['f64', tries], // per stamp: χ²
    ]);
  try {
    const cut = cutB.view;
    const weight = weightB.view;
    const target = targetB.view; // w · y
    cut.fill(0);
    weight.fill(0);
    target.fill(0);
    profB.view.set(basis.profiles);
    hplanB.view.set(plan.horizontal);
    vplanB.view.set(plan.vertical);
    rawSumsB.view.set(basis.rawSums);
    normsB.view.set(basis.norms);
    const yWy = yWyB.view;
    const stampOf: number[] = []; // candidate index of each fitted stamp
    for (let c = 0; c < tries; c++) {
      const xc = sx[c];
      const yc = sy[c];
      if (!(xc - h - r >= 0 && yc - h - r >= 0 && xc + h + r < W && yc + h + r < H)) {
        status[c] = StampStatus.OFF_IMAGE;
        nOff++;
        continue;
      }
      const yy = loadStamp(src, dst, W, xc, yc, h, r, bad, kappa, cut, cs, weight, target, swp);
      if (Number.isNaN(yy)) {
        status[c] = StampStatus.MASKED;
        nMasked++;
        continue;
      }
      const s = stampOf.length;
      wk.stampNormal(
        cutB.ptr,
        cs,
        sw,
        swp,
        r,
        profB.ptr,
        basis.size,
        hplanB.ptr,
        plan.horizontal.length >> 3,
        vplanB.ptr,
        plan.vertical.length >> 3,
        hbufB.ptr,
        nb,
        rawSumsB.ptr,
        normsB.ptr,
        weightB.ptr,
        targetB.ptr,
        designB.ptr,
        wcolB.ptr,
        matsB.ptr + 8 * s * nc * nc,
        rhsB.ptr + 8 * s * nc,
      );
      yWy[s] = yy;
      status[c] = StampStatus.USED;
      stampOf.push(c);
    }
    const nStamps = stampOf.length;
    const tooFew = (n: number, stage: string): AlgorithmError =>
      new AlgorithmError(
        `psf-matching: too few stars: ${n} usable star stamps ${stage} (of ${nCand} candidates: ${nOff} off the image or too near its edge, ${nMasked} masked); need at least ${cfg.minStamps}`,
        { candidates: nCand, usable: n, offImage: nOff, masked: nMasked, minStamps: cfg.minStamps },
      );
    if (nStamps < cfg.minStamps) throw tooFew(nStamps, 'before fitting');

    // 4. Local fits: kernel sum per stamp, outliers flagged.
    const active = activeB.view.subarray(0, nStamps);
    active.fill(1);
    {
      wk.localFits(matsB.ptr, rhsB.ptr, yWyB.ptr, nStamps, nc, npix, cfg.rcond, localB.ptr, fitsB.ptr);
      const fits = fitsB.view;
      const ks = new Float64Array(nStamps);
      const ksErr = new Float64Array(nStamps);
      for (let s = 0; s < nStamps; s++) {
        ks[s] = fits[3 * s];
        ksErr[s] = fits[3 * s + 1];
        localKs[stampOf[s]] = ks[s];
        if (fits[3 * s + 2] !== 0 || !(ks[s] > 0) || !Number.isFinite(ksErr[s])) active[s] = 0;
      }
      const vals = new Float32Array(nStamps);
      let n = 0;
      for (let s = 0; s < nStamps; s++) if (active[s]) vals[n++] = ks[s];
      if (n >= 3) {
        const med = medianInPlace(vals, n);
        let m = 0;
        for (let s = 0; s < nStamps; s++) if (active[s]) vals[m++] = (ks[s] - med) / ksErr[s];
        const z = vals.slice(0, m);
        const zMed = medianInPlace(z.slice(), m);
        const zSig = Math.max(1, iqrSigma(z, m));
        for (let s = 0; s < nStamps; s++) {
          if (active[s] && Math.abs((ks[s] - med) / ksErr[s] - zMed) > cfg.clipSigma * zSig) active[s] = 0;
        }
      }
      for (let s = 0; s < nStamps; s++) if (!active[s]) status[stampOf[s]] = StampStatus.LOCAL_FIT;
    }
    const countActive = (): number => active.reduce((acc, v) => acc + v, 0);
    if (countActive() < cfg.minStamps) throw tooFew(countActive(), 'after the per-stamp fits');

    // 5. Spatial fit with χ² clipping. Per stamp, the spatial terms at its centre, then the
    // background terms: local column c < nb stands for the unknowns unknownOf[c · nT + j] with the
    // weights of the spatial terms, the background column for bg0 + m with those of the
    // background terms.
    unknownB.view.set(unknownOf);
    {
      const terms = termsB.view;
      for (let s = 0; s < nStamps; s++) {
        const xs = scaledCoordinate(sx[stampOf[s]], W);
        const ys = scaledCoordinate(sy[stampOf[s]], H);
        polynomialTerms(cfg.spatialDegree, xs, ys, terms.subarray(s * nTT, s * nTT + nT));
        if (nBg > 0) polynomialTerms(cfg.backgroundDegree, xs, ys, terms.subarray(s * nTT + nT, (s + 1) * nTT));
      }
    }
    const chi2s = chi2B.view;
    const sol = solB.view;
    const solved = solvedB.view; // unknown 0 dropped, its inverse diagonal
    let rank = 0;
    let iterations = 0;
    let chi2Total = 0;
    let dof = 0;
    for (let iter = 0; ; iter++) {
      iterations = iter + 1;
      wk.spatialNormal(matsB.ptr, rhsB.ptr, nStamps, activeB.ptr, nc, termsB.ptr, nT, nBg, unknownB.ptr, bg0, accB.ptr, GB.ptr, gB.ptr, nU);
      rank = wk.spatialSolve(GB.ptr, nU, cfg.rcond, gB.ptr, unknownOf[0], localB.ptr, solB.ptr, solvedB.ptr);
      if (solved[0] !== 0) {
        throw new AlgorithmError('psf-matching: the kernel sum is not constrained by the stamps (degenerate normal equations)', { rank, unknowns: nU });
      }
      // Per-stamp χ² against the spatial solution.
      wk.spatialChi2(matsB.ptr, rhsB.ptr, yWyB.ptr, nStamps, nc, termsB.ptr, nT, nBg, unknownB.ptr, bg0, solB.ptr, aB.ptr, chi2B.ptr);
      chi2Total = 0;
      let nPixActive = 0;
      for (let s = 0; s < nStamps; s++) {
        if (active[s]) {
          chi2Total += chi2s[s];
          nPixActive += npix;
        }
      }
      dof = Math.max(1, nPixActive - rank);
      if (iter >= cfg.clipIterations) break;
      // Clip on χ² per pixel, one-sided.
      const vals = new Float32Array(nStamps);
      let n = 0;
      for (let s = 0; s < nStamps; s++) if (active[s]) vals[n++] = chi2s[s] / npix;
      const med = medianInPlace(vals, n);
      const sig = Math.max(iqrSigma(vals, n), Math.sqrt(2 / npix));
      const thr = med + cfg.clipSigma * sig;
      let clipped = 0;
      for (let s = 0; s < nStamps; s++) {
        if (active[s] && chi2s[s] / npix > thr) {
          active[s] = 0;
          status[stampOf[s]] = StampStatus.CLIPPED;
          clipped++;
        }
      }
      if (clipped === 0) break;
      if (countActive() < cfg.minStamps) throw tooFew(countActive(), 'after sigma-clipping');
    }
    for (let s = 0; s < nStamps; s++) chi2PerPixel[stampOf[s]] = chi2s[s] / npix;

    // Kernel coefficients as a dense (basis × spatial terms) array.
    const coefficients = new Float64Array(nb * nT);
    for (let i = 0; i < nb * nT; i++) coefficients[i] = unknownOf[i] >= 0 ? sol[unknownOf[i]] : 0;
    const backgroundCoefficients = new Float64Array(Math.max(0, nBg));
    for (let m = 0; m < nBg; m++) backgroundCoefficients[m] = sol[bg0 + m];
    const kernel: MatchingKernel = {
      basis,
      width: W,
      height: H,
      spatialDegree: cfg.spatialDegree,
      coefficients,
      backgroundDegree: cfg.backgroundDegree,
      backgroundCoefficients,
    };
    const chi2PerDof = chi2Total / dof;
    // Kernel sum at the centre and its error (Var of Σ_j α_0j P_j(0, 0) = Var α_00 since P_j(0,0) = δ_j0).
    const kernelSum = coefficients[0];
    const kernelSumErr = Math.sqrt(solved[1] * Math.max(1, chi2PerDof));
    const nUsed = countActive();
    return {
      kernel,
      convolved,
      kernelSum,
      kernelSumErr,
      sciencePsfSigmaPx: sigmaSci,
      templatePsfSigmaPx: sigmaTmpl,
      matchingSigmaPx: sigmaK,
      psfStars,
      stampHalfWidthPx: h,
      nCandidates: nCand,
      nStampsUsed: nUsed,
      nStampsRejected: nStamps - nUsed,
      nStampsOffImage: nOff,
      nStampsMasked: nMasked,
      iterations,
      nUnknowns: nU,
      rank,
      chi2: chi2Total,
      dof,
      chi2PerDof,
      stamps: { x: sx, y: sy, status, chi2PerPixel, localKernelSum: localKs },
    };
  } finally {
    if (arena.bytes > RELEASE_ARENA_BYTES) releaseMatchingKernels();
  }
}

/**
 * The median of a (sorted in place; no NaN): the middle value, or the mean of the two middle
 * values in float64 for an even count (lib/stats.ts's medianInPlace), NaN when empty.
 */
function sortedMedian(a: Float32Array): number {
  const n = a.length;
  if (n === 0) return NaN;
  a.sort();
  const k = n >>> 1;
  return n & 1 ? a[k] : 0.5 * (a[k] + a[k - 1]);
}

/** Robust sigma (interquartile range) of a[0..n); reorders a. */
function iqrSigma(a: Float32Array, n: number): number {
  if (n < 4) return 0;
  const q1 = selectInPlace(a, 0, n, Math.floor(0.25 * (n - 1)));
  const q3 = selectInPlace(a, 0, n, Math.ceil(0.75 * (n - 1)));
  return IQR_TO_SIGMA * (q3 - q1);
}

/**
 * The stamp at (xc, yc) into the fit's buffers, or NaN when it is not usable (a bad mask bit, a
 * non-finite value or a negative or infinite variance in the source stamp + border, a
 * non-positive or infinite variance in the target stamp): the source cut-out ((2h + 2r + 1)²
 * pixels) into `cut` (row stride cs), and per target pixel the weight w = 1 / (var_target +
 * κ var_source) and w · y into `weight` and `target` (row stride swp). Returns yᵀWy.
 */
function loadStamp(
  src: MaskedImage,
  dst: MaskedImage,
  W: number,
  xc: number,
  yc: number,
  h: number,
  r: number,
  bad: number,
  kappa: number,
  cut: Float64Array,
  cs: number,
  weight: Float64Array,
  target: Float64Array,
  swp: number,
): number {
  const ext = 2 * (h + r) + 1;
  const sImg = src.image;
  const sVar = src.variance;
  const sMask = src.mask;
  for (let j = 0; j < ext; j++) {
    const row = (yc - h - r + j) * W + xc - h - r;
    const o = j * cs;
    for (let i = 0; i < ext; i++) {
      const p = row + i;
      const v = sImg[p];
      const vv = sVar[p];
      if (sMask[p] & bad || !Number.isFinite(v) || !(vv >= 0) || vv === Infinity) return NaN;
      cut[o + i] = v;
    }
  }
  const dImg = dst.image;
  const dVar = dst.variance;
  const dMask = dst.mask;
  const sw = 2 * h + 1;
  let yy = 0;
  for (let j = 0; j < sw; j++) {
    const row = (yc - h + j) * W + xc - h;
    const o = j * swp;
    for (let i = 0; i < sw; i++) {
      const p = row + i;
      const y = dImg[p];
      const tv = dVar[p];
      if (dMask[p] & bad || !Number.isFinite(y) || !(tv > 0) || tv === Infinity) return NaN;
      const w = 1 / (tv + kappa * sVar[p]);
      weight[o + i] = w;
      target[o + i] = w * y;
      yy += w * y * y;
    }
  }
  return yy;
}

/**
 * The convolutions of the source stamp (centre xc, yc; half-width h) with every renormalised
 * basis function, into `design`, column-major: column i (pixels of the (2h + 1)² stamp, row by
 * row) at design[i · npix ..], and column `count` set to 1 for the background. `hbuf` holds the
 * horizontal passes (one per Gaussian and power of u).
 *
 * The plain, unfolded form of what the fit computes with the WebAssembly kernel `stampNormal`
 * (wasm/matching.ts), whose tests compare against it.
 */
export function stampConvolutions(img: Float32Array, W: number, xc: number, yc: number, h: number, basis: AlBasis, hbuf: Float64Array, design: Float64Array): void {
  const { halfWidthPx: r, size, maxPowers, profiles, count, gauss, powU, powV, rawSums, norms } = basis;
  const sw = 2 * h + 1;
  const ext = sw + 2 * r;
  const npix = sw * sw;
  const x0 = xc - h - r; // cut-out origin
  const y0 = yc - h - r;
  const nG = basis.sigmasPx.length;
  // Horizontal passes: hb(a, p)[x'][row] = Σ_u g_a(u) u^p · I(x' + r − u) over the cut-out rows
  // (cut-out column x' + r − u = x' + 2r − t for the tap t = u + r), stored transposed so that
  // the vertical passes are contiguous dot products. Taps outside [tapLo, tapHi] are zero.
  const { tapLo, tapHi } = basis;
  for (let a = 0; a < nG; a++) {
    for (let p = 0; p <= basis.degrees[a]; p++) {
      const pi = a * maxPowers + p;
      const prof = pi * size;
      const t0 = tapLo[pi];
      const t1 = tapHi[pi];
      const hb = pi * ext * sw;
      for (let row = 0; row < ext; row++) {
        const srcRow = (y0 + row) * W + x0 + 2 * r;
        for (let x = 0; x < sw; x++) {
          let s = 0;
          const base = srcRow + x;
          for (let t = t0; t <= t1; t++) s += profiles[prof + t] * img[base - t];
          hbuf[hb + x * ext + row] = s;
        }
      }
    }
  }
  // Vertical passes: C_i[y'][x'] = Σ_v g_a(v) v^q · hb(a, p)[x'][y' + 2r − t].
  for (let i = 0; i < count; i++) {
    const a = gauss[i];
    const pv = a * maxPowers + powV[i];
    const prof = pv * size;
    const t0 = tapLo[pv];
    const t1 = tapHi[pv];
    const hb = (a * maxPowers + powU[i]) * ext * sw;
    const col = i * npix;
    for (let x = 0; x < sw; x++) {
      const hx = hb + x * ext + 2 * r;
      for (let y = 0; y < sw; y++) {
        let s = 0;
        const base = hx + y;
        for (let t = t0; t <= t1; t++) s += profiles[prof + t] * hbuf[base - t];
        design[col + y * sw + x] = s;
      }
    }
  }
  // Renormalise: b_0 = B_0 · norms[0]; b_i = (B_i − S_i b_0) / N_i.
  const n0 = norms[0];
  for (let p = 0; p < npix; p++) design[p] *= n0;
  for (let i = 1; i < count; i++) {
    const col = i * npix;
    const si = rawSums[i];
    const inv = 1 / norms[i];
    if (si === 0) {
      for (let p = 0; p < npix; p++) design[col + p] *= inv;
    } else {
      for (let p = 0; p < npix; p++) design[col + p] = (design[col + p] - si * design[p]) * inv;
    }
  }
  design.fill(1, count * npix, (count + 1) * npix);
}

/**
 * Median PSF sigma of the candidates in both images: adaptive moments on cut-outs with the local
 * background (median of the cut-out border) removed. Only stars measured in both images count.
 */
function measurePsfSigmas(
  science: MaskedImage,
  template: MaskedImage,
  cand: { readonly x: ArrayLike<number>; readonly y: ArrayLike<number> },
  cfg: PsfMatchingConfig,
): { science: number; template: number; nStars: number } {
  const W = science.width;
  const H = science.height;
  const R = cfg.psf.radiusPx;
  const cw = 2 * R + 1;
  const cut = new Float32Array(cw * cw);
  const cutVar = new Float32Array(cw * cw);
  const border = new Float32Array(4 * cw);
  const n = Math.min(cand.x.length, cfg.psf.maxStars);
  const sSci = new Float32Array(n);
  const sTmpl = new Float32Array(n);
  let m = 0;
  const bad = cfg.badMaskBits;
  const measure = (mi: MaskedImage, xc: number, yc: number): number => {
    const { image, mask, variance } = mi;
    let nb = 0;
    for (let j = 0; j < cw; j++) {
      const row = (yc - R + j) * W + xc - R;
      const o = j * cw;
      const edge = j === 0 || j === cw - 1;
      for (let i = 0; i < cw; i++) {
        const p = row + i;
        if (mask[p] & bad) return NaN;
        const v = image[p];
        if (!Number.isFinite(v)) return NaN;
        cut[o + i] = v;
        const vv = variance[p];
        cutVar[o + i] = vv > 0 ? vv : 1;
        if (edge || i === 0 || i === cw - 1) border[nb++] = v;
      }
    }
    const sky = sortedMedian(border.subarray(0, nb));
    for (let k = 0; k < cut.length; k++) cut[k] -= sky;
    const c = gaussianCentroid(cut, cutVar, cw, cw, R, R, cfg.psf.guessSigmaPx);
    if (!c.ok) return NaN;
    const mo = adaptiveMoments(cut, cw, cw, c.x, c.y, cfg.psf.guessSigmaPx, 40, R);
    if (!mo.ok) return NaN;
    return Math.sqrt(0.5 * (mo.ixx + mo.iyy));
  };
  for (let k = 0; k < n; k++) {
    const xc = Math.round(cand.x[k]);
    const yc = Math.round(cand.y[k]);
    if (!(xc - R >= 0 && yc - R >= 0 && xc + R < W && yc + R < H)) continue;
    const a = measure(science, xc, yc);
    if (!(a > 0)) continue;
    const b = measure(template, xc, yc);
    if (!(b > 0)) continue;
    sSci[m] = a;
    sTmpl[m] = b;
    m++;
  }
  if (m === 0) return { science: NaN, template: NaN, nStars: 0 };
  return { science: medianInPlace(sSci, m), template: medianInPlace(sTmpl, m), nStars: m };
}
