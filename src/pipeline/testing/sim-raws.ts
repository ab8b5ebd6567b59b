/**
 * Simulated raws for the pipeline's tests and benchmarks, through the tester's simulator.
 */
import { encodeRaw, simulateRawPixels, type RawParams, type RawPixels } from '../../tester/sim/raw.ts';

/** A raw file as the simulator writes it (RICE) or, with `compress: false`, with plain int32 HDUs. */
export function rawFile(raw: RawPixels, compress = true): Uint8Array {
  return encodeRaw(raw, { compress });
}

/** The raw pixels of every snap of a visit (snap 0..n-1). */
export function simulateVisit(params: Omit<RawParams, 'snap'>, snaps: number): RawPixels[] {
  const out: RawPixels[] = [];
  for (let s = 0; s < snaps; s++) out.push(simulateRawPixels({ ...params, snap: s }));
  return out;
}
