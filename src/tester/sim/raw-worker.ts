/**
 * Worker-thread entry of the raw pool (loaded by piscina through tsx). The FITS bytes go back to
 * the caller by transfer, not by copy.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { encodeRaw, simulateRaw, simulateRawPixels, type RawParams, type RawTruth, type VisitTruth } from './raw.ts';

/** The `.fz` bytes of one detector snap. */
export function simulate(params: RawParams): Uint8Array {
  return move(simulateRaw(params)) as Uint8Array;
}

export interface RawWithTruth {
  readonly bytes: Uint8Array;
  readonly truth: RawTruth;
}

/** The `.fz` bytes and the truth (painted sources, cosmic rays, defects) of one detector snap. */
export function simulateWithTruth(params: RawParams): RawWithTruth {
  const raw = simulateRawPixels(params);
  const bytes = encodeRaw(raw);
  const value: RawWithTruth = { bytes, truth: raw.truth };
  // piscina's Transferable protocol, marked movable: transfer the bytes' buffer, clone the rest
  return move({ [transferableSymbol]: [bytes.buffer], [valueSymbol]: value } as unknown as Parameters<typeof move>[0]) as unknown as RawWithTruth;
}

export interface RawWithVisitTruth {
  readonly bytes: Uint8Array;
  readonly truth: VisitTruth;
}

/** The `.fz` bytes of one detector snap and the truth of the transients injected into its visit. */
export function simulateWithVisitTruth(params: RawParams): RawWithVisitTruth {
  const raw = simulateRawPixels(params);
  const bytes = encodeRaw(raw);
  const value: RawWithVisitTruth = { bytes, truth: raw.truth.injected };
  return move({ [transferableSymbol]: [bytes.buffer], [valueSymbol]: value } as unknown as Parameters<typeof move>[0]) as unknown as RawWithVisitTruth;
}

export default simulate;
