import { describe, expect, it } from 'vitest';
import { createRng, hashSeed, Rng } from './rng.ts';

function moments(draw: () => number, n: number): { mean: number; variance: number } {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const v = draw();
    s += v;
    s2 += v * v;
  }
  const mean = s / n;
  return { mean, variance: s2 / n - mean * mean };
}

describe('Rng', () => {
  it('is deterministic for numeric and string seeds', () => {
    for (const seed of [0, 1, 42, 2 ** 40 + 3, -7, 'visit-2024']) {
      const a = createRng(seed);
      const b = Rng.from(seed);
      for (let i = 0; i < 1000; i++) expect(a.nextInt32()).toBe(b.nextInt32());
    }
  });

  it('different seeds give different streams', () => {
    const a = createRng(1);
    const b = createRng(2);
    const c = createRng('1');
    let same = 0;
    let sameC = 0;
    for (let i = 0; i < 1000; i++) {
      const x = a.nextInt32();
      if (x === b.nextInt32()) same++;
      if (x === c.nextInt32()) sameC++;
    }
    expect(same).toBeLessThan(3);
    expect(sameC).toBeLessThan(3);
  });

  it('uniform lies in [0,1) with mean 1/2 and variance 1/12', () => {
    const r = createRng(7);
    let min = 1;
    let max = 0;
    const m = moments(() => {
      const u = r.uniform();
      if (u < min) min = u;
      if (u > max) max = u;
      return u;
    }, 200_000);
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    expect(m.mean).toBeCloseTo(0.5, 2);
    expect(m.variance).toBeCloseTo(1 / 12, 3);
  });

  it('int(n) covers 0..n-1 evenly', () => {
    const r = createRng(9);
    const counts = new Int32Array(10);
    for (let i = 0; i < 100_000; i++) counts[r.int(10)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    expect(() => r.int(0)).toThrow(RangeError);
  });

  it('normal has mean 0, variance 1 and Gaussian tails', () => {
    const r = createRng(11);
    const n = 1_000_000;
    let s = 0;
    let s2 = 0;
    let s4 = 0;
    let beyond3 = 0;
    for (let i = 0; i < n; i++) {
      const z = r.normal();
      s += z;
      s2 += z * z;
      s4 += z * z * z * z;
      if (Math.abs(z) > 3) beyond3++;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.005);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.01);
    expect(Math.abs(s4 / n - 3)).toBeLessThan(0.05); // kurtosis of a normal
    // P(|z| > 3) = 0.0027
    expect(beyond3 / n).toBeGreaterThan(0.0023);
    expect(beyond3 / n).toBeLessThan(0.0031);
  });

  it('poisson has mean and variance lambda in the exact and the approximate regime', () => {
    const r = createRng(13);
    for (const lambda of [0.002, 0.5, 3, 12, 29.5, 30, 440, 20000]) {
      const n = 200_000;
      const m = moments(() => r.poisson(lambda), n);
      const tolMean = 5 * Math.sqrt(lambda / n) + 1e-4;
      expect(Math.abs(m.mean - lambda)).toBeLessThan(tolMean);
      // variance within 2% (+1/12 from the rounding of the normal approximation)
      expect(Math.abs(m.variance - lambda)).toBeLessThan(0.02 * lambda + 0.1 + (lambda >= 30 ? 0.1 : 0));
    }
    expect(r.poisson(0)).toBe(0);
    expect(r.poisson(-1)).toBe(0);
    const small = createRng(3);
    for (let i = 0; i < 1000; i++) expect(Number.isInteger(small.poisson(4))).toBe(true);
  });

  it('poisson(λ=2) follows the exact distribution', () => {
    const r = createRng(17);
    const n = 200_000;
    const counts = new Float64Array(12);
    for (let i = 0; i < n; i++) counts[Math.min(11, r.poisson(2))]++;
    let p = Math.exp(-2);
    for (let k = 0; k < 8; k++) {
      expect(Math.abs(counts[k] / n - p)).toBeLessThan(5 * Math.sqrt(p / n) + 1e-4);
      p *= 2 / (k + 1);
    }
  });

  it('fork depends on the key and label only, not on draws from the parent', () => {
    const a = createRng(99);
    const b = createRng(99);
    for (let i = 0; i < 12345; i++) b.uniform();
    const fa = a.fork('det/5').fork('snap/1');
    const fb = b.fork('det/5').fork('snap/1');
    for (let i = 0; i < 100; i++) expect(fa.nextInt32()).toBe(fb.nextInt32());
    expect(a.fork(5).key).toEqual(a.fork('5').key);
  });

  it('forked substreams are independent of each other and of the parent', () => {
    const root = createRng(2024);
    const streams = [root, root.fork('a'), root.fork('b'), root.fork('a').fork('a'), createRng(2024).fork('det/1')];
    const keys = new Set(streams.map((s) => s.key.join(':')));
    expect(keys.size).toBe(streams.length);
    // correlation of normals between pairs ~ 0
    const n = 100_000;
    const x = streams.map((s) => {
      const v = new Float64Array(n);
      for (let i = 0; i < n; i++) v[i] = s.normal();
      return v;
    });
    for (let i = 0; i < x.length; i++) {
      for (let j = i + 1; j < x.length; j++) {
        let c = 0;
        for (let k = 0; k < n; k++) c += x[i][k] * x[j][k];
        expect(Math.abs(c / n)).toBeLessThan(0.015);
      }
    }
  });

  it('hashSeed is stable', () => {
    expect(hashSeed('LSSTCam/R22_S11')).toBe(hashSeed('LSSTCam/R22_S11'));
    expect(hashSeed('a')).not.toBe(hashSeed('b'));
  });
});
