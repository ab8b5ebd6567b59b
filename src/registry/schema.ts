/**
 * The tables of a registry, as Kysely sees them. The DDL lives in migrations.ts; these types
 * describe the newest schema version.
 */
import type { Dimension } from './types.ts';

/** One nullable column per dimension. Integers for the numeric dimensions, text for the rest. */
export type DimensionColumns = { [D in Dimension]: string | number | null };

export interface RegistryMetaTable {
  key: string;
  value: string;
}

export interface DimensionRecordTable extends DimensionColumns {
  element: string;
  /** dataIdKey of the element's key dimensions. */
  record_key: string;
  /** Canonical JSON (keys sorted). */
  record: string;
}

export interface DatasetTypeTable {
  name: string;
  /** Comma-separated, canonical order. */
  dimensions: string;
  storage_class: string;
  is_calibration: number;
}

export interface CollectionTable {
  name: string;
  type: string;
  doc: string;
}

export interface CollectionChainTable {
  parent: string;
  position: number;
  child: string;
}

export interface DatasetTable extends DimensionColumns {
  id: string;
  dataset_type: string;
  run: string;
  data_id_key: string;
  path: string;
  size_bytes: number;
  checksum: string;
  ingested_at: string;
}

export interface DatasetTagTable {
  collection: string;
  dataset_id: string;
  dataset_type: string;
  data_id_key: string;
}

export interface DatasetCalibTable {
  collection: string;
  dataset_id: string;
  dataset_type: string;
  data_id_key: string;
  /** Fixed-width ISO UTC (timespan.ts); null = unbounded. */
  begin_time: string | null;
  end_time: string | null;
}

export interface RegistryTables {
  registry_meta: RegistryMetaTable;
  dimension_record: DimensionRecordTable;
  dataset_type: DatasetTypeTable;
  collection: CollectionTable;
  collection_chain: CollectionChainTable;
  dataset: DatasetTable;
  dataset_tag: DatasetTagTable;
  dataset_calib: DatasetCalibTable;
}
