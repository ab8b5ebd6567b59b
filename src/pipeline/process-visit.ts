/**
 * The runner for one detector-visit: reads the raw snaps and any master calibrations, runs ISR on
 * each snap, combines the snaps, and for SCIENCE visits subtracts the background, detects and
 * measures sources; writes the processed exposure (and the source catalog). It times every stage
 * with the injected clock and classifies failures: bad input → InvalidInputError naming what;
 * a failing algorithm → AlgorithmError with the stage in its metadata.
 */
import { collectReleasedMemory } from '../core/memory.ts';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { InvalidInputError } from '../core/errors.ts';
import { MaskBit, type MaskedImage } from '../core/image.ts';
import { exposureIdFor, getInstrument, type Instrument } from '../instruments/index.ts';
import { AlertProductionConfig, calibrateCatalog, subtractTemplate, type DifferenceOutcome } from './alert-production.ts';
import { parseConfig } from './config.ts';
import { StageRunner, type Clock } from './runner.ts';
import { IsrConfig, runIsr, type IsrResult } from './isr.ts';
import { medianInPlace, sigmaClippedStatsInPlace } from './lib/stats.ts';
import {
  readMasterCalibration,
  allocateExposurePlanes,
  metadataCards,
  writeProcessedExposureInPlace,
  writeSourceCatalog,
  type DiagnosticCard,
  type ExposureMetadata,
  type VisitKind,
} from './outputs.ts';
import { BackgroundConfig, runBackground } from './stages/background/background.ts';
import { CosmicRayConfig, runCosmicRays } from './stages/cosmic-rays/index.ts';
import { CutoutsConfig, cutPostageStamps, DiaSourcesConfig, runDiaSources, writeDiaCutouts, writeDiaSourceCatalog } from './stages/dia-sources/index.ts';
import { runVerifyCalibration, VerifyCalibrationConfig, writeVerificationMetrics } from './stages/verify-calibration/index.ts';
import { expandMaster, type CalibrationMasters, type MasterCalibration } from './stages/calibrate-signature/calibrate-signature.ts';
import type { MasterPlane } from './stages/calibrate-signature/master-planes.ts';
import { ForcedPhotometryConfig, runForcedPhotometry, type ForcedMeasurement, type ForcedPosition } from './stages/forced-photometry/index.ts';
import type { TanWcs } from '../astro/index.ts';
import type { SipWcs } from './lib/sip-wcs.ts';
import { DetectionConfig, runDetection } from './stages/detection/detection.ts';
import { MeasurementConfig, runMeasurement } from './stages/measurement/measurement.ts';
import { RawPixelBuffer, readRawExposure, type RawExpectation, type RawExposure } from './stages/raw-input/raw-input.ts';
import { runSnapCombine, SnapCombineConfig } from './stages/snap-combine/snap-combine.ts';
import type { Defect } from './types.ts';

export const VisitConfig = z.object({
  isr: IsrConfig.default({}),
  snapCombine: SnapCombineConfig.default({}),
  background: BackgroundConfig.default({}),
  /** Single-snap visits: cosmic rays found by their sharpness against the PSF. */
  cosmicRays: CosmicRayConfig.default({}),
  detection: DetectionConfig.default({}),
  measurement: MeasurementConfig.default({}),
  /** Astrometry, photometric calibration and difference imaging (SCIENCE visits with a reference catalog and templates). */
  alertProduction: AlertProductionConfig.default({}),
  diaSources: DiaSourcesConfig.default({}),
  cutouts: CutoutsConfig.default({}),
  /** Forced PSF photometry at the known DiaObjects and the new DiaSources. */
  forcedPhotometry: ForcedPhotometryConfig.default({}),
  /** BIAS, DARK and FLAT visits: comparison with the master of their own kind. */
  verifyCalibration: VerifyCalibrationConfig.default({}),
  /**
   * Seeing guess (arcsec) for the matched filter, converted with the instrument's pixel scale;
   * null: the detection config's psfFwhmGuessPx is used as is.
   */
  seeingGuessArcsec: z.number().positive().nullable().default(0.8),
});
export type VisitConfig = z.output<typeof VisitConfig>;
export type VisitConfigInput = z.input<typeof VisitConfig>;

export function makeVisitConfig(input: VisitConfigInput = {}): VisitConfig {
  return parseConfig(VisitConfig, input, 'visit');
}

/** Names of the timed stages, in order. */
export const VISIT_STAGES = [
  'rawInput',
  'calibInput',
  'overscan',
  'assembly',
  'calibrateSignature',
  'snapCombine',
  'background',
  'cosmicRays',
  'detection',
  'measurement',
  'refcatInput',
  'astrometry',
  'photometricCalibration',
  'templateInput',
  'templateWarp',
  'psfMatching',
  'subtraction',
  'diaSources',
  'cutouts',
  'forcedPhotometry',
  'verifyCalibration',
  'outputs',
] as const;
export type VisitStage = (typeof VISIT_STAGES)[number];

export interface ProcessVisitInput {
  /** Raw files, one per snap (any order). */
  readonly raws: readonly Uint8Array[];
  /** Names of the raws for error messages (object keys), same order. */
  readonly rawNames?: readonly string[];
  /** What the visit must be; snap and exposure id are checked per raw against its group. */
  readonly expected: Omit<RawExpectation, 'snap' | 'exposureId'>;
  readonly kind: VisitKind;
  /** Master calibrations as processed-exposure files (see outputs.ts). */
  readonly calibs?: { readonly bias?: Uint8Array; readonly dark?: Uint8Array; readonly flat?: Uint8Array };
  /**
   * Decoded masters kept between visits by the caller (a worker that processes one detector
   * after another), keyed by the master's content; at most `MASTER_CACHE_SIZE` are kept.
   */
  readonly masterCache?: Map<string, MasterCalibration>;
  readonly defects?: readonly Defect[];
  /** Reference-catalog shard files overlapping the detector (SCIENCE: astrometry and zero point). */
  readonly refcatShards?: readonly Uint8Array[];
  /** Template patch files (processed-exposure format, nJy) overlapping the detector (SCIENCE: difference imaging). */
  readonly templates?: readonly Uint8Array[];
  /**
   * Sky positions of the DiaObjects known in the detector's footprint (SCIENCE): forced PSF
   * photometry on the difference and science images measures each, and every new DiaSource.
   */
  readonly forcedPositions?: readonly ForcedPosition[];
  readonly config?: VisitConfig;
  /** Monotonic clock, milliseconds (e.g. performance.now). */
  readonly now: Clock;
}

export interface ImageStatistics {
  readonly mean: number;
  readonly median: number;
  /** Robust (clipped) standard deviation. */
  readonly stdev: number;
  /** Extremes of the sample. */
  readonly min: number;
  readonly max: number;
  /** Unmasked pixels sampled. */
  readonly pixels: number;
}

export interface VisitSummary {
  readonly kind: VisitKind;
  readonly instrument: string;
  readonly detector: number;
  readonly group: string;
  readonly visit: number;
  readonly snaps: number;
  readonly exposureTimeS: number;
  /** The band of the filter (u g r i z y), and the visit's mid-exposure time, MJD (TAI); null without MJD-OBS. */
  readonly band: string;
  readonly midpointMjdTai: number | null;
  readonly overscanNoiseAdu: number;
  readonly overscanLevelAdu: number;
  readonly saturatedPixels: number;
  readonly crPixels: number;
  readonly biasApplied: boolean;
  readonly darkApplied: boolean;
  readonly flatApplied: boolean;
  /** Statistics of the ISR'd (combined) image before background subtraction, electrons. */
  readonly imageStats: ImageStatistics;
  readonly backgroundE: number | null;
  readonly backgroundRmsE: number | null;
  readonly sources: number | null;
  readonly psfFwhmPx: number | null;
  readonly psfFwhmArcsec: number | null;
  readonly psfMeasured: boolean | null;
  readonly psfStars: number | null;
  /** Astrometric fit: matches and rms (arcsec); null when it did not run. */
  readonly astrometryMatches: number | null;
  readonly astrometryRmsArcsec: number | null;
  /** AB magnitude of one electron in the exposure, and its error; null without calibration. */
  readonly zeroPointMag: number | null;
  readonly zeroPointErrMag: number | null;
  /** Difference imaging: the kernel fit and the normalised residual of the difference. */
  readonly templateCoverage: number | null;
  readonly kernelStars: number | null;
  readonly kernelSum: number | null;
  readonly differenceNormalizedStd: number | null;
  /** DiaSources: positive, negative (dipoles count once) and the empirical noise scale of the difference. */
  readonly diaSources: number | null;
  readonly diaSourcesNegative: number | null;
  readonly diaDipoles: number | null;
  readonly diaNoiseScale: number | null;
  /** Calibration visits: 'pass', 'fail' or 'no-master', and the metrics that failed. */
  readonly verification: string | null;
  readonly verificationFailed: string | null;
  /** Why calibration or difference imaging was skipped (null when it ran). */
  readonly diaSkipped: string | null;
}

export interface ProcessVisitResult {
  readonly exposure: Uint8Array;
  readonly catalog: Uint8Array | null;
  /** The difference image (processed-exposure format), when difference imaging ran. */
  readonly difference: Uint8Array | null;
  /** The DiaSource catalog and the postage stamps of its sources, when difference imaging ran. */
  readonly diaSources: Uint8Array | null;
  readonly cutouts: Uint8Array | null;
  /** BIAS, DARK, FLAT: the verification metrics against the master of the same kind (JSON). */
  readonly verification: Uint8Array | null;
  /** Forced photometry at the known DiaObjects and the new DiaSources (SCIENCE with difference imaging). */
  readonly forced: readonly ForcedMeasurement[] | null;
  /** Seconds per stage (VISIT_STAGES), plus 'total'. */
  readonly timings: Readonly<Record<string, number>>;
  readonly summary: VisitSummary;
}

function countTrue(flags: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < flags.length; i++) if (flags[i]) n++;
  return n;
}

/** TAI − UTC since 2017-01-01, seconds. */
const TAI_MINUS_UTC_S = 37;

/** Mid-time of the visit, MJD (TAI): halfway between the first snap's start and the last snap's end. */
function visitMidpointMjdTai(raws: ReadonlyArray<{ readonly mjdObs: number | null; readonly exposureTimeS: number }>): number | null {
  let start = Infinity;
  let end = -Infinity;
  for (const r of raws) {
    if (r.mjdObs === null || !Number.isFinite(r.mjdObs)) return null;
    start = Math.min(start, r.mjdObs);
    end = Math.max(end, r.mjdObs + r.exposureTimeS / 86400);
  }
  return Number.isFinite(start) ? (start + end) / 2 + TAI_MINUS_UTC_S / 86400 : null;
}

const FWHM_PER_SIGMA = 2 * Math.sqrt(2 * Math.log(2));

/**
 * Decoded masters a caller's cache keeps: the bias, dark and flat of one detector, decoded while
 * its snaps are exposed (a full-size master is up to ~200 MB decoded, usually much less as kept,
 * see master-planes.ts; so the cache is no bigger).
 */
export const MASTER_CACHE_SIZE = 3;

function cachedMaster(
  cache: Map<string, MasterCalibration>,
  bytes: Uint8Array,
  which: 'bias' | 'dark' | 'flat',
  target: MasterTarget,
  scratch: Int32Array | null = null,
): MasterCalibration {
  const key = `${which}:${target.instrument}:${target.detector}:${createHash('sha1').update(bytes).digest('hex')}`;
  let m = cache.get(key);
  if (m) cache.delete(key);
  else m = masterFrom(bytes, which, target, scratch);
  cache.set(key, m);
  while (cache.size > MASTER_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  return m;
}

/**
 * Decodes and checks masters into a caller's cache ahead of the visit (while its snaps are
 * still being exposed), so that processDetectorVisit finds them ready.
 */
export function warmMasterCache(
  cache: Map<string, MasterCalibration>,
  calibs: { readonly bias?: Uint8Array; readonly dark?: Uint8Array; readonly flat?: Uint8Array },
  target: MasterTarget,
): number {
  let n = 0;
  const scratch = masterScratch(target);
  for (const which of ['bias', 'dark', 'flat'] as const) {
    const bytes = calibs[which];
    if (!bytes) continue;
    cachedMaster(cache, bytes, which, target, scratch);
    n++;
  }
  return n;
}

/** Which masters each kind of visit applies. */
const MASTERS_FOR: Readonly<Record<VisitKind, ReadonlyArray<'bias' | 'dark' | 'flat'>>> = {
  BIAS: [],
  DARK: ['bias'],
  FLAT: ['bias', 'dark'],
  SCIENCE: ['bias', 'dark', 'flat'],
};

/** The detector a master must be for. */
export interface MasterTarget {
  readonly instrument: string;
  readonly detector: number;
  readonly width: number;
  readonly height: number;
}

/**
 * One plane through which the masters of a visit are decoded (see readMasterCalibration); not
 * written, it takes no memory, when no master needs decoding.
 */
function masterScratch(target: MasterTarget): Int32Array {
  return new Int32Array(target.width * target.height);
}

function masterFrom(bytes: Uint8Array, which: 'bias' | 'dark' | 'flat', target: MasterTarget, scratch: Int32Array | null = null): MasterCalibration {
  const { master: masked, metadata } = readMasterCalibration(bytes, `master ${which}`, scratch);
  if (metadata.instrument !== target.instrument || metadata.detector !== target.detector) {
    throw new InvalidInputError(
      `master ${which} is for ${metadata.instrument} detector ${metadata.detector}, the visit is ${target.instrument} detector ${target.detector}`,
    );
  }
  if (masked.width !== target.width || masked.height !== target.height) {
    throw new InvalidInputError(`master ${which} is ${masked.width}x${masked.height}, the detector ${target.width}x${target.height}`);
  }
  if (which === 'dark' && !/\/s$/.test(metadata.bunit)) {
    // A dark in electrons for its own dark time: scale to electrons per second.
    if (!(metadata.darkTimeS > 0)) throw new InvalidInputError(`master dark has BUNIT '${metadata.bunit}' and no positive DARKTIME to scale it`);
    const s = 1 / metadata.darkTimeS;
    // Compact planes keep their stored integers, with the factor folded into their scaling: the
    // dark stays as small as it was read.
    return { ...masked, image: scaledMasterPlane(masked.image, s), variance: masked.variance ? scaledMasterPlane(masked.variance, s * s) : masked.variance };
  }
  return masked;
}

/** A master plane times a factor: a Float32 plane scaled in place, a compact one by its scaling. */
function scaledMasterPlane(p: MasterPlane, factor: number): MasterPlane {
  if (p instanceof Float32Array) {
    for (let i = 0; i < p.length; i++) p[i] *= factor;
    return p;
  }
  return { ...p, bscale: p.bscale * factor, bzero: p.bzero * factor };
}

/** A raw's header values and amplifier electronics, without its pixels. */
type RawHeader = Omit<RawExposure, 'amps'> & { readonly amps: ReadonlyArray<Omit<RawExposure['amps'][number], 'raw'>> };

function rawHeader(raw: RawExposure): RawHeader {
  return { ...raw, amps: raw.amps.map(({ raw: _pixels, ...amp }) => amp) };
}

/** Clipped statistics of the unmasked pixels, on a regular subsample of about 250k pixels. */
export function imageStatistics(mi: MaskedImage, ignoreBits = MaskBit.BAD | MaskBit.SAT | MaskBit.NO_DATA | MaskBit.CR): ImageStatistics {
  const n = mi.image.length;
  const stride = Math.max(1, Math.floor(n / 250_000)) | 1;
  const sample = new Float32Array(Math.ceil(n / stride));
  const range = new Float64Array(2);
  const k = sampleUnmasked(mi.image, mi.mask, ignoreBits, stride, sample, range);
  if (k === 0) return { mean: NaN, median: NaN, stdev: NaN, min: NaN, max: NaN, pixels: 0 };
  const copy = sample.slice(0, k);
  const median = medianInPlace(copy, k);
  const clipped = sigmaClippedStatsInPlace(sample, k, 3, 3);
  return { mean: clipped.mean, median, stdev: clipped.sigma, min: range[0], max: range[1], pixels: k };
}

/**
 * Every stride-th pixel's value, but those with `ignoreBits` or NaN, into `out`, and their range
 * into `range` (min, max); returns how many. A function of its own: imageStatistics then stays in
 * the interpreter and this loop keeps its optimised code from visit to visit.
 */
function sampleUnmasked(image: Float32Array, mask: Int32Array, ignoreBits: number, stride: number, out: Float32Array, range: Float64Array): number {
  let k = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < image.length; i += stride) {
    if (mask[i] & ignoreBits) continue;
    const v = image[i];
    if (v !== v) continue;
    if (v < min) min = v;
    if (v > max) max = v;
    out[k++] = v;
  }
  range[0] = min;
  range[1] = max;
  return k;
}

/**
 * Planes of a detector's size kept by this thread from one visit to the next: the second snap's,
 * which no output takes (they end as detection's scratch and the warped template), and the
 * processed exposure's mask (compressed into its file, not handed on). Reused, they cost a
 * clearing pass instead of the page faults of 260 MB of fresh memory every visit.
 */
let kept: KeptPlanes = { planes: null, mask: null };

/** The planes a visit gives back to the thread once it is done (see `kept`). */
interface KeptPlanes {
  planes: MaskedImage | null;
  mask: Int32Array | null;
}

/** The kept exposure mask, cleared, when it is of this size; else a new one (taken: a failing visit does not return it). */
function takeKeptMask(n: number): Int32Array {
  const m = kept.mask;
  kept.mask = null;
  return m !== null && m.length === n ? m.fill(0) : new Int32Array(n);
}

/** The kept planes, cleared, when they are of this size (taken: a failing visit does not return them). */
function takeKeptPlanes(width: number, height: number): MaskedImage | undefined {
  const p = kept.planes;
  kept.planes = null;
  if (!p || p.width !== width || p.height !== height) return undefined;
  p.image.fill(0);
  p.variance.fill(0);
  p.mask.fill(0);
  return p;
}

/** The geometry of the detector a visit names (null when it names none, or one the instrument lacks: the raws are checked against it). */
function expectedGeometry(inst: Instrument, detector: number | undefined): { readonly width: number; readonly height: number } | null {
  if (detector === undefined || !inst.detectors.some((d) => d.id === detector)) return null;
  return inst.detector(detector).geometry();
}

export function processDetectorVisit(input: ProcessVisitInput): ProcessVisitResult {
  // The previous visit's planes, released when its outputs were handed on, are reclaimed first.
  collectReleasedMemory();
  const giveBack: KeptPlanes = { planes: null, mask: null };
  try {
    return processVisit(input, giveBack);
  } finally {
    kept = { planes: giveBack.planes ?? kept.planes, mask: giveBack.mask ?? kept.mask };
  }
}

function processVisit(input: ProcessVisitInput, giveBack: KeptPlanes): ProcessVisitResult {
  const cfg = input.config ?? makeVisitConfig();
  const run = new StageRunner(input.now);
  const tStart = input.now();
  if (input.raws.length === 0) throw new InvalidInputError('a visit needs at least one raw snap');
  const inst = getInstrument(input.expected.instrument ?? '');
  if (input.raws.length > inst.snaps) {
    throw new InvalidInputError(`${inst.name} takes ${inst.snaps} snap(s) per visit, got ${input.raws.length} raws`);
  }

  // The difference image's planes (a SCIENCE visit with templates), image and variance laid out
  // for its file, and its mask. Not written before the subtraction, their memory first holds the
  // raws' pixels, which are done with after ISR.
  const geometry = expectedGeometry(inst, input.expected.detector);
  const differencePlanes =
    geometry && input.kind === 'SCIENCE' && (input.templates?.length ?? 0) > 0
      ? { ...allocateExposurePlanes(geometry.width, geometry.height, { clear: false }), mask: new Int32Array(geometry.width * geometry.height) }
      : undefined;
  // (The image and variance, then the mask: not the rest of the file's buffer, which would add to
  // the visit's peak.)
  const rawPixels = differencePlanes
    ? new RawPixelBuffer([
        new Int32Array(differencePlanes.image.buffer, differencePlanes.image.byteOffset, differencePlanes.image.length + differencePlanes.variance.length),
        differencePlanes.mask,
      ])
    : undefined;

  // 1. Raws: each checked against the visit, then against each other.
  const decoded: Array<RawExposure | null> = run.stage(
    'rawInput',
    () =>
      input.raws
        .map((bytes, i) => readRawExposure(bytes, input.expected, { name: input.rawNames?.[i] ?? `snap file ${i}`, pixels: rawPixels }))
        .sort((a, b) => a.snap - b.snap),
    'input',
  );
  // The pixels go to ISR, one snap at a time; the rest of the visit needs only the header values.
  const raws = decoded.map((r) => rawHeader(r as RawExposure));
  for (let i = 1; i < raws.length; i++) {
    if (raws[i].snap === raws[i - 1].snap) throw new InvalidInputError(`two raws are snap ${raws[i].snap} of group ${raws[i].group}`);
    for (const f of ['instrument', 'detector', 'group', 'filter'] as const) {
      if (raws[i][f] !== raws[0][f]) throw new InvalidInputError(`raws disagree on ${f}: ${raws[0][f]} and ${raws[i][f]}`);
    }
  }
  const first = raws[0];
  for (const r of raws) {
    const t = r.observationType;
    if (t !== null && (t === 'SCIENCE' || t === 'BIAS' || t === 'DARK' || t === 'FLAT') && t !== input.kind) {
      throw new InvalidInputError(`raw snap ${r.snap} has OBSTYPE ${t}, but the visit is ${input.kind}`);
    }
  }

  // 2. Masters that apply to this kind of visit.
  const masters: { bias?: MasterCalibration; dark?: MasterCalibration; flat?: MasterCalibration } = {};
  // A calibration visit is verified against the master of its own kind (not applied).
  const ownKind = input.kind === 'SCIENCE' ? null : (input.kind.toLowerCase() as 'bias' | 'dark' | 'flat');
  let ownMaster: MasterCalibration | null = null;
  run.stage(
    'calibInput',
    () => {
      const target = { instrument: first.instrument, detector: first.detector, width: first.geometry.width, height: first.geometry.height };
      const scratch = masterScratch(target);
      const decode = (which: 'bias' | 'dark' | 'flat', bytes: Uint8Array): MasterCalibration =>
        input.masterCache ? cachedMaster(input.masterCache, bytes, which, target, scratch) : masterFrom(bytes, which, target, scratch);
      for (const which of MASTERS_FOR[input.kind]) {
        const bytes = input.calibs?.[which];
        if (bytes) masters[which] = decode(which, bytes);
      }
      const own = ownKind ? input.calibs?.[ownKind] : undefined;
      if (ownKind && own) ownMaster = decode(ownKind, own);
    },
    'input',
  );

  // 3. ISR per snap, then combine.
  const hook = <T>(name: string, fn: () => T): T => run.stage(name, fn);
  // The first snap's planes become the processed exposure (the snaps are combined into them), so
  // they are laid out for its file.
  const planes = { ...allocateExposurePlanes(first.geometry.width, first.geometry.height), mask: takeKeptMask(first.geometry.width * first.geometry.height) };
  giveBack.mask = planes.mask;
  const inDifference = (b: ArrayBufferLike): boolean => b === differencePlanes?.image.buffer || b === differencePlanes?.mask.buffer;
  const rawsOwnMemory = decoded.some((r) => r !== null && r.amps.some((a) => !inDifference(a.raw.data.buffer)));
  const isr: IsrResult[] = decoded.map((raw, i) => {
    decoded[i] = null; // each snap's raw pixels are let go once its ISR has run
    const into = i === 0 ? planes : i === 1 ? takeKeptPlanes(first.geometry.width, first.geometry.height) : undefined;
    return runIsr({ raw: raw as RawExposure, masters: masters as CalibrationMasters, defects: input.defects, planes: into }, cfg.isr, hook);
  });
  // Nor are the masters needed any longer (a caller's cache keeps its own references).
  delete masters.bias;
  delete masters.dark;
  delete masters.flat;
  // The raws' decoded pixels, when they had memory of their own, and, without a master cache, the
  // masters' planes have just been let go: reclaimed now, not at some later point of the visit's peak.
  if (rawsOwnMemory || !input.masterCache) collectReleasedMemory();
  // The ISR'd snaps are ours: combine into the first one's arrays.
  const combined = run.stage('snapCombine', () => runSnapCombine(isr.map((r) => r.exposure), cfg.snapCombine, { inPlace: true }));
  const exposure = combined.exposure;
  const imageStats = imageStatistics(exposure);

  const noise = Float32Array.from(isr, (r) => r.overscanNoiseAdu);
  const exposureTimeS = raws.reduce((s, r) => s + r.exposureTimeS, 0);
  // The visit id is the exposure id of snap 0, whichever snaps arrived.
  const visit = exposureIdFor(first.group, 0, inst.snaps);
  const base: Omit<ExposureMetadata, 'diagnostics'> = {
    instrument: first.instrument,
    detector: first.detector,
    detectorName: first.detectorName,
    group: first.group,
    visit,
    exposureIds: raws.map((r) => r.exposureId),
    kind: input.kind,
    filter: first.filter,
    band: first.band,
    exposureTimeS,
    darkTimeS: raws.reduce((s, r) => s + r.darkTimeS, 0),
    mjdObs: first.mjdObs,
    dateObs: first.dateObs,
    raDeg: first.raDeg,
    decDeg: first.decDeg,
    wcs: first.wcs,
    bunit: cfg.isr.assembly.applyGain ? 'electron' : 'adu',
  };
  const overscanNoiseAdu = medianInPlace(noise, noise.length);
  const overscanLevelAdu = isr.reduce((s, r) => s + r.overscanLevelAdu, 0) / isr.length;
  const saturatedPixels = isr.reduce((s, r) => s + r.saturatedPixels, 0);
  const isrCards: DiagnosticCard[] = [
    { key: 'OSNOISE', value: overscanNoiseAdu, comment: '[adu] median overscan residual noise' },
    { key: 'OSLEVEL', value: overscanLevelAdu, comment: '[adu] mean overscan level' },
    { key: 'NSATPIX', value: saturatedPixels, comment: 'saturated pixels, all snaps' },
    { key: 'NCRPIX', value: combined.crPixels, comment: 'cosmic-ray pixels replaced' },
    { key: 'ISRBIAS', value: isr[0].biasApplied, comment: 'master bias subtracted' },
    { key: 'ISRDARK', value: isr[0].darkApplied, comment: 'master dark subtracted' },
    { key: 'ISRFLAT', value: isr[0].flatApplied, comment: 'master flat divided' },
    { key: 'STATMEAN', value: imageStats.mean, comment: 'clipped mean of the ISR image' },
    { key: 'STATMED', value: imageStats.median, comment: 'median of the ISR image' },
    { key: 'STATSTD', value: imageStats.stdev, comment: 'clipped stdev of the ISR image' },
  ];
  const summaryBase = {
    kind: input.kind,
    instrument: first.instrument,
    detector: first.detector,
    group: first.group,
    visit,
    snaps: raws.length,
    exposureTimeS,
    band: first.band,
    midpointMjdTai: visitMidpointMjdTai(raws),
    overscanNoiseAdu,
    overscanLevelAdu,
    saturatedPixels,
    crPixels: combined.crPixels,
    biasApplied: isr[0].biasApplied,
    darkApplied: isr[0].darkApplied,
    flatApplied: isr[0].flatApplied,
    imageStats,
  };
  // The other snap's planes were combined into the first: a SCIENCE visit reuses them where it
  // would need new planes (detection's scratch, then the template's), the others let them go.
  const spare = input.kind === 'SCIENCE' && isr.length > 1 ? isr[1].exposure : null;
  // Kept for the next visit once this one is done (whatever this one used them for).
  if (isr.length > 1) giveBack.planes = isr[1].exposure;
  isr.length = 0;

  if (input.kind !== 'SCIENCE') {
    const kind = input.kind;
    const verified = run.stage('verifyCalibration', () =>
      runVerifyCalibration(
        {
          kind,
          exposure,
          master: ownMaster ? expandMaster(ownMaster) : null,
          exposureTimeS,
          darkTimeS: base.darkTimeS,
          snaps: raws.length,
          amps: first.amps.map((a) => ({ name: a.amp.name, detector: a.amp.detector, readNoiseE: a.readNoiseE })),
        },
        cfg.verifyCalibration,
      ),
    );
    const verifyCards: DiagnosticCard[] = [
      ...isrCards,
      { key: 'VERIFY', value: verified.status, comment: `verification against the master ${ownKind}` },
      { key: 'VERIFAIL', value: verified.failed.join(',') || 'none', comment: 'metrics that failed' },
    ];
    const files = run.stage('outputs', () => ({
      // The last use of the planes: the file is made where they lie.
      exposure: writeProcessedExposureInPlace(exposure, { ...base, diagnostics: verifyCards }),
      verification: writeVerificationMetrics(verified, {
        instrument: base.instrument,
        detector: base.detector,
        detectorName: base.detectorName,
        group: base.group,
        visit: base.visit,
        kind,
        exposureIds: base.exposureIds,
        filter: base.filter,
        snaps: raws.length,
        exposureTimeS,
        darkTimeS: base.darkTimeS,
        master: ownKind && input.calibs?.[ownKind] ? createHash('sha1').update(input.calibs[ownKind] as Uint8Array).digest('hex') : null,
      }),
    }));
    run.timings.total = run.since(tStart);
    return {
      exposure: files.exposure,
      catalog: null,
      difference: null,
      diaSources: null,
      cutouts: null,
      verification: files.verification,
      forced: null,
      timings: run.timings,
      summary: {
        ...summaryBase,
        backgroundE: null,
        backgroundRmsE: null,
        sources: null,
        psfFwhmPx: null,
        psfFwhmArcsec: null,
        psfMeasured: null,
        psfStars: null,
        ...NO_ALERT_PRODUCTION,
        verification: verified.status,
        verificationFailed: verified.failed.join(',') || null,
        diaSkipped: `a ${input.kind} visit has no difference imaging`,
      },
    };
  }

  // 4. Science: background, detection, measurement.
  const bg = run.stage('background', () => runBackground(exposure, cfg.background, { inPlace: true }));
  const fwhmGuess = cfg.seeingGuessArcsec !== null ? cfg.seeingGuessArcsec / inst.pixelScaleArcsec : cfg.detection.psfFwhmGuessPx;
  // One snap: no second look to compare with, so cosmic rays are told from stars by sharpness. The
  // PSF is not measured yet: a FWHM of at most 2 px is assumed, a lower bound on any seeing here.
  const cr =
    combined.snaps === 1
      ? run.stage('cosmicRays', () =>
          runCosmicRays(bg.exposure, { psfSigmaPx: Math.min(fwhmGuess, 2) / FWHM_PER_SIGMA }, cfg.cosmicRays, { inPlace: true }),
        )
      : null;
  const crPixels = combined.crPixels + (cr ? cr.crPixels : 0);
  const ncrCard = isrCards.find((c) => c.key === 'NCRPIX');
  if (ncrCard) isrCards[isrCards.indexOf(ncrCard)] = { ...ncrCard, value: crPixels };
  // The label image (a full plane) is not needed past detection: it is not kept for the visit.
  const det = run.stage('detection', () => {
    const scratch = spare ? ([spare.image, spare.variance] as const) : undefined;
    const { labels: _labels, ...kept } = runDetection(bg.exposure, cfg.detection, { psfFwhmPx: fwhmGuess, inPlace: true, scratch });
    return kept;
  });
  const science: MaskedImage = { ...bg.exposure, mask: det.mask };
  const meas = run.stage('measurement', () =>
    runMeasurement({ exposure: science, footprints: det.footprints, psfSigmaPx: det.psf.sigmaPx, psfMoments: det.psf, wcs: first.wcs }, cfg.measurement),
  );
  // 5. Calibration against the reference catalog, then difference imaging against the templates.
  const width = science.width;
  const height = science.height;
  const cal = calibrateCatalog(
    run,
    {
      catalog: meas.catalog,
      refcatShards: input.refcatShards ?? [],
      band: first.band,
      headerWcs: first.wcs,
      width,
      height,
      exposureTimeS,
      mjdObs: first.mjdObs,
    },
    cfg.alertProduction,
  );
  let diff: DifferenceOutcome | null = null;
  let diaSkipped = cal.skipped;
  if (cal.photoCalib && cal.wcs) {
    const d = subtractTemplate(
      run,
      {
        science,
        catalog: meas.catalog,
        wcs: cal.wcs,
        calibNjyPerElectron: cal.photoCalib.calibNjyPerElectron,
        templates: input.templates ?? [],
        band: first.band,
        sciencePsfSigmaPx: det.psf.sigmaPx,
        templatePlanes: spare ?? undefined,
        differencePlanes,
      },
      cfg.alertProduction,
    );
    if ('skipped' in d) diaSkipped = d.skipped;
    else diff = d;
  }
  const dia = diff
    ? run.stage('diaSources', () => {
        const d = diff as DifferenceOutcome;
        const m = d.matching;
        return runDiaSources(
          {
            difference: d.subtraction.difference,
            science,
            template: d.template,
            // The difference has the PSF of the image that was not convolved.
            psfSigmaPx: m.convolved === 'template' ? m.sciencePsfSigmaPx : m.templatePsfSigmaPx,
            templatePsfSigmaPx: m.templatePsfSigmaPx,
            calibNjyPerElectron: cal.photoCalib ? cal.photoCalib.calibNjyPerElectron : null,
            wcs: cal.wcs,
            visit,
            detector: first.detector,
          },
          cfg.diaSources,
          { inPlace: true },
        );
      })
    : null;
  const stamps =
    diff && dia
      ? run.stage('cutouts', () =>
          cutPostageStamps({
            science,
            template: (diff as DifferenceOutcome).template,
            difference: (diff as DifferenceOutcome).subtraction.difference,
            x: dia.catalog.x,
            y: dia.catalog.y,
            sizePx: cfg.cutouts.sizePx,
          }),
        )
      : null;
  const forced =
    diff && dia && cal.wcs && cal.photoCalib
      ? run.stage('forcedPhotometry', () => {
          const d = diff as DifferenceOutcome;
          const m = d.matching;
          const c = dia.catalog;
          const positions: ForcedPosition[] = [...(input.forcedPositions ?? [])];
          for (let i = 0; i < c.length; i++) positions.push({ id: c.diaSourceId[i], ra: c.ra[i], dec: c.dec[i] });
          return runForcedPhotometry(
            {
              positions,
              wcs: cal.wcs as SipWcs | TanWcs,
              difference: d.subtraction.difference,
              science,
              psfSigmaPx: m.convolved === 'template' ? m.sciencePsfSigmaPx : m.templatePsfSigmaPx,
              sciencePsfSigmaPx: det.psf.sigmaPx,
              calibNjyPerElectron: (cal.photoCalib as { calibNjyPerElectron: number }).calibNjyPerElectron,
              noiseScale: dia.diagnostics.noiseScaleUsed,
            },
            cfg.forcedPhotometry,
          );
        })
      : null;
  const a = cal.astrometry;
  const pc = cal.photoCalib;
  const cards: DiagnosticCard[] = [
    ...isrCards,
    { key: 'BGMEAN', value: bg.meanLevel, comment: '[electron] mean background subtracted' },
    { key: 'BGRMS', value: bg.rmsLevel, comment: '[electron] rms of the background meshes' },
    { key: 'PSFFWHM', value: det.psf.fwhmPx, comment: '[pix] PSF FWHM' },
    { key: 'PSFMEAS', value: det.psf.measured, comment: 'PSF measured from stars (F: the guess)' },
    { key: 'PSFNSTAR', value: det.psf.nStars, comment: 'stars used for the PSF size' },
    { key: 'DETTHR', value: cfg.detection.thresholdSigma, comment: '[sigma] detection threshold' },
    { key: 'NSOURCE', value: meas.catalog.length, comment: 'sources measured' },
    { key: 'APRAD', value: meas.apertureRadiusPx, comment: '[pix] aperture radius' },
  ];
  if (a) {
    cards.push(
      { key: 'ASTQUAL', value: a.quality, comment: 'astrometric fit quality' },
      { key: 'ASTNMAT', value: a.matches, comment: 'reference matches in the WCS fit' },
      { key: 'ASTRMS', value: a.rmsArcsec, comment: '[arcsec] rms of the WCS fit residuals' },
      { key: 'ASTSHIFT', value: a.shiftArcsec, comment: '[arcsec] fitted WCS minus header WCS at centre' },
    );
  }
  if (pc) {
    cards.push(
      { key: 'MAGZERO', value: pc.zeroPointMag, comment: '[mag] AB magnitude of 1 electron in the exposure' },
      { key: 'MAGZERR', value: pc.zeroPointErrMag, comment: '[mag] zero-point error' },
      { key: 'PHOTCAL', value: pc.calibNjyPerElectron, comment: '[nJy/electron] photometric calibration' },
      { key: 'PHOTCALE', value: pc.calibErrNjyPerElectron, comment: '[nJy/electron] its error' },
      { key: 'PHOTNSTR', value: pc.nUsed, comment: 'stars in the zero point' },
    );
  }
  const metadata: ExposureMetadata = { ...base, wcs: cal.wcs, diagnostics: cards };
  const differenceCards: DiagnosticCard[] = diff
    ? [
        ...cards,
        { key: 'TMPLCOV', value: diff.warp.coveredFraction, comment: 'fraction of the detector the template covers' },
        { key: 'KERNCONV', value: diff.matching.convolved, comment: 'image convolved by the matching kernel' },
        { key: 'KERNSUM', value: diff.matching.kernelSum, comment: 'matching kernel sum' },
        { key: 'KERNNSTR', value: diff.matching.nStampsUsed, comment: 'stars in the kernel fit' },
        { key: 'KERNCHI2', value: diff.matching.chi2PerDof, comment: 'kernel fit chi2 per dof' },
        { key: 'DIFFNSTD', value: diff.subtraction.diagnostics.normalizedStd, comment: 'std of difference / sigma, source-free' },
        ...(dia
          ? [
              { key: 'NDIASRC', value: dia.catalog.length, comment: 'DiaSources (dipoles once)' },
              { key: 'DIANOISE', value: dia.noiseScale, comment: 'empirical / predicted noise of the filtered difference' },
              { key: 'DIATHR', value: cfg.diaSources.thresholdSigma, comment: '[sigma] DiaSource detection threshold' },
            ]
          : []),
      ]
    : [];
  const out = run.stage('outputs', () => ({
    // The last use of the planes: each file is made where its image and variance lie.
    exposure: writeProcessedExposureInPlace(science, metadata),
    catalog: writeSourceCatalog(meas.catalog, metadata),
    difference: diff ? writeProcessedExposureInPlace(diff.subtraction.difference, { ...metadata, diagnostics: differenceCards }) : null,
    diaSources: dia ? writeDiaSourceCatalog(dia.catalog, metadataCards({ ...metadata, diagnostics: differenceCards })) : null,
    cutouts: dia && stamps ? writeDiaCutouts(stamps, dia.catalog.diaSourceId, metadataCards(metadata)) : null,
  }));
  run.timings.total = run.since(tStart);
  return {
    exposure: out.exposure,
    catalog: out.catalog,
    difference: out.difference,
    diaSources: out.diaSources,
    cutouts: out.cutouts,
    verification: null,
    forced: forced ? forced.measurements : null,
    timings: run.timings,
    summary: {
      ...summaryBase,
      crPixels,
      backgroundE: bg.meanLevel,
      backgroundRmsE: bg.rmsLevel,
      sources: meas.catalog.length,
      psfFwhmPx: det.psf.fwhmPx,
      psfFwhmArcsec: det.psf.fwhmPx * inst.pixelScaleArcsec,
      psfMeasured: det.psf.measured,
      psfStars: det.psf.nStars,
      astrometryMatches: a ? a.matches : null,
      astrometryRmsArcsec: a ? a.rmsArcsec : null,
      zeroPointMag: pc ? pc.zeroPointMag : null,
      zeroPointErrMag: pc ? pc.zeroPointErrMag : null,
      templateCoverage: diff ? diff.warp.coveredFraction : null,
      kernelStars: diff ? diff.matching.nStampsUsed : null,
      kernelSum: diff ? diff.matching.kernelSum : null,
      differenceNormalizedStd: diff ? diff.subtraction.diagnostics.normalizedStd : null,
      diaSources: dia ? dia.catalog.length : null,
      diaSourcesNegative: dia ? countTrue(dia.catalog.isNegative) : null,
      diaDipoles: dia ? dia.dipoles : null,
      diaNoiseScale: dia ? dia.noiseScale : null,
      verification: null,
      verificationFailed: null,
      diaSkipped,
    },
  };
}

const NO_ALERT_PRODUCTION = {
  astrometryMatches: null,
  astrometryRmsArcsec: null,
  zeroPointMag: null,
  zeroPointErrMag: null,
  templateCoverage: null,
  kernelStars: null,
  kernelSum: null,
  differenceNormalizedStd: null,
  diaSources: null,
  diaSourcesNegative: null,
  diaDipoles: null,
  diaNoiseScale: null,
} as const;
