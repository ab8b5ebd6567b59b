import { describe, expect, it } from 'vitest';
import { MaskBit } from '../../../core/image.ts';
import { decamCcdGeometry, lsstCcdGeometry, type CcdGeometry } from '../../../instruments/index.ts';
import { SeededRng } from '../../testing/rng.ts';
import { makeSyntheticRaw } from '../../testing/synthetic.ts';
import { makeOverscanConfig, measureOverscan, runOverscan } from '../overscan/overscan.ts';
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

  it('assembles from overscan levels as the per-pixel loop does: flips, column levels, saturation, partial and overlapping amps', () => {
    // ITL amps flip in x or in y and are an odd number of pixels wide; DECam's data start at a row offset.
    for (const [name, g] of cases.filter(([c]) => c !== 'e2v')) {
      const rng = new SeededRng(5);
      const e = new Float32Array(g.width * g.height);
      for (let k = 0; k < e.length; k++) e[k] = 500 + 300 * rng.uniform();
      const raws = makeSyntheticRaw(g, { electrons: e, rng: new SeededRng(6), poisson: false, readNoise: true });
      const all: AssemblyAmpInput[] = g.amps.map((amp, i) => {
        const raw = raws.get(amp.hduIndex)!;
        const levels = measureOverscan({ amp, raw }, makeOverscanConfig({ doParallelOverscan: i % 2 === 0 }));
        // Some amps saturate in part of their pixels.
        const saturationAdu = i % 3 === 0 ? amp.biasLevelAdu + 400 / amp.gainEPerAdu : amp.saturationAdu;
        return { amp, levels, raw, gainEPerAdu: amp.gainEPerAdu, readNoiseE: amp.readNoiseE, saturationAdu };
      });
      const overlapping = [...all, { ...all[0], gainEPerAdu: 2 * all[0].gainEPerAdu }];
      const runs: Array<[AssemblyAmpInput[], boolean]> = [
        [all, true],
        [all.slice(0, 3), false],
        [overlapping, true],
      ];
      for (const [amps, applyGain] of runs) {
        {
          const got = runAssembly({ width: g.width, height: g.height, amps }, makeAssemblyConfig({ applyGain }));
          const want = assembledByLoop(g.width, g.height, amps, applyGain);
          const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
          expect(bits(got.exposure.image).equals(bits(want.image)), name).toBe(true);
          expect(bits(got.exposure.variance).equals(bits(want.variance)), name).toBe(true);
          expect(Buffer.from(got.exposure.mask.buffer).equals(Buffer.from(want.mask.buffer)), name).toBe(true);
          expect(got.amps.map((a) => a.saturatedPixels)).toEqual(want.sat);
          expect(got.saturatedPixels).toBe(want.sat.reduce((p, q) => p + q, 0));
          expect(got.saturatedPixels).toBeGreaterThan(0);
        }
      }
    }
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

/** runAssembly from overscan levels as a plain loop over the pixels, amp by amp in input order. */
function assembledByLoop(W: number, H: number, amps: readonly AssemblyAmpInput[], applyGain: boolean) {
  const image = new Float32Array(W * H);
  const variance = new Float32Array(W * H);
  const mask = new Int32Array(W * H);
  const sat: number[] = [];
  for (const a of amps) {
    const { amp } = a;
    const d = amp.detector;
    const w = amp.rawData.x1 - amp.rawData.x0;
    const h = amp.rawData.y1 - amp.rawData.y0;
    const g = applyGain ? a.gainEPerAdu : 1;
    const ppu = applyGain ? 1 : 1 / a.gainEPerAdu;
    const rn = applyGain ? a.readNoiseE : a.readNoiseE / a.gainEPerAdu;
    const raw = a.raw!;
    const { rowLevelsAdu, columnLevelsAdu: col } = a.levels!;
    let n = 0;
    for (let j = 0; j < h; j++) {
      const y = amp.flipY ? d.y1 - 1 - j : d.y0 + j;
      for (let i = 0; i < w; i++) {
        const di = y * W + (amp.flipX ? d.x1 - 1 - i : d.x0 + i);
        const r = raw.data[(amp.rawData.y0 + j) * raw.width + amp.rawData.x0 + i];
        const v = (col ? r - rowLevelsAdu[j] - col[i] : r - rowLevelsAdu[j]) * g;
        image[di] = v;
        variance[di] = (v > 0 ? v * ppu : 0) + rn * rn;
        if (r >= a.saturationAdu) {
          mask[di] = MaskBit.SAT;
          n++;
        }
      }
    }
    sat.push(n);
  }
  // Pixels no amp covers are NO_DATA.
  const covered = new Uint8Array(W * H);
  for (const { amp } of amps) for (let y = amp.detector.y0; y < amp.detector.y1; y++) covered.fill(1, y * W + amp.detector.x0, y * W + amp.detector.x1);
  for (let k = 0; k < covered.length; k++) if (!covered[k]) mask[k] |= MaskBit.NO_DATA;
  return { image, variance, mask, sat };
}
