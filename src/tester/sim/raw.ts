/**
 * A complete simulated raw file: one detector, one snap, as the camera writer uploads it — a
 * data-less primary HDU with the exposure's cards, then one RICE_1 tile-compressed int32 image
 * extension per raw HDU of the detector (16 amplifier segments for LSST CCDs, one HDU holding
 * both amplifiers for DECam). See raw-pixels.ts for what the pixels contain.
 */
import { writeFits, type CardInput, type ImageHduInput } from '../../fits/index.ts';
import { simulateRawPixels, type RawParams, type RawPixels } from './raw-pixels.ts';

export type { RawParams, RawPixels, RawHduPixels, RawTruth, ResolvedRawParams, SimCard, ObservationKind } from './raw-pixels.ts';
export { simulateRawPixels, parseRawParams, RawParamsSchema, flatFieldPattern, fitsSection, visitTruth, DEFAULT_CATALOG_SEED, DEFAULT_EXPOSURE_S, OBSERVATION_KINDS, SIM_VERSION } from './raw-pixels.ts';
export type { TransientKind, TransientOptions, TransientTruth, VisitTruth } from './transients.ts';

/**
 * The FITS bytes (`.fz`) of simulated raw pixels: row tiles (width × 1), as the LSST camera
 * writes; with `compress: false`, plain int32 image extensions.
 */
export function encodeRaw(raw: RawPixels, options: { compress?: boolean } = {}): Uint8Array {
  const compress = options.compress ?? true;
  const extensions: ImageHduInput[] = raw.hdus.map((h) => ({
    extname: h.name,
    header: h.header as readonly CardInput[],
    width: h.width,
    height: h.height,
    data: h.data,
    ...(compress ? { compression: { type: 'RICE_1' as const, tileWidth: h.width, tileHeight: 1 } } : {}),
  }));
  return writeFits({ header: raw.primaryHeader as readonly CardInput[] }, extensions);
}

/** Simulates one detector snap and returns the complete `.fz` file. Same params → same bytes. */
export function simulateRaw(params: RawParams): Uint8Array {
  return encodeRaw(simulateRawPixels(params));
}
