/**
 * Reference-catalog shards: the simulator's sky catalog cut into HTM level-7 trixels, one FITS
 * file per trixel, as LSST shards its reference catalogs (file/dataset per htm7 id). A star
 * belongs to the shard of htmId(ra, dec, 7), so shards partition the catalog: the union of the
 * shards over a region is the catalog there, with no duplicates.
 *
 * File: a data-less primary HDU, then a BINTABLE 'REFCAT' with one row per star:
 *   id K; coord_ra, coord_dec D (degrees, ICRS); coord_raErr, coord_decErr E (degrees, 0: exact);
 *   pm_ra, pm_dec E (mas/yr, 0: the catalog has no proper motions); epoch D (MJD TAI,
 *   51544.5 = J2000.0); for each band u g r i z y: <band>_flux D and <band>_fluxErr D (nJy), and
 *   <band>_mag E (AB, convenience).
 * Fluxes are the catalog's true fluxes; fluxErr models a survey reference catalog's error,
 * σ_m = sqrt(0.003² + (0.01 · 10^(0.4 (m − 21)))²) magnitudes, as a flux error.
 * LSST refcats store coordinates in radians; here they are in degrees (TUNIT 'deg').
 */
import { htmId, htmLevel, htmTrixel } from '../../astro/htm.ts';
import { angleBetween, centroid, lonLatDeg, R2D } from '../../astro/sphere.ts';
import { InvalidInputError } from '../../core/errors.ts';
import type { RngSeed } from '../../core/rng.ts';
import { writeFits, type TableColumnInput } from '../../fits/index.ts';
import { readReferenceShard, REFCAT_SHARD_EXTNAME } from '../../pipeline/stages/astrometry/reference-shard-file.ts';
import { BANDS, magToNjy, starsNear, type Band, type SkyCatalogSpec, type StarCatalog } from '../sim/sky-catalog.ts';

export const REFCAT_HTM_LEVEL = 7;
/** MJD (TAI) of J2000.0: the epoch of every position. */
export const REFCAT_EPOCH_MJD = 51544.5;
export const REFCAT_EXTNAME = REFCAT_SHARD_EXTNAME;

export interface RefcatShardOptions {
  /** The sky catalog (the simulator's `catalog`). */
  readonly catalogSeed: RngSeed | SkyCatalogSpec;
  /** Keep stars brighter than this in `band` (default: all, r < 24). */
  readonly maxMag?: number;
  readonly band?: Band;
}

export interface RefcatShard {
  readonly htm7: number;
  readonly count: number;
  readonly ids: Float64Array;
  readonly ra: Float64Array;
  readonly dec: Float64Array;
  readonly pmRa: Float32Array;
  readonly pmDec: Float32Array;
  readonly epochMjd: Float64Array;
  readonly flux: Readonly<Record<Band, Float64Array>>;
  readonly fluxErr: Readonly<Record<Band, Float64Array>>;
  readonly mag: Readonly<Record<Band, Float32Array>>;
}

function checkShard(id: number): void {
  if (htmLevel(id) !== REFCAT_HTM_LEVEL) throw new InvalidInputError(`${id} is not an HTM level-${REFCAT_HTM_LEVEL} id (${8 * 4 ** 7}..${16 * 4 ** 7 - 1})`);
}

/** The catalog stars inside one htm7 trixel (rows in catalog order). */
export function refcatShardStars(htm7Id: number, opts: RefcatShardOptions): StarCatalog {
  checkShard(htm7Id);
  const tri = htmTrixel(htm7Id);
  const c = centroid(tri.vertices);
  let radius = 0;
  for (const v of tri.vertices) radius = Math.max(radius, angleBetween(c, v));
  const [ra, dec] = lonLatDeg(c);
  // The trixel lies inside the circle through its vertices about its centroid; a hair more for rounding.
  const cat = starsNear(opts.catalogSeed, ra, dec, radius * R2D * (1 + 1e-9) + 1e-9, { maxMag: opts.maxMag, band: opts.band });
  const keep: number[] = [];
  for (let i = 0; i < cat.count; i++) if (htmId(cat.ra[i], cat.dec[i], REFCAT_HTM_LEVEL) === htm7Id) keep.push(i);
  const pick = <T extends Float64Array | Float32Array>(a: T): T => {
    const out = new (a.constructor as new (n: number) => T)(keep.length);
    keep.forEach((k, j) => (out[j] = a[k]));
    return out;
  };
  const mags = {} as Record<Band, Float32Array>;
  for (const b of BANDS) mags[b] = pick(cat.mags[b]);
  return { count: keep.length, ids: pick(cat.ids), ra: pick(cat.ra), dec: pick(cat.dec), mags };
}

/** Flux error (nJy) of a star of AB magnitude m in the model of the module comment. */
export function refcatFluxErr(flux: number, mag: number): number {
  const sm = Math.hypot(0.003, 0.01 * 10 ** (0.4 * (mag - 21)));
  return flux * (Math.LN10 / 2.5) * sm;
}

/** The shard file of an htm7 trixel (see the module comment). */
export function refcatShard(htm7Id: number, opts: RefcatShardOptions): Uint8Array {
  const s = refcatShardStars(htm7Id, opts);
  const n = s.count;
  const ids = new BigInt64Array(n);
  for (let i = 0; i < n; i++) ids[i] = BigInt(s.ids[i]);
  const columns: TableColumnInput[] = [
    { name: 'id', format: 'K', data: ids },
    { name: 'coord_ra', format: 'D', unit: 'deg', data: s.ra },
    { name: 'coord_dec', format: 'D', unit: 'deg', data: s.dec },
    { name: 'coord_raErr', format: 'E', unit: 'deg', data: new Float32Array(n) },
    { name: 'coord_decErr', format: 'E', unit: 'deg', data: new Float32Array(n) },
    { name: 'pm_ra', format: 'E', unit: 'mas/yr', data: new Float32Array(n) },
    { name: 'pm_dec', format: 'E', unit: 'mas/yr', data: new Float32Array(n) },
    { name: 'epoch', format: 'D', unit: 'd', data: new Float64Array(n).fill(REFCAT_EPOCH_MJD) },
  ];
  for (const b of BANDS) {
    const m = s.mags[b];
    const flux = new Float64Array(n);
    const err = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      flux[i] = magToNjy(m[i]);
      err[i] = refcatFluxErr(flux[i], m[i]);
    }
    columns.push(
      { name: `${b}_flux`, format: 'D', unit: 'nJy', data: flux },
      { name: `${b}_fluxErr`, format: 'D', unit: 'nJy', data: err },
      { name: `${b}_mag`, format: 'E', unit: 'mag(AB)', data: m },
    );
  }
  const catSeed = typeof opts.catalogSeed === 'object' ? opts.catalogSeed.seed : opts.catalogSeed;
  const header = [
    { key: 'HTMLEVEL', value: REFCAT_HTM_LEVEL, comment: 'HTM level of the shard' },
    { key: 'HTMID', value: htm7Id, comment: 'HTM id of the trixel' },
    { key: 'NSTARS', value: n, comment: 'rows' },
    { key: 'EPOCH', value: REFCAT_EPOCH_MJD, comment: '[d] MJD TAI of the positions (J2000.0)' },
    { key: 'SIMCAT', value: catSeed, comment: 'sky catalog seed' },
  ];
  if (typeof opts.catalogSeed === 'object' && opts.catalogSeed.densityPerArcmin2 !== undefined) {
    header.push({ key: 'SIMDENS', value: opts.catalogSeed.densityPerArcmin2, comment: 'catalog stars per arcmin2 to r=24' });
  }
  if (opts.maxMag !== undefined) header.push({ key: 'MAXMAG', value: opts.maxMag, comment: `magnitude cut in ${opts.band ?? 'r'}` });
  return writeFits({ header: [{ key: 'ORIGIN', value: 'prompt-processing simulator' }, { key: 'REFCAT', value: 'sim-sky', comment: 'reference catalog name' }] }, [
    { kind: 'table', extname: REFCAT_EXTNAME, header, columns },
  ]);
}

/** Reads a shard written by refcatShard (the pipeline's reader); InvalidInputError naming what is wrong otherwise. */
export function readRefcatShard(bytes: Uint8Array, label = 'refcat shard'): RefcatShard {
  const s = readReferenceShard(bytes, label);
  for (const b of BANDS) {
    if (!s.flux[b] || !s.mag[b]) throw new InvalidInputError(`${label}: column ${b}_flux or ${b}_mag is missing`);
  }
  return s as RefcatShard;
}
