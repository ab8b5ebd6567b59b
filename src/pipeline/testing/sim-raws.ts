/**
 * Simulated raws for the pipeline's tests and benchmarks, through the tester's simulator.
 */
import { writeFits, type CardInput, type ImageHduInput } from '../../fits/index.ts';
import { encodeRaw, simulateRawPixels, type RawParams, type RawPixels } from '../../tester/sim/raw.ts';

/** A raw file as the simulator writes it (RICE) or, with `compress: false`, with plain int32 HDUs. */
export function rawFile(raw: RawPixels, compress = true): Uint8Array {
  if (compress) return encodeRaw(raw);
  const extensions: ImageHduInput[] = raw.hdus.map((h) => ({
    extname: h.name,
    header: h.header as readonly CardInput[],
    width: h.width,
    height: h.height,
    data: h.data,
  }));
  return writeFits({ header: raw.primaryHeader as readonly CardInput[] }, extensions);
}

/** The raw pixels of every snap of a visit (snap 0..n-1). */
export function simulateVisit(params: Omit<RawParams, 'snap'>, snaps: number): RawPixels[] {
  const out: RawPixels[] = [];
  for (let s = 0; s < snaps; s++) out.push(simulateRawPixels({ ...params, snap: s }));
  return out;
}
