import { tanWcsFromHeader, type TanWcs } from '../../../astro/index.ts';
import { errorMessage, InvalidInputError } from '../../../core/errors.ts';
import { parseSection, readFits, scalingOf, type FitsFile, type Hdu } from '../../../fits/index.ts';
import {
  exposureIdFor,
  getInstrument,
  type AmpGeometry,
  type Box,
  type CcdGeometry,
  type InstrumentName,
} from '../../../instruments/index.ts';
import type { RawAmp, RawPlane } from '../../types.ts';

/**
 * Raw input: parses one raw file (one detector, one snap), checks it against the instrument's
 * geometry and against what the object key promised, and returns the per-amp raw pixels with
 * the exposure's header values. Every problem is an InvalidInputError naming the HDU and keyword.
 */

/** What the object key (or the visit) says the file must be; every field given is checked. */
export interface RawExpectation {
  readonly instrument?: string;
  readonly detector?: number;
  readonly group?: string;
  readonly snap?: number;
  readonly exposureId?: number;
  readonly filter?: string;
}

export interface RawExposure {
  readonly instrument: InstrumentName;
  readonly detector: number;
  readonly detectorName: string;
  readonly group: string;
  readonly snap: number;
  readonly exposureId: number;
  readonly filter: string;
  readonly band: string;
  /** OBSTYPE/IMGTYPE in upper case ('SCIENCE' for 'science'), or null when absent. */
  readonly observationType: string | null;
  readonly exposureTimeS: number;
  /** DARKTIME, or EXPTIME when absent. */
  readonly darkTimeS: number;
  /** MJD-OBS (start of exposure, UTC), or null. */
  readonly mjdObs: number | null;
  readonly dateObs: string | null;
  /** Boresight RA/Dec (degrees), or null. */
  readonly raDeg: number | null;
  readonly decDeg: number | null;
  /** The header's TAN WCS in trimmed-detector pixels, or null when the header has none. */
  readonly wcs: TanWcs | null;
  readonly geometry: CcdGeometry;
  readonly amps: readonly RawAmp[];
}

export interface ReadRawOptions {
  /** Name for error messages (the object key). */
  readonly name?: string;
  /**
   * Memory the raw HDUs' 32-bit integer pixels are decoded into, as far as it goes (the others
   * decode to arrays of their own): e.g. planes a visit needs only later, so that the raws take
   * no memory of their own.
   */
  readonly pixels?: RawPixelBuffer;
}

/**
 * Consecutive Int32Array views handed out from some memory (one or more regions, in order): the
 * pixels of a visit's raw snaps, one HDU after the other, as long as there is room.
 */
export class RawPixelBuffer {
  readonly #regions: readonly Int32Array[];
  #region = 0;
  #offset = 0;

  constructor(regions: readonly Int32Array[]) {
    this.#regions = regions;
  }

  /** The next n int32s, or null when they fit in no region left. */
  take(n: number): Int32Array | null {
    for (; this.#region < this.#regions.length; this.#region++, this.#offset = 0) {
      const r = this.#regions[this.#region];
      if (this.#offset + n <= r.length) {
        const view = r.subarray(this.#offset, this.#offset + n);
        this.#offset += n;
        return view;
      }
    }
    return null;
  }
}

/** True when the HDU's physical values are its stored 32-bit integers (no BSCALE, BZERO, BLANK). */
function unscaledInt32(h: Hdu): boolean {
  if (h.bitpix !== 32) return false;
  const s = scalingOf(h.header, 32);
  return s.bscale === 1 && s.bzero === 0 && s.blank === null;
}

function where(label: string, hdu: string, keyword?: string): string {
  return keyword ? `raw ${label}: HDU ${hdu} keyword ${keyword}` : `raw ${label}: HDU ${hdu}`;
}

function headerString(h: Hdu, key: string, label: string, hduName: string): string {
  const v = h.header.get(key);
  if (v === undefined || v === null) throw new InvalidInputError(`${where(label, hduName, key)} is missing`);
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  throw new InvalidInputError(`${where(label, hduName, key)} is ${String(v)}, expected a string`);
}

function headerNumber(h: Hdu, key: string, label: string, hduName: string): number {
  const v = h.header.get(key);
  if (v === undefined || v === null) throw new InvalidInputError(`${where(label, hduName, key)} is missing`);
  const n = typeof v === 'bigint' ? Number(v) : typeof v === 'string' && /^\s*-?\d+(\.\d*)?\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) {
    throw new InvalidInputError(`${where(label, hduName, key)} is ${JSON.stringify(v)}, expected a number`);
  }
  return n;
}

function optionalNumber(h: Hdu, key: string, label: string, hduName: string): number | null {
  return h.header.has(key) && h.header.get(key) !== null ? headerNumber(h, key, label, hduName) : null;
}

function headerInt(h: Hdu, key: string, label: string, hduName: string): number {
  const n = headerNumber(h, key, label, hduName);
  if (!Number.isInteger(n)) throw new InvalidInputError(`${where(label, hduName, key)} is ${n}, expected an integer`);
  return n;
}

function sameBox(a: Box, b: { x0: number; x1: number; y0: number; y1: number }): boolean {
  return a.x0 === b.x0 && a.x1 === b.x1 && a.y0 === b.y0 && a.y1 === b.y1;
}

function fmtBox(b: Box): string {
  return `[${b.x0 + 1}:${b.x1},${b.y0 + 1}:${b.y1}]`;
}

/** Checks an optional section keyword against the geometry. */
function checkSection(h: Hdu, key: string, expected: Box, label: string, hduName: string): void {
  if (!h.header.has(key)) return;
  const text = headerString(h, key, label, hduName);
  let s;
  try {
    s = parseSection(text);
  } catch (err) {
    throw new InvalidInputError(`${where(label, hduName, key)}: ${errorMessage(err)}`, { cause: err });
  }
  if (!sameBox(expected, s)) {
    throw new InvalidInputError(`${where(label, hduName, key)} is '${text}', the geometry says ${fmtBox(expected)}`);
  }
}

/** Per-amp electronics: `${key}${amp}` in a multi-amp HDU (DECam GAINA), `${key}` otherwise, nominal when absent. */
function ampValue(h: Hdu, keys: readonly string[], amp: AmpGeometry, shared: boolean, nominal: number, label: string): number {
  for (const key of keys) {
    const k = shared ? `${key}${amp.name}` : key;
    if (h.header.has(k) && h.header.get(k) !== null) {
      const v = headerNumber(h, k, label, amp.hduName);
      if (!(v > 0)) throw new InvalidInputError(`${where(label, amp.hduName, k)} is ${v}, expected a positive number`);
      return v;
    }
  }
  return nominal;
}

function toInt32(pix: ArrayLike<number>): Int32Array {
  if (pix instanceof Int32Array) return pix;
  const out = new Int32Array(pix.length);
  for (let i = 0; i < pix.length; i++) out[i] = Math.round(pix[i]);
  return out;
}

/** Parses and checks a raw file; see the module comment. */
export function readRawExposure(bytes: Uint8Array, expected: RawExpectation = {}, opts: ReadRawOptions = {}): RawExposure {
  const label = opts.name ?? 'file';
  let file: FitsFile;
  try {
    file = readFits(bytes, { name: opts.name });
  } catch (err) {
    throw new InvalidInputError(`raw ${label}: not a readable FITS file: ${errorMessage(err)}`, { cause: err });
  }
  try {
    return checkRaw(file, expected, label, opts.pixels ?? null);
  } catch (err) {
    if (err instanceof InvalidInputError) throw err;
    // Anything else while decoding a garbled file is still bad input.
    throw new InvalidInputError(`raw ${label}: ${errorMessage(err)}`, { cause: err });
  }
}

function checkRaw(file: FitsFile, expected: RawExpectation, label: string, buffer: RawPixelBuffer | null): RawExposure {
  const primary = file.hdus[0];
  const P = 'PRIMARY';
  const instName = headerString(primary, 'INSTRUME', label, P);
  let inst;
  try {
    inst = getInstrument(instName);
  } catch (err) {
    throw new InvalidInputError(`${where(label, P, 'INSTRUME')}: ${errorMessage(err)}`, { cause: err });
  }
  const detector = headerInt(primary, 'DETECTOR', label, P);
  let det;
  try {
    det = inst.detector(detector);
  } catch (err) {
    throw new InvalidInputError(`${where(label, P, 'DETECTOR')}: ${errorMessage(err)}`, { cause: err });
  }
  const group = headerString(primary, 'GROUPID', label, P);
  const snap = headerInt(primary, 'SNAP', label, P);
  const exposureId = headerInt(primary, 'EXPID', label, P);
  const filter = headerString(primary, 'FILTER', label, P);
  let physical;
  try {
    physical = inst.filter(filter);
  } catch (err) {
    throw new InvalidInputError(`${where(label, P, 'FILTER')}: ${errorMessage(err)}`, { cause: err });
  }
  const band = primary.header.has('BAND') ? headerString(primary, 'BAND', label, P) : physical.band;
  if (band !== physical.band) {
    throw new InvalidInputError(`${where(label, P, 'BAND')} is '${band}', but filter ${filter} is band ${physical.band}`);
  }
  let idForGroup: number;
  try {
    idForGroup = exposureIdFor(group, snap, inst.snaps);
  } catch (err) {
    throw new InvalidInputError(`${where(label, P, 'GROUPID')}/SNAP: ${errorMessage(err)}`, { cause: err });
  }
  if (idForGroup !== exposureId) {
    throw new InvalidInputError(`${where(label, P, 'EXPID')} is ${exposureId}, but group ${group} snap ${snap} gives ${idForGroup}`);
  }
  const exposureTimeS = headerNumber(primary, 'EXPTIME', label, P);
  if (exposureTimeS < 0) throw new InvalidInputError(`${where(label, P, 'EXPTIME')} is negative (${exposureTimeS})`);
  const darkTimeS = optionalNumber(primary, 'DARKTIME', label, P) ?? exposureTimeS;
  if (darkTimeS < 0) throw new InvalidInputError(`${where(label, P, 'DARKTIME')} is negative (${darkTimeS})`);

  // What the object key promised.
  const checks: Array<[keyof RawExpectation, string, unknown]> = [
    ['instrument', 'INSTRUME', inst.name],
    ['detector', 'DETECTOR', detector],
    ['group', 'GROUPID', group],
    ['snap', 'SNAP', snap],
    ['exposureId', 'EXPID', exposureId],
    ['filter', 'FILTER', filter],
  ];
  for (const [field, key, actual] of checks) {
    const want = expected[field];
    if (want !== undefined && want !== actual) {
      throw new InvalidInputError(`${where(label, P, key)} is ${JSON.stringify(actual)}, but the object key says ${field} ${JSON.stringify(want)}`);
    }
  }

  const obsType = primary.header.has('OBSTYPE')
    ? headerString(primary, 'OBSTYPE', label, P).toUpperCase()
    : primary.header.has('IMGTYPE')
      ? headerString(primary, 'IMGTYPE', label, P).toUpperCase()
      : null;
  const dateObs = primary.header.has('DATE-OBS') ? headerString(primary, 'DATE-OBS', label, P) : null;
  const wcs = tanWcsFromHeader((k) => {
    const v = primary.header.get(k);
    return typeof v === 'bigint' ? Number(v) : v;
  });

  // Raw HDUs.
  const geometry = det.geometry();
  const planes = new Map<number, RawPlane>();
  const hdus = new Map<number, Hdu>();
  for (const g of geometry.rawHdus) {
    if (!file.has(g.name)) {
      const names = file.hdus.slice(1).map((h) => h.name || `#${h.index}`);
      throw new InvalidInputError(`raw ${label}: HDU ${g.name} is missing (file has ${names.length ? names.join(', ') : 'no extensions'})`);
    }
    const h = file.hdu(g.name);
    if (!h.isImage) throw new InvalidInputError(`${where(label, g.name)} is a ${h.type} HDU, expected an image`);
    const [w, hh] = h.shape;
    if (h.shape.length !== 2 || w !== g.width || hh !== g.height) {
      throw new InvalidInputError(`${where(label, g.name)} is ${h.shape.join('x') || 'empty'}, expected ${g.width}x${g.height}`);
    }
    let pix;
    try {
      const into = buffer && unscaledInt32(h) ? buffer.take(g.width * g.height) : null;
      pix = into ? h.storedPixelsInto(into) : h.pixels();
    } catch (err) {
      throw new InvalidInputError(`${where(label, g.name)}: pixels cannot be decoded: ${errorMessage(err)}`, { cause: err });
    }
    if (pix.length !== g.width * g.height) {
      throw new InvalidInputError(`${where(label, g.name)} decodes to ${pix.length} pixels, expected ${g.width * g.height}`);
    }
    planes.set(g.index, { width: g.width, height: g.height, data: toInt32(pix) });
    hdus.set(g.index, h);
  }

  const amps: RawAmp[] = geometry.amps.map((amp) => {
    const h = hdus.get(amp.hduIndex) as Hdu;
    const shared = geometry.amps.filter((a) => a.hduIndex === amp.hduIndex).length > 1;
    const sfx = shared ? amp.name : '';
    checkSection(h, `DATASEC${sfx}`, amp.rawData, label, amp.hduName);
    checkSection(h, `BIASSEC${sfx}`, amp.serialOverscan, label, amp.hduName);
    return {
      amp,
      raw: planes.get(amp.hduIndex) as RawPlane,
      gainEPerAdu: ampValue(h, ['GAIN'], amp, shared, amp.gainEPerAdu, label),
      readNoiseE: ampValue(h, ['RDNOISE'], amp, shared, amp.readNoiseE, label),
      saturationAdu: ampValue(h, shared ? ['SATURAT'] : ['SATURATE'], amp, shared, amp.saturationAdu, label),
    };
  });

  return {
    instrument: inst.name,
    detector,
    detectorName: det.name,
    group,
    snap,
    exposureId,
    filter,
    band,
    observationType: obsType,
    exposureTimeS,
    darkTimeS,
    mjdObs: optionalNumber(primary, 'MJD-OBS', label, P),
    dateObs,
    raDeg: optionalNumber(primary, 'RA', label, P),
    decDeg: optionalNumber(primary, 'DEC', label, P),
    wcs,
    geometry,
    amps,
  };
}
