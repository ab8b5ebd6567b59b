import { placementFootprint, placementWcs, type Boresight, type DetectorPlacement } from '../astro/footprint.ts';
import type { TanWcs } from '../astro/tan-wcs.ts';
import { getInstrument, type Instrument } from './instruments.ts';

export type { Boresight, DetectorPlacement };

function instrumentOf(instrument: Instrument | string): Instrument {
  return typeof instrument === 'string' ? getInstrument(instrument) : instrument;
}

/** Where detector `detectorId` of the instrument sits on the focal plane and how big it is. */
export function detectorPlacement(instrument: Instrument | string, detectorId: number): DetectorPlacement {
  const inst = instrumentOf(instrument);
  const d = inst.detector(detectorId);
  const g = d.geometry();
  return { centerArcsec: d.centerArcsec, detectorRotationDeg: d.rotationDeg, pixelScaleArcsec: inst.pixelScaleArcsec, width: g.width, height: g.height };
}

/** The detector's TAN WCS for a pointing (the one the simulator paints with). */
export function detectorPointingWcs(instrument: Instrument | string, detectorId: number, pointing: Boresight): TanWcs {
  return placementWcs(pointing, detectorPlacement(instrument, detectorId));
}

/**
 * Sky corners (ra, dec degrees) of a detector for a pointing, grown by `padArcsec` on every
 * side: what the activator predicts from a nextVisit before any pixel arrives.
 */
export function detectorFootprint(instrument: Instrument | string, detectorId: number, pointing: Boresight, padArcsec = 0): Array<[number, number]> {
  return placementFootprint(pointing, detectorPlacement(instrument, detectorId), padArcsec);
}
