import { describe, expect, it } from 'vitest';
import { MaskBit, makeMaskedImage } from '../../../core/image.ts';
import { SeededRng } from '../../testing/rng.ts';
import { addGaussianStar, randomStars } from '../../testing/synthetic.ts';
import { convolveScratchSize, convolveSeparable, gaussianKernel, makeDetectionConfig, runDetection, SeparableConvolver } from './detection.ts';

const FWHM = 2 * Math.sqrt(2 * Math.log(2));

describe('detection', () => {
  it('finds > 98% of Gaussian stars with S/N ≥ 10 and measures the PSF FWHM', () => {
    const W = 2048;
    const H = 2048;
    const sigma = 1.7;
    const noise = 30;
    const rng = new SeededRng(11);
    const mi = makeMaskedImage(W, H);
    // Optimal (PSF-weighted) S/N of a Gaussian star on a flat background: F / sqrt(4πσ²·V).
    const fluxAt = (snr: number) => snr * Math.sqrt(4 * Math.PI * sigma * sigma * noise * noise);
    const faint = randomStars(rng, 800, W, H, { margin: 10, minSep: 20, fluxMin: fluxAt(10), fluxMax: fluxAt(100) });
    const bright = randomStars(rng, 60, W, H, { margin: 40, minSep: 20, fluxMin: fluxAt(300), fluxMax: fluxAt(2000) }).filter((b) =>
      faint.every((f) => (f.x - b.x) ** 2 + (f.y - b.y) ** 2 > 400),
    );
    for (const s of [...faint, ...bright]) addGaussianStar(mi.image, W, H, s.x, s.y, s.flux, sigma);
    for (let i = 0; i < mi.image.length; i++) {
      mi.image[i] += noise * rng.normal();
      mi.variance[i] = noise * noise;
    }
    const r = runDetection(mi, makeDetectionConfig({ psfFwhmGuessPx: 3.5 }));
    const fp = r.footprints;
    // Match each star to a footprint peak within 2 px.
    const byCell = new Map<number, number[]>();
    for (let k = 0; k < fp.count; k++) {
      const key = Math.floor(fp.peakY[k] / 8) * 1000 + Math.floor(fp.peakX[k] / 8);
      byCell.set(key, [...(byCell.get(key) ?? []), k]);
    }
    const found = (s: { x: number; y: number }) => {
      const cx = Math.floor(s.x / 8);
      const cy = Math.floor(s.y / 8);
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          for (const k of byCell.get((cy + dy) * 1000 + cx + dx) ?? []) {
            if ((fp.peakX[k] - s.x) ** 2 + (fp.peakY[k] - s.y) ** 2 < 4) return true;
          }
        }
      }
      return false;
    };
    const nFound = faint.filter(found).length;
    expect(nFound / faint.length).toBeGreaterThan(0.98);
    expect(bright.every(found)).toBe(true);
    // Few detections that are not stars.
    expect(fp.count).toBeLessThanOrEqual(faint.length + bright.length + 3);
    // DETECTED mask and labels agree with the footprints.
    const k0 = 0;
    const p0 = fp.pixels[fp.pixelOffsets[k0]];
    expect(r.mask[p0] & MaskBit.DETECTED).toBe(MaskBit.DETECTED);
    expect(r.labels[p0]).toBe(k0 + 1);
    expect(r.detectedPixels).toBe(fp.pixelOffsets[fp.count]);
    // PSF: the pixel-integrated Gaussian has second moments σ² + 1/12.
    expect(r.psf.measured).toBe(true);
    expect(r.psf.nStars).toBeGreaterThanOrEqual(20);
    const truthFwhm = FWHM * Math.sqrt(sigma * sigma + 1 / 12);
    expect(Math.abs(r.psf.fwhmPx / truthFwhm - 1)).toBeLessThan(0.02);
    expect(r.pixelNoise).toBeCloseTo(noise, 3);
  });

  it('has a false-positive count consistent with Gaussian noise at 5 sigma on a 4k x 4k pure-noise image', () => {
    const W = 4096;
    const H = 4096;
    const rng = new SeededRng(5);
    const mi = makeMaskedImage(W, H);
    for (let i = 0; i < mi.image.length; i++) mi.image[i] = rng.normal() * 10;
    mi.variance.fill(100);
    const r = runDetection(mi, makeDetectionConfig({ psfFwhmGuessPx: 4 }));
    // About 0.2 expected above 5σ of the filtered image; min area 5 removes most of those.
    expect(r.footprints.count).toBeLessThanOrEqual(3);
    expect(r.psf.measured).toBe(false);
    expect(r.psf.fwhmPx).toBe(4);
    // The filtered noise follows sqrt(Σk²·V).
    const sigma = 4 / FWHM;
    expect(r.filteredNoise / (10 / Math.sqrt(4 * Math.PI * sigma * sigma))).toBeCloseTo(1, 1);
  });

  it('labels 8-connected shapes (including a U merged late), applies the minimum area and counts peaks', () => {
    const W = 60;
    const H = 40;
    const mi = makeMaskedImage(W, H);
    mi.variance.fill(1);
    const set = (x: number, y: number, v: number) => (mi.image[y * W + x] = v);
    // Use a 1-px-wide filter so shapes survive: an almost-delta kernel.
    // U shape: two columns joined at the bottom row only.
    for (let y = 5; y < 20; y++) {
      set(5, y, 100);
      set(15, y, 100);
    }
    for (let x = 5; x <= 15; x++) set(x, 19, 100);
    // Diagonal chain (8-connected only).
    for (let k = 0; k < 8; k++) set(30 + k, 5 + k, 100);
    // Too small: 2 pixels.
    set(50, 30, 100);
    set(51, 30, 100);
    // Two peaks in one footprint.
    [100, 150, 200, 150, 110, 140, 170, 200, 150, 100].forEach((v, i) => set(30 + i, 30, v));
    const cfg = makeDetectionConfig({ psfFwhmGuessPx: 0.3, thresholdSigma: 5, minAreaPx: 5 });
    const r = runDetection(mi, cfg);
    const fp = r.footprints;
    expect(fp.count).toBe(3);
    const byArea = Array.from(fp.area).sort((a, b) => a - b);
    expect(byArea).toEqual([8, 10, 15 + 15 + 9]);
    const u = Array.from(fp.area).indexOf(39);
    expect([fp.x0[u], fp.y0[u], fp.x1[u], fp.y1[u]]).toEqual([5, 5, 16, 20]);
    const two = Array.from(fp.area).indexOf(10);
    expect(fp.nPeaks[two]).toBe(2);
    expect(fp.peakY[two]).toBe(30);
    expect(r.labels[30 * W + 50]).toBe(0);
  });

  it('matches a direct 2-D convolution for unrolled (r ≤ 6) and general kernels, zeroing masked pixels', () => {
    const W = 40;
    const H = 33;
    const rng = new SeededRng(2);
    const src = new Float32Array(W * H).map(() => rng.normal());
    const mask = new Int32Array(W * H);
    mask[17 * W + 9] = MaskBit.BAD;
    for (const [sig, r] of [
      [1.2, 4],
      [1.7, 6],
      [3, 11],
    ] as const) {
      const k = gaussianKernel(sig, r);
      const dst = new Float32Array(W * H);
      convolveSeparable(src, W, H, k, new Float32Array(W * H), dst, mask, MaskBit.BAD);
      for (const [x, y] of [
        [0, 0],
        [9, 17],
        [20, 15],
        [39, 32],
        [3, 30],
      ]) {
        let s = 0;
        for (let j = -r; j <= r; j++) {
          for (let i = -r; i <= r; i++) {
            const xx = x + i;
            const yy = y + j;
            if (xx < 0 || yy < 0 || xx >= W || yy >= H || mask[yy * W + xx]) continue;
            s += k[i + r] * k[j + r] * src[yy * W + xx];
          }
        }
        expect(dst[y * W + x]).toBeCloseTo(s, 5);
      }
    }
  });

  it('gives the same values to the bit by strips of rows, in place, or pixel by pixel', () => {
    const W = 57;
    const H = 83;
    const rng = new SeededRng(4);
    const src = new Float32Array(W * H).map(() => 100 * rng.normal());
    src[300] = NaN;
    src[1200] = Infinity;
    const mask = new Int32Array(W * H);
    for (let i = 0; i < 40; i++) mask[Math.floor(rng.uniform() * W * H)] = MaskBit.BAD;
    for (const [sig, r] of [
      [0.8, 2],
      [1.7, 6],
      [3, 9],
    ] as const) {
      const k = gaussianKernel(sig, r);
      for (const m of [mask, null]) {
        // Reference: a full-size scratch plane.
        const full = new Float32Array(W * H);
        convolveSeparable(src, W, H, k, new Float32Array(W * H), full, m, m ? MaskBit.BAD : 0);
        const strip = new Float32Array(W * H);
        convolveSeparable(src, W, H, k, new Float32Array(convolveScratchSize(W, H, r)), strip, m, m ? MaskBit.BAD : 0);
        expect(strip).toEqual(full);
        const inPlace = src.slice();
        convolveSeparable(inPlace, W, H, k, new Float32Array(convolveScratchSize(W, H, r)), inPlace, m, m ? MaskBit.BAD : 0);
        expect(inPlace).toEqual(full);
        const c = new SeparableConvolver(src, W, H, k, null, m, m ? MaskBit.BAD : 0);
        for (let p = 0; p < W * H; p += 5) expect(Object.is(c.at(p % W, Math.floor(p / W)), full[p])).toBe(true);
      }
    }
    expect(() => convolveSeparable(src, W, H, gaussianKernel(1, 3), new Float32Array(W), new Float32Array(W * H))).toThrow(RangeError);
  });

  it('reports the pixels above a per-row threshold, in scan order, with the rows', () => {
    const W = 45;
    const H = 70;
    const rng = new SeededRng(6);
    const src = new Float32Array(W * H).map(() => rng.normal());
    src[500] = NaN;
    const k = gaussianKernel(1.3, 4);
    const full = new Float32Array(W * H);
    convolveSeparable(src, W, H, k, new Float32Array(W * H), full);
    const low = new Float32Array(W).map((_, x) => 0.05 * (x % 7) - 0.1);
    const high = new Float32Array(W).fill(0.2);
    const row = (y: number) => (y < 40 ? low : high);
    const listed: number[] = [];
    const c = new SeparableConvolver(src, W, H, k, new Float32Array(convolveScratchSize(W, H, 4)));
    const out = new Float32Array(W * H);
    for (let y0 = 0; y0 < H; y0 += 20) {
      c.rows(y0, Math.min(H, y0 + 20), out, y0 * W, { row, above: (indices, count) => listed.push(...indices.subarray(0, count)) });
    }
    expect(out).toEqual(full);
    const want: number[] = [];
    for (let p = 0; p < W * H; p++) if (full[p] > row(Math.floor(p / W))[p % W]) want.push(p);
    expect(want.length).toBeGreaterThan(100);
    expect(listed).toEqual(want);
  });

  it('convolves separably with a normalised kernel (flux conserved away from edges)', () => {
    const W = 31;
    const H = 21;
    const src = new Float32Array(W * H);
    src[10 * W + 15] = 1;
    const k = gaussianKernel(1.5, 5);
    const tmp = new Float32Array(W * H);
    const dst = new Float32Array(W * H);
    convolveSeparable(src, W, H, k, tmp, dst);
    let s = 0;
    for (const v of dst) s += v;
    expect(s).toBeCloseTo(1, 5);
    expect(dst[10 * W + 15]).toBeCloseTo(k[5] * k[5], 6);
    expect(dst[12 * W + 14]).toBeCloseTo(k[7] * k[4], 6);
  });
});
