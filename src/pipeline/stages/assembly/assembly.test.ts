import { describe, expect, it } from 'vitest';
import { MaskBit } from '../../../core/image.ts';
import { decamCcdGeometry, lsstCcdGeometry, type CcdGeometry } from '../../../instruments/index.ts';
import { SeededRng } from '../../testing/rng.ts';
import { makeSyntheticRaw } from '../../testing/synthetic.ts';
import { makeOverscanConfig, runOverscan } from '../overscan/overscan.ts';
import { growBit, makeAssemblyConfig, runAssembly, type AssemblyAmpInput } from './assembly.ts';

/** Overscan + assembly of a noiseless synthetic raw made from a detector-coordinate electron image. */
function roundTrip(g: CcdGeometry, electrons: Float32Array, defects = [] as { x0: number; y0: number; x1: number; y1: number; kind?: 'BAD' | 'SUSPECT' }[]) {
  const raws = makeSyntheticRaw(g, { electrons, rng: new SeededRng(1), poisson: false, readNoise: false });
  const amps: AssemblyAmpInput[] = g.amps.map((amp) => {
    const raw = raws.get(amp.hduIndex)!;
    const os = runOverscan({ amp, raw }, makeOverscanConfig());
    return { amp, image: os.image, raw, gainEPerAdu: amp.gainEPerAdu, readNoiseE: amp.readNoiseE, saturationAdu: amp.saturationAdu };
  });
  return runAssembly({ width: g.width, height: g.height, amps, defects }, makeAssemblyConfig());
}

describe('assembly', () => {
  const cases: Array<[string, CcdGeometry]> = [
    ['ITL', lsstCcdGeometry('ITL', 7)],
    ['e2v', lsstCcdGeometry('E2V', 94)],
    ['DECam', decamCcdGeometry(12, 'S12')],
  ];
  for (const [name, g] of cases) {
    it(`places a marker pixel of every amp at its detector position (${name})`, () => {
      const e = new Float32Array(g.width * g.height);
      // One marker per amp, off-centre so a missing flip moves it; plus a global gradient that must survive.
      const markers: Array<[number, number]> = [];
      for (const a of g.amps) {
        const x = a.detector.x0 + 17;
        const y = a.detector.y1 - 40;
        markers.push([x, y]);
        e[y * g.width + x] = 50000;
      }
      const r = roundTrip(g, e);
      expect(r.uncoveredPixels).toBe(0);
      const img = r.exposure.image;
      for (const [x, y] of markers) {
        // Within the rounding of ADU (one ADU ~ gain electrons).
        expect(Math.abs(img[y * g.width + x] - 50000)).toBeLessThan(3);
        // And nowhere else nearby.
        expect(Math.abs(img[y * g.width + x + 1])).toBeLessThan(3);
        expect(Math.abs(img[(y + 1) * g.width + x])).toBeLessThan(3);
      }
      let total = 0;
      for (let k = 0; k < img.length; k++) total += img[k];
      expect(total).toBeGreaterThan(50000 * g.amps.length - 3 * g.amps.length - 0.5 * img.length);
    });
  }

  it('computes variance = max(image, 0) + readNoise² in electrons² per amp and flags saturation in raw ADU', () => {
    const g = lsstCcdGeometry('ITL', 11);
    const e = new Float32Array(g.width * g.height);
    e.fill(1000);
    // A pixel that saturates in the raw (bias + signal/gain ≥ SATURATE).
    const a0 = g.amps[0];
    const sx = a0.detector.x0 + 100;
    const sy = a0.detector.y0 + 100;
    e[sy * g.width + sx] = a0.saturationAdu * a0.gainEPerAdu;
    // A pixel with negative signal (variance floor = read noise²).
    const a3 = g.amps[3];
    const nx = a3.detector.x0 + 5;
    const ny = a3.detector.y0 + 5;
    e[ny * g.width + nx] = -200;
    const r = roundTrip(g, e, [{ x0: 10, y0: 20, x1: 12, y1: 30 }, { x0: 0, y0: 0, x1: 3, y1: 1, kind: 'SUSPECT' }]);
    const { image, variance, mask } = r.exposure;
    const k = (a0.detector.y0 + 7) * g.width + a0.detector.x0 + 300;
    expect(variance[k]).toBeCloseTo(Math.max(image[k], 0) + a0.readNoiseE ** 2, 2);
    const kn = ny * g.width + nx;
    expect(image[kn]).toBeLessThan(-150);
    expect(variance[kn]).toBeCloseTo(a3.readNoiseE ** 2, 3);
    expect(mask[sy * g.width + sx] & MaskBit.SAT).toBe(MaskBit.SAT);
    expect(r.saturatedPixels).toBe(1);
    expect(r.amps[0].saturatedPixels).toBe(1);
    expect(mask[25 * g.width + 11] & MaskBit.BAD).toBe(MaskBit.BAD);
    expect(mask[0 * g.width + 2] & MaskBit.SUSPECT).toBe(MaskBit.SUSPECT);
    expect(r.defectPixels).toBe(20 + 3);
  });

  it('grows a mask bit by r pixels', () => {
    const W = 9;
    const m = new Int32Array(W * W);
    m[4 * W + 4] = MaskBit.SAT;
    growBit(m, W, W, MaskBit.SAT, 1);
    let n = 0;
    for (const v of m) if (v & MaskBit.SAT) n++;
    expect(n).toBe(9);
    expect(m[3 * W + 3]).toBe(MaskBit.SAT);
    expect(m[2 * W + 4]).toBe(0);
  });

  it('rejects a trimmed image of the wrong size', () => {
    const g = lsstCcdGeometry('ITL', 1);
    const a = g.amps[0];
    expect(() =>
      runAssembly({
        width: g.width,
        height: g.height,
        amps: [{ amp: a, image: { width: 10, height: 10, data: new Float32Array(100) }, raw: null, gainEPerAdu: 1, readNoiseE: 5, saturationAdu: 1e5 }],
      }),
    ).toThrow(/amp C10: trimmed image is 10x10/);
  });
});
