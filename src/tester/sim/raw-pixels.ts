/**
 * Pixels and headers of one simulated raw: one detector, one snap, every amplifier with its
 * prescan and overscan, as the camera would write them. `raw.ts` turns this into a `.fz` file.
 *
 * Per amplifier, in this order: sky + stars (Moffat PSF) → flat-field pattern (radial vignetting
 * of a few per cent and per-amplifier response steps) → bleeding of charge above full well along
 * columns → dark current with hot pixels and hot columns → Poisson noise → cosmic rays → ADU by
 * the header gain → bias level plus a slow row-wise drift (data, prescan and overscan alike) →
 * Gaussian read noise → clip at SATURATE.
 *
 * Determinism: the noise of detector D, snap S comes from
 * `Rng(seed).fork(instrument/group).fork(det/D).fork(snap/S)` and its own per-amplifier forks,
 * so a file never depends on which other detectors were simulated. Stars come from the sky
 * catalog (no randomness per exposure); defects from the instrument and detector only.
 */
import { z } from 'zod';
import {
  exposureIdFor,
  getInstrument,
  INSTRUMENT_NAMES,
  parseGroup,
  type AmpGeometry,
  type Box,
  type CcdGeometry,
  type Detector,
  type Instrument,
  type InstrumentName,
} from '../../instruments/index.ts';
import { tanWcsCards, type TanWcs } from '../../astro/index.ts';
import { Rng } from '../../core/rng.ts';
import { InvalidInputError } from '../../core/errors.ts';
import {
  CAMERA_PROPERTIES,
  DEFAULT_EXPOSURE_S,
  detectorToFocalPlane,
  detectorWcs,
  observeDetector,
  offsetWcs,
  ZERO_POINTS,
  type DetectorSky,
  type DetectorSources,
  type Pointing,
} from './observation.ts';
import { addMoffat, moffatAlpha, PSF_BETA } from './psf.ts';
import { detectorDefects, type HotColumn } from './defects.ts';
import { simulateCosmicRays } from './cosmic-rays.ts';
import type { Band } from './sky-catalog.ts';
import { applyTransients, detectorTransients, TransientOptionsSchema, type TransientTruth, type VisitTruth } from './transients.ts';

export const SIM_VERSION = '1';
/** Catalog seed used when a raw does not name one: the simulated sky and the reference catalog agree by default. */
export const DEFAULT_CATALOG_SEED = 1;
/** Fraction of falloff at the edge of the field (r = fieldRadiusArcsec) of the flat-field pattern. */
export const VIGNETTING_AT_FIELD_EDGE = 0.04;
/** Full well relative to the charge that reaches SATURATE: full-well pixels always read SATURATE. */
const FULL_WELL_MARGIN = 1.02;

export const OBSERVATION_KINDS = ['SCIENCE', 'BIAS', 'DARK', 'FLAT'] as const;
export type ObservationKind = (typeof OBSERVATION_KINDS)[number];

/** Default EXPTIME per instrument for SCIENCE and DARK (FLAT: 5 s; BIAS: 0); defined in observation.ts. */
export { DEFAULT_EXPOSURE_S };

const seedSchema = z.union([z.number().int().refine(Number.isSafeInteger, 'must be a safe integer'), z.string().min(1)]);
const finite = z.number().finite();

export const RawParamsSchema = z
  .object({
    instrument: z.enum(INSTRUMENT_NAMES),
    detector: z.number().int().nonnegative(),
    /** Group id YYYYMMDDnnnnn. */
    group: z.string(),
    snap: z.number().int().nonnegative().default(0),
    kind: z.enum(OBSERVATION_KINDS).default('SCIENCE'),
    /** Physical filter name of the instrument ('r_57', 'r_03', 'SDSSr_65mm', 'r'). */
    filter: z.string().min(1),
    /** Default DEFAULT_EXPOSURE_S (SCIENCE, DARK), 5 (FLAT); must be 0 or absent for BIAS. */
    exposureTimeS: finite.nonnegative().max(3600).optional(),
    /** Default EXPTIME + the camera's shutter/readout overhead. */
    darkTimeS: finite.nonnegative().max(3600).optional(),
    raDeg: finite,
    decDeg: finite.min(-90).max(90),
    /** ROTPA: position angle of focal-plane +y, degrees east of north. */
    rotationDeg: finite.default(0),
    seeingFwhmArcsec: finite.positive().max(20).default(0.8),
    skyMagArcsec2: finite.min(10).max(30).optional(),
    zeroPointMag: finite.min(10).max(40).optional(),
    /** SIMSEED: the noise, cosmic rays and bias drift. */
    seed: seedSchema,
    /** The sky catalog (the reference catalog uses the same). */
    catalog: z
      .union([seedSchema, z.object({ seed: seedSchema, densityPerArcmin2: finite.positive().max(200).optional() }).strict()])
      .default(DEFAULT_CATALOG_SEED),
    /** DATE-OBS of this snap, ISO 8601 UTC; default derived from the group (deterministic). */
    dateObs: z.string().optional(),
    /** Point sources added to the sky (rendered like stars), magnitude in the exposure's band. */
    transients: z
      .array(z.object({ raDeg: finite, decDeg: finite.min(-90).max(90), mag: finite.min(-5).max(40), id: finite.optional() }).strict())
      .max(100000)
      .default([]),
    /**
     * Injected transients with truth (transients.ts), SCIENCE only; absent: none. Both snaps of a
     * visit get the same transients; `visitTruth` gives their truth without painting.
     */
    injectTransients: TransientOptionsSchema.optional(),
    /** Illumination of a FLAT, electrons per pixel before the flat-field pattern. */
    flatLevelE: finite.positive().max(1e6).default(20000),
    /** The header WCS is off by this much (seeded direction, same for all detectors of a visit). */
    pointingErrorArcsec: finite.nonnegative().max(3600).default(0),
    cosmicRayRatePerCm2PerMin: finite.nonnegative().max(1000).default(3),
  })
  .strict();

/** What a caller passes (optional fields have the defaults above). */
export type RawParams = z.input<typeof RawParamsSchema>;
export type ResolvedRawParams = z.output<typeof RawParamsSchema>;

export interface SimCard {
  readonly key: string;
  readonly value?: string | number | boolean | null;
  readonly comment?: string;
}

export interface RawHduPixels {
  readonly name: string;
  /** Index in the file, 1-based (0 is the primary). */
  readonly index: number;
  readonly width: number;
  readonly height: number;
  readonly header: readonly SimCard[];
  readonly data: Int32Array;
}

export interface RawTruth {
  readonly instrument: InstrumentName;
  readonly detector: number;
  readonly exposureId: number;
  readonly kind: ObservationKind;
  readonly band: Band;
  readonly exposureTimeS: number;
  readonly darkTimeS: number;
  /** The WCS the stars were painted with. */
  readonly wcs: TanWcs;
  /** The WCS written in the header (differs by pointingErrorArcsec). */
  readonly headerWcs: TanWcs;
  readonly zeroPointMag: number;
  readonly skyElectronsPerPixel: number;
  readonly psf: { readonly fwhmPx: number; readonly alphaPx: number; readonly beta: number };
  /** Stars and transients painted, in trimmed-detector pixels (0-based). */
  readonly sources: DetectorSources;
  readonly cosmicRays: { readonly events: number; readonly pixels: Int32Array; readonly electrons: Float32Array };
  readonly hotColumns: readonly HotColumn[];
  readonly hotPixels: Int32Array;
  /** Full well of each amplifier (geometry order), electrons: charge above it bleeds along the column. */
  readonly fullWellE: Float64Array;
  /** The injected transients of the visit (empty without `injectTransients` or for other than SCIENCE). */
  readonly injected: VisitTruth;
}

export interface RawPixels {
  readonly params: ResolvedRawParams;
  readonly primaryHeader: readonly SimCard[];
  readonly hdus: readonly RawHduPixels[];
  readonly truth: RawTruth;
}

/** Validates and fills in defaults; InvalidInputError naming the field otherwise. */
export function parseRawParams(input: RawParams): ResolvedRawParams {
  const r = RawParamsSchema.safeParse(input);
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${i.path.join('.') || 'params'}: ${i.message}`).join('; ');
    throw new InvalidInputError(`invalid raw simulation parameters: ${msg}`);
  }
  const p = r.data;
  if (p.kind === 'BIAS' && p.exposureTimeS !== undefined && p.exposureTimeS !== 0) {
    throw new InvalidInputError(`a BIAS has exposure time 0, got exposureTimeS ${p.exposureTimeS}`);
  }
  if (p.dateObs !== undefined && !Number.isFinite(Date.parse(isoUtc(p.dateObs)))) {
    throw new InvalidInputError(`dateObs '${p.dateObs}' is not an ISO 8601 date`);
  }
  return p;
}

function isoUtc(s: string): string {
  return /[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : `${s}Z`;
}

// ---------------------------------------------------------------- helpers
/** FITS section '[x1:x2,y1:y2]' (1-based, inclusive) of a 0-based half-open box; reversed axes when flipped. */
export function fitsSection(b: Box, flipX = false, flipY = false): string {
  const xs = flipX ? `${b.x1}:${b.x0 + 1}` : `${b.x0 + 1}:${b.x1}`;
  const ys = flipY ? `${b.y1}:${b.y0 + 1}` : `${b.y0 + 1}:${b.y1}`;
  return `[${xs},${ys}]`;
}

function mjdOf(ms: number): number {
  return ms / 86400000 + 40587;
}

function fitsDate(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '');
}

/** Deterministic default start of a snap: the evening of the group's day, 40 s per group sequence number. */
function defaultStartMs(group: string, snap: number, exposureTimeS: number): number {
  const { dayObs, seq } = parseGroup(group);
  const y = Math.floor(dayObs / 10000);
  const m = Math.floor(dayObs / 100) % 100;
  const d = dayObs % 100;
  return Date.UTC(y, m - 1, d, 23, 0, 0) + seq * 40_000 + snap * Math.round((exposureTimeS + 2.3) * 1000);
}

/**
 * What falls on the detector besides the painted stars: expected electrons at detector pixel
 * (x, y) are (E[x, y] + base) · flat(x, y) + dark, where E holds the stars (and the hot pixels,
 * pre-divided by the flat) and flat = response of the amplifier × (1 − k r²) with r the
 * focal-plane radius.
 */
interface Illumination {
  readonly base: number;
  readonly dark: number;
  /** false: flat ≡ 1 (BIAS, DARK). */
  readonly flat: boolean;
  readonly ampResponse: Float64Array;
  readonly k: number;
  /** Focal-plane position (arcsec) = (X00, Y00) + x (ax, ay) + y (bx, by). */
  readonly X00: number;
  readonly Y00: number;
  readonly ax: number;
  readonly ay: number;
  readonly bx: number;
  readonly by: number;
}

function makeIllumination(
  detector: Detector,
  pixelScaleArcsec: number,
  fieldRadiusArcsec: number,
  ampResponse: Float64Array,
  base: number,
  dark: number,
  flat: boolean,
): Illumination {
  const [X00, Y00] = detectorToFocalPlane(detector, pixelScaleArcsec, 0, 0);
  const [X10, Y10] = detectorToFocalPlane(detector, pixelScaleArcsec, 1, 0);
  const [X01, Y01] = detectorToFocalPlane(detector, pixelScaleArcsec, 0, 1);
  return {
    base,
    dark,
    flat,
    ampResponse,
    k: VIGNETTING_AT_FIELD_EDGE / (fieldRadiusArcsec * fieldRadiusArcsec),
    X00,
    Y00,
    ax: X10 - X00,
    ay: Y10 - Y00,
    bx: X01 - X00,
    by: Y01 - Y00,
  };
}

/** Flat-field value at a detector pixel of amplifier `ampIndex`. */
function flatAt(il: Illumination, ampIndex: number, x: number, y: number): number {
  if (!il.flat) return 1;
  const X = il.X00 + il.ax * x + il.bx * y;
  const Y = il.Y00 + il.ay * x + il.by * y;
  return il.ampResponse[ampIndex] * (1 - il.k * (X * X + Y * Y));
}

function ampIndexAt(geom: CcdGeometry, x: number, y: number): number {
  for (let a = 0; a < geom.amps.length; a++) {
    const d = geom.amps[a].detector;
    if (x >= d.x0 && x < d.x1 && y >= d.y0 && y < d.y1) return a;
  }
  return -1;
}

/** The flat-field pattern of a detector (mean ≈ 1 − vignetting): what a perfect master flat would hold. */
export function flatFieldPattern(instrument: InstrumentName, detectorId: number): Float32Array {
  const inst = getInstrument(instrument);
  const det = inst.detector(detectorId);
  const g = det.geometry();
  const il = makeIllumination(det, inst.pixelScaleArcsec, CAMERA_PROPERTIES[inst.name].fieldRadiusArcsec, detectorDefects(inst.name, det).ampResponse, 1, 0, true);
  const out = new Float32Array(g.width * g.height);
  g.amps.forEach((amp, a) => {
    const d = amp.detector;
    for (let y = d.y0; y < d.y1; y++) for (let x = d.x0; x < d.x1; x++) out[y * g.width + x] = flatAt(il, a, x, y);
  });
  return out;
}

/** Moves charge above the full well (per row: that of the row's amplifier) up and down a column: bleed trails. */
function bleed(col: Float64Array, fullWell: Float64Array): void {
  const H = col.length;
  let y = 0;
  while (y < H) {
    if (col[y] <= fullWell[y]) {
      y++;
      continue;
    }
    let excess = 0;
    let yEnd = y;
    while (yEnd < H && col[yEnd] > fullWell[yEnd]) {
      excess += col[yEnd] - fullWell[yEnd];
      col[yEnd] = fullWell[yEnd];
      yEnd++;
    }
    let up = excess / 2;
    let down = excess / 2;
    for (let yy = yEnd; yy < H && up > 0; yy++) {
      const room = fullWell[yy] - col[yy];
      if (room <= 0) continue;
      const take = room < up ? room : up;
      col[yy] += take;
      up -= take;
    }
    for (let yy = y - 1; yy >= 0 && down > 0; yy--) {
      const room = fullWell[yy] - col[yy];
      if (room <= 0) continue;
      const take = room < down ? room : down;
      col[yy] += take;
      down -= take;
    }
    y = yEnd;
    while (y < H && col[y] >= fullWell[y]) y++;
  }
}

/** Full well of each amplifier, electrons: FULL_WELL_MARGIN above the charge that reads SATURATE. */
function ampFullWells(geom: CcdGeometry): Float64Array {
  return Float64Array.from(geom.amps, (a) => (a.saturationAdu - a.biasLevelAdu) * a.gainEPerAdu * FULL_WELL_MARGIN);
}

/** Bleeds the given detector columns: computes the expected electrons, bleeds, writes E back so the readout reproduces them. */
function bleedColumns(E: Float32Array, geom: CcdGeometry, il: Illumination, columns: Iterable<number>, fullWells: Float64Array): number {
  const W = geom.width;
  const H = geom.height;
  const col = new Float64Array(H);
  const flat = new Float64Array(H);
  const fw = new Float64Array(H);
  let bled = 0;
  for (const x of columns) {
    let over = false;
    for (let y = 0; y < H; y++) {
      const a = ampIndexAt(geom, x, y);
      const f = flatAt(il, a, x, y);
      flat[y] = f;
      fw[y] = fullWells[a];
      col[y] = (E[y * W + x] + il.base) * f + il.dark;
      if (col[y] > fw[y]) over = true;
    }
    if (!over) continue;
    bled++;
    bleed(col, fw);
    for (let y = 0; y < H; y++) E[y * W + x] = (col[y] - il.dark) / flat[y] - il.base;
  }
  return bled;
}

interface AmpRun {
  readonly amp: AmpGeometry;
  readonly ampIndex: number;
  /** Raw columns this amplifier owns in its HDU (prescan, data, overscan). */
  readonly x0: number;
  readonly x1: number;
}

function ampColumns(amp: AmpGeometry): [number, number] {
  const boxes = [amp.prescan, amp.serialOverscan, amp.rawData, amp.parallelOverscan].filter((b) => b.x1 > b.x0 && b.y1 > b.y0);
  return [Math.min(...boxes.map((b) => b.x0)), Math.max(...boxes.map((b) => b.x1))];
}

/**
 * Fills one amplifier's columns of its raw HDU: bias + drift + read noise everywhere, plus the
 * photo-electrons (Poisson) in the data section.
 */
function readAmp(out: Int32Array, hduWidth: number, hduHeight: number, run: AmpRun, E: Float32Array, W: number, il: Illumination, rng: Rng, rowBias: Float64Array): void {
  const { amp } = run;
  const data = amp.rawData;
  const det = amp.detector;
  const invGain = 1 / amp.gainEPerAdu;
  const rn = amp.readNoiseE;
  const rn2 = rn * rn;
  const rnAdu = rn * invGain;
  const sat = amp.saturationAdu;
  const step = amp.flipX ? -1 : 1;
  const POISSON_NORMAL = 30;
  const base = il.base;
  const dark = il.dark;
  const resp = il.flat ? il.ampResponse[run.ampIndex] : 1;
  const k = il.flat ? il.k : 0;
  const sx = il.ax * step;
  const sy = il.ay * step;
  for (let ry = 0; ry < hduHeight; ry++) {
    const rb = rowBias[ry] + 0.5; // + 0.5: truncation below rounds
    const rowStart = ry * hduWidth;
    const dataRow = ry >= data.y0 && ry < data.y1;
    const xa = dataRow ? data.x0 : run.x1;
    const xb = dataRow ? data.x1 : run.x1;
    for (let rx = run.x0; rx < xa; rx++) {
      const v = rb + rnAdu * rng.normal();
      out[rowStart + rx] = v > sat ? sat : v | 0;
    }
    if (dataRow) {
      const iy = ry - data.y0;
      const dy = amp.flipY ? det.y1 - 1 - iy : det.y0 + iy;
      const dx0 = amp.flipX ? det.x1 - 1 : det.x0;
      let d = dy * W + dx0;
      let X = il.X00 + il.ax * dx0 + il.bx * dy;
      let Y = il.Y00 + il.ay * dx0 + il.by * dy;
      for (let rx = xa; rx < xb; rx++, d += step) {
        const lam = (E[d] + base) * (resp * (1 - k * (X * X + Y * Y))) + dark;
        X += sx;
        Y += sy;
        let e: number;
        if (lam >= POISSON_NORMAL) {
          // Poisson (normal approximation) and read noise in one draw
          e = lam + Math.sqrt(lam + rn2) * rng.normal();
        } else {
          e = rng.poisson(lam) + rn * rng.normal();
        }
        const v = e * invGain + rb;
        out[rowStart + rx] = v > sat ? sat : v | 0;
      }
    }
    for (let rx = xb; rx < run.x1; rx++) {
      const v = rb + rnAdu * rng.normal();
      out[rowStart + rx] = v > sat ? sat : v | 0;
    }
  }
}

/** Bias level plus a slow, zero-mean drift along the readout (a few ADU), one value per raw row. */
function biasRows(amp: AmpGeometry, height: number, rng: Rng): Float64Array {
  const A = rng.range(0.5, 3);
  const period = rng.range(800, 4000);
  const phase = rng.range(0, 2 * Math.PI);
  const slope = rng.range(-2, 2);
  const out = new Float64Array(height);
  let mean = 0;
  for (let y = 0; y < height; y++) {
    out[y] = A * Math.sin((2 * Math.PI * y) / period + phase) + slope * (y / height - 0.5);
    mean += out[y];
  }
  mean /= height;
  for (let y = 0; y < height; y++) out[y] += amp.biasLevelAdu - mean;
  return out;
}

/** Where a detector pixel lands in the raw file: HDU position in `hdus` and pixel index, or null. */
function detectorToRaw(geom: CcdGeometry, x: number, y: number): { ampIndex: number; hdu: number; index: number; hduWidth: number } | null {
  for (let a = 0; a < geom.amps.length; a++) {
    const amp = geom.amps[a];
    const d = amp.detector;
    if (x < d.x0 || x >= d.x1 || y < d.y0 || y >= d.y1) continue;
    const ix = amp.flipX ? d.x1 - 1 - x : x - d.x0;
    const iy = amp.flipY ? d.y1 - 1 - y : y - d.y0;
    const hdu = geom.rawHdus.findIndex((h) => h.index === amp.hduIndex);
    const w = geom.rawHdus[hdu].width;
    return { ampIndex: a, hdu, index: (amp.rawData.y0 + iy) * w + amp.rawData.x0 + ix, hduWidth: w };
  }
  return null;
}

// ---------------------------------------------------------------- headers
function primaryCards(
  p: ResolvedRawParams,
  inst: Instrument,
  det: Detector,
  band: Band,
  exposureId: number,
  expTime: number,
  darkTime: number,
  startMs: number,
  headerWcs: TanWcs,
  nCosmic: number,
  nSources: number,
  nInjected: number | null,
): SimCard[] {
  const { dayObs, seq } = parseGroup(p.group);
  const isLsst = inst.name !== 'DECam';
  const cards: SimCard[] = [
    { key: 'ORIGIN', value: 'prompt-processing simulator', comment: 'simulated raw, not a real exposure' },
    { key: 'DATE', value: fitsDate(startMs + (expTime + 2.3) * 1000), comment: 'file written (UTC)' },
    { key: 'TELESCOP', value: inst.telescope },
    { key: 'INSTRUME', value: inst.name },
    { key: 'OBSID', value: `${inst.obsIdPrefix}_O_${dayObs}_${String(seq).padStart(6, '0')}` },
    { key: 'DAYOBS', value: String(dayObs) },
    { key: 'SEQNUM', value: seq },
    { key: 'GROUPID', value: p.group, comment: 'visit group' },
    { key: 'EXPID', value: exposureId, comment: 'exposure id' },
    { key: 'SNAP', value: p.snap, comment: 'snap index in the visit (0-based)' },
    { key: 'NSNAPS', value: inst.snaps },
    { key: 'OBSTYPE', value: p.kind.toLowerCase() },
    { key: 'IMGTYPE', value: p.kind.toLowerCase() },
    { key: 'DETECTOR', value: det.id, comment: 'detector id' },
    { key: 'DETNAME', value: det.name },
    { key: 'CCD_MANU', value: det.ccdType },
  ];
  if (isLsst) {
    const [raft, slot] = det.name.split('_');
    cards.push({ key: 'RAFTBAY', value: raft }, { key: 'CCDSLOT', value: slot });
  } else {
    cards.push({ key: 'CCDNUM', value: det.id }, { key: 'DETPOS', value: det.name });
  }
  cards.push(
    { key: 'FILTER', value: p.filter, comment: 'physical filter' },
    { key: 'BAND', value: band },
    { key: 'EXPTIME', value: expTime, comment: '[s] exposure time' },
    { key: 'DARKTIME', value: darkTime, comment: '[s] dark time' },
    { key: 'TIMESYS', value: 'UTC' },
    { key: 'DATE-OBS', value: fitsDate(startMs), comment: 'start of exposure (UTC)' },
    { key: 'MJD-OBS', value: mjdOf(startMs), comment: 'start of exposure (MJD, UTC)' },
    { key: 'DATE-END', value: fitsDate(startMs + expTime * 1000) },
    { key: 'RA', value: p.raDeg, comment: '[deg] boresight' },
    { key: 'DEC', value: p.decDeg, comment: '[deg] boresight' },
    { key: 'ROTPA', value: p.rotationDeg, comment: '[deg] position angle of focal-plane +y' },
    { key: 'SEEING', value: p.seeingFwhmArcsec, comment: '[arcsec] PSF FWHM' },
    { key: 'BUNIT', value: 'adu' },
    ...tanWcsCards(headerWcs),
    { key: 'SIMVERS', value: SIM_VERSION, comment: 'simulator version' },
    { key: 'SIMSEED', value: p.seed, comment: 'simulation seed' },
    { key: 'SIMCAT', value: typeof p.catalog === 'object' ? p.catalog.seed : p.catalog, comment: 'sky catalog seed' },
    { key: 'SIMNSRC', value: nSources, comment: 'point sources painted' },
    { key: 'SIMNCR', value: nCosmic, comment: 'cosmic-ray events' },
  );
  if (nInjected !== null) cards.push({ key: 'SIMNTRN', value: nInjected, comment: 'injected transients (truth: visitTruth)' });
  if (typeof p.catalog === 'object' && p.catalog.densityPerArcmin2 !== undefined) {
    cards.push({ key: 'SIMDENS', value: p.catalog.densityPerArcmin2, comment: 'catalog stars per arcmin2 to r=24' });
  }
  return cards;
}

function lsstAmpCards(geom: CcdGeometry, amp: AmpGeometry, channel: number): SimCard[] {
  const d = amp.detector;
  const r = amp.rawData;
  // detector = DTM · raw + DTV (1-based pixel coordinates)
  const dtv1 = amp.flipX ? d.x1 + r.x0 + 1 : d.x0 - r.x0;
  const dtv2 = amp.flipY ? d.y1 + r.y0 + 1 : d.y0 - r.y0;
  return [
    { key: 'CHANNEL', value: channel },
    { key: 'AMPNAME', value: amp.name },
    { key: 'CCDSUM', value: '1 1' },
    { key: 'DATASEC', value: fitsSection(r) },
    { key: 'BIASSEC', value: fitsSection(amp.serialOverscan), comment: 'serial overscan' },
    { key: 'PRESEC', value: fitsSection(amp.prescan), comment: 'serial prescan' },
    ...(amp.parallelOverscan.y1 > amp.parallelOverscan.y0 ? [{ key: 'POSTSEC', value: fitsSection(amp.parallelOverscan), comment: 'parallel overscan' }] : []),
    { key: 'DETSEC', value: fitsSection(d, amp.flipX, amp.flipY) },
    { key: 'CCDSEC', value: fitsSection(d) },
    { key: 'DETSIZE', value: `[1:${geom.width},1:${geom.height}]` },
    { key: 'DTV1', value: dtv1 },
    { key: 'DTV2', value: dtv2 },
    { key: 'DTM1_1', value: amp.flipX ? -1 : 1 },
    { key: 'DTM2_2', value: amp.flipY ? -1 : 1 },
    { key: 'DTM1_2', value: 0 },
    { key: 'DTM2_1', value: 0 },
    { key: 'GAIN', value: amp.gainEPerAdu, comment: '[e-/adu] nominal gain' },
    { key: 'RDNOISE', value: amp.readNoiseE, comment: '[e-] read noise' },
    { key: 'SATURATE', value: amp.saturationAdu, comment: '[adu] saturation level' },
    { key: 'BUNIT', value: 'adu' },
  ];
}

function decamCards(geom: CcdGeometry, det: Detector): SimCard[] {
  const amps = geom.amps;
  const union = (boxes: Box[]): Box => ({
    x0: Math.min(...boxes.map((b) => b.x0)),
    y0: Math.min(...boxes.map((b) => b.y0)),
    x1: Math.max(...boxes.map((b) => b.x1)),
    y1: Math.max(...boxes.map((b) => b.y1)),
  });
  const data = union(amps.map((a) => a.rawData));
  const detBox = union(amps.map((a) => a.detector));
  const cards: SimCard[] = [
    { key: 'CCDNUM', value: det.id },
    { key: 'DETPOS', value: det.name },
    { key: 'CCDSUM', value: '1 1' },
    { key: 'DETSIZE', value: `[1:${geom.width},1:${geom.height}]` },
    { key: 'DATASEC', value: fitsSection(data) },
    { key: 'TRIMSEC', value: fitsSection(data) },
    { key: 'DETSEC', value: fitsSection(detBox) },
    { key: 'CCDSEC', value: fitsSection(detBox) },
  ];
  for (const amp of amps) {
    const s = amp.name;
    cards.push(
      { key: `DATASEC${s}`, value: fitsSection(amp.rawData) },
      { key: `TRIMSEC${s}`, value: fitsSection(amp.rawData) },
      { key: `BIASSEC${s}`, value: fitsSection(amp.serialOverscan), comment: 'serial overscan' },
      { key: `PRESEC${s}`, value: fitsSection(amp.prescan) },
      { key: `POSTSEC${s}`, value: fitsSection(amp.parallelOverscan), comment: 'parallel overscan' },
      { key: `DETSEC${s}`, value: fitsSection(amp.detector, amp.flipX, amp.flipY) },
      { key: `CCDSEC${s}`, value: fitsSection(amp.detector) },
    );
  }
  for (const amp of amps) {
    const s = amp.name;
    cards.push(
      { key: `GAIN${s}`, value: amp.gainEPerAdu, comment: `[e-/adu] gain, amp ${s}` },
      { key: `RDNOISE${s}`, value: amp.readNoiseE, comment: `[e-] read noise, amp ${s}` },
      { key: `SATURAT${s}`, value: amp.saturationAdu, comment: `[adu] saturation, amp ${s}` },
    );
  }
  cards.push({ key: 'BUNIT', value: 'adu' });
  return cards;
}

/** The sky model of an exposure without light from the sky (BIAS, DARK, FLAT): WCS only. */
function darkSky(inst: Instrument, det: Detector, pointing: Pointing, band: Band, seeingFwhmArcsec: number): DetectorSky {
  const g = det.geometry();
  const fwhmPx = seeingFwhmArcsec / inst.pixelScaleArcsec;
  const empty = {
    count: 0,
    ids: new Float64Array(0),
    x: new Float64Array(0),
    y: new Float64Array(0),
    ra: new Float64Array(0),
    dec: new Float64Array(0),
    mag: new Float32Array(0),
    electrons: new Float64Array(0),
    transient: new Uint8Array(0),
  };
  return {
    wcs: detectorWcs(inst, det, pointing),
    width: g.width,
    height: g.height,
    band,
    zeroPointMag: ZERO_POINTS[inst.name][band],
    skyMagArcsec2: Infinity,
    skyElectronsPerPixel: 0,
    psf: { fwhmPx, alphaPx: moffatAlpha(fwhmPx), beta: PSF_BETA },
    sources: empty,
  };
}

// ---------------------------------------------------------------- scratch buffers
let scratch: Float32Array | null = null;
/** A zeroed Float32Array of n elements, reused between calls in the same thread. */
function electronImage(n: number): Float32Array {
  if (!scratch || scratch.length !== n) scratch = new Float32Array(n);
  else scratch.fill(0);
  return scratch;
}

// ---------------------------------------------------------------- the simulation
/** Exposure time (per snap) and dark time of a raw. */
function exposureTimes(p: ResolvedRawParams, inst: Instrument): { expTime: number; darkTime: number } {
  const expTime = p.kind === 'BIAS' ? 0 : (p.exposureTimeS ?? (p.kind === 'FLAT' ? 5 : DEFAULT_EXPOSURE_S[inst.name]));
  return { expTime, darkTime: p.darkTimeS ?? expTime + CAMERA_PROPERTIES[inst.name].darkOverheadS };
}

/**
 * The sky of a SCIENCE snap: catalog stars and explicit `transients`, then the injected
 * transients of the visit (when `injectTransients` is set). With paint = false the sources are
 * left as observed (the truth alone).
 */
function observeScience(p: ResolvedRawParams, inst: Instrument, det: Detector, band: Band, expTime: number, darkTime: number, paint: boolean): { sky: DetectorSky; injected: TransientTruth[] } {
  const sky = observeDetector({
    instrument: inst,
    detector: det,
    pointing: { raDeg: p.raDeg, decDeg: p.decDeg, rotationDeg: p.rotationDeg },
    band,
    exposureTimeS: expTime,
    seeingFwhmArcsec: p.seeingFwhmArcsec,
    skyMagArcsec2: p.skyMagArcsec2,
    zeroPointMag: p.zeroPointMag,
    catalog: p.catalog,
    transients: p.transients,
  });
  if (!p.injectTransients) return { sky, injected: [] };
  const injected = detectorTransients(sky, { instrument: inst, detector: det, group: p.group, band, exposureTimeS: expTime, darkTimeS: darkTime, snaps: inst.snaps }, p.injectTransients);
  return { sky: paint ? applyTransients(sky, injected, expTime) : sky, injected };
}

function visitHeader(p: ResolvedRawParams, inst: Instrument): Omit<VisitTruth, 'transients'> {
  return {
    instrument: inst.name,
    group: p.group,
    detector: p.detector,
    visit: exposureIdFor(p.group, 0, inst.snaps),
    filter: p.filter,
    band: inst.filter(p.filter).band,
  };
}

/**
 * The truth of the transients injected into a detector-visit, computed without painting
 * anything: the same as `simulateRawPixels(params).truth.injected` for every snap of the visit
 * (`snap` is ignored). Empty unless the visit is SCIENCE and `injectTransients` is set.
 */
export function visitTruth(input: RawParams): VisitTruth {
  const p = parseRawParams(input);
  const inst = getInstrument(p.instrument);
  const det = inst.detector(p.detector);
  const header = visitHeader(p, inst);
  if (p.kind !== 'SCIENCE' || !p.injectTransients) return { ...header, transients: [] };
  const { expTime, darkTime } = exposureTimes(p, inst);
  return { ...header, transients: observeScience(p, inst, det, header.band, expTime, darkTime, false).injected };
}

export function simulateRawPixels(input: RawParams): RawPixels {
  const p = parseRawParams(input);
  const inst = getInstrument(p.instrument);
  const det = inst.detector(p.detector);
  const band = inst.filter(p.filter).band;
  const geom = det.geometry();
  const cam = CAMERA_PROPERTIES[inst.name];
  const exposureId = exposureIdFor(p.group, p.snap, inst.snaps);
  const { expTime, darkTime } = exposureTimes(p, inst);
  const startMs = p.dateObs !== undefined ? Date.parse(isoUtc(p.dateObs)) : defaultStartMs(p.group, p.snap, expTime);
  const pointing = { raDeg: p.raDeg, decDeg: p.decDeg, rotationDeg: p.rotationDeg };

  const root = Rng.from(p.seed);
  const visitRng = root.fork(`${inst.name}/${p.group}`);
  const snapRng = visitRng.fork(`det/${det.id}`).fork(`snap/${p.snap}`);
  const defects = detectorDefects(inst.name, det);
  const W = geom.width;
  const H = geom.height;
  const E = electronImage(W * H);

  // 1. sky and stars (SCIENCE, with the injected transients), uniform light (FLAT)
  const { sky, injected } =
    p.kind === 'SCIENCE' ? observeScience(p, inst, det, band, expTime, darkTime, true) : { sky: darkSky(inst, det, pointing, band, p.seeingFwhmArcsec), injected: [] };
  const fullWells = ampFullWells(geom);
  const fullWell = Math.min(...fullWells);
  const bright = new Set<number>();
  if (p.kind === 'SCIENCE') {
    const s = sky.sources;
    const alpha = sky.psf.alphaPx;
    const peakFactor = (sky.psf.beta - 1) / (Math.PI * alpha * alpha);
    for (let i = 0; i < s.count; i++) {
      addMoffat(E, W, H, s.x[i], s.y[i], s.electrons[i], alpha);
      const peak = s.electrons[i] * peakFactor;
      if (peak > 0.5 * fullWell) {
        // columns where the profile can exceed the full well (with the sky on top): they may bleed
        const r = alpha * Math.sqrt(Math.max(0, (peak / (0.5 * fullWell)) ** (1 / sky.psf.beta) - 1)) + 2;
        const x0 = Math.max(0, Math.floor(s.x[i] - r));
        const x1 = Math.min(W - 1, Math.ceil(s.x[i] + r));
        for (let x = x0; x <= x1; x++) bright.add(x);
      }
    }
  }

  // 2-4. flat-field pattern, dark current with hot pixels and columns, bleed trails
  const darkE = p.kind === 'BIAS' ? 0 : cam.darkCurrentEPerS * darkTime;
  const lit = p.kind === 'SCIENCE' || p.kind === 'FLAT';
  const base = p.kind === 'FLAT' ? p.flatLevelE : p.kind === 'SCIENCE' ? sky.skyElectronsPerPixel : 0;
  const il = makeIllumination(det, inst.pixelScaleArcsec, cam.fieldRadiusArcsec, defects.ampResponse, base, darkE, lit);
  if (darkE > 0) {
    // hot pixels are dark current, not light: pre-divide by the flat the readout multiplies by
    for (let k = 0; k < defects.hotPixels.length; k++) {
      const idx = defects.hotPixels[k];
      const x = idx % W;
      const y = (idx - x) / W;
      E[idx] += (defects.hotPixelRates[k] * darkTime) / flatAt(il, ampIndexAt(geom, x, y), x, y);
    }
    for (const c of defects.hotColumns) {
      const a = ampIndexAt(geom, c.x, c.y0);
      for (let y = c.y0; y < c.y1; y++) E[y * W + c.x] += (c.rateEPerS * darkTime) / flatAt(il, a, c.x, y);
    }
  }
  if (p.kind === 'SCIENCE' && bright.size > 0) bleedColumns(E, geom, il, [...bright].sort((a, b) => a - b), fullWells);

  // 5. readout: Poisson noise, gain, bias + drift, read noise, per amplifier
  const hdus = geom.rawHdus.map((h) => ({ geometry: h, data: new Int32Array(h.width * h.height) }));
  geom.amps.forEach((amp, a) => {
    const h = hdus.findIndex((x) => x.geometry.index === amp.hduIndex);
    const hg = hdus[h].geometry;
    const [x0, x1] = ampColumns(amp);
    const rows = biasRows(amp, hg.height, snapRng.fork(`bias/${amp.name}`));
    readAmp(hdus[h].data, hg.width, hg.height, { amp, ampIndex: a, x0, x1 }, E, W, il, snapRng.fork(`noise/${amp.name}`), rows);
  });

  // 6. cosmic rays (after the Poisson noise: their deposit is already a random draw)
  const cr = simulateCosmicRays(snapRng.fork('cosmic-rays'), {
    width: W,
    height: H,
    darkTimeS: darkTime,
    ratePerCm2PerMin: p.cosmicRayRatePerCm2PerMin,
    pixelSizeUm: cam.pixelSizeUm,
    thicknessUm: cam.thicknessUm,
  });
  for (let k = 0; k < cr.pixels.length; k++) {
    const idx = cr.pixels[k];
    const loc = detectorToRaw(geom, idx % W, Math.floor(idx / W));
    if (!loc) continue;
    const amp = geom.amps[loc.ampIndex];
    const data = hdus[loc.hdu].data;
    const v = data[loc.index] + Math.round(cr.electrons[k] / amp.gainEPerAdu);
    data[loc.index] = v > amp.saturationAdu ? amp.saturationAdu : v;
  }

  // headers
  let headerWcs = sky.wcs;
  if (p.pointingErrorArcsec > 0) {
    const dir = visitRng.fork('pointing-error').uniform() * 2 * Math.PI;
    headerWcs = offsetWcs(sky.wcs, p.pointingErrorArcsec * Math.sin(dir), p.pointingErrorArcsec * Math.cos(dir));
  }
  const primaryHeader = primaryCards(p, inst, det, band, exposureId, expTime, darkTime, startMs, headerWcs, cr.events, sky.sources.count, p.injectTransients ? injected.length : null);
  const out: RawHduPixels[] = hdus.map(({ geometry: h, data }) => {
    const amps = geom.amps.filter((a) => a.hduIndex === h.index);
    const header = geom.ccdType === 'DECAM' ? decamCards(geom, det) : lsstAmpCards(geom, amps[0], geom.amps.indexOf(amps[0]) + 1);
    return { name: h.name, index: h.index, width: h.width, height: h.height, header, data };
  });
  const truth: RawTruth = {
    instrument: inst.name,
    detector: det.id,
    exposureId,
    kind: p.kind,
    band,
    exposureTimeS: expTime,
    darkTimeS: darkTime,
    wcs: sky.wcs,
    headerWcs,
    zeroPointMag: sky.zeroPointMag,
    skyElectronsPerPixel: sky.skyElectronsPerPixel,
    psf: sky.psf,
    sources: sky.sources,
    cosmicRays: cr,
    hotColumns: defects.hotColumns,
    hotPixels: defects.hotPixels,
    fullWellE: fullWells,
    injected: { ...visitHeader(p, inst), transients: injected },
  };
  return { params: p, primaryHeader, hdus: out, truth };
}
