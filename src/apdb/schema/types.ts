/** How the APDB schema is described: one spec per table, one compact string per column. */

/** The Felis datatypes the APDB schema uses. */
export type ApdbDatatype = 'long' | 'int' | 'short' | 'float' | 'double' | 'char' | 'string' | 'text' | 'boolean' | 'timestamp';

export interface ApdbIndexSpec {
  readonly name: string;
  readonly columns: readonly string[];
}

export interface ApdbTableSpec {
  readonly name: string;
  /** Primary-key columns; empty when the table has none. */
  readonly primaryKey: readonly string[];
  readonly indexes: readonly ApdbIndexSpec[];
  readonly unique: readonly ApdbIndexSpec[];
  /** `name:datatype`, then `(length)` for a sized string, then `?` when NULL is allowed. */
  readonly columns: readonly string[];
}

export interface ApdbColumn {
  readonly name: string;
  readonly datatype: ApdbDatatype;
  readonly nullable: boolean;
  readonly length?: number;
}

const DATATYPES = new Set<ApdbDatatype>(['long', 'int', 'short', 'float', 'double', 'char', 'string', 'text', 'boolean', 'timestamp']);

/** Parses one compact column string (`raErr:float?`, `band:char(1)?`). */
export function parseColumn(spec: string): ApdbColumn {
  const m = /^([A-Za-z_][A-Za-z0-9_]*):([a-z]+)(?:\((\d+)\))?(\?)?$/.exec(spec);
  if (!m || !DATATYPES.has(m[2] as ApdbDatatype)) throw new Error(`bad APDB column spec ${JSON.stringify(spec)}`);
  const col: ApdbColumn = { name: m[1], datatype: m[2] as ApdbDatatype, nullable: m[4] === '?' };
  return m[3] ? { ...col, length: Number(m[3]) } : col;
}

/** The parsed columns of a table, in order. */
export function tableColumns(table: ApdbTableSpec): readonly ApdbColumn[] {
  return table.columns.map(parseColumn);
}
