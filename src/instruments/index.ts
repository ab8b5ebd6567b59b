export type { AmpGeometry, Box, CcdGeometry, CcdType, RawHduGeometry } from './geometry.ts';
export { boxHeight, boxWidth, decamCcdGeometry, lsstCcdGeometry, ITL_AMP, E2V_AMP } from './geometry.ts';
export type { Detector, DetectorPurpose, Instrument, InstrumentName, PhysicalFilter } from './instruments.ts';
export { getInstrument, isInstrumentName, INSTRUMENT_NAMES } from './instruments.ts';
export { buildObjectKey, parseObjectKey, exposureIdFor, groupFor, parseGroup } from './keys.ts';
export type { ObjectKey } from './keys.ts';
export { detectorFootprint, detectorPlacement, detectorPointingWcs } from './placement.ts';
