/**
 * Injected transients with their truth: what a difference-imaging pipeline should find in a
 * SCIENCE detector-visit, against templates rendered from the same sky catalog (no transients).
 *
 * Kinds.
 * - 'new': a point source absent from the template (template flux 0) that lasts the night, like a
 *   supernova. New sources are defined over the whole sky, per catalog cell and per observing day
 *   (the dayObs of the group id), not per detector: every visit of that day whose detector covers
 *   one paints it at the same sky position, so a night of visits on a field sees the same
 *   sources again (what association into DiaObjects needs); another day has other sources. Its
 *   flux is set once from its target S/N under nominal conditions, as for moving objects (below),
 *   so it is constant over a night in one filter; its expectedSnr is that of each visit. Its
 *   objectId, `N{cellId}.{dayObs}.{k}`, is the same in every visit that sees it. (New and moving
 *   fluxes are capped where a visit's peak would pass half the full well; up to S/N 300 at the
 *   default exposure times the cap does not bind, even in 0.4" seeing.)
 * - 'brighten': a catalog star brighter in this visit than in the catalog (and the template).
 * - 'fade': a catalog star fainter in this visit (partially: it keeps 5–95 % of its flux): negative
 *   in the difference.
 * - 'vanish': a catalog star absent from this visit: negative in the difference.
 * - 'moving': a solar-system-like object (template flux 0) moving on a great circle at 0.05–0.5
 *   deg/day. Moving objects are defined over the whole sky, per catalog cell and per hour of
 *   (notional) time, not per detector: each is born at the start of its hour at a random place of
 *   its cell and is followed for two hours, so successive groups see it at successive positions
 *   and it can cross from one detector to another. Its time is the group's notional epoch,
 *   `groupEpochMs` (the default DATE-OBS of the group's first snap: 23:00 UTC of the day plus
 *   40 s per sequence number), the same for every snap of the visit: both snaps paint it at one
 *   position. Its flux is set once from its target S/N under nominal conditions (0.8" seeing, dark
 *   sky, the visit's band and exposure time), so it is constant over a night in one filter; its
 *   expectedSnr is that of each visit. Trailing is neglected: at 0.5 deg/day (0.021"/s) it moves
 *   0.31" in a 15 s snap, a trail of rms 0.09" that widens a 0.8" PSF by about 3 %, and ten times
 *   less at 0.05 deg/day. (Between the two snaps of a 2 × 15 s visit it would move up to 0.35";
 *   both are painted at the visit's single position.)
 *
 * Counts and placement. Per detector-visit the number of star transients (brighten, fade, vanish:
 * variability that differs from visit to visit) is Poisson with mean `perDetector` × their share
 * of `kindWeights`; one that finds no suitable free catalog star is not injected (rare: a detector
 * holds ~1,500 stars). New sources and moving objects have sky densities giving `perDetector` ×
 * their share per detector on average (new: exactly, counting only the area `edgePx` inside the
 * edges, of the instrument's first detector; moving: over the whole detector, so slightly fewer
 * are painted). Each transient gets a target difference-image S/N drawn log-uniformly in
 * [snrMin, snrMax]; new and moving sources get the flux that gives that S/N under nominal
 * conditions, 'brighten' / 'fade' pick a catalog star of comparable flux and solve for the flux
 * change in the visit, 'vanish' picks the star whose disappearance gives the S/N closest to the
 * target. Every transient lies at least `edgePx` from the detector edges (new and moving sources
 * closer to an edge are not painted: they hide in the chip gap) and `minSeparationArcsec` from
 * every other transient. New sources are painted first, then moving objects (one too close to an
 * earlier transient is skipped in that visit), then the star transients (on stars away from
 * both). Positions and pixels use the TRUE WCS the simulator paints with (not the header WCS,
 * which carries the pointing error).
 *
 * The sky of new sources. Each (cell, day) stream draws a Poisson number of candidates, uniform
 * on the cell, each with a random mark; a candidate is kept when no other candidate within
 * `minSeparationArcsec` (in its own cell or a neighbouring one) has a smaller mark (Matérn's
 * second hard-core process). Whether a source exists so depends only on the sky around it, never
 * on the detector that looks. The candidate density λ₀ is raised to make up for the thinning: the
 * kept density is (1 − exp(−λ₀ a)) / a with a = π r², so λ₀ = −ln(1 − λ a) / a for the wanted λ,
 * which needs λ a < 1 (r = 5": λ below ~46 per arcmin²; above, the density saturates near 1 / a).
 * Like moving objects, new sources are deterministic in (seed, instrument): their density is per
 * detector and their flux is set by S/N, both properties of the instrument, so two instruments
 * with one seed see independent populations; the catalog stars are shared.
 *
 * Expected S/N of a PSF-fit flux in the difference image (template PSF-matched to the visit):
 *
 *   σ²(ΔF) = N_eff · (V_visit + V_template) + Q · (k F_visit + k² (c_t / D) F_template)      [e²]
 *   S/N    = k |F_visit − F_template| / σ
 *
 * with, in the visit's electrons (all snaps combined):
 * - k = snaps · EXPTIME · 10^(0.4 (ZP − 31.4)), electrons per nJy (ZP: magnitude of 1 e-/s);
 * - V_visit = snaps · (sky + dark + rn²) per pixel (rn: the detector's rms amplifier read noise);
 * - V_template = k² · A_pix · v_t, the template's sky variance per visit pixel, v_t its variance
 *   density (nJy²/arcsec²) = c_t² (sky_t + snaps_t rn_t² / A_t) / D per arcsec² with c_t the nJy per
 *   electron of one template visit and D the template depth (templates.ts);
 * - N_eff = 1 / Σ p² = π α² (2β − 1) / (β − 1)², the effective area of the Moffat PSF (β = 3.5,
 *   α from the larger of the visit's and the template's FWHM: the PSF of the difference);
 * - Q = Σ p³ / (Σ p²)² = (2β − 1)² / ((β − 1)(3β − 1)) ≈ 1.52: the source's own Poisson noise
 *   through PSF weights (4/3 for a Gaussian);
 * - F in nJy. The flat-field pattern (a few per cent) and the correlation the PSF-matching kernel
 *   puts into the template's noise are ignored: a good estimate, not an exact one.
 */
import { z } from 'zod';
import { pixelToSky, skyToPixel, type TanWcs } from '../../astro/index.ts';
import { Rng } from '../../core/rng.ts';
import { INSTRUMENT_NAMES, getInstrument, parseGroup, type Detector, type Instrument, type InstrumentName } from '../../instruments/index.ts';
import { CAMERA_PROPERTIES, DARK_SKY_MAG_ARCSEC2, DEFAULT_EXPOSURE_S, ZERO_POINTS, type DetectorSky, type DetectorSources } from './observation.ts';
import { moffatAlpha, PSF_BETA } from './psf.ts';
import { AB_NJY_ZERO_POINT, cellInfo, cellsInRegion, magToNjy, type Band } from './sky-catalog.ts';

export const TRANSIENT_KINDS = ['new', 'brighten', 'fade', 'vanish', 'moving'] as const;
export type TransientKind = (typeof TRANSIENT_KINDS)[number];
/** Kinds that are negative in the difference image (visit fainter than template). */
export const NEGATIVE_KINDS: ReadonlySet<TransientKind> = new Set(['fade', 'vanish']);

/** Seconds of notional time per group sequence number (the raws' default DATE-OBS spacing). */
export const GROUP_CADENCE_S = 40;
/** Moving objects are born at the start of each block of this many seconds, and live two blocks. */
export const MOVING_BLOCK_S = 3600;
/** Angular rates of moving objects, degrees per day (log-uniform between). */
export const MOVING_RATE_MIN_DEG_PER_DAY = 0.05;
export const MOVING_RATE_MAX_DEG_PER_DAY = 0.5;
/** Conditions under which a moving object's flux is set from its target S/N (so it is fixed over a night). */
export const NOMINAL_SEEING_ARCSEC = 0.8;
export const NOMINAL_READ_NOISE_E = 6.5;
/** Ids of injected point sources in DetectorSources.ids start here and go down (catalog ids are positive). */
export const INJECTED_ID_BASE = -100000;
/** Fraction of the full well a painted transient's peak (with the sky) may reach. */
const MAX_PEAK_FULL_WELL = 0.5;

const seedSchema = z.union([z.number().int().refine(Number.isSafeInteger, 'must be a safe integer'), z.string().min(1)]);
const weight = z.number().finite().nonnegative();

/** The templates' noise and PSF (defaults: renderTemplate's, which builds the central repository's). */
export const TemplateNoiseSchema = z
  .object({
    psfFwhmArcsec: z.number().finite().positive().max(10).default(0.7),
    depthFactor: z.number().finite().min(1).default(20),
    /** Instrument whose visits set the template noise. */
    instrument: z.enum(INSTRUMENT_NAMES).default('LSSTCam'),
    readNoiseE: z.number().finite().nonnegative().default(6.5),
    /** Skymap pixel scale. */
    pixelScaleArcsec: z.number().finite().positive().default(0.2),
  })
  .strict();

export const TransientOptionsSchema = z
  .object({
    /** Seed of the transients (upload: the night's seed). */
    seed: seedSchema,
    /** Mean number of transients per detector-visit (all kinds). */
    perDetector: z.number().finite().nonnegative().max(10000).default(20),
    snrMin: z.number().finite().positive().default(3),
    snrMax: z.number().finite().positive().default(300),
    /** Smallest distance of a transient from the detector edges, pixels. */
    edgePx: z.number().finite().nonnegative().max(1000).default(30),
    /** Smallest distance between two transients, arcsec. */
    minSeparationArcsec: z.number().finite().nonnegative().max(600).default(5),
    /** Relative frequency of the kinds. */
    kindWeights: z
      .object({ new: weight.default(0.35), brighten: weight.default(0.15), fade: weight.default(0.15), vanish: weight.default(0.15), moving: weight.default(0.2) })
      .strict()
      .default({}),
    /** The templates the differences are made against (defaults: the central repository's, templates.ts). */
    template: TemplateNoiseSchema.default({}),
  })
  .strict()
  .refine((o) => o.snrMax >= o.snrMin, { message: 'snrMax must be at least snrMin', path: ['snrMax'] });

export type TransientOptions = z.input<typeof TransientOptionsSchema>;
export type ResolvedTransientOptions = z.output<typeof TransientOptionsSchema>;
export type TemplateNoiseOptions = z.output<typeof TemplateNoiseSchema>;

/** One injected transient of a detector-visit (one entry of a truth file). */
export interface TransientTruth {
  /** Unique within the night: `{group}-{detector}-{n}`, or `{group}-{detector}-{objectId}` for new and moving sources. */
  readonly id: string;
  readonly kind: TransientKind;
  readonly raDeg: number;
  readonly decDeg: number;
  /** 0-based pixel position in the trimmed detector, through the true WCS. */
  readonly x: number;
  readonly y: number;
  readonly band: Band;
  readonly templateFluxNjy: number;
  readonly visitFluxNjy: number;
  /** visitFluxNjy − templateFluxNjy. */
  readonly deltaFluxNjy: number;
  /** The flux change in electrons in the visit's combined snaps (before the flat-field pattern). */
  readonly deltaFluxElectrons: number;
  /** S/N of a PSF-fit flux of the difference (see the module comment). */
  readonly expectedSnr: number;
  /** brighten, fade, vanish: the catalog star's id. */
  readonly starId?: number;
  /** new, moving: the source's id, the same in every group that sees it (new: every group of its day). */
  readonly objectId?: string;
  /** moving: great-circle rate, degrees per day, and direction, degrees east of north. */
  readonly rateDegPerDay?: number;
  readonly positionAngleDeg?: number;
  /** moving: the notional time of the position (groupEpochMs), MJD UTC. */
  readonly epochMjd?: number;
}

/** The truth of one detector-visit: the content of `{truthDir}/{instrument}/{group}/{detector}.json`. */
export interface VisitTruth {
  readonly instrument: InstrumentName;
  readonly group: string;
  readonly detector: number;
  /** Exposure id of the visit's first snap. */
  readonly visit: number;
  readonly filter: string;
  readonly band: Band;
  readonly transients: readonly TransientTruth[];
}

/** The exposure a detector-visit's transients are made for. */
export interface TransientVisit {
  readonly instrument: Instrument;
  readonly detector: Detector;
  readonly group: string;
  readonly band: Band;
  /** Per snap, seconds. */
  readonly exposureTimeS: number;
  readonly darkTimeS: number;
  readonly snaps: number;
}

export function parseTransientOptions(o: TransientOptions): ResolvedTransientOptions {
  return TransientOptionsSchema.parse(o);
}

// ---------------------------------------------------------------- noise model
/** What the expected S/N of a flux change needs (module comment). */
export interface DifferenceSnrModel {
  /** k: electrons per nJy in the visit (all snaps). */
  readonly electronsPerNjy: number;
  /** V_visit + V_template, e² per visit pixel. */
  readonly backgroundVarianceE2: number;
  /** N_eff, pixels. */
  readonly psfEffectiveAreaPx: number;
  /** Q. */
  readonly sourceNoiseFactor: number;
  /** c_t / D: template variance (nJy²) per nJy of template flux. */
  readonly templateVarianceNjy2PerNjy: number;
}

/** π α² (2β − 1) / (β − 1)²: 1 / Σ p² of a Moffat profile. */
export function moffatEffectiveArea(fwhmPx: number, beta = PSF_BETA): number {
  const a = moffatAlpha(fwhmPx, beta);
  return (Math.PI * a * a * (2 * beta - 1)) / ((beta - 1) * (beta - 1));
}

/** (2β − 1)² / ((β − 1)(3β − 1)): Σ p³ / (Σ p²)² of a Moffat profile. */
export function moffatSourceNoiseFactor(beta = PSF_BETA): number {
  return ((2 * beta - 1) * (2 * beta - 1)) / ((beta - 1) * (3 * beta - 1));
}

/** Template noise: sky variance density (nJy² per arcsec²) and variance per nJy of star flux (nJy²/nJy). */
export function templateNoise(band: Band, t: TemplateNoiseOptions): { skyVarianceNjy2PerArcsec2: number; starVarianceNjy2PerNjy: number } {
  const inst = getInstrument(t.instrument);
  const visitS = DEFAULT_EXPOSURE_S[inst.name] * inst.snaps;
  const zp = ZERO_POINTS[inst.name][band] + 2.5 * Math.log10(visitS);
  const c = 10 ** (-0.4 * (zp - AB_NJY_ZERO_POINT));
  const area = t.pixelScaleArcsec * t.pixelScaleArcsec;
  const skyEPerArcsec2 = 10 ** (-0.4 * (DARK_SKY_MAG_ARCSEC2[inst.name][band] - zp));
  const perPixel = (c * c * (skyEPerArcsec2 * area + inst.snaps * t.readNoiseE * t.readNoiseE)) / t.depthFactor;
  return { skyVarianceNjy2PerArcsec2: perPixel / area, starVarianceNjy2PerNjy: c / t.depthFactor };
}

/** Per-pixel visit noise of a detector: sky, dark, read noise of all snaps (e²). */
function visitPixelVariance(visit: TransientVisit, skyElectronsPerPixel: number, readNoiseE?: number): number {
  let rn2 = 0;
  if (readNoiseE !== undefined) rn2 = readNoiseE * readNoiseE;
  else {
    const amps = visit.detector.geometry().amps;
    for (const a of amps) rn2 += a.readNoiseE * a.readNoiseE;
    rn2 /= amps.length;
  }
  const dark = CAMERA_PROPERTIES[visit.instrument.name].darkCurrentEPerS * visit.darkTimeS;
  return visit.snaps * (skyElectronsPerPixel + dark + rn2);
}

function snrModel(visit: TransientVisit, zeroPointMag: number, skyElectronsPerPixel: number, seeingFwhmArcsec: number, tpl: TemplateNoiseOptions, readNoiseE?: number): DifferenceSnrModel {
  const scale = visit.instrument.pixelScaleArcsec;
  const k = visit.snaps * visit.exposureTimeS * 10 ** (0.4 * (zeroPointMag - AB_NJY_ZERO_POINT));
  const tn = templateNoise(visit.band, tpl);
  const vTemplate = k * k * tn.skyVarianceNjy2PerArcsec2 * scale * scale;
  return {
    electronsPerNjy: k,
    backgroundVarianceE2: visitPixelVariance(visit, skyElectronsPerPixel, readNoiseE) + vTemplate,
    psfEffectiveAreaPx: moffatEffectiveArea(Math.max(seeingFwhmArcsec, tpl.psfFwhmArcsec) / scale),
    sourceNoiseFactor: moffatSourceNoiseFactor(),
    templateVarianceNjy2PerNjy: tn.starVarianceNjy2PerNjy,
  };
}

/** The S/N model of a detector-visit whose sky (one snap) is `sky`. */
export function differenceSnrModel(sky: DetectorSky, visit: TransientVisit, template: z.input<typeof TemplateNoiseSchema> = {}): DifferenceSnrModel {
  const tpl = TemplateNoiseSchema.parse(template);
  return snrModel(visit, sky.zeroPointMag, sky.skyElectronsPerPixel, sky.psf.fwhmPx * visit.instrument.pixelScaleArcsec, tpl);
}

/** Expected S/N of the difference F_visit − F_template (nJy) under a model. */
export function expectedDifferenceSnr(m: DifferenceSnrModel, templateFluxNjy: number, visitFluxNjy: number): number {
  const k = m.electronsPerNjy;
  const v =
    m.psfEffectiveAreaPx * m.backgroundVarianceE2 +
    m.sourceNoiseFactor * (k * Math.max(0, visitFluxNjy) + k * k * m.templateVarianceNjy2PerNjy * Math.max(0, templateFluxNjy));
  return (k * Math.abs(visitFluxNjy - templateFluxNjy)) / Math.sqrt(v);
}

/**
 * |ΔF| (nJy) giving S/N `snr` on a star of template flux F_t: sign +1 brightens it (or adds a
 * source, F_t = 0), −1 fades it. Solves (k|ΔF|)² = snr² (C ± Q k|ΔF|).
 */
export function fluxChangeForSnr(m: DifferenceSnrModel, snr: number, templateFluxNjy: number, sign: 1 | -1): number {
  const k = m.electronsPerNjy;
  const Q = m.sourceNoiseFactor;
  const C = m.psfEffectiveAreaPx * m.backgroundVarianceE2 + Q * (k * templateFluxNjy + k * k * m.templateVarianceNjy2PerNjy * templateFluxNjy);
  const s2 = snr * snr;
  const x = (sign * s2 * Q + Math.sqrt(s2 * s2 * Q * Q + 4 * s2 * C)) / 2;
  return x / k;
}

// ---------------------------------------------------------------- time
/** Notional epoch of a group, ms since 1970: 23:00 UTC of its day plus GROUP_CADENCE_S per sequence number. */
export function groupEpochMs(group: string): number {
  const { dayObs, seq } = parseGroup(group);
  const y = Math.floor(dayObs / 10000);
  const m = Math.floor(dayObs / 100) % 100;
  const d = dayObs % 100;
  return Date.UTC(y, m - 1, d, 23, 0, 0) + seq * GROUP_CADENCE_S * 1000;
}

const MJD_UNIX_EPOCH = 40587;

// ---------------------------------------------------------------- helpers
const D2R = Math.PI / 180;
const R2D = 180 / Math.PI;
/** Kinds drawn per detector-visit, on catalog stars. */
const STAR_KINDS = ['brighten', 'fade', 'vanish'] as const;
type StarKind = (typeof STAR_KINDS)[number];

function logUniform(rng: Rng, a: number, b: number): number {
  return a === b ? a : Math.exp(Math.log(a) + rng.uniform() * Math.log(b / a));
}

/** Peak-limited flux: the largest nJy whose per-snap peak (with the sky) stays below MAX_PEAK_FULL_WELL of the full well. */
function maxVisitFluxNjy(visit: TransientVisit, sky: DetectorSky, k: number): number {
  const amps = visit.detector.geometry().amps;
  let fullWell = Infinity;
  for (const a of amps) fullWell = Math.min(fullWell, (a.saturationAdu - a.biasLevelAdu) * a.gainEPerAdu);
  const alpha = sky.psf.alphaPx;
  const peakPerE = (sky.psf.beta - 1) / (Math.PI * alpha * alpha);
  const room = Math.max(0, MAX_PEAK_FULL_WELL * fullWell - sky.skyElectronsPerPixel);
  return (room / peakPerE) * (visit.snaps / k);
}

interface Placed {
  x: number;
  y: number;
}

function farFromAll(placed: readonly Placed[], x: number, y: number, minPx: number): boolean {
  const m2 = minPx * minPx;
  for (const p of placed) {
    const dx = p.x - x;
    const dy = p.y - y;
    if (dx * dx + dy * dy < m2) return false;
  }
  return true;
}

function record(
  base: Pick<TransientTruth, 'id' | 'kind' | 'raDeg' | 'decDeg' | 'x' | 'y' | 'band'>,
  templateFluxNjy: number,
  visitFluxNjy: number,
  m: DifferenceSnrModel,
  extra: Partial<Pick<TransientTruth, 'starId' | 'objectId' | 'rateDegPerDay' | 'positionAngleDeg' | 'epochMjd'>> = {},
): TransientTruth {
  const delta = visitFluxNjy - templateFluxNjy;
  return {
    id: base.id,
    kind: base.kind,
    raDeg: base.raDeg,
    decDeg: base.decDeg,
    x: base.x,
    y: base.y,
    band: base.band,
    templateFluxNjy,
    visitFluxNjy,
    deltaFluxNjy: delta,
    deltaFluxElectrons: delta * m.electronsPerNjy,
    expectedSnr: expectedDifferenceSnr(m, templateFluxNjy, visitFluxNjy),
    ...extra,
  };
}

interface KindShares {
  /** The star kinds with their weights normalised among themselves. */
  readonly starKinds: ReadonlyArray<readonly [StarKind, number]>;
  /** Shares of all transients. */
  readonly starShare: number;
  readonly newShare: number;
  readonly movingShare: number;
}

/** Normalised kind weights. */
function kindShares(o: ResolvedTransientOptions): KindShares {
  const w = o.kindWeights;
  const total = w.new + w.brighten + w.fade + w.vanish + w.moving;
  if (!(total > 0)) return { starKinds: [], starShare: 0, newShare: 0, movingShare: 0 };
  const starTotal = w.brighten + w.fade + w.vanish;
  return {
    starKinds: STAR_KINDS.map((k) => [k, starTotal > 0 ? w[k] / starTotal : 0] as const),
    starShare: starTotal / total,
    newShare: w.new / total,
    movingShare: w.moving / total,
  };
}

/** Cells of the sky catalog that a box of half-size reachDeg around a position touches (all RA near a pole). */
function cellsAround(raDeg: number, decDeg: number, reachDeg: number): number[] {
  const decMin = Math.max(-90, decDeg - reachDeg);
  const decMax = Math.min(90, decDeg + reachDeg);
  const cosDec = Math.cos(Math.min(89.9, Math.abs(decDeg) + reachDeg) * D2R);
  const raHalf = reachDeg / cosDec;
  const region = decMax >= 89.9 || decMin <= -89.9 || raHalf >= 180
    ? { raMinDeg: 0, raMaxDeg: 360, decMinDeg: decMin, decMaxDeg: decMax }
    : { raMinDeg: raDeg - raHalf, raMaxDeg: raDeg + raHalf, decMinDeg: decMin, decMaxDeg: decMax };
  return cellsInRegion(region);
}

/** The S/N model of a visit under nominal conditions (NOMINAL_SEEING_ARCSEC, dark sky, NOMINAL_READ_NOISE_E). */
function nominalSnrModel(visit: TransientVisit, tpl: TemplateNoiseOptions): DifferenceSnrModel {
  const inst = visit.instrument;
  const zp = ZERO_POINTS[inst.name][visit.band];
  const scale = inst.pixelScaleArcsec;
  const sky = 10 ** (-0.4 * (DARK_SKY_MAG_ARCSEC2[inst.name][visit.band] - zp)) * scale * scale * visit.exposureTimeS;
  return snrModel(visit, zp, sky, NOMINAL_SEEING_ARCSEC, tpl, NOMINAL_READ_NOISE_E);
}

// ---------------------------------------------------------------- new sources
/**
 * Candidate density (per arcmin²) whose Matérn hard-core thinning at `minSeparationArcsec` keeps
 * `densityPerArcmin2`: −ln(1 − λ a) / a with a = π r² (λ itself when r = 0). Above what the
 * thinning can keep (λ a ≥ 1) it returns 10 / a, which keeps (1 − e⁻¹⁰) / a.
 */
export function newSourceCandidateDensity(densityPerArcmin2: number, minSeparationArcsec: number): number {
  const a = Math.PI * (minSeparationArcsec / 60) ** 2;
  if (!(a > 0)) return densityPerArcmin2;
  const x = densityPerArcmin2 * a;
  return x < 1 - Math.exp(-10) ? -Math.log1p(-x) / a : 10 / a;
}

interface NewSource {
  readonly objectId: string;
  readonly raDeg: number;
  readonly decDeg: number;
  /** Target S/N under nominal conditions (sets the flux). */
  readonly nominalSnr: number;
}

interface NewCandidate extends NewSource {
  readonly mark: number;
  readonly ux: number;
  readonly uy: number;
  readonly uz: number;
}

/** The candidates of one (cell, day): a Poisson number, uniform on the cell. */
function newCandidates(root: Rng, candidateDensityPerArcmin2: number, o: ResolvedTransientOptions, cellId: number, dayObs: number): NewCandidate[] {
  const cell = cellInfo(cellId);
  const rng = root.fork(`new/${cellId}/${dayObs}`);
  const n = rng.poisson(candidateDensityPerArcmin2 * cell.areaArcmin2);
  const sinLo = Math.sin(cell.decMinDeg * D2R);
  const sinHi = Math.sin(cell.decMaxDeg * D2R);
  const out: NewCandidate[] = [];
  for (let k = 0; k < n; k++) {
    const raDeg = cell.raMinDeg + (cell.raMaxDeg - cell.raMinDeg) * rng.uniform();
    const decDeg = Math.asin(Math.max(-1, Math.min(1, sinLo + (sinHi - sinLo) * rng.uniform()))) * R2D;
    const nominalSnr = logUniform(rng, o.snrMin, o.snrMax);
    const mark = rng.uniform();
    const cd = Math.cos(decDeg * D2R);
    out.push({
      objectId: `N${cellId}.${dayObs}.${k}`,
      raDeg,
      decDeg,
      nominalSnr,
      mark,
      ux: cd * Math.cos(raDeg * D2R),
      uy: cd * Math.sin(raDeg * D2R),
      uz: Math.sin(decDeg * D2R),
    });
  }
  return out;
}

/**
 * The new sources of day `dayObs` within radiusDeg of a position (module comment: candidates of
 * every cell within reach, each kept unless a candidate closer than minSeparationArcsec has a
 * smaller mark).
 */
function newSourcesNear(root: Rng, densityPerArcmin2: number, o: ResolvedTransientOptions, dayObs: number, raDeg: number, decDeg: number, radiusDeg: number): NewSource[] {
  if (!(densityPerArcmin2 > 0)) return [];
  const sepDeg = o.minSeparationArcsec / 3600;
  const lambda0 = newSourceCandidateDensity(densityPerArcmin2, o.minSeparationArcsec);
  const all: NewCandidate[] = [];
  for (const cellId of cellsAround(raDeg, decDeg, radiusDeg + sepDeg)) all.push(...newCandidates(root, lambda0, o, cellId, dayObs));
  if (all.length === 0) return [];
  all.sort((a, b) => a.decDeg - b.decDeg);
  const cd = Math.cos(decDeg * D2R);
  const c = [cd * Math.cos(raDeg * D2R), cd * Math.sin(raDeg * D2R), Math.sin(decDeg * D2R)];
  const cosRadius = Math.cos(Math.min(180, radiusDeg) * D2R);
  // chord length of the separation, squared
  const sepChord2 = (2 * Math.sin((sepDeg * D2R) / 2)) ** 2;
  const beats = (a: NewCandidate, b: NewCandidate): boolean => a.mark < b.mark || (a.mark === b.mark && a.objectId < b.objectId);
  const out: NewSource[] = [];
  for (let i = 0; i < all.length; i++) {
    const p = all[i];
    if (p.ux * c[0] + p.uy * c[1] + p.uz * c[2] < cosRadius) continue;
    let kept = true;
    if (sepChord2 > 0) {
      for (let dir = -1; dir <= 1 && kept; dir += 2) {
        for (let j = i + dir; j >= 0 && j < all.length; j += dir) {
          const q = all[j];
          if (Math.abs(q.decDeg - p.decDeg) > sepDeg) break;
          const d2 = (q.ux - p.ux) ** 2 + (q.uy - p.uy) ** 2 + (q.uz - p.uz) ** 2;
          if (d2 < sepChord2 && beats(q, p)) {
            kept = false;
            break;
          }
        }
      }
    }
    if (kept) out.push({ objectId: p.objectId, raDeg: p.raDeg, decDeg: p.decDeg, nominalSnr: p.nominalSnr });
  }
  return out;
}

// ---------------------------------------------------------------- moving objects
interface MovingObject {
  readonly objectId: string;
  readonly raDeg: number;
  readonly decDeg: number;
  readonly rateDegPerDay: number;
  readonly positionAngleDeg: number;
  /** Target S/N under nominal conditions (sets the flux). */
  readonly nominalSnr: number;
}

/** Moving objects alive at time tMs within radiusDeg of a position, at their positions then. */
function movingObjectsNear(root: Rng, densityPerArcmin2: number, o: ResolvedTransientOptions, raDeg: number, decDeg: number, radiusDeg: number, tMs: number): MovingObject[] {
  if (!(densityPerArcmin2 > 0)) return [];
  const blockMs = MOVING_BLOCK_S * 1000;
  const reach = radiusDeg + (MOVING_RATE_MAX_DEG_PER_DAY * 2 * MOVING_BLOCK_S) / 86400;
  const cells = cellsAround(raDeg, decDeg, reach);
  const current = Math.floor(tMs / blockMs);
  const out: MovingObject[] = [];
  const unit: TanWcs = { crvalDeg: [0, 0], crpix: [0, 0], cd: [[1, 0], [0, 1]] };
  const pos = new Float64Array(2);
  for (const block of [current - 1, current]) {
    const ageDays = (tMs - block * blockMs) / 86400000;
    for (const cellId of cells) {
      const cell = cellInfo(cellId);
      const rng = root.fork(`moving/${cellId}/${block}`);
      // objects of two blocks are alive at any time: each block holds half the density
      const n = rng.poisson((densityPerArcmin2 * cell.areaArcmin2) / 2);
      const sinLo = Math.sin(cell.decMinDeg * D2R);
      const sinHi = Math.sin(cell.decMaxDeg * D2R);
      for (let k = 0; k < n; k++) {
        const ra0 = cell.raMinDeg + (cell.raMaxDeg - cell.raMinDeg) * rng.uniform();
        const dec0 = Math.asin(Math.max(-1, Math.min(1, sinLo + (sinHi - sinLo) * rng.uniform()))) * R2D;
        const pa = 360 * rng.uniform();
        const rate = logUniform(rng, MOVING_RATE_MIN_DEG_PER_DAY, MOVING_RATE_MAX_DEG_PER_DAY);
        const snr = logUniform(rng, o.snrMin, o.snrMax);
        const d = rate * ageDays;
        pixelToSky({ ...unit, crvalDeg: [ra0, dec0] }, d * Math.sin(pa * D2R), d * Math.cos(pa * D2R), pos);
        out.push({ objectId: `M${cellId}.${block}.${k}`, raDeg: pos[0], decDeg: pos[1], rateDegPerDay: rate, positionAngleDeg: pa, nominalSnr: snr });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- the transients of a detector-visit
/**
 * The transients of one SCIENCE detector-visit, deterministic in (seed, instrument, group,
 * detector) and the catalog behind `sky` (brighten/fade/vanish pick its stars). New sources depend
 * on the group only through its day, moving objects through its epoch: they are the same for
 * every detector and visit that sees them. `sky` is the observation of one snap without
 * transients (observeDetector); nothing is painted here.
 */
export function detectorTransients(sky: DetectorSky, visit: TransientVisit, options: TransientOptions): TransientTruth[] {
  const o = parseTransientOptions(options);
  if (!(o.perDetector > 0)) return [];
  const inst = visit.instrument;
  const det = visit.detector;
  const W = sky.width;
  const H = sky.height;
  const edge = o.edgePx;
  if (W - 1 - 2 * edge < 1 || H - 1 - 2 * edge < 1) return [];
  const scale = inst.pixelScaleArcsec;
  const minSepPx = o.minSeparationArcsec / scale;
  const seeing = sky.psf.fwhmPx * scale;
  const model = snrModel(visit, sky.zeroPointMag, sky.skyElectronsPerPixel, seeing, o.template);
  const k = model.electronsPerNjy;
  const fluxCap = maxVisitFluxNjy(visit, sky, k);
  const root = Rng.from(o.seed).fork(`transients/${inst.name}`);
  const shares = kindShares(o);
  const prefix = `${visit.group}-${det.id}`;
  const out: TransientTruth[] = [];
  const placed: Placed[] = [];
  const inside = (x: number, y: number): boolean => x >= edge && x <= W - 1 - edge && y >= edge && y <= H - 1 - edge;

  const g0 = inst.detectors[0].geometry();
  const centre = pixelToSky(sky.wcs, (W - 1) / 2, (H - 1) / 2);
  const radiusDeg = (Math.hypot(W, H) / 2) * scale / 3600;
  const nominal = shares.newShare > 0 || shares.movingShare > 0 ? nominalSnrModel(visit, o.template) : undefined;
  const pix = new Float64Array(2);

  // 1. new sources of the day on this detector (separated from each other on the sky already)
  if (nominal && shares.newShare > 0) {
    const innerArcmin2 = (Math.max(1, g0.width - 1 - 2 * edge) * Math.max(1, g0.height - 1 - 2 * edge) * scale * scale) / 3600;
    const density = (o.perDetector * shares.newShare) / innerArcmin2;
    const { dayObs } = parseGroup(visit.group);
    // a little beyond the half-diagonal: the projection and rounding must not lose a corner
    for (const n of newSourcesNear(root, density, o, dayObs, centre[0], centre[1], radiusDeg * 1.02 + 1 / 3600)) {
      skyToPixel(sky.wcs, n.raDeg, n.decDeg, pix);
      const x = pix[0];
      const y = pix[1];
      if (!inside(x, y)) continue;
      const flux = Math.min(fluxCap, fluxChangeForSnr(nominal, n.nominalSnr, 0, 1));
      placed.push({ x, y });
      out.push(record({ id: `${prefix}-${n.objectId}`, kind: 'new', raDeg: n.raDeg, decDeg: n.decDeg, x, y, band: visit.band }, 0, flux, model, { objectId: n.objectId }));
    }
  }

  // 2. moving objects of the night that are on this detector now
  if (nominal && shares.movingShare > 0) {
    const areaArcmin2 = (g0.width * g0.height * scale * scale) / 3600;
    const density = (o.perDetector * shares.movingShare) / areaArcmin2;
    const tMs = groupEpochMs(visit.group);
    for (const m of movingObjectsNear(root, density, o, centre[0], centre[1], radiusDeg, tMs)) {
      skyToPixel(sky.wcs, m.raDeg, m.decDeg, pix);
      const x = pix[0];
      const y = pix[1];
      if (!inside(x, y) || !farFromAll(placed, x, y, minSepPx)) continue;
      const flux = Math.min(fluxCap, fluxChangeForSnr(nominal, m.nominalSnr, 0, 1));
      placed.push({ x, y });
      out.push(
        record({ id: `${prefix}-${m.objectId}`, kind: 'moving', raDeg: m.raDeg, decDeg: m.decDeg, x, y, band: visit.band }, 0, flux, model, {
          objectId: m.objectId,
          rateDegPerDay: m.rateDegPerDay,
          positionAngleDeg: m.positionAngleDeg,
          epochMjd: tMs / 86400000 + MJD_UNIX_EPOCH,
        }),
      );
    }
  }

  // 3. star transients of this detector-visit
  const rng = root.fork(`visit/${visit.group}/det/${det.id}`);
  const nStar = shares.starShare > 0 ? rng.poisson(o.perDetector * shares.starShare) : 0;
  if (nStar === 0) return out;
  const src = sky.sources;
  const candidates: number[] = [];
  for (let i = 0; i < src.count; i++) if (src.transient[i] === 0 && inside(src.x[i], src.y[i])) candidates.push(i);
  const used = new Set<number>();
  const starFlux = (i: number): number => magToNjy(src.mag[i]);
  const free = (i: number): boolean => !used.has(i) && farFromAll(placed, src.x[i], src.y[i], minSepPx);
  const pickKind = (): StarKind => {
    let u = rng.uniform();
    for (const [kind, w] of shares.starKinds) {
      if (u < w) return kind;
      u -= w;
    }
    return 'vanish';
  };
  const star = (i: number): Pick<TransientTruth, 'raDeg' | 'decDeg' | 'x' | 'y'> => ({ raDeg: src.ra[i], decDeg: src.dec[i], x: src.x[i], y: src.y[i] });
  const pickStar = (lo: number, hi: number): number => {
    const ok = candidates.filter((i) => {
      const f = starFlux(i);
      return f >= lo && f <= hi && free(i);
    });
    return ok.length ? ok[rng.int(ok.length)] : -1;
  };
  const take = (i: number): void => {
    used.add(i);
    placed.push({ x: src.x[i], y: src.y[i] });
  };

  for (let j = 0; j < nStar; j++) {
    const kind = pickKind();
    const snr = logUniform(rng, o.snrMin, o.snrMax);
    const base = { id: `${prefix}-${j}`, band: visit.band };
    // flux of a new source of this S/N: the scale of the stars to pick
    const newFlux = fluxChangeForSnr(model, snr, 0, 1);
    if (kind === 'brighten') {
      const i = pickStar(0.2 * newFlux, Math.min(5 * newFlux, fluxCap / 2));
      if (i < 0) continue;
      const ft = starFlux(i);
      const fv = Math.min(fluxCap, ft + fluxChangeForSnr(model, snr, ft, 1));
      take(i);
      out.push(record({ ...base, kind, ...star(i) }, ft, fv, model, { starId: src.ids[i] }));
    } else if (kind === 'fade') {
      const i = pickStar(newFlux, 4 * newFlux);
      if (i < 0) continue;
      const ft = starFlux(i);
      const keep = Math.min(0.95, Math.max(0.05, 1 - fluxChangeForSnr(model, snr, ft, -1) / ft));
      take(i);
      out.push(record({ ...base, kind, ...star(i) }, ft, keep * ft, model, { starId: src.ids[i] }));
    } else {
      // vanish: the star whose disappearance gives the S/N nearest the target (randomly among those within 15 %)
      let best = -1;
      let bestD = Infinity;
      const near: number[] = [];
      for (const i of candidates) {
        if (!free(i)) continue;
        const d = Math.abs(Math.log(expectedDifferenceSnr(model, starFlux(i), 0) / snr));
        if (d < 0.15) near.push(i);
        if (d < bestD) {
          bestD = d;
          best = i;
        }
      }
      const i = near.length ? near[rng.int(near.length)] : best;
      if (i < 0) continue;
      take(i);
      out.push(record({ ...base, kind, ...star(i) }, starFlux(i), 0, model, { starId: src.ids[i] }));
    }
  }
  return out;
}

/**
 * The sky of a detector with its transients applied: brightened and faded stars get their visit
 * flux, vanished ones are removed, new and moving sources are appended (ids INJECTED_ID_BASE − n).
 * Every source a transient touches is marked `transient = 1`. `exposureTimeS` is the snap's.
 */
export function applyTransients(sky: DetectorSky, transients: readonly TransientTruth[], exposureTimeS: number): DetectorSky {
  if (transients.length === 0) return sky;
  const s = sky.sources;
  const ePerNjy = exposureTimeS * 10 ** (0.4 * (sky.zeroPointMag - AB_NJY_ZERO_POINT));
  const byStar = new Map<number, TransientTruth>();
  const added: TransientTruth[] = [];
  for (const t of transients) {
    if (t.starId !== undefined && (t.kind === 'brighten' || t.kind === 'fade' || t.kind === 'vanish')) byStar.set(t.starId, t);
    else added.push(t);
  }
  const nMax = s.count + added.length;
  const out = {
    ids: new Float64Array(nMax),
    x: new Float64Array(nMax),
    y: new Float64Array(nMax),
    ra: new Float64Array(nMax),
    dec: new Float64Array(nMax),
    mag: new Float32Array(nMax),
    electrons: new Float64Array(nMax),
    transient: new Uint8Array(nMax),
  };
  let n = 0;
  const push = (id: number, x: number, y: number, ra: number, dec: number, fluxNjy: number, flag: number): void => {
    out.ids[n] = id;
    out.x[n] = x;
    out.y[n] = y;
    out.ra[n] = ra;
    out.dec[n] = dec;
    out.mag[n] = fluxNjy > 0 ? AB_NJY_ZERO_POINT - 2.5 * Math.log10(fluxNjy) : Infinity;
    out.electrons[n] = fluxNjy * ePerNjy;
    out.transient[n] = flag;
    n++;
  };
  for (let i = 0; i < s.count; i++) {
    const t = s.transient[i] === 0 ? byStar.get(s.ids[i]) : undefined;
    if (!t) {
      out.ids[n] = s.ids[i];
      out.x[n] = s.x[i];
      out.y[n] = s.y[i];
      out.ra[n] = s.ra[i];
      out.dec[n] = s.dec[i];
      out.mag[n] = s.mag[i];
      out.electrons[n] = s.electrons[i];
      out.transient[n] = s.transient[i];
      n++;
      continue;
    }
    if (t.kind === 'vanish' || !(t.visitFluxNjy > 0)) continue;
    push(s.ids[i], s.x[i], s.y[i], s.ra[i], s.dec[i], t.visitFluxNjy, 1);
  }
  added.forEach((t, j) => push(INJECTED_ID_BASE - j, t.x, t.y, t.raDeg, t.decDeg, t.visitFluxNjy, 1));
  const sources: DetectorSources = {
    count: n,
    ids: out.ids.slice(0, n),
    x: out.x.slice(0, n),
    y: out.y.slice(0, n),
    ra: out.ra.slice(0, n),
    dec: out.dec.slice(0, n),
    mag: out.mag.slice(0, n),
    electrons: out.electrons.slice(0, n),
    transient: out.transient.slice(0, n),
  };
  return { ...sky, sources };
}
