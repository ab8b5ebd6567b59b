/**
 * Postage stamps around DiaSources: for each source, sizePx x sizePx stamps of the science
 * image, the template and the difference (image, variance and mask each), centred on the
 * rounded position; pixels off the detector are NaN (image, variance) and NO_DATA (mask).
 *
 * Files:
 * - `dia_cutouts`: a primary HDU with the caller's cards and a BINTABLE 'CUTOUTS', one row per
 *   source: diaSourceId (K), x0, y0 (J, 0-based stamp origin on the detector) and one
 *   fixed-size array column (repeat sizePx², TDIM (sizePx,sizePx), row-major with x fastest as
 *   FITS images) per plane: science, scienceVariance, scienceMask, template, ..., difference,
 *   differenceVariance, differenceMask (E for images and variances, J for masks).
 * - cutoutToFitsImage: one stamp as a small standalone FITS image (the primary HDU) with the
 *   detector's WCS shifted to the stamp, as alert packets carry them.
 *
 * The FITS writer (src/fits/writer.ts) has no repeat counts for numeric columns, so the CUTOUTS
 * table is encoded here (encodeArrayTable) from the FITS layer's Header and Card; the reader is
 * the FITS layer's.
 */
import { Buffer } from 'node:buffer';
import { z } from 'zod';
import { InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, type MaskedImage } from '../../../core/image.ts';
import { Header, writeFits, type CardInput, type ImageHduInput } from '../../../fits/index.ts';
import { parseConfig } from '../../config.ts';
import { sipWcsCards, type SipWcs } from '../../lib/sip-wcs.ts';
import type { TanWcs } from '../../../astro/index.ts';
import { openFits } from './dia-source-catalog.ts';

export const DEFAULT_CUTOUT_SIZE_PX = 31;

export const CutoutsConfig = z.object({
  /** Stamp side (pixels), odd so that the source pixel is the centre. */
  sizePx: z
    .number()
    .int()
    .min(3)
    .max(255)
    .refine((v) => v % 2 === 1, 'must be odd')
    .default(DEFAULT_CUTOUT_SIZE_PX),
});
export type CutoutsConfig = z.output<typeof CutoutsConfig>;
export type CutoutsConfigInput = z.input<typeof CutoutsConfig>;

export function makeCutoutsConfig(input: CutoutsConfigInput = {}): CutoutsConfig {
  return parseConfig(CutoutsConfig, input, 'cutouts');
}

/** The stamps of one plane set, stamp k at [k·size², (k+1)·size²), row-major. */
export interface StampPlanes {
  readonly image: Float32Array;
  readonly variance: Float32Array;
  readonly mask: Int32Array;
}

export type StampKind = 'science' | 'template' | 'difference';
export const STAMP_KINDS: readonly StampKind[] = ['science', 'template', 'difference'];

export interface PostageStamps {
  readonly count: number;
  readonly sizePx: number;
  /** Detector pixel (0-based) of each stamp's pixel (0, 0). */
  readonly x0: Int32Array;
  readonly y0: Int32Array;
  readonly science: StampPlanes;
  readonly template: StampPlanes;
  readonly difference: StampPlanes;
}

export interface CutPostageStampsInput {
  readonly science: MaskedImage;
  readonly template: MaskedImage;
  readonly difference: MaskedImage;
  /** Source positions, 0-based pixels. */
  readonly x: Float64Array;
  readonly y: Float64Array;
  /** Default DEFAULT_CUTOUT_SIZE_PX. */
  readonly sizePx?: number;
}

/** One stamp: views into PostageStamps (no copy) or standalone arrays. */
export interface Stamp {
  readonly width: number;
  readonly height: number;
  readonly image: Float32Array;
  readonly variance?: Float32Array;
  readonly mask?: Int32Array;
}

function emptyPlanes(len: number): StampPlanes {
  return { image: new Float32Array(len), variance: new Float32Array(len), mask: new Int32Array(len) };
}

/** The stamp origin for a position: round(v) − floor(size / 2). */
export function stampOrigin(v: number, sizePx: number): number {
  return Math.round(v) - (sizePx >> 1);
}

function copyStamp(src: MaskedImage, dst: StampPlanes, k: number, size: number, x0: number, y0: number): void {
  const { width: W, height: H } = src;
  const off = k * size * size;
  const xa = Math.max(0, x0);
  const xb = Math.min(W, x0 + size);
  for (let j = 0; j < size; j++) {
    const y = y0 + j;
    const row = off + j * size;
    if (y < 0 || y >= H || xa >= xb) {
      dst.image.fill(NaN, row, row + size);
      dst.variance.fill(NaN, row, row + size);
      dst.mask.fill(MaskBit.NO_DATA, row, row + size);
      continue;
    }
    const left = xa - x0;
    const right = xb - x0;
    if (left > 0) {
      dst.image.fill(NaN, row, row + left);
      dst.variance.fill(NaN, row, row + left);
      dst.mask.fill(MaskBit.NO_DATA, row, row + left);
    }
    if (right < size) {
      dst.image.fill(NaN, row + right, row + size);
      dst.variance.fill(NaN, row + right, row + size);
      dst.mask.fill(MaskBit.NO_DATA, row + right, row + size);
    }
    const base = y * W;
    dst.image.set(src.image.subarray(base + xa, base + xb), row + left);
    dst.variance.set(src.variance.subarray(base + xa, base + xb), row + left);
    dst.mask.set(src.mask.subarray(base + xa, base + xb), row + left);
  }
}

export function cutPostageStamps(input: CutPostageStampsInput): PostageStamps {
  const size = input.sizePx ?? DEFAULT_CUTOUT_SIZE_PX;
  if (!Number.isInteger(size) || size < 1) throw new InvalidInputError(`cutouts: size ${size} px is not a positive integer`);
  const { science, template, difference, x, y } = input;
  const W = difference.width;
  const H = difference.height;
  for (const [name, m] of [
    ['science', science],
    ['template', template],
    ['difference', difference],
  ] as const) {
    const nPix = W * H;
    if (m.width !== W || m.height !== H || m.image.length !== nPix || m.variance.length !== nPix || m.mask.length !== nPix) {
      throw new InvalidInputError(`cutouts: ${name} is ${m.width}x${m.height}, the difference is ${W}x${H}`);
    }
  }
  if (x.length !== y.length) throw new InvalidInputError(`cutouts: ${x.length} x but ${y.length} y positions`);
  const n = x.length;
  const len = n * size * size;
  const out: PostageStamps = {
    count: n,
    sizePx: size,
    x0: new Int32Array(n),
    y0: new Int32Array(n),
    science: emptyPlanes(len),
    template: emptyPlanes(len),
    difference: emptyPlanes(len),
  };
  for (let k = 0; k < n; k++) {
    if (!Number.isFinite(x[k]) || !Number.isFinite(y[k])) throw new InvalidInputError(`cutouts: position ${k} (${x[k]}, ${y[k]}) is not finite`);
    const x0 = stampOrigin(x[k], size);
    const y0 = stampOrigin(y[k], size);
    out.x0[k] = x0;
    out.y0[k] = y0;
    copyStamp(science, out.science, k, size, x0, y0);
    copyStamp(template, out.template, k, size, x0, y0);
    copyStamp(difference, out.difference, k, size, x0, y0);
  }
  return out;
}

/** Stamp k of one kind, as views into `stamps`. */
export function stampAt(stamps: PostageStamps, k: number, kind: StampKind): Stamp {
  if (!Number.isInteger(k) || k < 0 || k >= stamps.count) throw new RangeError(`stamp ${k} is outside 0..${stamps.count - 1}`);
  const s = stamps.sizePx;
  const a = k * s * s;
  const b = a + s * s;
  const p = stamps[kind];
  return { width: s, height: s, image: p.image.subarray(a, b), variance: p.variance.subarray(a, b), mask: p.mask.subarray(a, b) };
}

/** WCS cards (1-based CRPIX) of `wcs` moved to a sub-image whose pixel (0, 0) is detector pixel (x0, y0). */
export function shiftedWcsCards(wcs: SipWcs | TanWcs, x0: number, y0: number): CardInput[] {
  const sip = 'sip' in wcs ? wcs.sip : null;
  // SIP polynomials are in u = x − crpix, unchanged when both move by the origin.
  return sipWcsCards({ crvalDeg: wcs.crvalDeg, crpix: [wcs.crpix[0] - x0, wcs.crpix[1] - y0], cd: wcs.cd, sip });
}

export interface CutoutFitsOptions {
  /** Also write VARIANCE and MASK image extensions (when the stamp has them). Default false. */
  readonly includeVarianceAndMask?: boolean;
  /** More primary header cards (e.g. diaSourceId, BUNIT). */
  readonly header?: readonly CardInput[];
}

/**
 * One stamp as a standalone FITS file: the image in the primary HDU with the WCS shifted to the
 * stamp (null: no WCS cards) and LTV1/LTV2 = −x0/−y0 (IRAF physical = detector pixel).
 */
export function cutoutToFitsImage(stamp: Stamp, wcs: SipWcs | TanWcs | null, x0: number, y0: number, opts: CutoutFitsOptions = {}): Uint8Array {
  const { width, height } = stamp;
  if (stamp.image.length !== width * height) throw new InvalidInputError(`cutout: image has ${stamp.image.length} pixels, not ${width}x${height}`);
  const wcsCards = wcs ? shiftedWcsCards(wcs, x0, y0) : [];
  const position: CardInput[] = [
    { key: 'LTV1', value: -x0, comment: 'detector x = stamp x + x0' },
    { key: 'LTV2', value: -y0, comment: 'detector y = stamp y + y0' },
    { key: 'LTM1_1', value: 1 },
    { key: 'LTM2_2', value: 1 },
  ];
  const extensions: ImageHduInput[] = [];
  if (opts.includeVarianceAndMask) {
    if (stamp.variance) extensions.push({ extname: 'VARIANCE', header: [...wcsCards, ...position], width, height, data: stamp.variance });
    if (stamp.mask) extensions.push({ extname: 'MASK', header: [...wcsCards, ...position], width, height, data: stamp.mask });
  }
  return writeFits({ width, height, data: stamp.image, header: [...(opts.header ?? []), ...wcsCards, ...position] }, extensions);
}

interface ArrayColumn {
  readonly name: string;
  readonly code: 'K' | 'J' | 'E';
  readonly repeat: number;
  readonly unit: string;
  readonly dims: readonly number[] | null;
  readonly data: BigInt64Array | Int32Array | Float32Array;
}

/**
 * A BINTABLE HDU (header and padded data) with fixed-size array columns: the part of the FITS
 * writer that src/fits/writer.ts lacks (its TableFormat has no repeat counts). Big-endian.
 */
function encodeArrayTable(extname: string, nrows: number, columns: readonly ArrayColumn[], extra: readonly CardInput[]): Uint8Array {
  const size = { K: 8, J: 4, E: 4 } as const;
  let rowBytes = 0;
  const offsets: number[] = [];
  for (const c of columns) {
    if (c.data.length !== nrows * c.repeat) throw new InvalidInputError(`cutouts: column ${c.name} holds ${c.data.length} values, not ${nrows} x ${c.repeat}`);
    offsets.push(rowBytes);
    rowBytes += size[c.code] * c.repeat;
  }
  const cards: CardInput[] = [
    { key: 'XTENSION', value: 'BINTABLE', comment: 'binary table extension' },
    { key: 'BITPIX', value: 8, comment: 'array data type' },
    { key: 'NAXIS', value: 2, comment: 'number of array dimensions' },
    { key: 'NAXIS1', value: rowBytes, comment: 'length of dimension 1' },
    { key: 'NAXIS2', value: nrows, comment: 'length of dimension 2' },
    { key: 'PCOUNT', value: 0, comment: 'number of group parameters' },
    { key: 'GCOUNT', value: 1, comment: 'number of groups' },
    { key: 'TFIELDS', value: columns.length, comment: 'number of table fields' },
  ];
  columns.forEach((c, i) => {
    cards.push({ key: `TTYPE${i + 1}`, value: c.name }, { key: `TFORM${i + 1}`, value: `${c.repeat}${c.code}` });
    if (c.unit) cards.push({ key: `TUNIT${i + 1}`, value: c.unit });
    if (c.dims) cards.push({ key: `TDIM${i + 1}`, value: `(${c.dims.join(',')})` });
  });
  cards.push({ key: 'EXTNAME', value: extname, comment: 'extension name' }, ...extra);
  const header = Header.fromCards(cards).toBytes();
  const dataBytes = rowBytes * nrows;
  const padded = Math.ceil(dataBytes / 2880) * 2880;
  const out = new Uint8Array(header.length + padded);
  out.set(header, 0);
  const dv = new DataView(out.buffer, header.length, dataBytes);
  columns.forEach((c, ci) => {
    const rep = c.repeat;
    for (let r = 0; r < nrows; r++) {
      let pos = r * rowBytes + offsets[ci];
      const first = r * rep;
      if (c.code === 'K') {
        const d = c.data as BigInt64Array;
        for (let e = 0; e < rep; e++, pos += 8) dv.setBigInt64(pos, d[first + e]);
      } else if (c.code === 'J') {
        const d = c.data as Int32Array;
        for (let e = 0; e < rep; e++, pos += 4) dv.setInt32(pos, d[first + e]);
      } else {
        const d = c.data as Float32Array;
        for (let e = 0; e < rep; e++, pos += 4) dv.setFloat32(pos, d[first + e]);
      }
    }
  });
  return out;
}

const PLANE_COLUMNS: ReadonlyArray<{ kind: StampKind; plane: keyof StampPlanes; suffix: string; code: 'E' | 'J'; unit: string }> = STAMP_KINDS.flatMap((kind) => [
  { kind, plane: 'image' as const, suffix: '', code: 'E' as const, unit: 'electron' },
  { kind, plane: 'variance' as const, suffix: 'Variance', code: 'E' as const, unit: 'electron2' },
  { kind, plane: 'mask' as const, suffix: 'Mask', code: 'J' as const, unit: '' },
]);

/** The dia_cutouts file: the caller's primary cards, then the CUTOUTS table (one row per source). */
export function writeDiaCutouts(stamps: PostageStamps, diaSourceId: BigInt64Array, primaryCards: readonly CardInput[] = []): Uint8Array {
  if (diaSourceId.length !== stamps.count) throw new InvalidInputError(`cutouts: ${diaSourceId.length} ids for ${stamps.count} stamps`);
  const s = stamps.sizePx;
  const columns: ArrayColumn[] = [
    { name: 'diaSourceId', code: 'K', repeat: 1, unit: '', dims: null, data: diaSourceId },
    { name: 'x0', code: 'J', repeat: 1, unit: 'pix', dims: null, data: stamps.x0 },
    { name: 'y0', code: 'J', repeat: 1, unit: 'pix', dims: null, data: stamps.y0 },
    ...PLANE_COLUMNS.map((c) => ({ name: `${c.kind}${c.suffix}`, code: c.code, repeat: s * s, unit: c.unit, dims: [s, s], data: stamps[c.kind][c.plane] })),
  ];
  const primary = writeFits({ header: primaryCards });
  const table = encodeArrayTable('CUTOUTS', stamps.count, columns, [
    { key: 'STAMPSZ', value: s, comment: '[pix] stamp side' },
    { key: 'NSTAMPS', value: stamps.count, comment: 'rows' },
  ]);
  return new Uint8Array(Buffer.concat([primary, table]));
}

export interface DiaCutoutsFile {
  readonly diaSourceId: BigInt64Array;
  readonly stamps: PostageStamps;
  readonly primaryHeader: Header;
}

/** Reads a file written by writeDiaCutouts; a missing or wrongly-typed column is an InvalidInputError naming it. */
export function readDiaCutouts(bytes: Uint8Array, label = 'dia cutouts'): DiaCutoutsFile {
  const file = openFits(bytes, label);
  if (!file.has('CUTOUTS')) throw new InvalidInputError(`${label}: HDU CUTOUTS is missing`);
  const hdu = file.hdu('CUTOUTS');
  const table = hdu.table();
  const sz = hdu.header.get('STAMPSZ');
  const s = typeof sz === 'number' ? sz : typeof sz === 'bigint' ? Number(sz) : NaN;
  if (!(Number.isInteger(s) && s >= 1)) throw new InvalidInputError(`${label}: keyword STAMPSZ is missing or not a positive integer`);
  const nrows = table.nrows;
  const get = <T>(name: string, code: string, repeat: number, ctor: new (...args: never[]) => T): T => {
    const meta = table.columns.find((c) => c.name.toLowerCase() === name.toLowerCase());
    if (!meta) throw new InvalidInputError(`${label}: column ${name} is missing`);
    const m = /^\s*(\d*)\s*([A-Z])\s*$/i.exec(meta.format);
    const rep = m ? (m[1] === '' ? 1 : Number(m[1])) : NaN;
    if (!m || m[2].toUpperCase() !== code || rep !== repeat) {
      throw new InvalidInputError(`${label}: column ${name} has TFORM '${meta.format}', expected '${repeat}${code}'`);
    }
    const data = meta.data;
    if (!(data instanceof ctor)) throw new InvalidInputError(`${label}: column ${name} does not hold plain '${code}' values (scaled?)`);
    return data;
  };
  const diaSourceId = get('diaSourceId', 'K', 1, BigInt64Array);
  const x0 = get('x0', 'J', 1, Int32Array);
  const y0 = get('y0', 'J', 1, Int32Array);
  const planes = (kind: StampKind): StampPlanes => ({
    image: get(kind, 'E', s * s, Float32Array),
    variance: get(`${kind}Variance`, 'E', s * s, Float32Array),
    mask: get(`${kind}Mask`, 'J', s * s, Int32Array),
  });
  const stamps: PostageStamps = {
    count: nrows,
    sizePx: s,
    x0,
    y0,
    science: planes('science'),
    template: planes('template'),
    difference: planes('difference'),
  };
  return { diaSourceId, stamps, primaryHeader: file.hdus[0].header };
}
