import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pixelToSky, separationArcsec } from '../../astro/index.ts';
import { Rng } from '../../core/rng.ts';
import type { TransientTruth, VisitTruth } from '../sim/transients.ts';
import {
  matchToTruth,
  NEGATIVE_KINDS,
  parseVisitTruth,
  readTruthFile,
  summarizeTruth,
  truthFilePath,
  visitTruth,
  writeTruthFile,
  type DetectionColumns,
  type DetectionStatus,
} from './index.ts';

const TRUTH = visitTruth({
  instrument: 'LSSTComCam',
  detector: 4,
  group: '2026112700011',
  filter: 'r_03',
  exposureTimeS: 15,
  raDeg: 53.1,
  decDeg: -28.1,
  seed: 11,
  injectTransients: { seed: 11, perDetector: 40 },
});

/** A position `arcsec` away from (ra, dec) in a direction. */
function offset(ra: number, dec: number, arcsec: number, angleRad: number): [number, number] {
  const p = pixelToSky({ crvalDeg: [ra, dec], crpix: [0, 0], cd: [[1, 0], [0, 1]] }, (arcsec / 3600) * Math.sin(angleRad), (arcsec / 3600) * Math.cos(angleRad));
  return [p[0], p[1]];
}

function columns(rows: Array<{ ra: number; dec: number; neg: boolean; snr?: number; flags?: number }>): DetectionColumns {
  return {
    ra: Float64Array.from(rows, (r) => r.ra),
    dec: Float64Array.from(rows, (r) => r.dec),
    isNegative: Uint8Array.from(rows, (r) => (r.neg ? 1 : 0)),
    snr: Float64Array.from(rows, (r) => r.snr ?? 10),
    flags: Int32Array.from(rows, (r) => r.flags ?? 0),
    length: rows.length,
  };
}

const isNeg = (t: TransientTruth): boolean => NEGATIVE_KINDS.has(t.kind);

describe('matchToTruth', () => {
  const rng = Rng.from('match');
  it('recovers every transient from detections near the truth with the right sign', () => {
    expect(TRUTH.transients.length).toBeGreaterThan(20);
    const dets = columns(TRUTH.transients.map((t) => ({ ...at(t, 0.3 * rng.uniform()), neg: isNeg(t) })).reverse());
    const r = matchToTruth(dets, TRUTH);
    expect(r.transients.every((t) => t.recovered)).toBe(true);
    expect(r.counts).toEqual({ detections: dets.length, matched: dets.length, wrongSign: 0, near: 0, false: 0, ignored: 0 });
    const n = TRUTH.transients.length;
    r.transients.forEach((t, i) => {
      expect(t.detection).toBe(n - 1 - i);
      expect(t.separationArcsec).toBeLessThanOrEqual(0.3);
      expect(r.detectionTransient[t.detection]).toBe(i);
    });
  });

  function at(t: TransientTruth, arcsec: number): { ra: number; dec: number } {
    const [ra, dec] = offset(t.raDeg, t.decDeg, arcsec, 2 * Math.PI * rng.uniform());
    return { ra, dec };
  }

  it('does not count wrong-sign detections, neither as recoveries nor as false', () => {
    const dets = columns(TRUTH.transients.map((t) => ({ ...at(t, 0.2), neg: !isNeg(t) })));
    const r = matchToTruth(dets, TRUTH);
    expect(r.transients.some((t) => t.recovered)).toBe(false);
    expect(r.counts.wrongSign).toBe(dets.length);
    expect(r.counts.false).toBe(0);
  });

  it('takes the sign from the S/N when isNegative is absent', () => {
    const t = TRUTH.transients.find((x) => x.kind === 'vanish')!;
    const one = (snr: number): DetectionColumns => ({ ra: [t.raDeg], dec: [t.decDeg], snr: [snr], length: 1 });
    const truth: VisitTruth = { ...TRUTH, transients: [t] };
    expect(matchToTruth(one(-8), truth).transients[0].recovered).toBe(true);
    expect(matchToTruth(one(8), truth).detectionStatus).toEqual(['wrongSign']);
  });

  it('counts random detections away from the truth as false, and those within 2" as near', () => {
    const rows: Array<{ ra: number; dec: number; neg: boolean; flags?: number }> = [];
    const expected: DetectionStatus[] = [];
    for (const t of TRUTH.transients) {
      rows.push({ ...at(t, 0.5), neg: isNeg(t) });
      expected.push('matched');
      rows.push({ ...at(t, 0.6), neg: isNeg(t) }); // a duplicate
      expected.push('near');
      rows.push({ ...at(t, 1.6), neg: isNeg(t) }); // beyond the radius, within 2"
      expected.push('near');
    }
    // random detections over the detector area, kept only when > 2" from every transient
    const [ra0, dec0] = [TRUTH.transients[0].raDeg, TRUTH.transients[0].decDeg];
    let nFalse = 0;
    while (nFalse < 200) {
      const [ra, dec] = offset(ra0, dec0, 600 * Math.sqrt(rng.uniform()), 2 * Math.PI * rng.uniform());
      if (TRUTH.transients.some((t) => separationArcsec(ra, dec, t.raDeg, t.decDeg) <= 2.05)) continue;
      rows.push({ ra, dec, neg: rng.uniform() < 0.5 });
      expected.push('false');
      nFalse++;
    }
    rows.push({ ...at(TRUTH.transients[0], 3), neg: false, flags: 4 });
    expected.push('ignored');
    const r = matchToTruth(columns(rows), TRUTH, { radiusArcsec: 1, ignoreFlags: 4 });
    expect(r.detectionStatus).toEqual(expected);
    expect(r.counts.false).toBe(200);
    expect(r.counts.matched).toBe(TRUTH.transients.length);
    expect(r.transients.every((t) => t.recovered && t.separationArcsec! < 0.55)).toBe(true);
    // without the flag mask, the flagged detection 3" away is false
    expect(matchToTruth(columns(rows), TRUTH).counts.false).toBe(201);
  });

  it('agrees with a brute-force match on many detections', () => {
    const rows: Array<{ ra: number; dec: number; neg: boolean }> = [];
    for (let i = 0; i < 5000; i++) {
      const t = TRUTH.transients[rng.int(TRUTH.transients.length)];
      const [ra, dec] = offset(t.raDeg, t.decDeg, 4 * rng.uniform(), 2 * Math.PI * rng.uniform());
      rows.push({ ra, dec, neg: rng.uniform() < 0.5 });
    }
    const r = matchToTruth(columns(rows), TRUTH);
    // brute force: every detection against every transient
    rows.forEach((d, i) => {
      let nearest = Infinity;
      let right = false;
      let wrong = false;
      for (const t of TRUTH.transients) {
        const s = separationArcsec(d.ra, d.dec, t.raDeg, t.decDeg);
        nearest = Math.min(nearest, s);
        if (s <= 1) {
          if (isNeg(t) === d.neg) right = true;
          else wrong = true;
        }
      }
      const st = r.detectionStatus[i];
      if (nearest > 2) expect(st).toBe('false');
      else if (st !== 'matched') expect(st).toBe(wrong && !right ? 'wrongSign' : 'near');
      if (st === 'matched') expect(right).toBe(true);
    });
    // each transient with a right-sign detection within 1" is recovered by the closest free one
    TRUTH.transients.forEach((t, k) => {
      const any = rows.some((d) => d.neg === isNeg(t) && separationArcsec(d.ra, d.dec, t.raDeg, t.decDeg) <= 1);
      expect(r.transients[k].recovered).toBe(any);
    });
  });
});

describe('summarizeTruth', () => {
  it('adds up completeness by S/N bin and kind, and false detections per detector-visit', () => {
    const rng = Rng.from('summary');
    const results = [];
    for (let v = 0; v < 3; v++) {
      // recover about 60 % of the transients; 5 false detections per visit
      const rows: Array<{ ra: number; dec: number; neg: boolean }> = [];
      for (const t of TRUTH.transients) if (rng.uniform() < 0.6) rows.push({ ra: t.raDeg, dec: t.decDeg, neg: isNeg(t) });
      for (let k = 0; k < 5; k++) {
        const [ra, dec] = offset(TRUTH.transients[0].raDeg, TRUTH.transients[0].decDeg, 2000 + 10 * k, 1);
        rows.push({ ra, dec, neg: false });
      }
      results.push(matchToTruth(columns(rows), TRUTH));
    }
    const s = summarizeTruth(results);
    const n = TRUTH.transients.length;
    expect(s.injected).toBe(3 * n);
    expect(s.detectorVisits).toBe(3);
    expect(s.falseDetections).toBe(15);
    expect(s.falsePerDetector).toBe(5);
    const rec = results.reduce((a, r) => a + r.transients.filter((t) => t.recovered).length, 0);
    expect(s.recovered).toBe(rec);
    expect(s.completeness).toBeCloseTo(rec / (3 * n), 12);
    expect(s.bySnr.map((b) => [b.snrMin, b.snrMax])).toEqual([[0, 3], [3, 5], [5, 10], [10, 20], [20, 50], [50, null]]);
    expect(s.bySnr.reduce((a, b) => a + b.injected, 0)).toBe(s.injected);
    expect(s.bySnr.reduce((a, b) => a + b.recovered, 0)).toBe(s.recovered);
    for (const b of s.bySnr) {
      const inBin = TRUTH.transients.filter((t) => t.expectedSnr >= b.snrMin && (b.snrMax === null || t.expectedSnr < b.snrMax)).length;
      expect(b.injected).toBe(3 * inBin);
      expect(b.completeness).toBe(b.injected ? b.recovered / b.injected : null);
    }
    expect(Object.values(s.byKind).reduce((a, k) => a + k.injected, 0)).toBe(s.injected);
    expect(Object.values(s.byKind).reduce((a, k) => a + k.recovered, 0)).toBe(s.recovered);
    const above = results.flatMap((r) => r.transients.filter((t) => t.expectedSnr >= 10));
    expect(s.completenessAboveSnr10).toBeCloseTo(above.filter((t) => t.recovered).length / above.length, 12);
    expect(summarizeTruth([]).completeness).toBeNull();
    expect(summarizeTruth([]).falsePerDetector).toBeNull();
  });
});

describe('truth files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'truth-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('are written atomically at {dir}/{instrument}/{group}/{detector}.json and read back', async () => {
    const file = await writeTruthFile(dir, TRUTH);
    expect(file).toBe(truthFilePath(dir, 'LSSTComCam', '2026112700011', 4));
    expect(file).toBe(path.join(dir, 'LSSTComCam', '2026112700011', '4.json'));
    expect(await readdir(path.dirname(file))).toEqual(['4.json']);
    expect(await readTruthFile(file)).toEqual(TRUTH);
    // rewriting replaces the file
    await writeTruthFile(dir, { ...TRUTH, transients: [] });
    expect((await readTruthFile(file)).transients).toEqual([]);
    expect(await readdir(path.dirname(file))).toEqual(['4.json']);
  });

  it('reject what is not a truth file', async () => {
    expect(() => parseVisitTruth({ ...TRUTH, transients: [{ id: 'x' }] })).toThrow(/transients\.0/);
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, '{');
    await expect(readTruthFile(bad)).rejects.toThrow(/not JSON/);
  });
});
