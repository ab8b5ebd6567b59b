/**
 * The Alert Production Database: the DiaObjects, DiaSources and DiaForcedSources that prompt
 * processing associates new detections with, on SQLite (embedded default) or PostgreSQL (one
 * schema per APDB), following dax_apdb's ApdbSql: the Felis schema ApdbSchema 10.0.0, a pixelId
 * (HTM level 20) on DiaObject, DiaObjectLast and DiaSource, and versioned DiaObjects.
 *
 * Rows follow types.ts. Rows returned by history() hold exactly the schema's columns (pixelId is
 * dropped); readTable() returns every stored column, pixelId included. On SQLite a float NaN is
 * stored as the text 'NaN' in its REAL column (SQLite would turn a NaN into NULL), so NaN and
 * NULL both survive a round trip on both backends; like PostgreSQL's NaN, it sorts above every number.
 * A `float` column holds 32 bits on PostgreSQL (REAL) and reads back as exactly that value
 * (Math.fround of the number written); SQLite keeps the whole double.
 */
import { describeTarget, openApdbBackend, type BackendDeps } from './backends.ts';
import type { ApdbTableInfo } from './backend.ts';
import { parseApdbUrl, type ApdbConfig } from './config.ts';
import { SqlApdb } from './sql-apdb.ts';
import type { ApdbHistory, ApdbRegion, ApdbRow, ApdbValue, DetectorVisitKey, DetectorVisitRows, StoreResult } from './types.ts';

export { parseApdbConfig, type ApdbConfig, type IsolationLevel } from './config.ts';

export interface ApdbCounts {
  /** DiaObjects with a current version. */
  readonly diaObjects: number;
  readonly diaSources: number;
  readonly diaForcedSources: number;
  /** Detector-visits stored (DetectorVisitProcessingSummary rows). */
  readonly detectorVisits: number;
}

export interface CreateResult {
  /** false when an APDB with this schema version was already there (then nothing changed). */
  readonly created: boolean;
  readonly message: string;
}

export interface Apdb {
  /**
   * Makes every table, index and the metadata rows (version:schema, version:ApdbSql,
   * config:apdb-sql.json). An existing APDB of the same schema version is left as it is
   * (created: false); one of another version is an error.
   */
  create(): Promise<CreateResult>;
  /**
   * The current DiaObjects inside the region, their DiaSources with midpointMjdTai >
   * visitMjdTai − 30·read_sources_months and DiaForcedSources with midpointMjdTai >
   * visitMjdTai − 30·read_forced_sources_months (none when the months are 0), all as of one
   * snapshot of the database.
   */
  history(region: ApdbRegion, visitMjdTai: number): Promise<ApdbHistory>;
  /**
   * One transaction: waits for every writer of an overlapping region (or of the same
   * detector-visit); stores nothing and does not call `plan` when the detector-visit already has
   * its DetectorVisitProcessingSummary row; otherwise reads the region's history, calls `plan`
   * with it, and writes what it returns (DiaSources; each DiaObject's new version, closing the
   * previous one and replacing its DiaObjectLast row; DiaForcedSources; the summary row). Any
   * error (also one thrown by `plan`) rolls everything back and is rethrown. On PostgreSQL a
   * transaction that fails to serialise is run again, calling `plan` again.
   *
   * `known`: a history() of this APDB read earlier (any region, any time: typically the preload
   * of the visit's footprint). The plan then sees exactly the history a full read would give,
   * read with less inside the transaction: the DiaObjects again, but of the DiaSources and
   * DiaForcedSources only the keys, and whole rows only for the keys `known` lacks (written
   * since, or outside its region or windows). Rows of `known` are passed on as they are, so
   * they must not have been changed.
   */
  storeDetectorVisit(key: DetectorVisitKey, region: ApdbRegion, visitMjdTai: number, plan: (history: ApdbHistory) => DetectorVisitRows, known?: ApdbHistory): Promise<StoreResult>;
  counts(): Promise<ApdbCounts>;
  /**
   * Rows of any table, all stored columns (pixelId included), where every column of `where`
   * equals its value (a null value matches NULL).
   */
  readTable(table: string, where?: Readonly<Record<string, ApdbValue>>): Promise<ApdbRow[]>;
  /**
   * Inserts rows into a table that storeDetectorVisit does not write (SSObject, SSSource,
   * DiaObject_To_Object_Match, the MPC tables); rows already there by primary key are skipped.
   * Returns how many rows were given.
   */
  insertRows(table: string, rows: readonly ApdbRow[]): Promise<number>;
  /** What the database holds for a table: columns, primary key, indexes; null when it is absent. */
  describeTable(table: string): Promise<ApdbTableInfo | null>;
  /** The database URL, never with a password (SQLite: sqlite:////absolute/file). */
  describe(): string;
  close(): Promise<void>;
}

/**
 * An APDB handle. Nothing is created here: create() makes the APDB, and every other operation
 * on a missing one fails with NotFoundError. Connections are opened when first needed.
 */
export async function openApdb(config: ApdbConfig, deps: BackendDeps = {}): Promise<Apdb> {
  const target = parseApdbUrl(config.dbUrl);
  return new SqlApdb(config, await describeTarget(target, deps), (mode) => openApdbBackend(target, config, mode, deps));
}
