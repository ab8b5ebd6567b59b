import { describe, expect, it } from 'vitest';
import { makeTanWcs, pixelToSky, type TanWcs } from '../../../astro/index.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, makeMaskedImage, type MaskedImage } from '../../../core/image.ts';
import { sipPixelToSky, type SipWcs } from '../../lib/sip-wcs.ts';
import { SeededRng } from '../../testing/rng.ts';
import { addGaussianStar } from '../../testing/synthetic.ts';
import { makeForcedPhotometryConfig, runForcedPhotometry, type ForcedPosition } from './index.ts';

const W = 240;
const H = 200;
const SIGMA_C = 1.7;
const SIGMA_MOMENT = Math.sqrt(SIGMA_C * SIGMA_C + 1 / 12);
const CAL = 57.5; // nJy per electron
const WCS: TanWcs = makeTanWcs({ raDeg: 359.99, decDeg: -12.5, crpix: [W / 2, H / 2], pixelScaleArcsec: 0.2, rotationDeg: 20 });

function noisy(rng: SeededRng, sigma: number): MaskedImage {
  const m = makeMaskedImage(W, H);
  for (let i = 0; i < W * H; i++) m.image[i] = sigma * rng.normal();
  m.variance.fill(sigma * sigma);
  return m;
}

function skyOf(wcs: SipWcs | TanWcs, x: number, y: number): [number, number] {
  const out = new Float64Array(2);
  if ('sip' in wcs) sipPixelToSky(wcs, x, y, out);
  else pixelToSky(wcs, x, y, out);
  return [out[0], out[1]];
}

interface Truth {
  readonly x: number;
  readonly y: number;
  readonly diffFlux: number;
  readonly sciFlux: number;
}

/** A grid of stars away from the borders, with fluxes of either sign on the difference. */
function scene(seed: number, diffNoise = 8, sciNoise = 12): { difference: MaskedImage; science: MaskedImage; truth: Truth[] } {
  const rng = new SeededRng(seed);
  const difference = noisy(rng, diffNoise);
  const science = noisy(rng, sciNoise);
  const truth: Truth[] = [];
  for (let j = 0; j < 5; j++) {
    for (let i = 0; i < 6; i++) {
      const x = 20 + i * 38 + rng.uniform();
      const y = 20 + j * 38 + rng.uniform();
      const diffFlux = (i + j) % 3 === 0 ? -1500 : 400 + 300 * i;
      const sciFlux = 5000 + 1000 * j;
      addGaussianStar(difference.image, W, H, x, y, diffFlux, SIGMA_C);
      addGaussianStar(science.image, W, H, x, y, sciFlux, SIGMA_C);
      truth.push({ x, y, diffFlux, sciFlux });
    }
  }
  return { difference, science, truth };
}

function positionsOf(truth: readonly Truth[], wcs: SipWcs | TanWcs): ForcedPosition[] {
  return truth.map((t, k) => {
    const [ra, dec] = skyOf(wcs, t.x, t.y);
    return { id: 1000n + BigInt(k), ra, dec };
  });
}

describe('runForcedPhotometry', () => {
  it('recovers injected fluxes on the difference and the science image within their errors', () => {
    const s = scene(3);
    const r = runForcedPhotometry({
      positions: positionsOf(s.truth, WCS),
      wcs: WCS,
      difference: s.difference,
      science: s.science,
      psfSigmaPx: SIGMA_MOMENT,
      calibNjyPerElectron: CAL,
      noiseScale: 1,
    });
    expect(r.offDetector).toBe(0);
    expect(r.psfFluxFailures).toBe(0);
    expect(r.measurements).toHaveLength(s.truth.length);
    let pullSum = 0;
    let pull2 = 0;
    r.measurements.forEach((m, k) => {
      const t = s.truth[k];
      expect(m.id).toBe(1000n + BigInt(k));
      expect(Math.abs(m.x - t.x)).toBeLessThan(1e-6);
      expect(Math.abs(m.y - t.y)).toBeLessThan(1e-6);
      // Error: 8 e⁻ per pixel over a PSF of sigma 1.7 px: 8·√(4π)·1.7 ≈ 48 e⁻.
      expect(m.psfFluxErr / CAL).toBeGreaterThan(40);
      expect(m.psfFluxErr / CAL).toBeLessThan(56);
      const pd = (m.psfFlux - t.diffFlux * CAL) / m.psfFluxErr;
      const ps = (m.scienceFlux - t.sciFlux * CAL) / m.scienceFluxErr;
      expect(Math.abs(pd)).toBeLessThan(4);
      expect(Math.abs(ps)).toBeLessThan(4);
      pullSum += pd;
      pull2 += pd * pd;
      expect(m.flags.psfFlux || m.flags.scienceFlux).toBe(false);
      expect(m.psfNdata).toBeGreaterThan(100);
    });
    const n = r.measurements.length;
    expect(Math.abs(pullSum / n)).toBeLessThan(0.6);
    expect(Math.sqrt(pull2 / n)).toBeGreaterThan(0.6);
    expect(Math.sqrt(pull2 / n)).toBeLessThan(1.5);
  });

  it('gives fluxes consistent with zero at blank positions', () => {
    const rng = new SeededRng(17);
    const difference = noisy(rng, 8);
    const science = noisy(rng, 12);
    const positions: ForcedPosition[] = [];
    for (let k = 0; k < 40; k++) {
      const [ra, dec] = skyOf(WCS, 15 + rng.uniform() * (W - 30), 15 + rng.uniform() * (H - 30));
      positions.push({ id: BigInt(k), ra, dec });
    }
    const r = runForcedPhotometry({ positions, wcs: WCS, difference, science, psfSigmaPx: SIGMA_MOMENT, calibNjyPerElectron: CAL, noiseScale: 1 });
    expect(r.measurements).toHaveLength(40);
    let sum = 0;
    for (const m of r.measurements) {
      expect(Math.abs(m.psfFlux / m.psfFluxErr)).toBeLessThan(3.5);
      expect(Math.abs(m.scienceFlux / m.scienceFluxErr)).toBeLessThan(3.5);
      sum += m.psfFlux / m.psfFluxErr;
    }
    // Neighbouring windows overlap a little; the mean pull of 40 stays well within 3/√40·2.
    expect(Math.abs(sum / 40)).toBeLessThan(1);
  });

  it('skips positions off the detector, honouring the margin', () => {
    const s = scene(5);
    const inside = skyOf(WCS, 100.2, 80.7);
    const justOut = skyOf(WCS, -0.6, 50);
    const nearEdge = skyOf(WCS, 2.4, 50);
    const positions: ForcedPosition[] = [
      { id: 1n, ra: inside[0], dec: inside[1] },
      { id: 2n, ra: justOut[0], dec: justOut[1] },
      { id: 3n, ra: nearEdge[0], dec: nearEdge[1] },
      { id: 4n, ra: 180, dec: 12.5 }, // the far hemisphere
      { id: 5n, ra: WCS.crvalDeg[0] + 0.5, dec: WCS.crvalDeg[1] }, // beyond the detector
      { id: 6n, ra: NaN, dec: 0 },
    ];
    const base = { wcs: WCS, difference: s.difference, science: s.science, psfSigmaPx: SIGMA_MOMENT, calibNjyPerElectron: CAL, noiseScale: 1 };
    const r = runForcedPhotometry({ ...base, positions });
    expect(r.measurements.map((m) => m.id)).toEqual([1n, 3n]);
    expect(r.offDetector).toBe(4);
    // 2.4 px from the border: the fit window leaves the image.
    const edge = r.measurements[1];
    expect(edge.flags.psfFluxEdge).toBe(true);
    expect(edge.flags.psfFlux).toBe(true);
    expect(edge.flags.scienceFluxEdge).toBe(true);
    expect(Number.isFinite(edge.psfFlux)).toBe(true);
    expect(r.measurements[0].flags.psfFlux).toBe(false);
    const withMargin = runForcedPhotometry({ ...base, positions }, makeForcedPhotometryConfig({ marginPx: 5 }));
    expect(withMargin.measurements.map((m) => m.id)).toEqual([1n]);
    expect(withMargin.offDetector).toBe(5);
  });

  it('scales the difference error by the noise scale and flags positions without good pixels', () => {
    const s = scene(9);
    s.difference.mask.fill(0);
    // NO_DATA over a block: a position inside it has no usable pixels.
    for (let y = 100; y < 140; y++) for (let x = 100; x < 140; x++) s.difference.mask[y * W + x] = MaskBit.NO_DATA;
    const [ra1, dec1] = skyOf(WCS, 120, 120);
    const [ra2, dec2] = skyOf(WCS, 60.3, 170.2);
    const positions = [
      { id: 1n, ra: ra1, dec: dec1 },
      { id: 2n, ra: ra2, dec: dec2 },
    ];
    const base = { positions, wcs: WCS, difference: s.difference, science: s.science, psfSigmaPx: SIGMA_MOMENT, calibNjyPerElectron: CAL };
    const a = runForcedPhotometry({ ...base, noiseScale: 1 });
    const b = runForcedPhotometry({ ...base, noiseScale: 1.5 });
    expect(a.measurements[0].flags.psfFluxNoGoodPixels).toBe(true);
    expect(a.measurements[0].flags.psfFluxEdge).toBe(true);
    expect(a.measurements[0].psfFlux).toBeNaN();
    expect(a.psfFluxFailures).toBe(1);
    // The science image is unmasked there.
    expect(Number.isFinite(a.measurements[0].scienceFlux)).toBe(true);
    expect(a.measurements[0].flags.scienceFlux).toBe(false);
    expect(b.measurements[1].psfFlux).toBeCloseTo(a.measurements[1].psfFlux, 6);
    expect(b.measurements[1].psfFluxErr / a.measurements[1].psfFluxErr).toBeCloseTo(1.5, 6);
    expect(b.measurements[1].scienceFluxErr).toBe(a.measurements[1].scienceFluxErr);
  });

  it('goes through a TAN-SIP WCS', () => {
    const sip: SipWcs = {
      ...makeTanWcs({ raDeg: 45, decDeg: 60, crpix: [W / 2, H / 2], pixelScaleArcsec: 0.2, rotationDeg: -35 }),
      sip: { order: 2, a: Float64Array.from([2e-5, -1e-5, 3e-5]), b: Float64Array.from([-1e-5, 2e-5, 1e-5]) },
    };
    const s = scene(21);
    const r = runForcedPhotometry({
      positions: positionsOf(s.truth, sip),
      wcs: sip,
      difference: s.difference,
      science: s.science,
      psfSigmaPx: SIGMA_MOMENT,
      calibNjyPerElectron: CAL,
      noiseScale: 1,
    });
    expect(r.measurements).toHaveLength(s.truth.length);
    r.measurements.forEach((m, k) => {
      expect(Math.abs(m.x - s.truth[k].x)).toBeLessThan(1e-6);
      expect(Math.abs((m.psfFlux - s.truth[k].diffFlux * CAL) / m.psfFluxErr)).toBeLessThan(4);
    });
  });

  it('rejects unusable inputs', () => {
    const s = scene(1);
    const base = { positions: [], wcs: WCS, difference: s.difference, science: s.science, psfSigmaPx: SIGMA_MOMENT, calibNjyPerElectron: CAL, noiseScale: 1 };
    expect(() => runForcedPhotometry({ ...base, noiseScale: NaN })).toThrow(InvalidInputError);
    expect(() => runForcedPhotometry({ ...base, calibNjyPerElectron: 0 })).toThrow(InvalidInputError);
    expect(() => runForcedPhotometry({ ...base, psfSigmaPx: -1 })).toThrow(InvalidInputError);
    expect(() => runForcedPhotometry({ ...base, science: makeMaskedImage(10, 10) })).toThrow(InvalidInputError);
    expect(runForcedPhotometry(base).measurements).toEqual([]);
  });
});
