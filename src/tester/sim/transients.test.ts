import { beforeAll, describe, expect, it } from 'vitest';
import { separationArcsec, skyToPixel } from '../../astro/index.ts';
import { makeSkymap } from '../../astro/skymap.ts';
import { Rng } from '../../core/rng.ts';
import { getInstrument } from '../../instruments/index.ts';
import { renderTemplateImage } from '../central/templates.ts';
import { detectorWcs, observeDetector, type DetectorSky } from './observation.ts';
import { addMoffat, moffatAlpha, stampRadius } from './psf.ts';
import { flatFieldPattern, simulateRawPixels, visitTruth, type RawParams, type RawPixels } from './raw.ts';
import {
  differenceSnrModel,
  expectedDifferenceSnr,
  fluxChangeForSnr,
  GROUP_CADENCE_S,
  moffatEffectiveArea,
  moffatSourceNoiseFactor,
  NEGATIVE_KINDS,
  templateNoise,
  TemplateNoiseSchema,
  detectorTransients,
  newSourceCandidateDensity,
  type TransientOptions,
  type TransientTruth,
  type TransientVisit,
} from './transients.ts';

const COMCAM: RawParams = {
  instrument: 'LSSTComCam',
  detector: 4,
  group: '2026112700011',
  filter: 'r_03',
  exposureTimeS: 15,
  raDeg: 53.1,
  decDeg: -28.1,
  rotationDeg: 20,
  seeingFwhmArcsec: 0.8,
  seed: 11,
  injectTransients: { seed: 11 },
};

function groupOf(seq: number): string {
  return `20261127${String(seq).padStart(5, '0')}`;
}

describe('transients: truth of a detector-visit', () => {
  const inst = getInstrument('LSSTComCam');
  const det = inst.detector(4);
  const g = det.geometry();

  it('is deterministic in (seed, instrument, group, detector)', () => {
    const a = visitTruth(COMCAM);
    expect(visitTruth(COMCAM)).toEqual(a);
    expect(visitTruth({ ...COMCAM, snap: 1 })).toEqual(a);
    expect(a.visit).toBe(2026112700022); // exposure id of snap 0: dayObs · 1e5 + seq · snaps
    expect(a.transients.length).toBeGreaterThan(5);
    const ids = (t: { transients: readonly TransientTruth[] }) => t.transients.map((x) => `${x.kind}@${x.x.toFixed(2)},${x.y.toFixed(2)}`);
    expect(ids(visitTruth({ ...COMCAM, injectTransients: { seed: 12 } }))).not.toEqual(ids(a));
    expect(ids(visitTruth({ ...COMCAM, group: groupOf(12) }))).not.toEqual(ids(a));
    expect(ids(visitTruth({ ...COMCAM, detector: 5 }))).not.toEqual(ids(a));
    // the raw's noise seed does not change the transients
    expect(visitTruth({ ...COMCAM, seed: 99 })).toEqual(a);
  });

  it('is empty without injection and for other than SCIENCE visits', () => {
    const { injectTransients: _, ...plain } = COMCAM;
    expect(visitTruth(plain).transients).toEqual([]);
    expect(visitTruth({ ...COMCAM, kind: 'FLAT' }).transients).toEqual([]);
    expect(visitTruth({ ...COMCAM, injectTransients: { seed: 11, perDetector: 0 } }).transients).toEqual([]);
  });

  it('lies inside the detector, away from the edges, where the true WCS puts it (not the header WCS)', () => {
    const withError = { ...COMCAM, pointingErrorArcsec: 20 };
    const t = visitTruth(withError);
    expect(t).toEqual(visitTruth(COMCAM));
    const wcs = detectorWcs(inst, det, { raDeg: 53.1, decDeg: -28.1, rotationDeg: 20 });
    const p = new Float64Array(2);
    const ids = new Set<string>();
    for (const x of t.transients) {
      ids.add(x.id);
      expect(x.x).toBeGreaterThanOrEqual(30);
      expect(x.y).toBeGreaterThanOrEqual(30);
      expect(x.x).toBeLessThanOrEqual(g.width - 31);
      expect(x.y).toBeLessThanOrEqual(g.height - 31);
      skyToPixel(wcs, x.raDeg, x.decDeg, p);
      expect(Math.abs(p[0] - x.x)).toBeLessThan(1e-6);
      expect(Math.abs(p[1] - x.y)).toBeLessThan(1e-6);
      expect(x.band).toBe('r');
    }
    expect(ids.size).toBe(t.transients.length);
    // at least minSeparationArcsec (5") apart
    for (let i = 0; i < t.transients.length; i++) {
      for (let j = i + 1; j < t.transients.length; j++) {
        const a = t.transients[i];
        const b = t.transients[j];
        expect(separationArcsec(a.raDeg, a.decDeg, b.raDeg, b.decDeg)).toBeGreaterThan(4.99);
      }
    }
  });

  it('has every kind, fluxes of the right sign and expected S/N spread from ~3 to ~300', () => {
    const all: TransientTruth[] = [];
    let visits = 0;
    for (let seq = 1; seq <= 8; seq++) {
      for (const d of [0, 4]) {
        all.push(...visitTruth({ ...COMCAM, group: groupOf(seq), detector: d }).transients);
        visits++;
      }
    }
    const kinds = new Set(all.map((t) => t.kind));
    expect([...kinds].sort()).toEqual(['brighten', 'fade', 'moving', 'new', 'vanish']);
    // ~20 per detector-visit on average (Poisson, minus the few moving objects at the edges)
    expect(all.length / visits).toBeGreaterThan(14);
    expect(all.length / visits).toBeLessThan(26);
    const k = 2 * 15 * 10 ** (0.4 * (28.3 - 31.4)); // electrons per nJy of a 2 x 15 s ComCam r visit
    for (const t of all) {
      expect(t.deltaFluxNjy).toBeCloseTo(t.visitFluxNjy - t.templateFluxNjy, 6);
      expect(t.deltaFluxElectrons / t.deltaFluxNjy).toBeCloseTo(k, 6);
      if (NEGATIVE_KINDS.has(t.kind)) expect(t.deltaFluxNjy).toBeLessThan(0);
      else expect(t.deltaFluxNjy).toBeGreaterThan(0);
      if (t.kind === 'new' || t.kind === 'moving') expect(t.templateFluxNjy).toBe(0);
      if (t.kind === 'vanish') expect(t.visitFluxNjy).toBe(0);
      if (t.kind === 'fade') expect(t.visitFluxNjy).toBeGreaterThan(0);
      if (t.kind !== 'new' && t.kind !== 'moving') expect(t.starId).toBeGreaterThan(0);
      else expect(t.id).toBe(`${t.id.split('-').slice(0, 2).join('-')}-${t.objectId}`);
      expect(t.expectedSnr).toBeGreaterThan(2);
      expect(t.expectedSnr).toBeLessThan(500);
    }
    const snr = all.map((t) => t.expectedSnr);
    expect(snr.filter((s) => s < 5).length).toBeGreaterThan(5);
    expect(snr.filter((s) => s >= 10 && s < 30).length).toBeGreaterThan(10);
    expect(snr.filter((s) => s >= 100).length).toBeGreaterThan(10);
  });

  it('follows moving objects from group to group along their great circles', () => {
    const onlyMoving = { seed: 11, perDetector: 40, kindWeights: { new: 0, brighten: 0, fade: 0, vanish: 0, moving: 1 } };
    const at = (seq: number) => visitTruth({ ...COMCAM, group: groupOf(seq), injectTransients: onlyMoving }).transients;
    const a = at(20);
    const b = at(30);
    expect(a.length).toBeGreaterThan(10);
    expect(a.every((t) => t.kind === 'moving' && t.objectId !== undefined)).toBe(true);
    let followed = 0;
    for (const t of a) {
      const u = b.find((x) => x.objectId === t.objectId);
      if (!u) continue;
      followed++;
      expect(u.id).not.toBe(t.id);
      expect(u.visitFluxNjy).toBeCloseTo(t.visitFluxNjy, 6);
      const days = (10 * GROUP_CADENCE_S) / 86400;
      expect(u.epochMjd! - t.epochMjd!).toBeCloseTo(days, 9);
      const moved = separationArcsec(t.raDeg, t.decDeg, u.raDeg, u.decDeg);
      expect(moved).toBeCloseTo(t.rateDegPerDay! * days * 3600, 3);
      expect(t.rateDegPerDay).toBeGreaterThanOrEqual(0.05);
      expect(t.rateDegPerDay).toBeLessThanOrEqual(0.5);
    }
    expect(followed).toBeGreaterThan(5);
  });
});

describe('transients: new sources last the night', () => {
  const inst = getInstrument('LSSTComCam');
  const g = inst.detector(4).geometry();
  const onlyNew = (perDetector: number): TransientOptions => ({ seed: 11, perDetector, kindWeights: { new: 1, brighten: 0, fade: 0, vanish: 0, moving: 0 } });
  const cosDec = Math.cos((-28.1 * Math.PI) / 180);
  // three visits of one field, dithered by ~1-2' (and one rotated), in different seeing
  const visits: RawParams[] = [
    { ...COMCAM, group: groupOf(20) },
    { ...COMCAM, group: groupOf(21), raDeg: 53.1 + 1.5 / 60 / cosDec, decDeg: -28.1 - 1 / 60, seeingFwhmArcsec: 1.05 },
    { ...COMCAM, group: groupOf(23), raDeg: 53.1 - 1 / 60 / cosDec, decDeg: -28.1 + 2 / 60, rotationDeg: 35, seeingFwhmArcsec: 0.65 },
  ];
  /** Where a visit's true WCS puts a position: 1 inside the painted area, −1 outside, 0 within 1e-3 px of its border. */
  const covers = (v: RawParams, raDeg: number, decDeg: number): number => {
    const p = skyToPixel(detectorWcs(inst, inst.detector(v.detector), { raDeg: v.raDeg, decDeg: v.decDeg, rotationDeg: v.rotationDeg ?? 0 }), raDeg, decDeg);
    const d = Math.min(p[0] - 30, g.width - 31 - p[0], p[1] - 30, g.height - 31 - p[1]);
    return d > 1e-3 ? 1 : d < -1e-3 ? -1 : 0;
  };

  it('are painted, with one id, position and flux, in every group of the day whose detector covers them', () => {
    // dense enough that many sources lie near the borders of the catalog cells
    const truths = visits.map((v) => visitTruth({ ...v, injectTransients: onlyNew(1500) }).transients);
    let shared = 0;
    let snrDiffers = 0;
    for (let a = 0; a < visits.length; a++) {
      expect(truths[a].length).toBeGreaterThan(1200);
      for (const t of truths[a]) {
        expect(t.kind).toBe('new');
        expect(t.objectId).toMatch(/^N\d+\.20261127\.\d+$/);
        expect(t.templateFluxNjy).toBe(0);
      }
      for (let b = 0; b < visits.length; b++) {
        if (b === a) continue;
        const byObject = new Map(truths[b].map((t) => [t.objectId, t]));
        for (const t of truths[a]) {
          const c = covers(visits[b], t.raDeg, t.decDeg);
          const u = byObject.get(t.objectId);
          if (c < 0) expect(u).toBeUndefined();
          if (c <= 0) continue;
          expect(u).toBeDefined();
          if (!u) continue;
          shared++;
          expect(u.id).not.toBe(t.id);
          expect(Math.abs(u.raDeg - t.raDeg)).toBeLessThan(1e-9);
          expect(Math.abs(u.decDeg - t.decDeg)).toBeLessThan(1e-9);
          // same band and exposure: same flux; the expected S/N is each visit's own
          expect(u.visitFluxNjy).toBe(t.visitFluxNjy);
          if (u.expectedSnr !== t.expectedSnr) snrDiffers++;
        }
      }
    }
    expect(shared).toBeGreaterThan(3000);
    expect(snrDiffers).toBeGreaterThan(shared / 2);
  });

  it('are seen in all three visits of a field at the default rate', () => {
    const truths = visits.map((v) => visitTruth(v).transients.filter((t) => t.kind === 'new'));
    const inAll = truths[0].filter((t) => truths.every((ts) => ts.some((u) => u.objectId === t.objectId)));
    expect(inAll.length).toBeGreaterThan(2);
  });

  it('are other sources on another day', () => {
    const today = visitTruth({ ...visits[0], injectTransients: onlyNew(300) }).transients;
    const tomorrow = visitTruth({ ...visits[0], group: '2026112800020', injectTransients: onlyNew(300) }).transients;
    expect(tomorrow.length).toBeGreaterThan(200);
    for (const t of tomorrow) expect(t.objectId).toMatch(/^N\d+\.20261128\.\d+$/);
    let close = 0;
    for (const t of tomorrow) for (const u of today) if (separationArcsec(t.raDeg, t.decDeg, u.raDeg, u.decDeg) < 1) close++;
    expect(close).toBe(0);
  });

  describe('number per detector-visit', () => {
    let skies: Array<{ sky: DetectorSky; visit: Omit<TransientVisit, 'group'> }>;
    /** The groups of `days` successive days from 2026-01-01: independent skies of new sources. */
    const groups = (days: number): string[] =>
      Array.from({ length: days }, (_, d) => new Date(Date.UTC(2026, 0, 1 + d)).toISOString().slice(0, 10).replaceAll('-', '') + '00007');

    beforeAll(() => {
      skies = [0, 4].map((d) => {
        const det = inst.detector(d);
        const sky = observeDetector({ instrument: inst, detector: det, pointing: { raDeg: 150.3, decDeg: 2.2, rotationDeg: 10 }, band: 'i', exposureTimeS: 15, seeingFwhmArcsec: 0.8, catalog: 3 });
        return { sky, visit: { instrument: inst, detector: det, band: 'i' as const, exposureTimeS: 15, darkTimeS: 15.43, snaps: 2 } };
      });
    });

    const countNew = (days: number, options: TransientOptions): { visits: number; total: number; perVisit: TransientTruth[][] } => {
      let visits = 0;
      let total = 0;
      const perVisit: TransientTruth[][] = [];
      for (const group of groups(days)) {
        for (const { sky, visit } of skies) {
          const t = detectorTransients(sky, { ...visit, group }, options).filter((x) => x.kind === 'new');
          perVisit.push(t);
          total += t.length;
          visits++;
        }
      }
      return { visits, total, perVisit };
    };

    it("is perDetector × the 'new' share of kindWeights on average", () => {
      // default weights: 0.35 of 20 = 7 per detector-visit; 600 detector-visits, σ(mean) ≈ 0.11
      const { visits, total } = countNew(300, { seed: 5 });
      expect(visits).toBe(600);
      expect(total / visits).toBeGreaterThan(7 * 0.92);
      expect(total / visits).toBeLessThan(7 * 1.08);
    });

    it('stays so where the separation thins the sky, and keeps the sources apart', () => {
      // 4000 per detector: without making up for the thinning at 5" there would be ~20 % fewer
      const { visits, total, perVisit } = countNew(5, onlyNew(4000));
      expect(total / visits).toBeGreaterThan(4000 * 0.97);
      expect(total / visits).toBeLessThan(4000 * 1.03);
      const t = [...perVisit[0]].sort((a, b) => a.decDeg - b.decDeg);
      let closest = Infinity;
      for (let i = 0; i < t.length; i++) {
        for (let j = i + 1; j < t.length && t[j].decDeg - t[i].decDeg < 10 / 3600; j++) {
          closest = Math.min(closest, separationArcsec(t[i].raDeg, t[i].decDeg, t[j].raDeg, t[j].decDeg));
        }
      }
      expect(closest).toBeGreaterThanOrEqual(5 - 1e-6);
      expect(closest).toBeLessThan(5.5);
    });

    it('candidate density inverts the thinning', () => {
      const a = Math.PI * (5 / 60) ** 2;
      for (const lambda of [0.01, 5, 30]) {
        const l0 = newSourceCandidateDensity(lambda, 5);
        expect((1 - Math.exp(-l0 * a)) / a).toBeCloseTo(lambda, 9);
      }
      expect(newSourceCandidateDensity(3, 0)).toBe(3);
      expect(Number.isFinite(newSourceCandidateDensity(1000, 5))).toBe(true);
    });
  });
});

describe('transients: expected S/N', () => {
  it('uses the Moffat effective area and source factor (checked on a pixel grid)', () => {
    const fwhm = 6;
    const N = 161;
    const img = new Float32Array(N * N);
    addMoffat(img, N, N, 80, 80, 1, moffatAlpha(fwhm));
    let s2 = 0;
    let s3 = 0;
    for (const v of img) {
      s2 += v * v;
      s3 += v * v * v;
    }
    expect(1 / s2 / moffatEffectiveArea(fwhm)).toBeCloseTo(1, 1);
    expect(Math.abs(1 / s2 / moffatEffectiveArea(fwhm) - 1)).toBeLessThan(0.03);
    expect(Math.abs(s3 / (s2 * s2) / moffatSourceNoiseFactor() - 1)).toBeLessThan(0.03);
  });

  it('matches the scatter of PSF-fit fluxes on noisy stamps', () => {
    // background variance B per pixel, a source of F electrons: the PSF-weighted flux has σ² = N_eff B + Q F
    const fwhm = 4;
    const N = 49;
    const psf = new Float32Array(N * N);
    addMoffat(psf, N, N, 24, 24, 1, moffatAlpha(fwhm));
    let s2 = 0;
    for (const v of psf) s2 += v * v;
    const B = 900;
    const F = 20000;
    const rng = Rng.from('snr');
    const fluxes: number[] = [];
    for (let r = 0; r < 400; r++) {
      let acc = 0;
      for (let i = 0; i < psf.length; i++) acc += psf[i] * (F * psf[i] + Math.sqrt(B + F * psf[i]) * rng.normal());
      fluxes.push(acc / s2);
    }
    const mean = fluxes.reduce((a, b) => a + b, 0) / fluxes.length;
    const sd = Math.sqrt(fluxes.reduce((a, b) => a + (b - mean) ** 2, 0) / (fluxes.length - 1));
    const model = Math.sqrt(moffatEffectiveArea(fwhm) * B + moffatSourceNoiseFactor() * F);
    expect(Math.abs(mean / F - 1)).toBeLessThan(0.02);
    expect(sd / model).toBeGreaterThan(0.85);
    expect(sd / model).toBeLessThan(1.15);
  });

  it('takes the template noise of the central repository templates', () => {
    const sky = makeSkymap();
    const patch = sky.patchInfo(sky.tractOf(53.2, -28.1), 100);
    const t = renderTemplateImage({ ...patch, width: 40, height: 40 }, 'r', { seed: 1, catalogSeed: 1 });
    const n = templateNoise('r', TemplateNoiseSchema.parse({}));
    expect(Math.sqrt(n.skyVarianceNjy2PerArcsec2 * 0.2 * 0.2) / t.skySigmaNjy).toBeCloseTo(1, 9);
  });

  it('inverts: the flux solved for an S/N has that S/N', () => {
    const inst = getInstrument('LSSTComCam');
    const det = inst.detector(4);
    const sky = observeDetector({ instrument: inst, detector: det, pointing: { raDeg: 53.1, decDeg: -28.1, rotationDeg: 0 }, band: 'r', exposureTimeS: 15, seeingFwhmArcsec: 0.9, catalog: 1 });
    const m = differenceSnrModel(sky, { instrument: inst, detector: det, group: '2026112700001', band: 'r', exposureTimeS: 15, darkTimeS: 15.43, snaps: 2 });
    for (const snr of [3, 10, 100, 300]) {
      expect(expectedDifferenceSnr(m, 0, fluxChangeForSnr(m, snr, 0, 1))).toBeCloseTo(snr, 6);
      expect(expectedDifferenceSnr(m, 5000, 5000 + fluxChangeForSnr(m, snr, 5000, 1))).toBeCloseTo(snr, 6);
      expect(expectedDifferenceSnr(m, 50000, 50000 - fluxChangeForSnr(m, snr, 50000, -1))).toBeCloseTo(snr, 6);
    }
    // an r = 24 star (≈ 912 nJy) that vanishes from a 2 x 15 s visit: S/N ≈ 5
    const s24 = expectedDifferenceSnr(m, 912, 0);
    expect(s24).toBeGreaterThan(3.5);
    expect(s24).toBeLessThan(7);
  });
});

// ---------------------------------------------------------------- in the raws
/** Detector-frame image (electrons above bias, before any correction) of a raw's data sections. */
function detectorElectrons(raw: RawPixels): Float64Array {
  const inst = getInstrument(raw.truth.instrument);
  const geom = inst.detector(raw.truth.detector).geometry();
  const W = geom.width;
  const out = new Float64Array(W * geom.height);
  for (const amp of geom.amps) {
    const h = raw.hdus.find((x) => x.index === amp.hduIndex);
    if (!h) throw new Error('no hdu');
    const d = amp.detector;
    for (let y = d.y0; y < d.y1; y++) {
      const iy = amp.flipY ? d.y1 - 1 - y : y - d.y0;
      for (let x = d.x0; x < d.x1; x++) {
        const ix = amp.flipX ? d.x1 - 1 - x : x - d.x0;
        out[y * W + x] = h.data[(amp.rawData.y0 + iy) * h.width + amp.rawData.x0 + ix] * amp.gainEPerAdu;
      }
    }
  }
  return out;
}

describe('transients: painted into the raws', () => {
  let withT: RawPixels;
  let without: RawPixels;
  let diff: Float64Array;
  const inst = getInstrument('LSSTComCam');
  const g = inst.detector(4).geometry();

  beforeAll(() => {
    const { injectTransients: _, ...plain } = COMCAM;
    withT = simulateRawPixels(COMCAM);
    without = simulateRawPixels(plain);
    const a = detectorElectrons(withT);
    const b = detectorElectrons(without);
    diff = new Float64Array(a.length);
    for (let i = 0; i < a.length; i++) diff[i] = a[i] - b[i];
  });

  it('carries the truth visitTruth computes, and a header card', () => {
    expect(withT.truth.injected).toEqual(visitTruth(COMCAM));
    expect(without.truth.injected.transients).toEqual([]);
    expect(withT.primaryHeader.find((c) => c.key === 'SIMNTRN')?.value).toBe(withT.truth.injected.transients.length);
    expect(without.primaryHeader.find((c) => c.key === 'SIMNTRN')).toBeUndefined();
  });

  it('changes the pixels exactly at the transients, by deltaFluxElectrons / 2 per snap', () => {
    const truth = withT.truth.injected.transients;
    const alpha = withT.truth.psf.alphaPx;
    const fwhm = withT.truth.psf.fwhmPx;
    const flat = flatFieldPattern('LSSTComCam', 4);
    const W = g.width;
    const H = g.height;
    // outside every transient's stamp, nothing differs
    const touched = new Uint8Array(W * H);
    for (const t of truth) {
      const R = stampRadius(Math.max(t.visitFluxNjy, t.templateFluxNjy) * (t.deltaFluxElectrons / t.deltaFluxNjy / 2), alpha) + 2;
      for (let y = Math.max(0, Math.floor(t.y - R)); y <= Math.min(H - 1, Math.ceil(t.y + R)); y++) {
        for (let x = Math.max(0, Math.floor(t.x - R)); x <= Math.min(W - 1, Math.ceil(t.x + R)); x++) touched[y * W + x] = 1;
      }
    }
    let outside = 0;
    for (let i = 0; i < diff.length; i++) if (!touched[i] && diff[i] !== 0) outside++;
    expect(outside).toBe(0);
    // in an aperture of radius 5 FWHM: the flux change of one snap (times the flat-field pattern)
    const r = 5 * fwhm;
    const enclosed = 1 - (1 + (r * r) / (alpha * alpha)) ** (1 - 3.5);
    let checked = 0;
    for (const t of truth) {
      let sum = 0;
      let npix = 0;
      for (let y = Math.floor(t.y - r); y <= Math.ceil(t.y + r); y++) {
        for (let x = Math.floor(t.x - r); x <= Math.ceil(t.x + r); x++) {
          if ((x - t.x) ** 2 + (y - t.y) ** 2 > r * r) continue;
          sum += diff[y * W + x];
          npix++;
        }
      }
      const expected = (t.deltaFluxElectrons / 2) * flat[Math.round(t.y) * W + Math.round(t.x)] * enclosed;
      // the two raws share their noise draws: what is left is the change of the Poisson width and the
      // ADU truncation (±0.5 ADU a pixel), a few tens of electrons over the aperture
      expect(Math.abs(sum - expected)).toBeLessThan(0.01 * Math.abs(expected) + 3 * Math.sqrt(npix / 12) * 1.6 + 10);
      checked++;
    }
    expect(checked).toBe(truth.length);
  });

  it('removes a vanished star and changes the fluxes of brightened and faded ones', () => {
    const truth = withT.truth.injected.transients;
    const idsWith = new Set(withT.truth.sources.ids);
    const idsWithout = new Map<number, number>();
    without.truth.sources.ids.forEach((id, i) => idsWithout.set(id, i));
    const vanished = truth.filter((t) => t.kind === 'vanish');
    expect(vanished.length).toBeGreaterThan(0);
    for (const t of vanished) {
      expect(idsWithout.has(t.starId!)).toBe(true);
      expect(idsWith.has(t.starId!)).toBe(false);
    }
    const s = withT.truth.sources;
    for (const t of truth.filter((x) => x.kind === 'brighten' || x.kind === 'fade')) {
      const i = s.ids.indexOf(t.starId!);
      const j = idsWithout.get(t.starId!)!;
      expect(s.electrons[i] / without.truth.sources.electrons[j]).toBeCloseTo(t.visitFluxNjy / t.templateFluxNjy, 4);
      expect(s.transient[i]).toBe(1);
    }
    // new and moving sources are appended as transients
    const added = truth.filter((t) => t.kind === 'new' || t.kind === 'moving').length;
    expect(s.count).toBe(without.truth.sources.count - vanished.length + added);
  });
});
