/**
 * LSST alert packets, schema v11.0: the schema (built from the APDB table specs), the packet
 * codec and Kafka framing, archives (Avro container files), packet building from APDB rows, and
 * reading alerts back.
 */
export {
  ALERT_SCHEMA_ID,
  ALERT_SCHEMA_VERSION,
  ALERT_NAMESPACE,
  ALERT_SCHEMA,
  ALERT_SCHEMA_JSON,
  ALERT_SCHEMA_CANONICAL,
  ALERT_ROOT_SCHEMA,
  ALERT_RECORD_SCHEMAS,
  ALERT_RECORD_NAMES,
  ALERT_RECORD_SOURCES,
  ALERT_TYPE,
  alertRecordColumns,
  alertRecordType,
  avroTypeOfColumn,
  avroType,
  parsingCanonicalForm,
} from './schema.ts';
export type {
  AlertRecordName,
  AvroSchema,
  AvroRecordSchema,
  AvroField,
  AvroArraySchema,
  AvroLogicalSchema,
  AvroPrimitiveName,
} from './schema.ts';
export { BIGINT_LONG } from './avro-long.ts';
export {
  alertRecordFromRow,
  encodeAlert,
  encodeFramedAlert,
  decodeAlert,
  decodeFramedAlert,
  frameAlert,
  unframeAlert,
  parseAlertFrame,
  MAGIC_BYTE,
  FRAME_HEADER_BYTES,
  ALERT_RECORD_TABLES,
} from './codec.ts';
export type { AlertPacket, AlertRecord, AlertValue } from './codec.ts';
export {
  writeAlertArchive,
  writeAlertArchiveBodies,
  readAlertArchive,
  iterateAlertArchive,
  readAlertArchiveHeader,
  isAlertArchive,
  AVRO_CONTAINER_MAGIC,
  SYNC_MARKER_BYTES,
} from './archive.ts';
export type { AlertArchiveCodec, AlertArchiveOptions, AlertArchiveHeader } from './archive.ts';
export { buildAlertPackets } from './packets.ts';
export type { AlertCutouts, AlertPacketsInput } from './packets.ts';
export { runAlertsRead, alertsFromFramed, alertsOfFile, alertToJson, alertSummaryLine } from './reader.ts';
export type { AlertsReadOptions, AlertsOutput, AlertsSource, AlertsReadSummary } from './reader.ts';
