import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { MaskBit, type MaskedImage } from '../../core/image.ts';
import { getInstrument } from '../../instruments/index.ts';
import { readProcessedExposure } from '../../pipeline/outputs.ts';
import { processDetectorVisit } from '../../pipeline/process-visit.ts';
import { detectorDefects } from '../sim/defects.ts';
import { encodeRaw, flatFieldPattern, simulateRawPixels } from '../sim/raw.ts';
import { masterBias, masterDark, masterDarkImage, masterFile, masterFlat } from './masters.ts';

const INSTRUMENT = 'LSSTComCam';
/** R22_S00: a corner detector, where vignetting and amplifier steps make the flat structure largest. */
const DETECTOR = 0;
const FILTER = 'r_03';
let clock = 0;
const now = () => (clock += 1);

/** Relative rms of 100×100-pixel block means (unmasked pixels) about their mean: large-scale structure. */
function blockStructure(mi: MaskedImage, divideBy?: Float32Array): number {
  const B = 100;
  const means: number[] = [];
  const skip = MaskBit.BAD | MaskBit.SAT | MaskBit.CR | MaskBit.SUSPECT;
  for (let by = 0; by + B <= mi.height; by += B) {
    for (let bx = 0; bx + B <= mi.width; bx += B) {
      let s = 0;
      let n = 0;
      for (let y = by; y < by + B; y++) {
        for (let x = bx; x < bx + B; x++) {
          const i = y * mi.width + x;
          if (mi.mask[i] & skip) continue;
          s += divideBy ? mi.image[i] / divideBy[i] : mi.image[i];
          n++;
        }
      }
      if (n > B * B * 0.5) means.push(s / n);
    }
  }
  const m = means.reduce((a, b) => a + b, 0) / means.length;
  return Math.sqrt(means.reduce((a, b) => a + (b - m) ** 2, 0) / means.length) / m;
}

describe('master calibrations from the camera model', () => {
  let bias: Uint8Array;
  let dark: Uint8Array;
  let flat: Uint8Array;
  beforeAll(() => {
    bias = masterBias(INSTRUMENT, DETECTOR);
    dark = masterDark(INSTRUMENT, DETECTOR);
    flat = masterFlat(INSTRUMENT, DETECTOR, FILTER);
  });

  it('are deterministic, compact and read back as processed exposures with the right metadata', () => {
    expect(Buffer.from(masterBias(INSTRUMENT, DETECTOR)).equals(bias)).toBe(true);
    expect(Buffer.from(masterFile('dark', INSTRUMENT, DETECTOR, null)).equals(dark)).toBe(true);
    // 4072 x 4000 detectors: 195 MB as float32 planes; compressed a few MB at most.
    expect(bias.length).toBeLessThan(3e6);
    expect(dark.length).toBeLessThan(3e6);
    expect(flat.length).toBeLessThan(5e6);
    const b = readProcessedExposure(bias);
    expect(b.metadata).toMatchObject({ instrument: INSTRUMENT, detector: DETECTOR, detectorName: 'R22_S00', kind: 'BIAS', bunit: 'electron', filter: 'NONE' });
    expect(b.masked.width).toBe(4072);
    let nonZero = 0;
    for (const v of b.masked.image) if (v !== 0) nonZero++;
    expect(nonZero).toBe(0);
    // pixel (0, 0) belongs to the amplifier whose detector box starts there
    const amp = getInstrument(INSTRUMENT).detector(DETECTOR).geometry().amps.find((a) => a.detector.x0 === 0 && a.detector.y0 === 0)!;
    expect(b.masked.variance[0]).toBeCloseTo((amp.readNoiseE * amp.readNoiseE) / 20, 3);

    const d = readProcessedExposure(dark);
    expect(d.metadata).toMatchObject({ kind: 'DARK', bunit: 'electron/s' });
    const truth = masterDarkImage(INSTRUMENT, DETECTOR);
    const defects = detectorDefects(INSTRUMENT, getInstrument(INSTRUMENT).detector(DETECTOR));
    for (let k = 0; k < defects.hotPixels.length; k++) {
      const i = defects.hotPixels[k];
      expect(Math.abs(d.masked.image[i] - truth.image[i])).toBeLessThanOrEqual(0.6e-5);
      expect(d.masked.image[i]).toBeGreaterThanOrEqual(defects.hotPixelRates[k]);
      expect(d.masked.mask[i] & MaskBit.SUSPECT).toBeTruthy();
    }
    const c = defects.hotColumns[0];
    expect(d.masked.image[c.y0 * 4072 + c.x]).toBeCloseTo(0.002 + c.rateEPerS, 4);
    expect(d.masked.image[10]).toBeCloseTo(0.002, 6);

    const f = readProcessedExposure(flat);
    expect(f.metadata).toMatchObject({ kind: 'FLAT', filter: FILTER, band: 'r' });
    let sum = 0;
    for (const v of f.masked.image) sum += v;
    expect(sum / f.masked.image.length).toBeCloseTo(1, 4);
    const pattern = flatFieldPattern(INSTRUMENT, DETECTOR);
    let psum = 0;
    for (const v of pattern) psum += v;
    const k = pattern.length / psum;
    for (const i of [0, 123456, 8_000_000, pattern.length - 1]) expect(Math.abs(f.masked.image[i] - pattern[i] * k)).toBeLessThanOrEqual(5.01e-5);
    // Uncompressed: exactly writeProcessedExposure's float32 layout, same values.
    const plain = readProcessedExposure(masterBias(INSTRUMENT, DETECTOR, undefined, { compress: false }));
    expect(plain.masked.variance[0]).toBeCloseTo(b.masked.variance[0], 3);
  });

  it('the pipeline accepts them: a FLAT (bias + dark applied) is flat to < 0.5% once divided by the master flat, a few % before', () => {
    const group = '2025050100101';
    const raws = [0, 1].map((snap) =>
      simulateRawPixels({ instrument: INSTRUMENT, detector: DETECTOR, group, snap, kind: 'FLAT', filter: FILTER, raDeg: 10, decDeg: -30, seed: 5 }),
    );
    const r = processDetectorVisit({
      raws: raws.map((x) => encodeRaw(x)),
      expected: { instrument: INSTRUMENT, detector: DETECTOR, group, filter: FILTER },
      kind: 'FLAT',
      calibs: { bias, dark, flat },
      now,
    });
    expect(r.summary.biasApplied).toBe(true);
    expect(r.summary.darkApplied).toBe(true);
    expect(r.summary.flatApplied).toBe(false); // a FLAT visit is not flat-fielded
    const out = readProcessedExposure(r.exposure).masked;
    const masterF = readProcessedExposure(flat).masked.image;
    const before = blockStructure(out);
    const after = blockStructure(out, masterF);
    console.log(`FLAT visit: block structure ${(100 * before).toFixed(2)}% raw, ${(100 * after).toFixed(3)}% after the master flat`);
    expect(before).toBeGreaterThan(0.01);
    expect(after).toBeLessThan(0.005);
    // The hot pixels are gone after the master dark: no block is pulled up by them.
    expect(r.summary.imageStats.max / r.summary.imageStats.median).toBeLessThan(1.2);
  });

  it('a SCIENCE visit with the master flat has a flat sky (< 0.5% rms of the background meshes), without it a few %', () => {
    const group = '2025050100102';
    const files = [0, 1].map((snap) =>
      encodeRaw(simulateRawPixels({ instrument: INSTRUMENT, detector: DETECTOR, group, snap, filter: FILTER, raDeg: 53.2, decDeg: -28.1, seed: 8 })),
    );
    const run = (calibs: { bias?: Uint8Array; dark?: Uint8Array; flat?: Uint8Array }) =>
      processDetectorVisit({ raws: files, expected: { instrument: INSTRUMENT, detector: DETECTOR, group, filter: FILTER }, kind: 'SCIENCE', calibs, now });
    const withFlat = run({ bias, dark, flat });
    const without = run({ bias, dark });
    expect(withFlat.summary.flatApplied).toBe(true);
    const rel = (s: typeof withFlat.summary) => s.backgroundRmsE! / s.backgroundE!;
    console.log(`SCIENCE: background rms ${(100 * rel(withFlat.summary)).toFixed(3)}% with the flat, ${(100 * rel(without.summary)).toFixed(2)}% without`);
    expect(rel(withFlat.summary)).toBeLessThan(0.005);
    expect(rel(without.summary)).toBeGreaterThan(0.01);
  });

  it('a BIAS visit processed by the pipeline matches the master bias (0 e), a DARK minus the bias matches the master dark', () => {
    const group = '2025050100103';
    const biasRaw = encodeRaw(simulateRawPixels({ instrument: INSTRUMENT, detector: DETECTOR, group, snap: 0, kind: 'BIAS', filter: FILTER, raDeg: 0, decDeg: 0, seed: 3 }));
    const b = processDetectorVisit({ raws: [biasRaw], expected: { instrument: INSTRUMENT, detector: DETECTOR, group, filter: FILTER }, kind: 'BIAS', now });
    expect(Math.abs(b.summary.imageStats.median)).toBeLessThan(0.5);
    const g2 = '2025050100104';
    const darkRaws = [0, 1].map((snap) =>
      encodeRaw(simulateRawPixels({ instrument: INSTRUMENT, detector: DETECTOR, group: g2, snap, kind: 'DARK', filter: FILTER, raDeg: 0, decDeg: 0, seed: 4, exposureTimeS: 300 })),
    );
    const d = processDetectorVisit({ raws: darkRaws, expected: { instrument: INSTRUMENT, detector: DETECTOR, group: g2, filter: FILTER }, kind: 'DARK', calibs: { bias }, now });
    const img = readProcessedExposure(d.exposure).masked;
    const master = masterDarkImage(INSTRUMENT, DETECTOR);
    const t = d.summary.exposureTimeS + 2 * 0.43;
    // hot columns: mean along the column of (image / dark time) vs the master's rate
    for (const c of detectorDefects(INSTRUMENT, getInstrument(INSTRUMENT).detector(DETECTOR)).hotColumns) {
      let s = 0;
      let n = 0;
      for (let y = c.y0; y < c.y1; y++) {
        const i = y * img.width + c.x;
        if (img.mask[i] & (MaskBit.CR | MaskBit.SAT)) continue;
        s += img.image[i] / t;
        n++;
      }
      expect(Math.abs(s / n - master.image[c.y0 * img.width + c.x])).toBeLessThan(0.05 * c.rateEPerS + 0.01);
    }
  });
});
