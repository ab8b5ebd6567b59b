/**
 * A coarse speed check (the real benchmarks live in bench/): RICE_1 encode + decode of 16 LSST-size
 * amplifiers (576 x 2048 int32, Gaussian noise sigma 7 around 20000). The budget is ten times what
 * a laptop needs, so only a gross regression fails; the measured time is printed.
 */
import { describe, expect, it } from 'vitest';
import { readFits, writeFits } from './index.ts';
import type { ImageHduInput } from './index.ts';
import { makeRandom } from './oracle-helpers.ts';

describe('speed', () => {
  it('encodes and decodes 16 RICE_1 amplifiers of 576x2048 int32 well under a few seconds', () => {
    const w = 576;
    const h = 2048;
    const rnd = makeRandom(3);
    const amps: ImageHduInput[] = [];
    for (let a = 0; a < 16; a++) {
      const data = new Int32Array(w * h);
      for (let i = 0; i < data.length; i++) data[i] = Math.round(rnd.gauss(20000, 7));
      amps.push({ extname: `Segment${a}`, width: w, height: h, data, compression: { type: 'RICE_1' } });
    }
    // Warm up the JIT on one amplifier.
    readFits(writeFits({}, [amps[0]])).hdus[1].pixels();
    const t0 = performance.now();
    const bytes = writeFits({}, amps);
    const t1 = performance.now();
    const f = readFits(bytes);
    for (let a = 0; a < 16; a++) f.hdus[a + 1].pixels();
    const t2 = performance.now();
    console.log(
      `[fits perf] 16 amps 576x2048 int32 RICE_1: encode ${(t1 - t0).toFixed(0)} ms, decode ${(t2 - t1).toFixed(0)} ms, ` +
        `ratio ${((16 * w * h * 4) / bytes.length).toFixed(2)}`,
    );
    for (let a = 0; a < 16; a++) expect(f.hdus[a + 1].pixels()).toEqual(amps[a].data);
    expect(t2 - t0).toBeLessThan(5000);
  });
});
