import type { DatasetType } from '../registry/index.ts';

/**
 * The dataset types prompt processing reads and writes. Calibrations are looked up through
 * CALIBRATION collections by validity time; everything else by collection search order.
 */
export const DATASET_TYPES = {
  raw: { name: 'raw', dimensions: ['instrument', 'detector', 'exposure'], storageClass: 'Exposure', isCalibration: false },
  bias: { name: 'bias', dimensions: ['instrument', 'detector'], storageClass: 'ExposureF', isCalibration: true },
  dark: { name: 'dark', dimensions: ['instrument', 'detector'], storageClass: 'ExposureF', isCalibration: true },
  flat: { name: 'flat', dimensions: ['instrument', 'detector', 'physical_filter'], storageClass: 'ExposureF', isCalibration: true },
  refcat: { name: 'refcat', dimensions: ['htm7'], storageClass: 'SimpleCatalog', isCalibration: false },
  template_coadd: { name: 'template_coadd', dimensions: ['skymap', 'tract', 'patch', 'band'], storageClass: 'ExposureF', isCalibration: false },
  processed_exposure: { name: 'processed_exposure', dimensions: ['instrument', 'detector', 'visit'], storageClass: 'ExposureF', isCalibration: false },
  source_catalog: { name: 'source_catalog', dimensions: ['instrument', 'detector', 'visit'], storageClass: 'SourceCatalog', isCalibration: false },
  difference_image: { name: 'difference_image', dimensions: ['instrument', 'detector', 'visit'], storageClass: 'ExposureF', isCalibration: false },
  dia_source_catalog: { name: 'dia_source_catalog', dimensions: ['instrument', 'detector', 'visit'], storageClass: 'DiaSourceCatalog', isCalibration: false },
  dia_cutouts: { name: 'dia_cutouts', dimensions: ['instrument', 'detector', 'visit'], storageClass: 'DiaCutouts', isCalibration: false },
  calib_verification: { name: 'calib_verification', dimensions: ['instrument', 'detector', 'visit'], storageClass: 'StructuredData', isCalibration: false },
  /** The alerts of a detector-visit: an Avro object container file on the alert schema. */
  alertArchive: { name: 'alertArchive', dimensions: ['instrument', 'detector', 'visit'], storageClass: 'AvroAlerts', isCalibration: false },
} as const satisfies Record<string, DatasetType>;

export type StandardDatasetType = keyof typeof DATASET_TYPES;

/**
 * Which calibration types a kind of visit uses, by the pipeline's rules: the ones it applies, and
 * for BIAS, DARK and FLAT visits the master of their own kind, which they are verified against.
 */
export const CALIBS_FOR_KIND = {
  BIAS: ['bias'],
  DARK: ['bias', 'dark'],
  FLAT: ['bias', 'dark', 'flat'],
  SCIENCE: ['bias', 'dark', 'flat'],
} as const;
