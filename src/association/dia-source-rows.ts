/**
 * APDB DiaSource rows from a detector-visit's DiaSource catalog (pipeline/stages/dia-sources).
 *
 * Every catalog column whose name is a DiaSource column is copied 1:1: 'K' (int64) columns as
 * bigint, 'L' (0/1) columns as booleans, the others as numbers, NaN as NULL (a NaN in a
 * non-nullable column is an InvalidInputError: such a row cannot be stored). The context fills
 * visit, detector, midpointMjdTai, band, timeProcessedMjdTai (and exposureTime when given); the
 * catalog's own visit and detector columns must agree with it. Catalog columns the table lacks
 * (templateFlux_flag, dipolePosFlux, …) are dropped.
 *
 * Columns the catalog does not measure:
 * - diaObjectId: NULL here; association sets it.
 * - trailNdata, dipoleNdata (non-nullable counts): 0, no trail fit is made, and the dipole fit's
 *   pixel count is not recorded.
 * - dipoleFitAttempted: equal to isDipole (every dipole row comes from a joint two-PSF fit).
 * - pixelFlags (the summary "pixel flags failed"): false, the flags were computed.
 * - pixelFlags_injected, _injectedCenter, _injected_template, _injected_templateCenter: false, the
 *   pipeline injects no sources.
 * - every other column (ssObjectId, parentDiaSourceId, psfLnL, trail*, dipoleChi2, ixxPSF, …,
 *   extendedness, reliability, pixelFlags_streak*, glint_trail, timeWithdrawnMjdTai, …): NULL.
 */
import { z } from 'zod';
import { InvalidInputError } from '../core/errors.ts';
import { diaSourceTable } from '../apdb/schema/tables.ts';
import { tableColumns, type ApdbColumn } from '../apdb/schema/types.ts';
import type { ApdbRow, ApdbValue } from '../apdb/types.ts';
import { DIA_SOURCE_COLUMNS, readDiaSourceCatalog, type DiaSourceCatalog, type DiaColumnFormat } from '../pipeline/stages/dia-sources/index.ts';

export const BANDS = ['u', 'g', 'r', 'i', 'z', 'y'] as const;
export type Band = (typeof BANDS)[number];

/** What the catalog does not carry: the visit's identity, time and band. */
export const DiaSourceRowContext = z.object({
  visit: z.bigint().nonnegative(),
  detector: z.number().int().min(0),
  /** Exposure midpoint, MJD (TAI). */
  midpointMjdTai: z.number().finite(),
  /** One of u, g, r, i, z, y. */
  band: z.string().refine((b) => (BANDS as readonly string[]).includes(b), { message: `must be one of ${BANDS.join(', ')}` }),
  /** When the rows were made, MJD (TAI). */
  timeProcessedMjdTai: z.number().finite(),
  /** Exposure time (s), when known. */
  exposureTime: z.number().finite().nonnegative().optional(),
});
export type DiaSourceRowContext = z.output<typeof DiaSourceRowContext>;

/** Values of the DiaSource columns the catalog does not carry (see the module comment). */
const FIXED: Readonly<Record<string, ApdbValue>> = {
  trailNdata: 0,
  dipoleNdata: 0,
  pixelFlags: false,
  pixelFlags_injected: false,
  pixelFlags_injectedCenter: false,
  pixelFlags_injected_template: false,
  pixelFlags_injected_templateCenter: false,
};

const CONTEXT_COLUMNS = new Set(['visit', 'detector', 'midpointMjdTai', 'band', 'timeProcessedMjdTai', 'exposureTime']);

type CatalogArray = BigInt64Array | Int32Array | Float64Array | Float32Array | Uint8Array;

interface Plan {
  readonly column: ApdbColumn;
  readonly source: 'catalog' | 'context' | 'fixed' | 'dipoleFitAttempted' | 'null';
  readonly format?: DiaColumnFormat;
}

const CATALOG_FORMATS = new Map<string, DiaColumnFormat>(DIA_SOURCE_COLUMNS.map((c) => [c.name, c.format]));

/** How each DiaSource column is filled, in table order. */
const PLAN: readonly Plan[] = tableColumns(diaSourceTable).map((column): Plan => {
  const { name } = column;
  if (CONTEXT_COLUMNS.has(name)) return { column, source: 'context' };
  const format = CATALOG_FORMATS.get(name);
  if (format !== undefined) return { column, source: 'catalog', format };
  if (name in FIXED) return { column, source: 'fixed' };
  if (name === 'dipoleFitAttempted') return { column, source: 'dipoleFitAttempted' };
  if (!column.nullable) throw new Error(`DiaSource column ${name} is NOT NULL and has no value`);
  return { column, source: 'null' };
});

/** The DiaSource table's column names that the rows carry (all of them). */
export const DIA_SOURCE_ROW_COLUMNS: readonly string[] = PLAN.map((p) => p.column.name);

function parseContext(context: DiaSourceRowContext): DiaSourceRowContext {
  const r = DiaSourceRowContext.safeParse(context);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new InvalidInputError(`DiaSource rows: bad context: ${issues}`);
  }
  return r.data;
}

/**
 * One DiaSource row per catalog row, with every DiaSource column (table order), diaObjectId NULL.
 * `catalog`: the catalog file's bytes (readDiaSourceCatalog) or the decoded catalog. Its fluxes
 * must be calibrated (nJy).
 */
export function diaSourceRowsFromCatalog(catalog: Uint8Array | DiaSourceCatalog, context: DiaSourceRowContext): ApdbRow[] {
  const cat = catalog instanceof Uint8Array ? readDiaSourceCatalog(catalog).catalog : catalog;
  const ctx = parseContext(context);
  if (cat.fluxUnit !== 'nJy') throw new InvalidInputError(`DiaSource rows: the catalog's fluxes are in ${cat.fluxUnit}, the APDB stores nJy`);
  const n = cat.length;
  const arrays = new Map<string, CatalogArray>();
  for (const c of DIA_SOURCE_COLUMNS) {
    const a: CatalogArray = cat[c.name];
    if (a.length !== n) throw new InvalidInputError(`DiaSource rows: catalog column ${c.name} has ${a.length} rows, length is ${n}`);
    arrays.set(c.name, a);
  }
  const visits = cat.visit;
  const detectors = cat.detector;
  const isDipole = cat.isDipole;
  const contextValues: Record<string, ApdbValue> = {
    visit: ctx.visit,
    detector: ctx.detector,
    midpointMjdTai: ctx.midpointMjdTai,
    band: ctx.band,
    timeProcessedMjdTai: ctx.timeProcessedMjdTai,
    exposureTime: ctx.exposureTime ?? null,
  };
  const rows: ApdbRow[] = new Array<ApdbRow>(n);
  for (let i = 0; i < n; i++) {
    if (visits[i] !== ctx.visit || detectors[i] !== ctx.detector) {
      throw new InvalidInputError(`DiaSource rows: catalog row ${i} is of visit ${visits[i]} detector ${detectors[i]}, the context is visit ${ctx.visit} detector ${ctx.detector}`);
    }
    const row: ApdbRow = {};
    for (const p of PLAN) {
      const name = p.column.name;
      let v: ApdbValue;
      switch (p.source) {
        case 'context':
          v = contextValues[name];
          break;
        case 'fixed':
          v = FIXED[name];
          break;
        case 'dipoleFitAttempted':
          v = isDipole[i] === 1;
          break;
        case 'null':
          v = null;
          break;
        case 'catalog': {
          const a = arrays.get(name) as CatalogArray;
          const x = a[i];
          if (p.format === 'L') v = x === 1;
          else if (typeof x === 'bigint') v = x;
          else v = Number.isNaN(x) ? null : x;
          break;
        }
      }
      if (v === null && !p.column.nullable) {
        throw new InvalidInputError(`DiaSource rows: catalog row ${i} (diaSourceId ${cat.diaSourceId[i]}) has no value for ${name}, which may not be NULL`);
      }
      row[name] = v;
    }
    rows[i] = row;
  }
  return rows;
}
