import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../core/errors.ts';
import { decamCcdGeometry, lsstCcdGeometry } from '../../../instruments/index.ts';
import { SeededRng } from '../../testing/rng.ts';
import { makeSyntheticRaw } from '../../testing/synthetic.ts';
import { medianInPlace } from '../../lib/stats.ts';
import { makeOverscanConfig, measureOverscan, runOverscan } from './overscan.ts';

const itl = lsstCcdGeometry('ITL', 3);

function ampRaw(slope: number, seed = 1, readNoise = true) {
  const amp = itl.amps[0];
  const raws = makeSyntheticRaw({ ...itl, amps: [amp] }, { electrons: null, rng: new SeededRng(seed), biasSlopeAduPerRow: slope, readNoise });
  return { amp, raw: raws.get(amp.hduIndex)! };
}

function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}

describe('overscan', () => {
  it('recovers a row-wise bias slope to < 0.1 ADU with a polynomial fit', () => {
    const slope = 0.01;
    const { amp, raw } = ampRaw(slope);
    const r = runOverscan({ amp, raw }, makeOverscanConfig({ fit: 'poly', polyOrder: 2 }));
    let maxErr = 0;
    for (let j = 0; j < r.rowLevelsAdu.length; j++) {
      const truth = amp.biasLevelAdu + slope * (amp.rawData.y0 + j);
      maxErr = Math.max(maxErr, Math.abs(r.rowLevelsAdu[j] - truth));
    }
    expect(maxErr).toBeLessThan(0.1);
    expect(Math.abs(mean(r.image.data))).toBeLessThan(0.05);
    const rnAdu = amp.readNoiseE / amp.gainEPerAdu;
    expect(r.residualNoiseAdu / rnAdu).toBeGreaterThan(0.95);
    expect(r.residualNoiseAdu / rnAdu).toBeLessThan(1.05);
    expect(r.image.width).toBe(amp.rawData.x1 - amp.rawData.x0);
    expect(r.image.height).toBe(amp.rawData.y1 - amp.rawData.y0);
    expect(r.columnsUsed).toBe(amp.serialOverscan.x1 - amp.serialOverscan.x0 - 3);
  });

  it('per-row median and clipped mean follow the slope without bias; smoothing reduces the per-row noise', () => {
    const slope = 0.02;
    const { amp, raw } = ampRaw(slope, 2);
    const errs = (cfg: Parameters<typeof makeOverscanConfig>[0]) => {
      const r = runOverscan({ amp, raw }, makeOverscanConfig(cfg));
      const e = new Float64Array(r.rowLevelsAdu.length);
      for (let j = 0; j < e.length; j++) e[j] = r.rowLevelsAdu[j] - (amp.biasLevelAdu + slope * (amp.rawData.y0 + j));
      const m = mean(e);
      let s2 = 0;
      for (const v of e) s2 += (v - m) ** 2;
      return { mean: m, rms: Math.sqrt(s2 / e.length) };
    };
    const med = errs({ fit: 'median-per-row' });
    const clipped = errs({ fit: 'mean' });
    const smoothed = errs({ fit: 'mean', smoothRows: 31 });
    expect(Math.abs(med.mean)).toBeLessThan(0.1);
    expect(Math.abs(clipped.mean)).toBeLessThan(0.1);
    expect(Math.abs(smoothed.mean)).toBeLessThan(0.1);
    // Per-row noise ~ sigma/sqrt(61) for the mean, ~1.25x that for the median.
    const rnAdu = amp.readNoiseE / amp.gainEPerAdu;
    expect(clipped.rms).toBeLessThan((1.3 * rnAdu) / Math.sqrt(61));
    expect(smoothed.rms).toBeLessThan(0.1);
  });

  it('ignores deferred-charge tails in the first overscan columns and cosmic rays in the overscan', () => {
    const { amp, raw } = ampRaw(0, 3);
    const data = raw.data.slice();
    const W = raw.width;
    for (let y = 0; y < 2000; y += 7) {
      for (let c = 0; c < 3; c++) data[y * W + amp.serialOverscan.x0 + c] += 500 >> c;
    }
    // A cosmic ray hitting a few overscan pixels in a handful of rows.
    for (let y = 100; y < 104; y++) data[y * W + amp.serialOverscan.x0 + 20] += 3000;
    const r = runOverscan({ amp, raw: { ...raw, data } }, makeOverscanConfig({ fit: 'mean' }));
    let maxErr = 0;
    for (let j = 0; j < r.rowLevelsAdu.length; j++) maxErr = Math.max(maxErr, Math.abs(r.rowLevelsAdu[j] - amp.biasLevelAdu));
    expect(maxErr).toBeLessThan(2.5);
    expect(Math.abs(r.rowLevelsAdu[101] - amp.biasLevelAdu)).toBeLessThan(2.5);
    // The skipped columns never enter the estimate: making them absurd in every row changes nothing.
    const wild = data.slice();
    for (let y = 0; y < raw.height; y++) for (let c = 0; c < 3; c++) wild[y * W + amp.serialOverscan.x0 + c] = 0;
    const rw = runOverscan({ amp, raw: { ...raw, data: wild } }, makeOverscanConfig({ fit: 'mean' }));
    expect(Array.from(rw.rowLevelsAdu)).toEqual(Array.from(r.rowLevelsAdu));
  });

  it('handles DECam amps with the serial overscan left of the data and removes a parallel column pattern', () => {
    const g = decamCcdGeometry(5, 'N4');
    const raws = makeSyntheticRaw(g, { electrons: null, rng: new SeededRng(4), readNoise: false });
    const raw = raws.get(1)!;
    // A column pattern in the data and parallel overscan rows of amp B.
    const b = g.amps[0];
    for (let y = 0; y < raw.height; y++) {
      for (let x = b.rawData.x0; x < b.rawData.x1; x++) raw.data[y * raw.width + x] += x % 5;
    }
    const plain = runOverscan({ amp: b, raw }, makeOverscanConfig({ fit: 'median-per-row' }));
    expect(plain.levelMeanAdu).toBeCloseTo(b.biasLevelAdu, 6);
    expect(plain.columnLevelsAdu).toBeNull();
    expect(plain.image.data[3]).toBe((b.rawData.x0 + 3) % 5);
    const par = runOverscan({ amp: b, raw }, makeOverscanConfig({ fit: 'median-per-row', doParallelOverscan: true }));
    expect(par.columnLevelsAdu).not.toBeNull();
    let maxAbs = 0;
    for (const v of par.image.data) maxAbs = Math.max(maxAbs, Math.abs(v));
    expect(maxAbs).toBe(0);
    const a = runOverscan({ amp: g.amps[1], raw }, makeOverscanConfig());
    expect(a.levelMeanAdu).toBeCloseTo(g.amps[1].biasLevelAdu, 6);
  });

  it('per-row medians are those of a float32 selection, for narrow and wide ranges and odd and even column counts', () => {
    const amp = itl.amps[0];
    const rng = new SeededRng(9);
    for (const skipColumns of [3, 4]) {
      for (const spread of [5, 40, 3000, 2 ** 26]) {
        const width = Math.max(amp.serialOverscan.x1, amp.rawData.x1);
        const height = Math.max(amp.serialOverscan.y1, amp.rawData.y1);
        const data = new Int32Array(width * height);
        for (let i = 0; i < data.length; i++) data[i] = 20000 + Math.floor(rng.uniform() * spread) - (spread >> 1);
        const plane = { width, height, data };
        const levels = measureOverscan({ amp, raw: plane }, makeOverscanConfig({ skipColumns }));
        const c0 = amp.serialOverscan.x0 + skipColumns;
        const m = amp.serialOverscan.x1 - c0;
        const scratch = new Float32Array(m);
        for (let j = 0; j < levels.rowLevelsAdu.length; j += 7) {
          const base = (amp.rawData.y0 + j) * plane.width + c0;
          for (let c = 0; c < m; c++) scratch[c] = data[base + c];
          expect(levels.rowLevelsAdu[j]).toBe(Math.fround(medianInPlace(scratch, m)));
        }
      }
    }
  });

  it('rejects a bad configuration and an impossible geometry', () => {
    expect(() => makeOverscanConfig({ smoothRows: 4 })).toThrow(ConfigError);
    expect(() => makeOverscanConfig({ fit: 'poly', smoothRows: 3 })).toThrow(/smoothing/);
    const { amp, raw } = ampRaw(0, 5);
    expect(() => runOverscan({ amp, raw }, makeOverscanConfig({ skipColumns: 64 }))).toThrow(/leaves none/);
    expect(() => runOverscan({ amp, raw: { ...raw, width: 100 } })).toThrow(/raw HDU/);
    expect(Object.isFrozen(makeOverscanConfig())).toBe(true);
  });
});
