/**
 * The reference-catalog shard file, as the pipeline reads it: a FITS file whose BINTABLE 'REFCAT'
 * has one row per star (id; coord_ra, coord_dec in degrees; pm_ra, pm_dec in mas/yr; epoch as MJD
 * TAI; `<band>_flux` and `<band>_fluxErr` in nJy for each band it carries) and an HTMID card
 * naming its HTM level-7 trixel. The central repository's `refcat` datasets are such files
 * (tester/central/refcat.ts writes them); any band present is read.
 */
import { htmLevel } from '../../../astro/htm.ts';
import { errorMessage, InvalidInputError } from '../../../core/errors.ts';
import { readFits } from '../../../fits/index.ts';
import type { ReferenceShardLike } from './reference-catalog.ts';

export const REFCAT_SHARD_HTM_LEVEL = 7;
export const REFCAT_SHARD_EXTNAME = 'REFCAT';

export interface ReferenceShard extends ReferenceShardLike {
  readonly htm7: number;
  readonly pmRa: Float32Array;
  readonly pmDec: Float32Array;
  readonly epochMjd: Float64Array;
  readonly flux: Readonly<Record<string, Float64Array>>;
  readonly fluxErr: Readonly<Record<string, Float64Array>>;
  /** `<band>_mag` columns, when present. */
  readonly mag: Readonly<Record<string, Float32Array>>;
}

/** Reads a shard file; InvalidInputError naming what is wrong otherwise. */
export function readReferenceShard(bytes: Uint8Array, label = 'refcat shard'): ReferenceShard {
  let file;
  try {
    file = readFits(bytes, { name: label });
  } catch (err) {
    throw new InvalidInputError(`${label}: not a readable FITS file: ${errorMessage(err)}`, { cause: err });
  }
  if (!file.has(REFCAT_SHARD_EXTNAME)) throw new InvalidInputError(`${label}: HDU ${REFCAT_SHARD_EXTNAME} is missing`);
  const hdu = file.hdu(REFCAT_SHARD_EXTNAME);
  const htm = hdu.header.get('HTMID');
  const htm7 = typeof htm === 'bigint' ? Number(htm) : typeof htm === 'number' ? htm : -1;
  if (htm7 < 0 || htmLevel(htm7) !== REFCAT_SHARD_HTM_LEVEL) throw new InvalidInputError(`${label}: HTMID card is missing or not a level-${REFCAT_SHARD_HTM_LEVEL} id`);
  const t = hdu.table();
  const col = (name: string): ArrayLike<number | bigint> => {
    if (!t.has(name)) throw new InvalidInputError(`${label}: column ${name} is missing`);
    const d = t.column(name);
    if (!ArrayBuffer.isView(d)) throw new InvalidInputError(`${label}: column ${name} is not numeric`);
    return d as unknown as ArrayLike<number | bigint>;
  };
  // Numeric columns are converted by the typed-array constructors (no call per value); 64-bit
  // integer columns (BigInt64Array) value by value.
  const f64 = (name: string): Float64Array => {
    const d = col(name);
    return d instanceof BigInt64Array || d instanceof BigUint64Array ? Float64Array.from(d, Number) : new Float64Array(d as ArrayLike<number>);
  };
  const f32 = (name: string): Float32Array => {
    const d = col(name);
    return d instanceof BigInt64Array || d instanceof BigUint64Array ? Float32Array.from(d, Number) : new Float32Array(d as ArrayLike<number>);
  };
  const flux: Record<string, Float64Array> = {};
  const fluxErr: Record<string, Float64Array> = {};
  const mag: Record<string, Float32Array> = {};
  for (const c of t.columns) {
    const m = /^(.+)_flux$/.exec(c.name);
    if (!m) continue;
    const band = m[1];
    flux[band] = f64(c.name);
    fluxErr[band] = t.has(`${band}_fluxErr`) ? f64(`${band}_fluxErr`) : new Float64Array(t.nrows).fill(NaN);
    if (t.has(`${band}_mag`)) mag[band] = f32(`${band}_mag`);
  }
  if (Object.keys(flux).length === 0) throw new InvalidInputError(`${label}: no <band>_flux column`);
  return {
    htm7,
    count: t.nrows,
    ids: f64('id'),
    ra: f64('coord_ra'),
    dec: f64('coord_dec'),
    pmRa: t.has('pm_ra') ? f32('pm_ra') : new Float32Array(t.nrows),
    pmDec: t.has('pm_dec') ? f32('pm_dec') : new Float32Array(t.nrows),
    epochMjd: t.has('epoch') ? f64('epoch') : new Float64Array(t.nrows).fill(NaN),
    flux,
    fluxErr,
    mag,
  };
}
