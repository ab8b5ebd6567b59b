/**
 * Detector footprints on the sky for the tester's pointings: the camera geometry of
 * src/instruments/placement.ts over the pure geometry of src/astro/footprint.ts, which the
 * activator uses too, so both predict the same footprint.
 */
export { detectorFootprint, detectorPlacement, detectorPointingWcs } from '../../instruments/placement.ts';
export type { Boresight } from '../../astro/footprint.ts';
