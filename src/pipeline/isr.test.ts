import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.ts';
import { MaskBit } from '../core/image.ts';
import { lsstCcdGeometry } from '../instruments/index.ts';
import { makeIsrConfig, runIsr } from './isr.ts';
import { runAssembly } from './stages/assembly/assembly.ts';
import { runOverscan } from './stages/overscan/overscan.ts';
import type { RawExposure } from './stages/raw-input/raw-input.ts';
import { SeededRng } from './testing/rng.ts';
import { makeSyntheticRaw } from './testing/synthetic.ts';

const g = lsstCcdGeometry('E2V', 30);

function rawExposure(electrons: Float32Array, seed: number, noise: boolean): RawExposure {
  const planes = makeSyntheticRaw(g, { electrons, rng: new SeededRng(seed), poisson: noise, readNoise: noise, biasSlopeAduPerRow: 0.004 });
  return {
    instrument: 'LSSTCam',
    detector: 30,
    detectorName: 'R11_S10',
    group: '2025050100001',
    snap: 0,
    exposureId: 2025050100002,
    filter: 'r_57',
    band: 'r',
    observationType: 'SCIENCE',
    exposureTimeS: 15,
    darkTimeS: 15.5,
    mjdObs: null,
    dateObs: null,
    raDeg: null,
    decDeg: null,
    wcs: null,
    geometry: g,
    amps: g.amps.map((amp) => ({
      amp,
      raw: planes.get(amp.hduIndex)!,
      gainEPerAdu: amp.gainEPerAdu,
      readNoiseE: amp.readNoiseE,
      saturationAdu: amp.saturationAdu,
    })),
  };
}

describe('isr', () => {
  const n = g.width * g.height;
  const sky = new Float32Array(n).fill(500);
  sky[1000 * g.width + 1000] = 200000; // saturates

  it('strings overscan → assembly → calibrate-signature, timing each sub-stage through the hook', () => {
    const raw = rawExposure(sky, 1, true);
    const bias = { width: g.width, height: g.height, image: new Float32Array(n).fill(20) };
    const flatImg = new Float32Array(n).fill(2);
    const flat = { width: g.width, height: g.height, image: flatImg };
    const stages: string[] = [];
    const r = runIsr({ raw, masters: { bias, flat }, defects: [{ x0: 5, y0: 5, x1: 6, y1: 4000 }] }, makeIsrConfig(), (name, fn) => {
      stages.push(name);
      return fn();
    });
    expect(stages).toEqual(['overscan', 'assembly', 'calibrateSignature']);
    expect(r.overscan).toHaveLength(16);
    expect(r.biasApplied && r.flatApplied && !r.darkApplied).toBe(true);
    // Flat normalised by its median (2): the image is (500 - 20) electrons.
    let s = 0;
    let c = 0;
    for (let k = 0; k < n; k += 97) {
      if (r.exposure.mask[k]) continue;
      s += r.exposure.image[k];
      c++;
    }
    expect(s / c).toBeGreaterThan(479);
    expect(s / c).toBeLessThan(481);
    expect(r.saturatedPixels).toBeGreaterThanOrEqual(1);
    expect(r.exposure.mask[1000 * g.width + 1000] & MaskBit.SAT).toBe(MaskBit.SAT);
    expect(r.exposure.mask[100 * g.width + 5] & MaskBit.BAD).toBe(MaskBit.BAD);
    expect(r.defectPixels).toBe(3995);
    // Overscan diagnostics: noise in ADU ~ read noise / gain.
    const a0 = g.amps[0];
    expect(r.overscan[0].residualNoiseAdu / (a0.readNoiseE / a0.gainEPerAdu)).toBeCloseTo(1, 1);
    expect(r.overscanLevelAdu).toBeGreaterThan(20000);
  });

  it('assembling from overscan levels equals assembling the trimmed amps', () => {
    const raw = rawExposure(sky, 2, true);
    const fused = runIsr({ raw });
    const trimmed = runAssembly({
      width: g.width,
      height: g.height,
      amps: raw.amps.map((a) => ({ ...a, image: runOverscan({ amp: a.amp, raw: a.raw }).image })),
    });
    for (let k = 0; k < n; k += 1013) {
      expect(fused.exposure.image[k]).toBeCloseTo(trimmed.exposure.image[k], 2);
      expect(fused.exposure.variance[k]).toBeCloseTo(trimmed.exposure.variance[k], 2);
      expect(fused.exposure.mask[k]).toBe(trimmed.exposure.mask[k]);
    }
  });

  it('rejects bad nested configuration naming the field', () => {
    expect(() => makeIsrConfig({ overscan: { smoothRows: 2 } })).toThrow(ConfigError);
    expect(() => makeIsrConfig({ overscan: { smoothRows: 2 } })).toThrow(/overscan\.smoothRows: must be odd/);
    expect(makeIsrConfig().overscan.fit).toBe('median-per-row');
    expect(Object.isFrozen(makeIsrConfig().calibrate)).toBe(true);
  });
});
