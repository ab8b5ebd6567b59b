/**
 * Rows and the operations on them that every APDB backend provides. A row maps column names of
 * the schema (schema/tables.ts) to values: `long` and `timestamp` columns are `bigint` (timestamps
 * in microseconds since 1970-01-01), `boolean` columns are booleans, the other numbers are
 * `number`, strings are strings, and NULL is `null`. A column absent from a row is NULL.
 */

export type ApdbValue = number | bigint | string | boolean | null;
export type ApdbRow = Record<string, ApdbValue>;

/** A sky region, as a convex polygon of (ra, dec) vertices in degrees, counter-clockwise. */
export interface ApdbRegion {
  readonly vertices: ReadonlyArray<readonly [number, number]>;
}

/** What the APDB holds inside a region: the history association needs. */
export interface ApdbHistory {
  /** The current version of every DiaObject inside the region (validityEndMjdTai NULL). */
  readonly diaObjects: readonly ApdbRow[];
  /** Their DiaSources newer than the source window (default 12 months before the visit). */
  readonly diaSources: readonly ApdbRow[];
  /** Their DiaForcedSources newer than the forced-source window (default 12 months). */
  readonly diaForcedSources: readonly ApdbRow[];
}

/** One detector-visit's rows, written in one transaction. */
export interface DetectorVisitRows {
  /** New DiaSources, each with its diaObjectId. */
  readonly diaSources: readonly ApdbRow[];
  /**
   * New versions of DiaObjects (created or updated by this visit). Each row's
   * validityStartMjdTai is the visit's time; the backend closes the previous version
   * (validityEndMjdTai) and replaces the DiaObjectLast row.
   */
  readonly diaObjects: readonly ApdbRow[];
  readonly diaForcedSources: readonly ApdbRow[];
  /** The DetectorVisitProcessingSummary row (visit, detector, …): marks the detector-visit as stored. */
  readonly processingSummary: ApdbRow;
}

/** Identifies one detector-visit in the APDB. */
export interface DetectorVisitKey {
  readonly visit: bigint;
  readonly detector: number;
}

export type StoreResult =
  | {
      readonly stored: true;
      /** The rows written (what the plan returned). */
      readonly rows: DetectorVisitRows;
      /** The history the plan saw, read inside the transaction. */
      readonly history: ApdbHistory;
    }
  | { readonly stored: false; readonly reason: string };
