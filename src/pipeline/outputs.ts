/**
 * Output files of a processed detector-visit, and their readers:
 * - the processed exposure: a data-less primary HDU with the visit metadata, the WCS and the
 *   pipeline's diagnostics, then IMAGE (float32), MASK (int32, afw-style MP_* cards naming the
 *   bits) and VARIANCE (float32) extensions; IMAGE and VARIANCE uncompressed, MASK tile
 *   compressed (RICE_1, one row per tile, as fpack: lossless, and a mask is mostly zero, so it
 *   takes a fraction of a percent of its 4 bytes per pixel);
 * - the source catalog: a BINTABLE 'SOURCES' with one column per SourceCatalog field, with units.
 */
import type { TanWcs } from '../astro/index.ts';
import { errorMessage, InvalidInputError } from '../core/errors.ts';
import { MaskBit, type MaskBitName, type MaskedImage } from '../core/image.ts';
import { planFits, readFits, scalingOf, writeFits, type CardInput, type FitsFile, type Hdu, type PlannedFits } from '../fits/index.ts';
import type { MasterCalibration } from './stages/calibrate-signature/calibrate-signature.ts';
import { float32FromStored, nonZeroPixels, scaledPlane, type MasterMask, type MasterPlane } from './stages/calibrate-signature/master-planes.ts';
import { sipWcsCards, sipWcsFromHeader, type SipWcs } from './lib/sip-wcs.ts';
import { makeSourceCatalog, SOURCE_COLUMNS, type SourceCatalog } from './source-catalog.ts';

export type VisitKind = 'SCIENCE' | 'BIAS' | 'DARK' | 'FLAT';

/** A header card carrying a diagnostic (keys of more than 8 characters are written HIERARCH). */
export interface DiagnosticCard {
  readonly key: string;
  readonly value: number | string | boolean;
  readonly comment?: string;
}

export interface ExposureMetadata {
  readonly instrument: string;
  readonly detector: number;
  readonly detectorName: string;
  readonly group: string;
  /** Visit id: the exposure id of snap 0 of the group. */
  readonly visit: number;
  readonly exposureIds: readonly number[];
  readonly kind: VisitKind;
  readonly filter: string;
  readonly band: string;
  /** Total over the snaps combined. */
  readonly exposureTimeS: number;
  readonly darkTimeS: number;
  readonly mjdObs: number | null;
  readonly dateObs: string | null;
  readonly raDeg: number | null;
  readonly decDeg: number | null;
  /** The header WCS from the raw, or the fitted one (TAN, with SIP distortion when fitted with it). */
  readonly wcs: TanWcs | SipWcs | null;
  /** Unit of the image plane ('electron'). */
  readonly bunit: string;
  readonly diagnostics?: readonly DiagnosticCard[];
}

/** Mask plane names in afw order: bit i of the mask is MP_<name> = i. */
const MASK_PLANES: ReadonlyArray<[MaskBitName, number]> = (Object.entries(MaskBit) as Array<[MaskBitName, number]>).sort((a, b) => a[1] - b[1]);

/** MP_<name> cards naming the mask planes, afw style. */
export function maskPlaneCards(): CardInput[] {
  return MASK_PLANES.map(([name, bit]) => ({ key: `MP_${name}`, value: Math.log2(bit), comment: `mask bit for ${name}` }));
}

/** WCS cards of a TAN or TAN-SIP WCS (1-based CRPIX). */
export function wcsCards(wcs: TanWcs | SipWcs): CardInput[] {
  return sipWcsCards({ ...wcs, sip: 'sip' in wcs ? wcs.sip : null });
}

/** The primary header of a processed exposure. */
export function metadataCards(m: ExposureMetadata): CardInput[] {
  const cards: CardInput[] = [
    { key: 'INSTRUME', value: m.instrument },
    { key: 'DETECTOR', value: m.detector, comment: 'detector id' },
    { key: 'DETNAME', value: m.detectorName },
    { key: 'GROUPID', value: m.group, comment: 'visit group' },
    { key: 'VISIT', value: m.visit, comment: 'visit id (exposure id of snap 0)' },
    { key: 'NSNAPS', value: m.exposureIds.length, comment: 'snaps combined' },
  ];
  m.exposureIds.forEach((id, i) => cards.push({ key: `EXPID${i}`, value: id, comment: `exposure id of snap ${i}` }));
  cards.push(
    { key: 'IMGTYPE', value: m.kind },
    { key: 'FILTER', value: m.filter, comment: 'physical filter' },
    { key: 'BAND', value: m.band },
    { key: 'EXPTIME', value: m.exposureTimeS, comment: '[s] total exposure time' },
    { key: 'DARKTIME', value: m.darkTimeS, comment: '[s] total dark time' },
  );
  if (m.mjdObs !== null) cards.push({ key: 'MJD-OBS', value: m.mjdObs, comment: 'start of first snap (MJD, UTC)' });
  if (m.dateObs !== null) cards.push({ key: 'DATE-OBS', value: m.dateObs, comment: 'start of first snap (UTC)' });
  if (m.raDeg !== null) cards.push({ key: 'RA', value: m.raDeg, comment: '[deg] boresight' });
  if (m.decDeg !== null) cards.push({ key: 'DEC', value: m.decDeg, comment: '[deg] boresight' });
  cards.push({ key: 'BUNIT', value: m.bunit });
  if (m.wcs) cards.push(...wcsCards(m.wcs));
  for (const d of m.diagnostics ?? []) {
    if (typeof d.value === 'number' && !Number.isFinite(d.value)) continue; // FITS has no NaN
    cards.push({ key: d.key, value: d.value, comment: d.comment });
  }
  return cards;
}

/** The processed exposure file (the mask tile compressed, see the module comment). */
export function writeProcessedExposure(masked: MaskedImage, metadata: ExposureMetadata): Uint8Array {
  const plan = planProcessedExposure(masked, metadata);
  const out = new Uint8Array(plan.byteLength);
  plan.writeTo(out);
  return out;
}

/**
 * Buffers of earlier visits' files made by writeProcessedExposureInPlace, handed back by the
 * caller once it has written them out (reuseOutputBuffers), newest first: this thread lays the
 * next visit's planes out in them rather than in fresh memory.
 */
let spareBuffers: ArrayBuffer[] = [];
/** At most this many are kept (a visit makes two such files: the processed exposure and the difference). */
const MAX_SPARE_BUFFERS = 2;

/**
 * Hands back the memory of output files this thread made with writeProcessedExposureInPlace, for
 * a caller that has written them out and reads them no more: the next planes allocateExposurePlanes
 * lays out reuse it (of the same size), which spares the page faults of some 200 MB of fresh memory
 * per file (about 80 ms on a virtual machine). Anything that still holds a view of these files
 * sees them overwritten. Buffers of other sizes, or beyond the two newest, are let go.
 */
export function reuseOutputBuffers(buffers: Iterable<ArrayBufferLike>): void {
  for (const b of buffers) {
    if (!(b instanceof ArrayBuffer) || b.byteLength === 0 || spareBuffers.includes(b)) continue;
    spareBuffers = [b, ...spareBuffers].slice(0, MAX_SPARE_BUFFERS);
  }
}

/**
 * Image and variance planes laid out so that writeProcessedExposureInPlace can make the processed
 * exposure file of them where they lie: both in one buffer, followed by room for the file's
 * headers and compressed mask. The room is never written unless the file needs it, so it takes
 * address space, not memory. The buffer is one handed back by reuseOutputBuffers when one of its
 * size is, else a new one; the planes are zero unless `clear` is false (then their values are
 * unspecified: for a caller that writes them all before reading them).
 */
export function allocateExposurePlanes(width: number, height: number, opts: { readonly clear?: boolean } = {}): { readonly image: Float32Array; readonly variance: Float32Array } {
  const n = width * height;
  // Room for the worst case: a mask that does not compress (RICE_1 adds a few bytes per block),
  // the tile table, and the headers.
  const room = 4 * n + Math.ceil(n / 8) + 8 * height + (1 << 20);
  const size = 8 * n + room;
  const i = spareBuffers.findIndex((b) => b.byteLength === size);
  const spare = i >= 0 ? spareBuffers.splice(i, 1)[0] : null;
  const buffer = spare ?? new ArrayBuffer(size);
  const planes = { image: new Float32Array(buffer, 0, n), variance: new Float32Array(buffer, 4 * n, n) };
  if (spare && opts.clear !== false) new Float32Array(buffer, 0, 2 * n).fill(0);
  return planes;
}

/**
 * writeProcessedExposure for the last use of the planes: when they come from
 * allocateExposurePlanes the file is made where they lie (the image and variance moved into
 * place and byte-swapped, no copy of them), and they are unusable afterwards; other planes are
 * written to a new buffer (and left as they are). The file may be a view of the start of a
 * larger buffer.
 */
export function writeProcessedExposureInPlace(masked: MaskedImage, metadata: ExposureMetadata): Uint8Array {
  const plan = planProcessedExposure(masked, metadata);
  const buffer = masked.image.buffer;
  if (plan.canWriteOver(buffer)) return plan.writeOver(buffer);
  const out = new Uint8Array(plan.byteLength);
  plan.writeTo(out);
  return out;
}

/**
 * The processed exposure file laid out, to be written into a buffer of its size (see planFits);
 * the planes must not change before it is.
 */
export function planProcessedExposure(masked: MaskedImage, metadata: ExposureMetadata): PlannedFits {
  const { width, height } = masked;
  const n = width * height;
  if (masked.image.length !== n || masked.mask.length !== n || masked.variance.length !== n) {
    throw new InvalidInputError(`processed exposure planes do not match ${width}x${height}`);
  }
  const wcs = metadata.wcs ? wcsCards(metadata.wcs) : [];
  const maskCards = maskPlaneCards();
  return planFits({ header: metadataCards(metadata) }, [
    { extname: 'IMAGE', header: [{ key: 'BUNIT', value: metadata.bunit }, ...wcs], width, height, data: masked.image },
    { extname: 'MASK', header: [...maskCards, ...wcs], width, height, data: masked.mask, compression: { type: 'RICE_1', tileWidth: width, tileHeight: 1 } },
    { extname: 'VARIANCE', header: [{ key: 'BUNIT', value: `${metadata.bunit}2` }, ...wcs], width, height, data: masked.variance },
  ]);
}

function num(h: Hdu, key: string): number | null {
  const v = h.header.get(key);
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return null;
}

function str(h: Hdu, key: string): string | null {
  const v = h.header.get(key);
  return typeof v === 'string' ? v : null;
}

/** The visit metadata of a primary header written with metadataCards. */
export function readExposureMetadata(primary: Hdu, label: string): ExposureMetadata {
  const need = <T>(v: T | null, key: string): T => {
    if (v === null) throw new InvalidInputError(`${label}: primary header keyword ${key} is missing or of the wrong type`);
    return v;
  };
  const nSnaps = need(num(primary, 'NSNAPS'), 'NSNAPS');
  const exposureIds: number[] = [];
  for (let i = 0; i < nSnaps; i++) exposureIds.push(need(num(primary, `EXPID${i}`), `EXPID${i}`));
  const kind = need(str(primary, 'IMGTYPE'), 'IMGTYPE');
  if (!['SCIENCE', 'BIAS', 'DARK', 'FLAT'].includes(kind)) throw new InvalidInputError(`${label}: IMGTYPE '${kind}' is not a visit kind`);
  const known = new Set(['INSTRUME', 'DETECTOR', 'DETNAME', 'GROUPID', 'VISIT', 'NSNAPS', 'IMGTYPE', 'FILTER', 'BAND', 'EXPTIME', 'DARKTIME', 'MJD-OBS', 'DATE-OBS', 'RA', 'DEC', 'BUNIT']);
  const diagnostics: DiagnosticCard[] = [];
  for (const card of primary.header.cards()) {
    const key = card.key;
    if (!key || known.has(key) || /^EXPID\d+$/.test(key) || STRUCTURAL.test(key) || WCS_KEYS.test(key)) continue;
    const v = card.value;
    if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') diagnostics.push({ key, value: v, comment: card.comment || undefined });
  }
  return {
    instrument: need(str(primary, 'INSTRUME'), 'INSTRUME'),
    detector: need(num(primary, 'DETECTOR'), 'DETECTOR'),
    detectorName: str(primary, 'DETNAME') ?? '',
    group: need(str(primary, 'GROUPID'), 'GROUPID'),
    visit: need(num(primary, 'VISIT'), 'VISIT'),
    exposureIds,
    kind: kind as VisitKind,
    filter: need(str(primary, 'FILTER'), 'FILTER'),
    band: need(str(primary, 'BAND'), 'BAND'),
    exposureTimeS: need(num(primary, 'EXPTIME'), 'EXPTIME'),
    darkTimeS: need(num(primary, 'DARKTIME'), 'DARKTIME'),
    mjdObs: num(primary, 'MJD-OBS'),
    dateObs: str(primary, 'DATE-OBS'),
    raDeg: num(primary, 'RA'),
    decDeg: num(primary, 'DEC'),
    wcs: sipWcsFromHeader((k) => {
      const v = primary.header.get(k);
      return typeof v === 'bigint' ? Number(v) : v;
    }),
    bunit: str(primary, 'BUNIT') ?? '',
    diagnostics,
  };
}

const STRUCTURAL = /^(SIMPLE|BITPIX|NAXIS\d*|EXTEND|END|COMMENT|HISTORY|CHECKSUM|DATASUM|PCOUNT|GCOUNT|XTENSION|EXTNAME|TFIELDS|TTYPE\d+|TFORM\d+|TUNIT\d+)$/;
const WCS_KEYS = /^(WCSAXES|CTYPE[12]|CUNIT[12]|CRVAL[12]|CRPIX[12]|CD[12]_[12]|RADESYS|EQUINOX|[AB]_ORDER|[AB]_\d+_\d+)$/;

function open(bytes: Uint8Array, label: string): FitsFile {
  try {
    return readFits(bytes, { name: label });
  } catch (err) {
    throw new InvalidInputError(`${label}: not a readable FITS file: ${errorMessage(err)}`, { cause: err });
  }
}

export interface ProcessedExposure {
  readonly masked: MaskedImage;
  readonly metadata: ExposureMetadata;
}

/** The metadata and size of a processed-exposure file, without decoding its pixels. */
export function readProcessedExposureInfo(bytes: Uint8Array, label = 'processed exposure'): { metadata: ExposureMetadata; width: number; height: number } {
  const file = open(bytes, label);
  const metadata = readExposureMetadata(file.hdus[0], label);
  if (!file.has('IMAGE')) throw new InvalidInputError(`${label}: HDU IMAGE is missing`);
  const [width, height] = file.hdu('IMAGE').shape;
  return { metadata, width, height };
}

/**
 * Reads a file written by writeProcessedExposure; mask bits are remapped through its MP_* cards.
 * `into`: planes of the file's size to decode into (their contents are overwritten), e.g. those
 * of the previous file of a series read one at a time; new ones when not given or of another size.
 * `rows`: only rows y0 … y1 − 1 of the planes are decoded (only the tiles holding them), into those
 * rows of the full-size planes returned; their other rows are unspecified (what `into` held, or
 * zeros in new planes).
 */
export function readProcessedExposure(
  bytes: Uint8Array,
  label = 'processed exposure',
  into: MaskedImage | null = null,
  rows: { readonly y0: number; readonly y1: number } | null = null,
): ProcessedExposure {
  const file = open(bytes, label);
  const metadata = readExposureMetadata(file.hdus[0], label);
  const plane = (name: string): Hdu => {
    if (!file.has(name)) throw new InvalidInputError(`${label}: HDU ${name} is missing`);
    return file.hdu(name);
  };
  const img = plane('IMAGE');
  const msk = plane('MASK');
  const vr = plane('VARIANCE');
  const [w, h] = img.shape;
  for (const hdu of [msk, vr]) {
    if (hdu.shape[0] !== w || hdu.shape[1] !== h) throw new InvalidInputError(`${label}: HDU ${hdu.name} is ${hdu.shape.join('x')}, IMAGE is ${w}x${h}`);
  }
  const reuse = into !== null && into.width === w && into.height === h ? into : null;
  if (rows !== null) return { masked: readRows(label, img, msk, vr, w, h, reuse, rows), metadata };
  // The file is ours alone: its decoded planes are taken rather than copied.
  const image = reuse ? img.float32Into(reuse.image) : img.takeFloat32();
  const variance = reuse ? vr.float32Into(reuse.variance) : vr.takeFloat32();
  const mskScaling = scalingOf(msk.header, msk.bitpix);
  // Unscaled, the stored values are the mask's values.
  const rawMask = reuse && mskScaling.bscale === 1 && mskScaling.bzero === 0 ? msk.storedPixelsInto(reuse.mask) : msk.takePixels();
  const remap = maskRemap(msk);
  const mask = rawMask instanceof Int32Array ? rawMask : new Int32Array(rawMask);
  if (remap !== null) for (let i = 0; i < mask.length; i++) mask[i] = remapBits(mask[i], remap);
  return { masked: { width: w, height: h, image, mask, variance }, metadata };
}

/** readProcessedExposure of rows y0 … y1 − 1 only, into `into` or new planes. */
function readRows(label: string, img: Hdu, msk: Hdu, vr: Hdu, w: number, h: number, into: MaskedImage | null, rows: { readonly y0: number; readonly y1: number }): MaskedImage {
  const { y0, y1 } = rows;
  if (!(Number.isInteger(y0) && Number.isInteger(y1) && y0 >= 0 && y0 <= y1 && y1 <= h)) throw new InvalidInputError(`${label}: invalid row range ${y0} … ${y1} of ${h} rows`);
  const n = w * h;
  const image = img.float32RowsInto(into ? into.image : new Float32Array(n), y0, y1);
  const variance = vr.float32RowsInto(into ? into.variance : new Float32Array(n), y0, y1);
  const mask = into ? into.mask : new Int32Array(n);
  const mskScaling = scalingOf(msk.header, msk.bitpix);
  if (msk.bitpix === 32 && mskScaling.bscale === 1 && mskScaling.bzero === 0) {
    // Unscaled 32-bit integers: the stored values are the mask's values.
    msk.storedPixelsRowsInto(mask, y0, y1);
  } else {
    mask.set(msk.takePixels().subarray(y0 * w, y1 * w), y0 * w);
  }
  const remap = maskRemap(msk);
  if (remap !== null) for (let i = y0 * w; i < y1 * w; i++) mask[i] = remapBits(mask[i], remap);
  return { width: w, height: h, image, mask, variance };
}

/** File mask bits → ours, by plane name (MP_* cards); null when they are the same. */
function maskRemap(msk: Hdu): Array<[number, number]> | null {
  const remap: Array<[number, number]> = [];
  let identity = true;
  for (const [name, bit] of MASK_PLANES) {
    const fileBit = num(msk, `MP_${name}`);
    if (fileBit === null) continue;
    remap.push([1 << fileBit, bit]);
    if (1 << fileBit !== bit) identity = false;
  }
  return identity ? null : remap;
}

function remapBits(v: number, remap: ReadonlyArray<[number, number]>): number {
  let m = 0;
  for (const [from, to] of remap) if (v & from) m |= to;
  return m;
}

/**
 * A master calibration file (processed-exposure format), its planes kept compactly where that is
 * exact: image and variance as the file's stored integers when they fit 16 bits, the mask as its
 * non-zero pixels when they are few (master-planes.ts). The values are those readProcessedExposure
 * gives, in a half or less of the memory.
 */
export function readMasterCalibration(
  bytes: Uint8Array,
  label = 'master calibration',
  /**
   * A plane of the image's size to decode 32-bit integer planes into before they are made
   * compact, for a caller that reads several masters: one buffer then serves them all, instead of
   * a full-size array per plane let go once read. Its contents are overwritten.
   */
  scratch: Int32Array | null = null,
): { master: MasterCalibration; metadata: ExposureMetadata } {
  const file = open(bytes, label);
  const metadata = readExposureMetadata(file.hdus[0], label);
  const plane = (name: string): Hdu => {
    if (!file.has(name)) throw new InvalidInputError(`${label}: HDU ${name} is missing`);
    return file.hdu(name);
  };
  const img = plane('IMAGE');
  const msk = plane('MASK');
  const vr = plane('VARIANCE');
  const [w, h] = img.shape;
  for (const hdu of [msk, vr]) {
    if (hdu.shape[0] !== w || hdu.shape[1] !== h) throw new InvalidInputError(`${label}: HDU ${hdu.name} is ${hdu.shape.join('x')}, IMAGE is ${w}x${h}`);
  }
  const image = compactPlane(img, scratch);
  const variance = compactPlane(vr, scratch);
  const identity = (hdu: Hdu): boolean => {
    const { bscale, bzero } = scalingOf(hdu.header, hdu.bitpix);
    return bscale === 1 && bzero === 0;
  };
  // Unscaled, the stored values are the mask's values.
  const rawMask = scratch !== null && identity(msk) ? msk.storedPixelsInto(scratch) : msk.pixels();
  const remap = maskRemap(msk);
  const n = rawMask.length;
  // Sparse when fewer than an eighth of the pixels are non-zero.
  const sparse = nonZeroPixels(rawMask, Math.ceil(n / 8));
  let mask: MasterMask;
  if (sparse !== null) {
    const { index, value } = sparse;
    let k = index.length;
    if (remap !== null) {
      k = 0;
      for (let j = 0; j < index.length; j++) {
        const m = remapBits(value[j], remap);
        if (m === 0) continue;
        index[k] = index[j];
        value[k++] = m;
      }
    }
    mask = { length: n, index: index.subarray(0, k), value: value.subarray(0, k) };
  } else {
    const dense = rawMask === scratch ? rawMask : msk.takePixels();
    mask = dense instanceof Int32Array && dense !== scratch ? dense : new Int32Array(dense);
    if (remap !== null) for (let i = 0; i < n; i++) mask[i] = remapBits(mask[i], remap);
  }
  return { master: { width: w, height: h, image, mask, variance }, metadata };
}

/** A plane as stored integers with their scaling when they fit 16 bits, else as Float32. */
function compactPlane(hdu: Hdu, scratch: Int32Array | null): MasterPlane {
  const bitpix = hdu.bitpix;
  if (bitpix > 0 && bitpix !== 64) {
    const scaling = scalingOf(hdu.header, bitpix);
    const stored = scratch !== null ? hdu.storedPixelsInto(scratch) : hdu.storedPixels();
    const compact = scaledPlane(stored, scaling.bscale, scaling.bzero, scaling.blank);
    if (compact !== null) return compact;
    // The scratch is not ours to keep: the values are converted into a new plane.
    if (stored === scratch) return float32FromStored(scratch, scaling.bscale, scaling.bzero, scaling.blank);
  }
  return hdu.takeFloat32();
}

/** The source catalog file: a BINTABLE 'SOURCES' with units, and the visit metadata in its header. */
export function writeSourceCatalog(catalog: SourceCatalog, metadata: ExposureMetadata): Uint8Array {
  const header = metadataCards(metadata);
  return writeFits({ header }, [
    {
      kind: 'table',
      extname: 'SOURCES',
      header: [{ key: 'NSOURCES', value: catalog.length, comment: 'rows' }],
      columns: SOURCE_COLUMNS.map((c) => ({ name: c.name, format: c.format, unit: c.unit || undefined, data: catalog[c.name] })),
    },
  ]);
}

export interface SourceCatalogFile {
  readonly catalog: SourceCatalog;
  readonly metadata: ExposureMetadata;
  /** Unit per column as written. */
  readonly units: Readonly<Record<string, string>>;
}

export function readSourceCatalog(bytes: Uint8Array, label = 'source catalog'): SourceCatalogFile {
  const file = open(bytes, label);
  const metadata = readExposureMetadata(file.hdus[0], label);
  if (!file.has('SOURCES')) throw new InvalidInputError(`${label}: HDU SOURCES is missing`);
  const table = file.hdu('SOURCES').table();
  const cat = makeSourceCatalog(table.nrows);
  const units: Record<string, string> = {};
  for (const c of SOURCE_COLUMNS) {
    if (!table.has(c.name)) {
      if (!c.optional) throw new InvalidInputError(`${label}: column ${c.name} is missing`);
      // A catalog written before the column existed.
      cat[c.name].fill(NaN);
      continue;
    }
    const data = table.column(c.name);
    const target = cat[c.name];
    if (!ArrayBuffer.isView(data) || (data as ArrayLike<number>).length !== table.nrows) {
      throw new InvalidInputError(`${label}: column ${c.name} is not numeric`);
    }
    target.set(data as ArrayLike<number>);
    units[c.name] = table.columns.find((x) => x.name === c.name)?.unit ?? '';
  }
  return { catalog: cat, metadata, units };
}
