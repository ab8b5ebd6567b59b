/**
 * The calibration and difference-imaging half of a SCIENCE detector-visit, between measurement
 * and the outputs: astrometric fit against the preloaded reference shards, photometric zero point
 * from the same matches, then the template patches warped onto the fitted WCS, PSF-matched and
 * subtracted. Each step is a pipeline stage (pure, configured, with a named result); this module
 * only reads their input files, chooses what one stage hands the next, and says why a step that
 * cannot run was skipped (e.g. no template covers the detector), so the runner can still write
 * what it has.
 */
import { collectReleasedMemory } from '../core/memory.ts';
import { z } from 'zod';
import { AlgorithmError, errorMessage, InvalidInputError } from '../core/errors.ts';
import type { MaskedImage } from '../core/image.ts';
import type { TanWcs } from '../astro/index.ts';
import { SipTransform, type SipWcs } from './lib/sip-wcs.ts';
import { allocateExposurePlanes, readProcessedExposure, readProcessedExposureInfo } from './outputs.ts';
import type { StageRunner } from './runner.ts';
import { SourceFlag, type SourceCatalog } from './source-catalog.ts';
import { AstrometryConfig, astrometrySources, runAstrometry, skyCoordinates, type AstrometryResult } from './stages/astrometry/astrometry.ts';
import { mergeReferenceShards } from './stages/astrometry/reference-catalog.ts';
import { readReferenceShard } from './stages/astrometry/reference-shard-file.ts';
import {
  PhotometricCalibrationConfig,
  runPhotometricCalibration,
  type PhotometricCalibrationResult,
} from './stages/photometric-calibration/photometric-calibration.ts';
import { PsfMatchingConfig, runPsfMatching, type PsfMatchingResult } from './stages/psf-matching/psf-matching.ts';
import { runSubtraction, SubtractionConfig, type SubtractionResult } from './stages/subtraction/subtraction.ts';
import { runWarp, WarpConfig, type SkyTransform, type WarpResult } from './stages/warp/warp.ts';

export const TemplateStarsConfig = z.object({
  /** Stars for the PSF-matching kernel: aperture S/N at least this ... */
  minSnr: z.number().positive().default(30),
  /** ... with no other source within this many pixels ... */
  isolationPx: z.number().positive().default(12),
  /** ... and none of these SourceFlag bits. */
  rejectFlags: z
    .number()
    .int()
    .min(0)
    .default(SourceFlag.SATURATED | SourceFlag.EDGE | SourceFlag.BAD | SourceFlag.COSMIC_RAY | SourceFlag.BLENDED | SourceFlag.SUSPECT),
  /**
   * Sparse fields (a small detector, high latitude): with fewer candidates than sparseBelow, stars
   * down to sparseMinSnr are used, and the kernel is fitted constant over the detector
   * (spatial degree 0) from at least sparseMinStamps stars.
   */
  sparseBelow: z.number().int().min(0).default(30),
  sparseMinSnr: z.number().positive().default(10),
  sparseMinStamps: z.number().int().min(1).default(5),
  /** At least this fraction of the detector must be covered by the warped template. */
  minCoverage: z.number().min(0).max(1).default(0.5),
});

export const AlertProductionConfig = z.object({
  astrometry: AstrometryConfig.default({}),
  photometricCalibration: PhotometricCalibrationConfig.default({}),
  warp: WarpConfig.default({}),
  templateStars: TemplateStarsConfig.default({}),
  psfMatching: PsfMatchingConfig.default({}),
  subtraction: SubtractionConfig.default({}),
});
export type AlertProductionConfig = z.output<typeof AlertProductionConfig>;

export interface CalibrationOutcome {
  /** The fitted WCS, or the header's when the fit did not run or failed. */
  readonly wcs: SipWcs | TanWcs | null;
  readonly astrometry: AstrometryResult | null;
  readonly photoCalib: PhotometricCalibrationResult | null;
  /** Why astrometry or photometry did not give a result (null when both did). */
  readonly skipped: string | null;
}

/**
 * Astrometric and photometric calibration of a measured catalog against reference shards (files).
 * On success the catalog's ra/dec are recomputed through the fitted WCS.
 */
export function calibrateCatalog(
  run: StageRunner,
  input: {
    readonly catalog: SourceCatalog;
    readonly refcatShards: readonly Uint8Array[];
    readonly band: string;
    readonly headerWcs: TanWcs | null;
    readonly width: number;
    readonly height: number;
    readonly exposureTimeS: number;
    readonly mjdObs: number | null;
  },
  cfg: AlertProductionConfig,
): CalibrationOutcome {
  const { catalog } = input;
  if (!input.headerWcs) return { wcs: null, astrometry: null, photoCalib: null, skipped: 'the raw has no WCS' };
  if (input.refcatShards.length === 0) return { wcs: input.headerWcs, astrometry: null, photoCalib: null, skipped: 'no reference-catalog shard covers the detector' };
  const refcat = run.stage(
    'refcatInput',
    () => mergeReferenceShards(input.refcatShards.map((b, i) => readReferenceShard(b, `refcat shard ${i}`)), input.band),
    'input',
  );
  let astrometry: AstrometryResult;
  try {
    astrometry = run.stage('astrometry', () =>
      runAstrometry(
        {
          sources: astrometrySources(catalog),
          refcat,
          initialWcs: input.headerWcs as TanWcs,
          width: input.width,
          height: input.height,
          band: input.band,
          epochMjd: input.mjdObs ?? undefined,
        },
        cfg.astrometry,
      ),
    );
  } catch (err) {
    if (!(err instanceof AlgorithmError)) throw err;
    return { wcs: input.headerWcs, astrometry: null, photoCalib: null, skipped: `astrometry failed: ${errorMessage(err)}` };
  }
  if (astrometry.quality !== 'good') {
    return { wcs: input.headerWcs, astrometry, photoCalib: null, skipped: `astrometric fit is ${astrometry.quality} (${astrometry.matches} matches, ${astrometry.rmsArcsec.toFixed(3)}" rms)` };
  }
  const sky = skyCoordinates(astrometry.wcs, catalog.x, catalog.y);
  catalog.ra.set(sky.ra);
  catalog.dec.set(sky.dec);
  let photoCalib: PhotometricCalibrationResult;
  try {
    photoCalib = run.stage('photometricCalibration', () =>
      runPhotometricCalibration(
        {
          pairs: astrometry.pairs,
          sourceFlux: catalog.apFlux,
          sourceFluxErr: catalog.apFluxErr,
          sourceFlags: catalog.flags,
          refFlux: refcat.flux,
          exposureTimeS: input.exposureTimeS,
        },
        cfg.photometricCalibration,
      ),
    );
  } catch (err) {
    if (!(err instanceof AlgorithmError)) throw err;
    return { wcs: astrometry.wcs, astrometry, photoCalib: null, skipped: `photometric calibration failed: ${errorMessage(err)}` };
  }
  return { wcs: astrometry.wcs, astrometry, photoCalib, skipped: null };
}

/** Bright, unflagged, isolated sources, brightest first: the PSF-matching kernel's stars. */
export function templateStarCandidates(catalog: SourceCatalog, cfg: z.output<typeof TemplateStarsConfig>): { x: Float64Array; y: Float64Array } {
  const n = catalog.length;
  const order: number[] = [];
  for (let i = 0; i < n; i++) if (catalog.snr[i] >= cfg.minSnr && !(catalog.flags[i] & cfg.rejectFlags)) order.push(i);
  // Isolation against every source (not only the bright ones): sort all by x and scan a window.
  const byX = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => catalog.x[a] - catalog.x[b]);
  const rank = new Int32Array(n);
  byX.forEach((i, k) => (rank[i] = k));
  const r = cfg.isolationPx;
  const isolated = (i: number): boolean => {
    const x = catalog.x[i];
    const y = catalog.y[i];
    for (const dir of [-1, 1]) {
      for (let k = rank[i] + dir; k >= 0 && k < n; k += dir) {
        const j = byX[k];
        if (Math.abs(catalog.x[j] - x) > r) break;
        if (Math.abs(catalog.y[j] - y) <= r && Math.hypot(catalog.x[j] - x, catalog.y[j] - y) <= r) return false;
      }
    }
    return true;
  };
  const keep = order.filter(isolated).sort((a, b) => catalog.snr[b] - catalog.snr[a]);
  return { x: Float64Array.from(keep, (i) => catalog.x[i]), y: Float64Array.from(keep, (i) => catalog.y[i]) };
}

export interface DifferenceOutcome {
  /** The template on the science grid, in the science image's units (electrons). */
  readonly template: MaskedImage;
  readonly warp: WarpResult;
  readonly matching: PsfMatchingResult;
  readonly subtraction: SubtractionResult;
}

/**
 * Whether an image (w × h pixels through `wcs`) overlaps the detector (W × H through `target`),
 * grown by `margin` pixels: the detector's edge and a grid inside it mapped into the image.
 */
function overlaps(target: SkyTransform, W: number, H: number, wcs: SkyTransform, w: number, h: number, margin: number): boolean {
  const sky = new Float64Array(2);
  const pix = new Float64Array(2);
  const n = 16;
  for (let i = 0; i <= n; i++) {
    for (let j = 0; j <= n; j++) {
      target.pixelToSky((i / n) * (W - 1), (j / n) * (H - 1), sky);
      wcs.skyToPixel(sky[0], sky[1], pix);
      if (pix[0] >= -margin && pix[0] <= w - 1 + margin && pix[1] >= -margin && pix[1] <= h - 1 + margin) return true;
    }
  }
  return false;
}

/** A TAN or TAN-SIP WCS as the warp's pixel ↔ sky pair. */
export function wcsTransform(wcs: SipWcs | TanWcs): SkyTransform {
  return new SipTransform(wcs);
}

/**
 * Template patches (files, nJy) → warped onto the science WCS → scaled to electrons with the
 * photometric calibration → PSF-matched → subtracted. Returns a reason instead when there is no
 * usable template.
 */
export function subtractTemplate(
  run: StageRunner,
  input: {
    readonly science: MaskedImage;
    readonly catalog: SourceCatalog;
    readonly wcs: SipWcs | TanWcs;
    /** nJy per electron of the science image. */
    readonly calibNjyPerElectron: number;
    readonly templates: readonly Uint8Array[];
    readonly band: string;
    readonly sciencePsfSigmaPx: number;
    /** Planes of the science's size the caller has no more use for, to warp the template into. */
    readonly templatePlanes?: MaskedImage;
    /** Image and variance planes for the difference (see allocateExposurePlanes); new ones when not given. */
    readonly differencePlanes?: { readonly image: Float32Array; readonly variance: Float32Array; readonly mask?: Int32Array };
  },
  cfg: AlertProductionConfig,
): DifferenceOutcome | { readonly skipped: string } {
  const { science } = input;
  if (input.templates.length === 0) return { skipped: 'no template patch covers the detector' };
  const target = wcsTransform(input.wcs);
  const margin = 2 * cfg.warp.lanczosOrder + 2;
  // The warp takes the patches one at a time, each decoded (the rows it reads) straight into the
  // warp kernel's memory, which is let go after the warp.
  const patches = run.stage(
    'templateInput',
    () =>
      input.templates.flatMap((bytes, i) => {
        const label = `template patch ${i}`;
        const info = readProcessedExposureInfo(bytes, label);
        if (!info.metadata.wcs) throw new InvalidInputError(`${label} has no WCS`);
        if (info.metadata.band && info.metadata.band !== input.band) throw new InvalidInputError(`${label} is for band ${info.metadata.band}, the visit is ${input.band}`);
        const wcs = wcsTransform(info.metadata.wcs);
        // Only the patches the detector actually overlaps (the preload's footprint is padded), each
        // decoded when the warp comes to it and released after it.
        if (!overlaps(target, science.width, science.height, wcs, info.width, info.height, margin)) return [];
        // Only the rows the warp reads are decoded, into the planes it gives.
        const load = (rows?: { y0: number; y1: number }, into?: MaskedImage): MaskedImage => readProcessedExposure(bytes, label, into ?? null, rows ?? null).masked;
        return [{ wcs, width: info.width, height: info.height, load }];
      }),
    'input',
  );
  if (patches.length === 0) return { skipped: 'no template patch overlaps the detector' };
  // nJy → electrons (values · s, variance · s²) as the patches are warped, so that the matching
  // kernel's sum is ~1 and both images share units.
  const warp = run.stage('templateWarp', () =>
    runWarp({
      target: { wcs: target, width: science.width, height: science.height },
      sources: patches,
      config: cfg.warp,
      planes: input.templatePlanes,
      valueScale: 1 / input.calibNjyPerElectron,
    }),
  );
  // The planes and buffers the warp let go are reclaimed before the subtraction allocates, which
  // is the visit's peak (the warp module's own memory may wait for a later collection).
  collectReleasedMemory();
  if (warp.coveredFraction < cfg.templateStars.minCoverage) {
    return { skipped: `the templates cover ${(100 * warp.coveredFraction).toFixed(1)}% of the detector (at least ${100 * cfg.templateStars.minCoverage}% needed)` };
  }
  const template = warp.warped;
  let candidates = templateStarCandidates(input.catalog, cfg.templateStars);
  let matchingCfg = cfg.psfMatching;
  const ts = cfg.templateStars;
  if (candidates.x.length < ts.sparseBelow) {
    candidates = templateStarCandidates(input.catalog, { ...ts, minSnr: Math.min(ts.minSnr, ts.sparseMinSnr) });
    matchingCfg = { ...matchingCfg, spatialDegree: 0, minStamps: Math.min(matchingCfg.minStamps, ts.sparseMinStamps) };
  }
  let matching: PsfMatchingResult;
  try {
    // The template's PSF is measured on the stars: start its moments from the science PSF's size
    // and cut them out wide enough for it (a 0.1"/px camera has PSFs of σ ≈ 4 px).
    const sigma = input.sciencePsfSigmaPx;
    const psf = sigma > 0 ? { ...matchingCfg.psf, guessSigmaPx: sigma, radiusPx: Math.max(matchingCfg.psf.radiusPx, Math.ceil(4.5 * sigma)) } : matchingCfg.psf;
    matching = run.stage('psfMatching', () =>
      runPsfMatching({ science, template, candidates, sciencePsfSigmaPx: input.sciencePsfSigmaPx }, { ...matchingCfg, psf }),
    );
  } catch (err) {
    if (!(err instanceof AlgorithmError)) throw err;
    return { skipped: `PSF matching failed: ${errorMessage(err)}` };
  }
  // The difference is written out: its planes are laid out for the file (writeProcessedExposureInPlace).
  const planes = input.differencePlanes ?? allocateExposurePlanes(science.width, science.height);
  const subtraction = run.stage('subtraction', () => runSubtraction({ science, template, matching }, cfg.subtraction, { planes }));
  return { template, warp, matching, subtraction };
}
