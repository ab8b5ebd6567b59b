/**
 * The APDB tables, column by column: names, datatypes, nullability and lengths of the Felis schema
 * "ApdbSchema" v10.0.0 that the APDB and the alert schema v11.0 follow. One column is written
 * `name:datatype`, with `?` when it may be NULL and `(n)` for a string length. The alert records
 * (src/alerts) are derived from these lists; `apdb.test.ts` checks them against the reference.
 */
import type { ApdbTableSpec } from './types.ts';

export const APDB_SCHEMA_NAME = 'ApdbSchema';
export const APDB_SCHEMA_VERSION = '10.0.0';

export const metadataTable: ApdbTableSpec = {
  name: 'metadata',
  primaryKey: ['name'],
  indexes: [],
  unique: [],
  columns: [
    'name:text', 'value:text',
  ],
};

export const diaObjectTable: ApdbTableSpec = {
  name: 'DiaObject',
  primaryKey: ['diaObjectId', 'validityStartMjdTai'],
  indexes: [{ name: 'IDX_DiaObject_validityStart', columns: ['validityStartMjdTai'] }],
  unique: [],
  columns: [
    'diaObjectId:long', 'validityStartMjdTai:double', 'validityEndMjdTai:double?', 'ra:double',
    'raErr:float?', 'dec:double', 'decErr:float?', 'ra_dec_Cov:float?', 'u_psfFluxMean:float?',
    'u_psfFluxMeanErr:float?', 'u_psfFluxSigma:float?', 'u_psfFluxNdata:int', 'u_fpFluxMean:float?',
    'u_fpFluxMeanErr:float?', 'g_psfFluxMean:float?', 'g_psfFluxMeanErr:float?',
    'g_psfFluxSigma:float?', 'g_psfFluxNdata:int', 'g_fpFluxMean:float?', 'g_fpFluxMeanErr:float?',
    'r_psfFluxMean:float?', 'r_psfFluxMeanErr:float?', 'r_psfFluxSigma:float?',
    'r_psfFluxNdata:int', 'r_fpFluxMean:float?', 'r_fpFluxMeanErr:float?', 'i_psfFluxMean:float?',
    'i_psfFluxMeanErr:float?', 'i_psfFluxSigma:float?', 'i_psfFluxNdata:int', 'i_fpFluxMean:float?',
    'i_fpFluxMeanErr:float?', 'z_psfFluxMean:float?', 'z_psfFluxMeanErr:float?',
    'z_psfFluxSigma:float?', 'z_psfFluxNdata:int', 'z_fpFluxMean:float?', 'z_fpFluxMeanErr:float?',
    'y_psfFluxMean:float?', 'y_psfFluxMeanErr:float?', 'y_psfFluxSigma:float?',
    'y_psfFluxNdata:int', 'y_fpFluxMean:float?', 'y_fpFluxMeanErr:float?',
    'u_scienceFluxMean:float?', 'u_scienceFluxMeanErr:float?', 'g_scienceFluxMean:float?',
    'g_scienceFluxMeanErr:float?', 'r_scienceFluxMean:float?', 'r_scienceFluxMeanErr:float?',
    'i_scienceFluxMean:float?', 'i_scienceFluxMeanErr:float?', 'z_scienceFluxMean:float?',
    'z_scienceFluxMeanErr:float?', 'y_scienceFluxMean:float?', 'y_scienceFluxMeanErr:float?',
    'u_psfFluxMin:float?', 'u_psfFluxMax:float?', 'u_psfFluxMaxSlope:float?',
    'u_psfFluxErrMean:float?', 'g_psfFluxMin:float?', 'g_psfFluxMax:float?',
    'g_psfFluxMaxSlope:float?', 'g_psfFluxErrMean:float?', 'r_psfFluxMin:float?',
    'r_psfFluxMax:float?', 'r_psfFluxMaxSlope:float?', 'r_psfFluxErrMean:float?',
    'i_psfFluxMin:float?', 'i_psfFluxMax:float?', 'i_psfFluxMaxSlope:float?',
    'i_psfFluxErrMean:float?', 'z_psfFluxMin:float?', 'z_psfFluxMax:float?',
    'z_psfFluxMaxSlope:float?', 'z_psfFluxErrMean:float?', 'y_psfFluxMin:float?',
    'y_psfFluxMax:float?', 'y_psfFluxMaxSlope:float?', 'y_psfFluxErrMean:float?',
    'firstDiaSourceMjdTai:double?', 'lastDiaSourceMjdTai:double?', 'nDiaSources:int',
  ],
};

export const diaSourceTable: ApdbTableSpec = {
  name: 'DiaSource',
  primaryKey: ['diaSourceId'],
  indexes: [{ name: 'IDX_DiaSource_visitDetector', columns: ['visit', 'detector'] }, { name: 'IDX_DiaSource_diaObjectId', columns: ['diaObjectId'] }, { name: 'IDX_DiaSource_ssObjectId', columns: ['ssObjectId'] }],
  unique: [],
  columns: [
    'diaSourceId:long', 'visit:long', 'detector:short', 'diaObjectId:long?', 'ssObjectId:long?',
    'parentDiaSourceId:long?', 'ssObjectReassocTimeMjdTai:double?', 'midpointMjdTai:double',
    'exposureTime:float?', 'ra:double', 'raErr:float?', 'dec:double', 'decErr:float?',
    'ra_dec_Cov:float?', 'x:float', 'xErr:float?', 'y:float', 'yErr:float?',
    'centroid_flag:boolean?', 'apFlux:float?', 'apFluxErr:float?', 'apFlux_flag:boolean?',
    'apFlux_flag_apertureTruncated:boolean?', 'isNegative:boolean?', 'snr:float?', 'psfFlux:float?',
    'psfFluxErr:float?', 'psfLnL:float?', 'psfChi2:float?', 'psfNdata:int', 'psfFlux_flag:boolean?',
    'psfFlux_flag_edge:boolean?', 'psfFlux_flag_noGoodPixels:boolean?', 'trailFlux:float?',
    'trailFluxErr:float?', 'trailRa:double?', 'trailRaErr:float?', 'trailDec:double?',
    'trailDecErr:float?', 'trailLength:float?', 'trailLengthErr:float?', 'trailAngle:float?',
    'trailAngleErr:float?', 'trailChi2:float?', 'trailNdata:int', 'trailAlgorithm:int?',
    'trail_flag_edge:boolean?', 'trail_flag:boolean?', 'dipoleMeanFlux:float?',
    'dipoleMeanFluxErr:float?', 'dipoleFluxDiff:float?', 'dipoleFluxDiffErr:float?',
    'dipoleLength:float?', 'dipoleAngle:float?', 'dipoleChi2:float?', 'dipoleNdata:int',
    'scienceFlux:float?', 'scienceFluxErr:float?', 'forced_PsfFlux_flag:boolean?',
    'forced_PsfFlux_flag_edge:boolean?', 'forced_PsfFlux_flag_noGoodPixels:boolean?',
    'templateFlux:float?', 'templateFluxErr:float?', 'ixx:float?', 'iyy:float?', 'ixy:float?',
    'ixxPSF:float?', 'iyyPSF:float?', 'ixyPSF:float?', 'shape_flag:boolean?',
    'shape_flag_no_pixels:boolean?', 'shape_flag_not_contained:boolean?',
    'shape_flag_parent_source:boolean?', 'extendedness:float?', 'reliability:float?',
    'reliabilityVersion:string(7)?', 'band:char(1)?', 'isDipole:boolean?',
    'dipoleFitAttempted:boolean?', 'timeProcessedMjdTai:double', 'timeWithdrawnMjdTai:double?',
    'bboxSize:int', 'pixelFlags:boolean?', 'pixelFlags_bad:boolean?', 'pixelFlags_cr:boolean?',
    'pixelFlags_crCenter:boolean?', 'pixelFlags_edge:boolean?', 'pixelFlags_nodata:boolean?',
    'pixelFlags_nodataCenter:boolean?', 'pixelFlags_interpolated:boolean?',
    'pixelFlags_interpolatedCenter:boolean?', 'pixelFlags_offimage:boolean?',
    'pixelFlags_saturated:boolean?', 'pixelFlags_saturatedCenter:boolean?',
    'pixelFlags_suspect:boolean?', 'pixelFlags_suspectCenter:boolean?',
    'pixelFlags_streak:boolean?', 'pixelFlags_streakCenter:boolean?',
    'pixelFlags_injected:boolean?', 'pixelFlags_injectedCenter:boolean?',
    'pixelFlags_injected_template:boolean?', 'pixelFlags_injected_templateCenter:boolean?',
    'glint_trail:boolean?',
  ],
};

export const diaForcedSourceTable: ApdbTableSpec = {
  name: 'DiaForcedSource',
  primaryKey: ['diaObjectId', 'visit', 'detector'],
  indexes: [{ name: 'IDX_DiaForcedSource_visitDetector', columns: ['visit', 'detector'] }],
  unique: [],
  columns: [
    'diaForcedSourceId:long', 'diaObjectId:long', 'ra:double', 'dec:double', 'visit:long',
    'detector:short', 'psfFlux:float?', 'psfFluxErr:float?', 'midpointMjdTai:double',
    'scienceFlux:float?', 'scienceFluxErr:float?', 'band:char(1)?', 'timeProcessedMjdTai:double',
    'timeWithdrawnMjdTai:double?',
  ],
};

export const diaObjectToObjectMatchTable: ApdbTableSpec = {
  name: 'DiaObject_To_Object_Match',
  primaryKey: [],
  indexes: [{ name: 'IDX_DiaObjectToObjectMatch_diaObjectId', columns: ['diaObjectId'] }, { name: 'IDX_DiaObjectToObjectMatch_objectId', columns: ['objectId'] }],
  unique: [],
  columns: [
    'diaObjectId:long', 'objectId:long', 'dist:float?', 'lnP:float?',
  ],
};

export const diaObjectLastTable: ApdbTableSpec = {
  name: 'DiaObjectLast',
  primaryKey: ['diaObjectId'],
  indexes: [],
  unique: [],
  columns: [
    'diaObjectId:long', 'validityStartMjdTai:double', 'lastDiaSourceMjdTai:double?', 'ra:double',
    'raErr:float?', 'dec:double', 'decErr:float?', 'ra_dec_Cov:float?',
    'firstDiaSourceMjdTai:double?', 'nDiaSources:int',
  ],
};

export const detectorVisitProcessingSummaryTable: ApdbTableSpec = {
  name: 'DetectorVisitProcessingSummary',
  primaryKey: [],
  indexes: [],
  unique: [],
  columns: [
    'visit:long', 'detector:short', 'ra:double?', 'dec:double?', 'pixelScale:float?',
    'zeroPoint:float?', 'psfSigma:float?', 'skyBg:float?', 'skyNoise:float?', 'seeing:double?',
    'xSize:long', 'ySize:long', 'llcra:double?', 'llcdec:double?', 'ulcra:double?',
    'ulcdec:double?', 'urcra:double?', 'urcdec:double?', 'lrcra:double?', 'lrcdec:double?',
    'psfAdaptiveThresholdValue:double?', 'psfAdaptiveIncludeThresholdMultiplier:double?',
    'nShapeletsStar:int?', 'shapeletsOnlyIqScore:double?', 'shapeletsIqScore:double?',
    'centroidDiffShapeletsVsSlotMedian:double?', 'shapeletsStarEMedian:double?',
    'shapeletsStarUnNormalizedEMedian:double?', 'refCatSourceDensity:float?',
    'astromOffsetMean:double?', 'astromOffsetStd:double?', 'starComa1Median:double?',
    'starComa2Median:double?', 'starTrefoil1Median:double?', 'starTrefoil2Median:double?',
    'starKurtosisMedian:double?', 'starE41Median:double?', 'starE42Median:double?', 'nPsfStar:int',
    'psfStarDeltaE1Median:double?', 'psfStarDeltaE2Median:double?', 'psfStarDeltaE1Scatter:double?',
    'psfStarDeltaE2Scatter:double?', 'psfStarDeltaSizeMedian:double?',
    'psfStarDeltaSizeScatter:double?', 'psfStarScaledDeltaSizeScatter:double?',
    'psfTraceRadiusDelta:double?', 'psfApFluxDelta:double?', 'psfApCorrSigmaScaledDelta:double?',
    'maxDistToNearestPsf:double?', 'starEMedian:double?', 'starUnNormalizedEMedian:double?',
  ],
};

export const sSObjectTable: ApdbTableSpec = {
  name: 'SSObject',
  primaryKey: ['ssObjectId'],
  indexes: [{ name: 'idx_SSObject_MOIDEarth', columns: ['MOIDEarth'] }],
  unique: [{ name: 'unique_SSObject_designation', columns: ['designation'] }],
  columns: [
    'ssObjectId:long', 'designation:char(16)?', 'nObs:int', 'arc:float',
    'firstObservationMjdTai:double?', 'MOIDEarth:float?', 'MOIDEarthDeltaV:float?',
    'MOIDEarthEclipticLongitude:float?', 'MOIDEarthTrueAnomaly:float?',
    'MOIDEarthTrueAnomalyObject:float?', 'tisserand_J:float?', 'extendednessMax:float?',
    'extendednessMedian:float?', 'extendednessMin:float?', 'u_nObs:int', 'u_H:float?',
    'u_HErr:float?', 'u_G12:float?', 'u_G12Err:float?', 'u_H_u_G12_Cov:float?', 'u_nObsUsed:int',
    'u_Chi2:float?', 'u_phaseAngleMin:float?', 'u_phaseAngleMax:float?',
    'u_slope_fit_failed:boolean?', 'g_nObs:int', 'g_H:float?', 'g_HErr:float?', 'g_G12:float?',
    'g_G12Err:float?', 'g_H_g_G12_Cov:float?', 'g_nObsUsed:int', 'g_Chi2:float?',
    'g_phaseAngleMin:float?', 'g_phaseAngleMax:float?', 'g_slope_fit_failed:boolean?', 'r_nObs:int',
    'r_H:float?', 'r_HErr:float?', 'r_G12:float?', 'r_G12Err:float?', 'r_H_r_G12_Cov:float?',
    'r_nObsUsed:int', 'r_Chi2:float?', 'r_phaseAngleMin:float?', 'r_phaseAngleMax:float?',
    'r_slope_fit_failed:boolean?', 'i_nObs:int', 'i_H:float?', 'i_HErr:float?', 'i_G12:float?',
    'i_G12Err:float?', 'i_H_i_G12_Cov:float?', 'i_nObsUsed:int', 'i_Chi2:float?',
    'i_phaseAngleMin:float?', 'i_phaseAngleMax:float?', 'i_slope_fit_failed:boolean?', 'z_nObs:int',
    'z_H:float?', 'z_HErr:float?', 'z_G12:float?', 'z_G12Err:float?', 'z_H_z_G12_Cov:float?',
    'z_nObsUsed:int', 'z_Chi2:float?', 'z_phaseAngleMin:float?', 'z_phaseAngleMax:float?',
    'z_slope_fit_failed:boolean?', 'y_nObs:int', 'y_H:float?', 'y_HErr:float?', 'y_G12:float?',
    'y_G12Err:float?', 'y_H_y_G12_Cov:float?', 'y_nObsUsed:int', 'y_Chi2:float?',
    'y_phaseAngleMin:float?', 'y_phaseAngleMax:float?', 'y_slope_fit_failed:boolean?',
  ],
};

export const sSSourceTable: ApdbTableSpec = {
  name: 'SSSource',
  primaryKey: ['diaSourceId'],
  indexes: [{ name: 'idx_SSSource_ssObjectId', columns: ['ssObjectId'] }, { name: 'idx_SSSource_designation', columns: ['designation'] }],
  unique: [],
  columns: [
    'diaSourceId:long', 'ssObjectId:long', 'designation:char(16)?', 'eclLambda:double',
    'eclBeta:double', 'galLon:double', 'galLat:double', 'elongation:float?', 'phaseAngle:float?',
    'topoRange:float?', 'topoRangeRate:float?', 'helioRange:float?', 'helioRangeRate:float?',
    'ephRa:double?', 'ephDec:double?', 'ephVmag:float?', 'ephRate:float?', 'ephRateRa:float?',
    'ephRateDec:float?', 'ephOffset:float?', 'ephOffsetRa:double?', 'ephOffsetDec:double?',
    'ephOffsetAlongTrack:float?', 'ephOffsetCrossTrack:float?', 'helio_x:float?', 'helio_y:float?',
    'helio_z:float?', 'helio_vx:float?', 'helio_vy:float?', 'helio_vz:float?', 'helio_vtot:float?',
    'topo_x:float?', 'topo_y:float?', 'topo_z:float?', 'topo_vx:float?', 'topo_vy:float?',
    'topo_vz:float?', 'topo_vtot:float?', 'diaDistanceRank:short?',
  ],
};

export const mpcorbitsTable: ApdbTableSpec = {
  name: 'mpc_orbits',
  primaryKey: ['id'],
  indexes: [],
  unique: [{ name: 'unique_mpc_orbits_unpacked_primary_provisional_designation', columns: ['unpacked_primary_provisional_designation'] }, { name: 'unique_mpc_orbits_designation', columns: ['designation'] }, { name: 'unique_mpc_orbits_packed_primary_provisional_designation', columns: ['packed_primary_provisional_designation'] }],
  columns: [
    'id:int', 'designation:char(16)', 'packed_primary_provisional_designation:char(16)',
    'unpacked_primary_provisional_designation:char(16)', 'mpc_orb_jsonb:text?',
    'created_at:timestamp?', 'updated_at:timestamp?', 'orbit_type_int:int?', 'u_param:int?',
    'nopp:int?', 'arc_length_total:double?', 'arc_length_sel:double?', 'nobs_total:int?',
    'nobs_total_sel:int?', 'a:double?', 'q:double?', 'e:double?', 'i:double?', 'node:double?',
    'argperi:double?', 'peri_time:double?', 'yarkovsky:double?', 'srp:double?', 'a1:double?',
    'a2:double?', 'a3:double?', 'dt:double?', 'mean_anomaly:double?', 'period:double?',
    'mean_motion:double?', 'a_unc:double?', 'q_unc:double?', 'e_unc:double?', 'i_unc:double?',
    'node_unc:double?', 'argperi_unc:double?', 'peri_time_unc:double?', 'yarkovsky_unc:double?',
    'srp_unc:double?', 'a1_unc:double?', 'a2_unc:double?', 'a3_unc:double?', 'dt_unc:double?',
    'mean_anomaly_unc:double?', 'period_unc:double?', 'mean_motion_unc:double?',
    'epoch_mjd:double?', 'h:double?', 'g:double?', 'not_normalized_rms:double?',
    'normalized_rms:double?', 'earth_moid:double?', 'fitting_datetime:timestamp?',
  ],
};

export const currentidentificationsTable: ApdbTableSpec = {
  name: 'current_identifications',
  primaryKey: ['id'],
  indexes: [],
  unique: [{ name: 'unique_current_identifications_packed_primary_provisional_desig', columns: ['packed_primary_provisional_designation'] }, { name: 'uniq_current_identifications_packed_secondary_provisional_desig', columns: ['packed_secondary_provisional_designation'] }],
  columns: [
    'id:int', 'packed_primary_provisional_designation:char(16)',
    'packed_secondary_provisional_designation:char(16)',
    'unpacked_primary_provisional_designation:char(16)',
    'unpacked_secondary_provisional_designation:char(16)', 'published:boolean?',
    'identifier_ids:text', 'object_type:int?', 'numbered:boolean?', 'created_at:timestamp?',
    'updated_at:timestamp?',
  ],
};

export const numberedidentificationsTable: ApdbTableSpec = {
  name: 'numbered_identifications',
  primaryKey: ['id'],
  indexes: [],
  unique: [{ name: 'unique_numbered_identifications_iau_name', columns: ['iau_name'] }, { name: 'unique_numbered_identifications_packed_primary_prov_desig', columns: ['packed_primary_provisional_designation'] }, { name: 'unique_numbered_identifications_permid', columns: ['permid'] }, { name: 'uniq_numbered_identifications_unpacked_primary_prov_desig', columns: ['unpacked_primary_provisional_designation'] }],
  columns: [
    'id:int', 'packed_primary_provisional_designation:char(16)',
    'unpacked_primary_provisional_designation:char(16)', 'permid:char(16)', 'iau_designation:text?',
    'iau_name:char(32)?', 'numbered_publication_references:text?',
    'named_publication_references:text?', 'naming_credit:text?', 'created_at:timestamp?',
    'updated_at:timestamp?',
  ],
};

/** Every table of the schema, in its order. */
export const APDB_TABLES: readonly ApdbTableSpec[] = [metadataTable, diaObjectTable, diaSourceTable, diaForcedSourceTable, diaObjectToObjectMatchTable, diaObjectLastTable, detectorVisitProcessingSummaryTable, sSObjectTable, sSSourceTable, mpcorbitsTable, currentidentificationsTable, numberedidentificationsTable];
