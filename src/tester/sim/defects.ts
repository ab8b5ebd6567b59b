/**
 * Fixed properties of each simulated CCD: hot pixels, hot columns and the per-amplifier
 * response steps of the flat field. They depend only on the instrument and the detector (never
 * on the simulation seed), like a real camera's defects, so master calibrations made from one
 * night's simulated biases, darks and flats match every other night.
 */
import type { Detector, InstrumentName } from '../../instruments/index.ts';
import { Rng } from '../../core/rng.ts';

export interface HotColumn {
  /** Detector x (0-based, trimmed detector). */
  readonly x: number;
  /** Rows [y0, y1) of the detector the column is hot in. */
  readonly y0: number;
  readonly y1: number;
  /** Extra dark current, e-/s/pixel. */
  readonly rateEPerS: number;
}

export interface DetectorDefects {
  /** Detector pixel indices (y · width + x) of hot pixels. */
  readonly hotPixels: Int32Array;
  /** Their extra dark current, e-/s. */
  readonly hotPixelRates: Float32Array;
  readonly hotColumns: readonly HotColumn[];
  /** Relative response of each amplifier (same order as geometry().amps): the gain steps a flat removes. */
  readonly ampResponse: Float64Array;
}

const cache = new Map<string, DetectorDefects>();

/** The defects of a detector (deterministic; cached). */
export function detectorDefects(instrument: InstrumentName, detector: Detector): DetectorDefects {
  const key = `${instrument}/${detector.id}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const g = detector.geometry();
  const rng = Rng.from(`defects/${key}`);
  const ampResponse = new Float64Array(g.amps.length);
  for (let a = 0; a < g.amps.length; a++) ampResponse[a] = 1 + rng.range(-0.015, 0.015);
  const nCols = 2 + rng.int(2);
  const hotColumns: HotColumn[] = [];
  for (let k = 0; k < nCols; k++) {
    const amp = g.amps[rng.int(g.amps.length)];
    const x = amp.detector.x0 + 2 + rng.int(amp.detector.x1 - amp.detector.x0 - 4);
    // The column is hot from the defect to the amplifier's far edge: every pixel transferred
    // through the defect picks up its leakage.
    const yDefect = amp.detector.y0 + rng.int(amp.detector.y1 - amp.detector.y0);
    const towardsTop = !amp.flipY; // readout at the bottom: pixels above the defect pass through it
    hotColumns.push({
      x,
      y0: towardsTop ? yDefect : amp.detector.y0,
      y1: towardsTop ? amp.detector.y1 : yDefect + 1,
      rateEPerS: rng.range(0.5, 3),
    });
  }
  const nHot = Math.round((30 * g.width * g.height) / 16e6) + rng.int(10);
  const hotPixels = new Int32Array(nHot);
  const hotPixelRates = new Float32Array(nHot);
  for (let k = 0; k < nHot; k++) {
    hotPixels[k] = rng.int(g.width) + g.width * rng.int(g.height);
    hotPixelRates[k] = 0.2 * 100 ** rng.uniform(); // 0.2 .. 20 e-/s, log-uniform
  }
  const d: DetectorDefects = { hotPixels, hotPixelRates, hotColumns, ampResponse };
  cache.set(key, d);
  return d;
}
