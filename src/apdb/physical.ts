/**
 * The tables as the SQL backends store them: the Felis columns of schema/tables.ts plus the
 * `pixelId` (HTM level-20 index of ra/dec) that dax_apdb adds, with an index, to DiaObject,
 * DiaObjectLast and DiaSource. Foreign keys are not created (SSSource → DiaSource would make the
 * order of writes matter for no gain: the APDB's writers keep the references themselves).
 */
import { APDB_TABLES } from './schema/tables.ts';
import { tableColumns, type ApdbColumn, type ApdbIndexSpec, type ApdbTableSpec } from './schema/types.ts';

export const PIXEL_ID = 'pixelId';

/**
 * Indexes beyond the schema's: the detector-visit lookup every store makes before it writes
 * (the summary table has no key in the schema).
 */
const EXTRA_INDEXES: Readonly<Record<string, readonly ApdbIndexSpec[]>> = {
  DetectorVisitProcessingSummary: [{ name: 'IDX_DetectorVisitProcessingSummary_visitDetector', columns: ['visit', 'detector'] }],
};
export const PIXEL_TABLES: ReadonlySet<string> = new Set(['DiaObject', 'DiaObjectLast', 'DiaSource']);

export interface PhysicalTable {
  readonly spec: ApdbTableSpec;
  readonly name: string;
  /** Every stored column, pixelId last where there is one. */
  readonly columns: readonly ApdbColumn[];
  readonly byName: ReadonlyMap<string, ApdbColumn>;
  /** The schema's indexes plus the pixelId index (and EXTRA_INDEXES). */
  readonly indexes: readonly ApdbIndexSpec[];
  readonly hasPixelId: boolean;
}

const PIXEL_COLUMN: ApdbColumn = { name: PIXEL_ID, datatype: 'long', nullable: false };

function physical(spec: ApdbTableSpec): PhysicalTable {
  const hasPixelId = PIXEL_TABLES.has(spec.name);
  const columns = [...tableColumns(spec), ...(hasPixelId ? [PIXEL_COLUMN] : [])];
  return {
    spec,
    name: spec.name,
    columns,
    byName: new Map(columns.map((c) => [c.name, c])),
    indexes: [...spec.indexes, ...(hasPixelId ? [{ name: `IDX_${spec.name}_pixelId`, columns: [PIXEL_ID] }] : []), ...(EXTRA_INDEXES[spec.name] ?? [])],
    hasPixelId,
  };
}

export const PHYSICAL_TABLES: ReadonlyMap<string, PhysicalTable> = new Map(APDB_TABLES.map((t) => [t.name, physical(t)]));

export function physicalTable(name: string): PhysicalTable {
  const t = PHYSICAL_TABLES.get(name);
  if (!t) throw new Error(`no APDB table '${name}'`);
  return t;
}

export const T = {
  metadata: physicalTable('metadata'),
  diaObject: physicalTable('DiaObject'),
  diaObjectLast: physicalTable('DiaObjectLast'),
  diaSource: physicalTable('DiaSource'),
  diaForcedSource: physicalTable('DiaForcedSource'),
  summary: physicalTable('DetectorVisitProcessingSummary'),
} as const;
