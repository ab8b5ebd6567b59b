/**
 * The reference catalog as the calibration stages see it: one band, columnar. Reference shards
 * (tester/central/refcat.ts `RefcatShard`, or anything of the same shape) are merged into one
 * with `mergeReferenceShards`; the pipeline does not import the tester, so the shard is typed
 * structurally here.
 */
import { InvalidInputError } from '../../../core/errors.ts';

export type NumericColumn = Float64Array | Float32Array;

export interface ReferenceCatalog {
  readonly count: number;
  /** Catalog ids (as numbers). */
  readonly ids: Float64Array;
  /** ICRS degrees at `epochMjd`. */
  readonly ra: Float64Array;
  readonly dec: Float64Array;
  /** Flux in the band (nJy) and its error; NaN where unknown. */
  readonly flux: Float64Array;
  readonly fluxErr: Float64Array;
  /** Proper motion, mas/yr: pmRa is dα·cos δ/dt. Zero when the catalog has none. */
  readonly pmRa: Float32Array;
  readonly pmDec: Float32Array;
  /** Epoch of the positions, MJD (TAI). */
  readonly epochMjd: Float64Array;
}

/** The shape of a reference-catalog shard (tester/central/refcat.ts RefcatShard). */
export interface ReferenceShardLike {
  readonly count: number;
  readonly ids: Float64Array;
  readonly ra: Float64Array;
  readonly dec: Float64Array;
  readonly pmRa?: Float32Array;
  readonly pmDec?: Float32Array;
  readonly epochMjd?: Float64Array;
  /** `<band>_flux` (nJy) per band. */
  readonly flux: Readonly<Record<string, NumericColumn>>;
  readonly fluxErr?: Readonly<Record<string, NumericColumn>>;
}

/** One catalog from shards (in order, no de-duplication: shards partition the sky), for one band. */
export function mergeReferenceShards(shards: readonly ReferenceShardLike[], band: string): ReferenceCatalog {
  let n = 0;
  for (const [i, s] of shards.entries()) {
    if (!s.flux[band]) throw new InvalidInputError(`reference shard ${i} has no ${band}_flux column`);
    n += s.count;
  }
  const out: ReferenceCatalog = {
    count: n,
    ids: new Float64Array(n),
    ra: new Float64Array(n),
    dec: new Float64Array(n),
    flux: new Float64Array(n),
    fluxErr: new Float64Array(n).fill(NaN),
    pmRa: new Float32Array(n),
    pmDec: new Float32Array(n),
    epochMjd: new Float64Array(n).fill(NaN),
  };
  let o = 0;
  for (const s of shards) {
    const m = s.count;
    out.ids.set(s.ids.subarray(0, m), o);
    out.ra.set(s.ra.subarray(0, m), o);
    out.dec.set(s.dec.subarray(0, m), o);
    out.flux.set(s.flux[band].subarray(0, m), o);
    const err = s.fluxErr?.[band];
    if (err) out.fluxErr.set(err.subarray(0, m), o);
    if (s.pmRa) out.pmRa.set(s.pmRa.subarray(0, m), o);
    if (s.pmDec) out.pmDec.set(s.pmDec.subarray(0, m), o);
    if (s.epochMjd) out.epochMjd.set(s.epochMjd.subarray(0, m), o);
    o += m;
  }
  return out;
}

/** A reference catalog from plain columns (no proper motions, unknown epoch and flux errors). */
export function makeReferenceCatalog(ra: Float64Array, dec: Float64Array, flux: Float64Array, fluxErr?: Float64Array): ReferenceCatalog {
  const n = ra.length;
  if (dec.length !== n || flux.length !== n || (fluxErr && fluxErr.length !== n)) {
    throw new InvalidInputError(`reference columns differ in length: ra ${n}, dec ${dec.length}, flux ${flux.length}`);
  }
  return {
    count: n,
    ids: Float64Array.from({ length: n }, (_, i) => i),
    ra,
    dec,
    flux,
    fluxErr: fluxErr ?? new Float64Array(n).fill(NaN),
    pmRa: new Float32Array(n),
    pmDec: new Float32Array(n),
    epochMjd: new Float64Array(n).fill(NaN),
  };
}
