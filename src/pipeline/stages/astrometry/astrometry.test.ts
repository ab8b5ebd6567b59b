import { describe, expect, it } from 'vitest';
import { makeTanWcs, separationArcsec } from '../../../astro/index.ts';
import { AlgorithmError, ConfigError } from '../../../core/errors.ts';
import { sipPixelToSky, sipSkyToPixel, sipTerms, type SipWcs } from '../../lib/sip-wcs.ts';
import { SourceFlag } from '../../source-catalog.ts';
import { astrometrySources, makeAstrometryConfig, runAstrometry, skyCoordinates, type AstrometryResult } from './astrometry.ts';
import { mergeReferenceShards } from './reference-catalog.ts';
import { perturbWcs, syntheticField } from './testing/synthetic-field.ts';

const W = 4072;
const H = 4000;
const CENTRE: [number, number] = [(W - 1) / 2, (H - 1) / 2];
const TRUTH: SipWcs = { ...makeTanWcs({ raDeg: 150.1, decDeg: -31.2, crpix: CENTRE, pixelScaleArcsec: 0.2, rotationDeg: 30 }), sip: null };

/** Largest sky distance (arcsec) between two WCSs over a grid covering the detector. */
function maxWcsDifference(a: SipWcs, b: SipWcs): number {
  let worst = 0;
  const p = new Float64Array(2);
  const q = new Float64Array(2);
  for (let x = 0; x <= W; x += W / 8) {
    for (let y = 0; y <= H; y += H / 8) {
      sipPixelToSky(a, x, y, p);
      sipPixelToSky(b, x, y, q);
      worst = Math.max(worst, separationArcsec(p[0], p[1], q[0], q[1]));
    }
  }
  return worst;
}

/** Fraction of the fitted pairs whose reference star is the source's true one. */
function correctFraction(r: AstrometryResult, trueRef: Int32Array): number {
  let ok = 0;
  let n = 0;
  for (let q = 0; q < r.pairs.count; q++) {
    if (!r.pairs.usedInFit[q]) continue;
    n++;
    if (trueRef[r.pairs.source[q]] === r.pairs.ref[q]) ok++;
  }
  return ok / n;
}

describe('astrometry', () => {
  it('recovers a header WCS off by 20", rotated 0.2° and scaled 0.2%, with 30% spurious detections and 20% undetected stars', () => {
    const f = syntheticField({ seed: 1, truth: TRUTH, width: W, height: H, refStars: 2500, detectedFraction: 0.8, spuriousFraction: 0.3 });
    const initialWcs = perturbWcs(TRUTH, 12, -16, 0.2, 1.002);
    const r = runAstrometry({ sources: astrometrySources(f.sources), refcat: f.refcat, initialWcs, width: W, height: H, band: 'r' });
    expect(r.quality).toBe('good');
    expect(r.rmsArcsec).toBeLessThan(0.05);
    expect(r.rmsEastArcsec).toBeLessThan(0.04);
    expect(r.rmsNorthArcsec).toBeLessThan(0.04);
    expect(r.matches).toBeGreaterThan(0.9 * (r.pairs.count));
    expect(correctFraction(r, f.trueRef)).toBeGreaterThan(0.995);
    // The injected transform: 20" at the centre, rotation −0.2° and scale 1/1.002 relative to the header.
    expect(Math.abs(r.shiftArcsec - 20)).toBeLessThan(0.02);
    expect(Math.abs(r.search.eastArcsec + 12)).toBeLessThan(2);
    expect(Math.abs(r.search.northArcsec - 16)).toBeLessThan(2);
    expect(Math.abs(r.rotationDeg + 0.2)).toBeLessThan(1e-3);
    expect(Math.abs(r.scaleRatio * 1.002 - 1)).toBeLessThan(2e-5);
    expect(Math.abs(r.pixelScaleArcsec - 0.2)).toBeLessThan(5e-6);
    expect(r.wcs.crpix).toEqual(CENTRE);
    expect(r.sipOrder).toBe(0);
    expect(r.wcs.sip).toBeNull();
    expect(maxWcsDifference(r.wcs, TRUTH)).toBeLessThan(0.01);
    // Residuals of the used pairs reproduce the rms.
    let s = 0;
    for (let q = 0; q < r.pairs.count; q++) if (r.pairs.usedInFit[q]) s += r.pairs.residualEastArcsec[q] ** 2 + r.pairs.residualNorthArcsec[q] ** 2;
    expect(Math.sqrt(s / r.matches)).toBeCloseTo(r.rmsArcsec, 5);
    // Sky coordinates through the fitted WCS.
    const sky = skyCoordinates(r.wcs, f.sources.x, f.sources.y);
    const q0 = r.pairs.usedInFit.indexOf(1);
    const i = r.pairs.source[q0];
    const j = r.pairs.ref[q0];
    expect(separationArcsec(sky.ra[i], sky.dec[i], f.refcat.ra[j], f.refcat.dec[j])).toBeLessThan(0.3);
  });

  it('finds offsets and rotations of either sign, any parity and across RA = 0', () => {
    const flipped: SipWcs = { ...makeTanWcs({ raDeg: 0.01, decDeg: 12, crpix: CENTRE, pixelScaleArcsec: 0.26, rotationDeg: -75, eastLeft: false }), sip: null };
    for (const [truth, e, n, rot, seed] of [
      [TRUTH, -25, -10, -0.3, 2],
      [flipped, 28, 5, 0.15, 3],
    ] as const) {
      const f = syntheticField({ seed, truth, width: W, height: H, refStars: 2000, detectedFraction: 0.8, spuriousFraction: 0.3 });
      const r = runAstrometry({ sources: astrometrySources(f.sources), refcat: f.refcat, initialWcs: perturbWcs(truth, e, n, rot, 0.999), width: W, height: H });
      expect(r.quality).toBe('good');
      expect(r.rmsArcsec).toBeLessThan(0.05);
      expect(maxWcsDifference(r.wcs, truth)).toBeLessThan(0.01);
      expect(Math.abs(r.rotationDeg + rot)).toBeLessThan(1e-3);
    }
  });

  it('fits SIP distortion (order 3) to the noise level; a pure TAN fit of the same field is flagged high-rms (at 0.05")', () => {
    const terms = sipTerms(3);
    const a = new Float64Array(terms.length);
    const b = new Float64Array(terms.length);
    // Radial k·r²·(u, v) with ~3 px at the corners, and a small quadratic term.
    const k = 2e-10;
    terms.forEach(([p, q], i) => {
      if ((p === 3 && q === 0) || (p === 1 && q === 2)) a[i] = k;
      if ((p === 2 && q === 1) || (p === 0 && q === 3)) b[i] = k;
      if (p === 2 && q === 0) a[i] = 3e-8;
    });
    const truth: SipWcs = { ...TRUTH, sip: { order: 3, a, b } };
    const f = syntheticField({ seed: 4, truth, width: W, height: H, refStars: 3000, detectedFraction: 0.8, spuriousFraction: 0.3 });
    const initialWcs = perturbWcs(TRUTH, 10, 15, -0.2, 1.002);
    const input = { sources: astrometrySources(f.sources), refcat: f.refcat, initialWcs, width: W, height: H };
    const r = runAstrometry(input, makeAstrometryConfig({ sipOrder: 3, goodMaxRmsArcsec: 0.05 }));
    expect(r.sipOrder).toBe(3);
    expect(r.wcs.sip?.order).toBe(3);
    expect(r.quality).toBe('good');
    expect(r.rmsArcsec).toBeLessThan(0.05);
    expect(maxWcsDifference(r.wcs, truth)).toBeLessThan(0.02);
    // The inverse of the fitted model.
    const s = sipPixelToSky(r.wcs, 100, 3900);
    const p = sipSkyToPixel(r.wcs, s[0], s[1]);
    expect(Math.hypot(p[0] - 100, p[1] - 3900)).toBeLessThan(1e-6);
    const tan = runAstrometry(input, makeAstrometryConfig({ goodMaxRmsArcsec: 0.05 }));
    expect(tan.sipOrder).toBe(0);
    expect(tan.rmsArcsec).toBeGreaterThan(3 * r.rmsArcsec);
    expect(tan.quality).toBe('high-rms');
  });

  it('lowers the SIP order when there are too few matches for it', () => {
    const f = syntheticField({ seed: 5, truth: TRUTH, width: W, height: H, refStars: 60 });
    const r = runAstrometry(
      { sources: astrometrySources(f.sources), refcat: f.refcat, initialWcs: perturbWcs(TRUTH, 5, 5, 0, 1), width: W, height: H },
      makeAstrometryConfig({ sipOrder: 4, minPeakVotes: 4 }),
    );
    expect(r.matches).toBeLessThan(5 * (3 + sipTerms(4).length)); // too few for order 4
    expect(r.sipOrder).toBeLessThan(4);
    expect(maxWcsDifference(r.wcs, TRUTH)).toBeLessThan(0.05);
  });

  it('ignores flagged and low-S/N sources and uses every match for the photometry', () => {
    const f = syntheticField({ seed: 6, truth: TRUTH, width: W, height: H, refStars: 2000, detectedFraction: 0.8, spuriousFraction: 0.3 });
    // Saturated sources with wild centroids must not spoil the fit.
    for (let k = 0; k < f.sources.length; k += 10) {
      f.sources.flags[k] = SourceFlag.SATURATED;
      f.sources.x[k] += 3;
    }
    const r = runAstrometry({ sources: astrometrySources(f.sources), refcat: f.refcat, initialWcs: perturbWcs(TRUTH, 15, 15, 0.1, 1), width: W, height: H });
    for (let q = 0; q < r.pairs.count; q++) {
      expect(f.sources.flags[r.pairs.source[q]] & SourceFlag.SATURATED).toBe(0);
      expect(f.sources.snr[r.pairs.source[q]]).toBeGreaterThanOrEqual(5);
    }
    expect(r.rmsArcsec).toBeLessThan(0.05);
    expect(r.sourcesUsable).toBeLessThan(f.sources.length);
  });

  it('applies reference proper motions to the observation epoch', () => {
    const f = syntheticField({ seed: 7, truth: TRUTH, width: W, height: H, refStars: 1500 });
    // Positions given at an epoch 20 years earlier, moving 50 mas/yr north: 1" off without the motion.
    const shard = {
      count: f.refcat.count,
      ids: f.refcat.ids,
      ra: f.refcat.ra,
      dec: Float64Array.from(f.refcat.dec, (d) => d - 1 / 3600),
      pmRa: new Float32Array(f.refcat.count),
      pmDec: new Float32Array(f.refcat.count).fill(50),
      epochMjd: new Float64Array(f.refcat.count).fill(51544.5),
      flux: { r: f.refcat.flux },
    };
    const refcat = mergeReferenceShards([shard], 'r');
    const input = { sources: astrometrySources(f.sources), refcat, initialWcs: perturbWcs(TRUTH, 0, 0, 0, 1), width: W, height: H };
    const moved = runAstrometry({ ...input, epochMjd: 51544.5 + 20 * 365.25 });
    expect(maxWcsDifference(moved.wcs, TRUTH)).toBeLessThan(0.01);
    const still = runAstrometry(input);
    expect(Math.abs(maxWcsDifference(still.wcs, TRUTH) - 1)).toBeLessThan(0.02);
  });

  it('fails with AlgorithmError: too few stars, no overlap with the catalog, an offset beyond the search', () => {
    const few = syntheticField({ seed: 8, truth: TRUTH, width: W, height: H, refStars: 8 });
    const wcs = perturbWcs(TRUTH, 10, 10, 0, 1);
    const run = (f: ReturnType<typeof syntheticField>, initialWcs = wcs) =>
      runAstrometry({ sources: astrometrySources(f.sources), refcat: f.refcat, initialWcs, width: W, height: H });
    expect(() => run(few)).toThrow(AlgorithmError);
    expect(() => run(few)).toThrow(/only \d+ (usable sources|reference stars)/);
    const f = syntheticField({ seed: 9, truth: TRUTH, width: W, height: H, refStars: 1500, spuriousFraction: 0.3 });
    let err: unknown;
    try {
      run(f, perturbWcs(TRUTH, 1800, 0, 0, 1));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AlgorithmError);
    expect((err as Error).message).toMatch(/reference stars fall on or near the detector|no offset within/);
    try {
      err = undefined;
      run(f, perturbWcs(TRUTH, 70, 40, 0, 1));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AlgorithmError);
    expect((err as Error).message).toMatch(/no offset within ±40" and ±0.5° stands out/);
    expect((err as AlgorithmError).metadata.refsInFootprint).toBeGreaterThan(100);
    // With a wider search it succeeds.
    const wide = runAstrometry(
      { sources: astrometrySources(f.sources), refcat: f.refcat, initialWcs: perturbWcs(TRUTH, 70, 40, 0, 1), width: W, height: H },
      makeAstrometryConfig({ maxOffsetArcsec: 100 }),
    );
    expect(maxWcsDifference(wide.wcs, TRUTH)).toBeLessThan(0.01);
  });

  it('rejects inconsistent configurations', () => {
    expect(() => makeAstrometryConfig({ sipOrder: 1 })).toThrow(ConfigError);
    expect(() => makeAstrometryConfig({ minMatchRadiusArcsec: 5 })).toThrow(/minMatchRadiusArcsec/);
    expect(() => makeAstrometryConfig({ offsetBinArcsec: 50 })).toThrow(/offsetBinArcsec/);
    expect(Object.isFrozen(makeAstrometryConfig())).toBe(true);
  });
});
