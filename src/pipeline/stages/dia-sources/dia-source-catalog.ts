/**
 * The DiaSource catalog of one detector-visit, columnar (one typed array per column, all of the
 * same length), and its file: a data-less primary HDU with the caller's cards (the visit
 * metadata) and a BINTABLE 'DIASOURCES' with one column per catalog field, with units.
 *
 * Column names are the alert schema's (lsst.v11_0.diaSource) wherever the schema has the field
 * (`alertField: true`), so that an alert writer can map them 1:1; booleans are 0/1 Uint8Array
 * columns written as FITS logicals. Exceptions, documented per column: positions are 0-based
 * pixels of the assembled detector; second moments are in pix² (the schema's nJy·arcsec² is not
 * a shape unit); fluxes are in nJy when the visit is calibrated and in electrons otherwise
 * (`fluxUnit`, FITS card FLUXUNIT and the flux columns' TUNIT).
 */
import { errorMessage, InvalidInputError } from '../../../core/errors.ts';
import { readExposureMetadata, type ExposureMetadata } from '../../outputs.ts';
import { readFits, writeFits, type CardInput, type FitsFile, type Header, type TableColumnInput } from '../../../fits/index.ts';

export type DiaColumnFormat = 'K' | 'J' | 'D' | 'E' | 'L';
export type FluxUnit = 'nJy' | 'electron';

export interface DiaSourceColumnSpec {
  readonly name: string;
  /** FITS TFORM: K int64 (BigInt64Array), J int32, D float64, E float32, L logical (0/1 Uint8Array). */
  readonly format: DiaColumnFormat;
  /** TUNIT; flux columns are written with the catalog's flux unit instead. */
  readonly unit: string;
  readonly flux?: boolean;
  /** True when the alert schema (lsst.v11_0.diaSource) has a field of this name. */
  readonly alertField: boolean;
  readonly doc: string;
}

const F = { flux: true } as const;

/** Column order, FITS formats, units and meaning. */
export const DIA_SOURCE_COLUMNS = [
  { name: 'diaSourceId', format: 'K', unit: '', alertField: true, doc: 'unique id: ((dayIndex·100000 + seq)·1000 + detector)·1000000 + row (dia-source-id.ts)' },
  { name: 'visit', format: 'K', unit: '', alertField: true, doc: 'visit id (exposure id of snap 0)' },
  { name: 'detector', format: 'J', unit: '', alertField: true, doc: 'detector id' },
  { name: 'x', format: 'D', unit: 'pix', alertField: true, doc: 'centroid x, 0-based (dipoles: midpoint of the lobes)' },
  { name: 'xErr', format: 'E', unit: 'pix', alertField: true, doc: 'centroid x error' },
  { name: 'y', format: 'D', unit: 'pix', alertField: true, doc: 'centroid y, 0-based' },
  { name: 'yErr', format: 'E', unit: 'pix', alertField: true, doc: 'centroid y error' },
  { name: 'ra', format: 'D', unit: 'deg', alertField: true, doc: 'right ascension (ICRS) of the centroid; NaN without a WCS' },
  { name: 'raErr', format: 'E', unit: 'deg', alertField: true, doc: 'error of ra (of the coordinate, not scaled by cos dec)' },
  { name: 'dec', format: 'D', unit: 'deg', alertField: true, doc: 'declination (ICRS) of the centroid' },
  { name: 'decErr', format: 'E', unit: 'deg', alertField: true, doc: 'error of dec' },
  { name: 'ra_dec_Cov', format: 'E', unit: 'deg2', alertField: true, doc: 'covariance of ra and dec' },
  { name: 'centroid_flag', format: 'L', unit: '', alertField: true, doc: 'the Gaussian-weighted centroid failed (position from the footprint peak)' },
  { name: 'psfFlux', format: 'E', unit: 'nJy', ...F, alertField: true, doc: 'PSF flux on the difference image (science minus template)' },
  { name: 'psfFluxErr', format: 'E', unit: 'nJy', ...F, alertField: true, doc: 'psfFlux error (variance plane scaled by noiseScale²)' },
  { name: 'psfChi2', format: 'E', unit: '', alertField: true, doc: 'χ² of the PSF fit over its window (scaled variance)' },
  { name: 'psfNdata', format: 'J', unit: '', alertField: true, doc: 'pixels in the PSF fit' },
  { name: 'psfFlux_flag', format: 'L', unit: '', alertField: true, doc: 'PSF flux failed or is flagged: set with any psfFlux_flag_* (edge, noGoodPixels)' },
  { name: 'psfFlux_flag_edge', format: 'L', unit: '', alertField: true, doc: 'the PSF window leaves the image or holds EDGE/NO_DATA pixels' },
  { name: 'psfFlux_flag_noGoodPixels', format: 'L', unit: '', alertField: true, doc: 'usable pixels cover less than psfFit.minCoverage of the PSF' },
  { name: 'snr', format: 'E', unit: '', alertField: true, doc: 'psfFlux / psfFluxErr (negative for negative sources)' },
  { name: 'isNegative', format: 'L', unit: '', alertField: true, doc: 'detected as a negative source in the difference image' },
  { name: 'apFlux', format: 'E', unit: 'nJy', ...F, alertField: true, doc: 'circular aperture flux on the difference image (apertureRadiusPx)' },
  { name: 'apFluxErr', format: 'E', unit: 'nJy', ...F, alertField: true, doc: 'apFlux error (variance plane scaled by noiseScale²)' },
  { name: 'apFlux_flag', format: 'L', unit: '', alertField: true, doc: 'aperture flux failed (no usable pixel)' },
  { name: 'apFlux_flag_apertureTruncated', format: 'L', unit: '', alertField: true, doc: 'the aperture leaves the image or holds unusable pixels' },
  { name: 'scienceFlux', format: 'E', unit: 'nJy', ...F, alertField: true, doc: 'forced PSF flux on the science image at (x, y)' },
  { name: 'scienceFluxErr', format: 'E', unit: 'nJy', ...F, alertField: true, doc: 'scienceFlux error' },
  { name: 'forced_PsfFlux_flag', format: 'L', unit: '', alertField: true, doc: 'forced PSF flux on the science image failed or is flagged (edge, noGoodPixels)' },
  { name: 'forced_PsfFlux_flag_edge', format: 'L', unit: '', alertField: true, doc: 'its PSF window leaves the image or holds EDGE/NO_DATA pixels' },
  { name: 'forced_PsfFlux_flag_noGoodPixels', format: 'L', unit: '', alertField: true, doc: 'too few usable science pixels' },
  { name: 'templateFlux', format: 'E', unit: 'nJy', ...F, alertField: true, doc: 'forced PSF flux on the warped template at (x, y), template PSF' },
  { name: 'templateFluxErr', format: 'E', unit: 'nJy', ...F, alertField: true, doc: 'templateFlux error (template variance plane, not corrected for warping)' },
  { name: 'templateFlux_flag', format: 'L', unit: '', alertField: false, doc: 'forced PSF flux on the template failed or was truncated' },
  { name: 'isDipole', format: 'L', unit: '', alertField: true, doc: 'a positive and a negative lobe merged into this source' },
  { name: 'dipoleMeanFlux', format: 'E', unit: 'nJy', ...F, alertField: true, doc: 'mean absolute flux of the two lobes (joint two-PSF fit)' },
  { name: 'dipoleMeanFluxErr', format: 'E', unit: 'nJy', ...F, alertField: true, doc: 'dipoleMeanFlux error' },
  { name: 'dipoleFluxDiff', format: 'E', unit: 'nJy', ...F, alertField: true, doc: '|positive lobe flux| − |negative lobe flux|' },
  { name: 'dipoleFluxDiffErr', format: 'E', unit: 'nJy', ...F, alertField: true, doc: 'dipoleFluxDiff error' },
  { name: 'dipoleLength', format: 'E', unit: 'arcsec', alertField: true, doc: 'separation of the lobe centroids on the sky (NaN without a WCS)' },
  { name: 'dipoleAngle', format: 'E', unit: 'deg', alertField: true, doc: 'bearing (east of north) from the negative to the positive lobe' },
  { name: 'dipolePosFlux', format: 'E', unit: 'nJy', ...F, alertField: false, doc: 'positive lobe flux (joint two-PSF fit)' },
  { name: 'dipolePosFluxErr', format: 'E', unit: 'nJy', ...F, alertField: false, doc: 'dipolePosFlux error' },
  { name: 'dipoleNegFlux', format: 'E', unit: 'nJy', ...F, alertField: false, doc: 'negative lobe flux (negative)' },
  { name: 'dipoleNegFluxErr', format: 'E', unit: 'nJy', ...F, alertField: false, doc: 'dipoleNegFlux error' },
  { name: 'dipoleSeparation', format: 'E', unit: 'pix', alertField: false, doc: 'separation of the lobe centroids' },
  { name: 'dipoleOrientation', format: 'E', unit: 'deg', alertField: false, doc: 'pixel-frame angle of negative → positive lobe, from +x towards +y' },
  { name: 'ixx', format: 'E', unit: 'pix2', alertField: true, doc: 'adaptive second moment xx (dipoles: the brighter lobe)' },
  { name: 'iyy', format: 'E', unit: 'pix2', alertField: true, doc: 'adaptive second moment yy' },
  { name: 'ixy', format: 'E', unit: 'pix2', alertField: true, doc: 'adaptive second moment xy' },
  { name: 'shape_flag', format: 'L', unit: '', alertField: true, doc: 'adaptive moments failed' },
  { name: 'bboxSize', format: 'J', unit: 'pix', alertField: true, doc: 'side of the square holding the detection footprint(s)' },
  { name: 'pixelFlags_bad', format: 'L', unit: '', alertField: true, doc: 'BAD pixel in the footprint or PSF window' },
  { name: 'pixelFlags_cr', format: 'L', unit: '', alertField: true, doc: 'CR pixel in the footprint or PSF window' },
  { name: 'pixelFlags_crCenter', format: 'L', unit: '', alertField: true, doc: 'CR pixel in the 3x3 pixels around the centroid' },
  { name: 'pixelFlags_edge', format: 'L', unit: '', alertField: true, doc: 'EDGE/NO_DATA pixel in the footprint or PSF window, or the window leaves the image' },
  { name: 'pixelFlags_nodata', format: 'L', unit: '', alertField: true, doc: 'NO_DATA pixel in the footprint or PSF window' },
  { name: 'pixelFlags_nodataCenter', format: 'L', unit: '', alertField: true, doc: 'NO_DATA pixel around the centroid' },
  { name: 'pixelFlags_interpolated', format: 'L', unit: '', alertField: true, doc: 'INTRP pixel in the footprint or PSF window' },
  { name: 'pixelFlags_interpolatedCenter', format: 'L', unit: '', alertField: true, doc: 'INTRP pixel around the centroid' },
  { name: 'pixelFlags_offimage', format: 'L', unit: '', alertField: true, doc: 'the centroid is off the image' },
  { name: 'pixelFlags_saturated', format: 'L', unit: '', alertField: true, doc: 'SAT pixel in the footprint or PSF window' },
  { name: 'pixelFlags_saturatedCenter', format: 'L', unit: '', alertField: true, doc: 'SAT pixel around the centroid' },
  { name: 'pixelFlags_suspect', format: 'L', unit: '', alertField: true, doc: 'SUSPECT pixel in the footprint or PSF window' },
  { name: 'pixelFlags_suspectCenter', format: 'L', unit: '', alertField: true, doc: 'SUSPECT pixel around the centroid' },
] as const satisfies ReadonlyArray<DiaSourceColumnSpec>;

type Column = (typeof DIA_SOURCE_COLUMNS)[number];
export type DiaSourceColumnName = Column['name'];

type ArrayFor<Fmt extends DiaColumnFormat> = Fmt extends 'K'
  ? BigInt64Array
  : Fmt extends 'J'
    ? Int32Array
    : Fmt extends 'D'
      ? Float64Array
      : Fmt extends 'E'
        ? Float32Array
        : Uint8Array;

/** The DiaSource catalog: `length`, the flux unit, and one array per DIA_SOURCE_COLUMNS entry. */
export type DiaSourceCatalog = {
  readonly length: number;
  readonly fluxUnit: FluxUnit;
} & { readonly [C in Column as C['name']]: ArrayFor<C['format']> };

/** A catalog of n rows: floats NaN, integers and flags 0. */
export function makeDiaSourceCatalog(n: number, fluxUnit: FluxUnit = 'nJy'): DiaSourceCatalog {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`catalog length must be a non-negative integer, got ${n}`);
  const out: Record<string, unknown> = { length: n, fluxUnit };
  for (const c of DIA_SOURCE_COLUMNS) out[c.name] = newColumn(c.format, n);
  return out as DiaSourceCatalog;
}

function newColumn(format: DiaColumnFormat, n: number): BigInt64Array | Int32Array | Float64Array | Float32Array | Uint8Array {
  switch (format) {
    case 'K':
      return new BigInt64Array(n);
    case 'J':
      return new Int32Array(n);
    case 'D':
      return new Float64Array(n).fill(NaN);
    case 'E':
      return new Float32Array(n).fill(NaN);
    case 'L':
      return new Uint8Array(n);
  }
}

/** The TUNIT a column is written with. */
export function columnUnit(c: DiaSourceColumnSpec, fluxUnit: FluxUnit): string {
  return c.flux ? fluxUnit : c.unit;
}

function catalogColumn(catalog: DiaSourceCatalog, name: DiaSourceColumnName): BigInt64Array | Int32Array | Float64Array | Float32Array | Uint8Array {
  return catalog[name];
}

/**
 * The DiaSource catalog file. `primaryCards`: the primary header (the caller passes
 * metadataCards(metadata) from pipeline/outputs.ts).
 */
export function writeDiaSourceCatalog(catalog: DiaSourceCatalog, primaryCards: readonly CardInput[]): Uint8Array {
  const columns: TableColumnInput[] = DIA_SOURCE_COLUMNS.map((c) => {
    const data = catalogColumn(catalog, c.name);
    if (data.length !== catalog.length) throw new InvalidInputError(`dia-source catalog: column ${c.name} has ${data.length} rows, length is ${catalog.length}`);
    const unit = columnUnit(c, catalog.fluxUnit);
    return { name: c.name, format: c.format, unit: unit || undefined, data };
  });
  return writeFits({ header: primaryCards }, [
    {
      kind: 'table',
      extname: 'DIASOURCES',
      header: [
        { key: 'NSOURCES', value: catalog.length, comment: 'rows' },
        { key: 'FLUXUNIT', value: catalog.fluxUnit, comment: 'unit of the flux columns (electron: uncalibrated)' },
        { key: 'FLUXCAL', value: catalog.fluxUnit === 'nJy', comment: 'fluxes photometrically calibrated' },
        { key: 'IDSCHEME', value: '((dayIndex*100000+seq)*1000+detector)*1000000+row', comment: 'diaSourceId' },
      ],
      columns,
    },
  ]);
}

export interface DiaSourceCatalogFile {
  readonly catalog: DiaSourceCatalog;
  /** Unit per column as written. */
  readonly units: Readonly<Record<string, string>>;
  /** The primary header, and the visit metadata it carries (null when it has none). */
  readonly primaryHeader: Header;
  readonly metadata: ExposureMetadata | null;
}

export function openFits(bytes: Uint8Array, label: string): FitsFile {
  try {
    return readFits(bytes, { name: label });
  } catch (err) {
    throw new InvalidInputError(`${label}: not a readable FITS file: ${errorMessage(err)}`, { cause: err });
  }
}

/** The type letter of a TFORM with repeat count 1 ('1E' → 'E'), or null. */
export function scalarTformCode(tform: string): string | null {
  const m = /^\s*1?\s*([A-Z])\s*$/i.exec(tform);
  return m ? m[1].toUpperCase() : null;
}

/** Reads a file written by writeDiaSourceCatalog; a missing or wrongly-typed column is an InvalidInputError naming it. */
export function readDiaSourceCatalog(bytes: Uint8Array, label = 'dia-source catalog'): DiaSourceCatalogFile {
  const file = openFits(bytes, label);
  if (!file.has('DIASOURCES')) throw new InvalidInputError(`${label}: HDU DIASOURCES is missing`);
  const hdu = file.hdu('DIASOURCES');
  let table;
  try {
    table = hdu.table();
  } catch (err) {
    throw new InvalidInputError(`${label}: HDU DIASOURCES is not a readable table: ${errorMessage(err)}`, { cause: err });
  }
  const unitCard = hdu.header.get('FLUXUNIT');
  let fluxUnit: FluxUnit;
  if (unitCard === 'nJy' || unitCard === 'electron') fluxUnit = unitCard;
  else throw new InvalidInputError(`${label}: keyword FLUXUNIT of HDU DIASOURCES is ${unitCard === undefined ? 'missing' : `'${String(unitCard)}'`}, expected 'nJy' or 'electron'`);
  const cat = makeDiaSourceCatalog(table.nrows, fluxUnit);
  const units: Record<string, string> = {};
  for (const c of DIA_SOURCE_COLUMNS) {
    const meta = table.columns.find((x) => x.name.toLowerCase() === c.name.toLowerCase());
    if (!meta) throw new InvalidInputError(`${label}: column ${c.name} is missing`);
    const code = scalarTformCode(meta.format);
    if (code !== c.format) throw new InvalidInputError(`${label}: column ${c.name} has TFORM '${meta.format}', expected '${c.format}'`);
    let data;
    try {
      data = meta.data;
    } catch (err) {
      throw new InvalidInputError(`${label}: column ${c.name} cannot be decoded: ${errorMessage(err)}`, { cause: err });
    }
    const target = catalogColumn(cat, c.name);
    if (c.format === 'L') {
      if (!Array.isArray(data) || data.length !== table.nrows) throw new InvalidInputError(`${label}: column ${c.name} is not a logical column`);
      const t = target as Uint8Array;
      for (let i = 0; i < t.length; i++) t[i] = data[i] === true ? 1 : 0;
    } else if (c.format === 'K') {
      // TZERO / TSCAL would turn the column into another type: rejected above by the type check here.
      if (!(data instanceof BigInt64Array)) throw new InvalidInputError(`${label}: column ${c.name} is not a signed 64-bit integer column`);
      (target as BigInt64Array).set(data);
    } else {
      const ok = c.format === 'J' ? data instanceof Int32Array : c.format === 'D' ? data instanceof Float64Array : data instanceof Float32Array;
      if (!ok) throw new InvalidInputError(`${label}: column ${c.name} does not hold plain '${c.format}' values (scaled?)`);
      (target as Int32Array | Float64Array | Float32Array).set(data as Int32Array | Float64Array | Float32Array);
    }
    units[c.name] = meta.unit;
  }
  const primary = file.hdus[0];
  const metadata = primary.header.get('INSTRUME') === undefined || primary.header.get('NSNAPS') === undefined ? null : readExposureMetadata(primary, label);
  return { catalog: cat, units, primaryHeader: primary.header, metadata };
}
