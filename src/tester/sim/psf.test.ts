import { describe, expect, it } from 'vitest';
import { addMoffat, moffatAlpha, PSF_BETA, stampRadius } from './psf.ts';

function moments(img: Float32Array, w: number): { sum: number; x: number; y: number } {
  let s = 0;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < img.length; i++) {
    const v = img[i];
    s += v;
    sx += v * (i % w);
    sy += v * Math.floor(i / w);
  }
  return { sum: s, x: sx / s, y: sy / s };
}

describe('Moffat rendering', () => {
  it('conserves flux and puts the centroid where asked, to 0.01 px', () => {
    const w = 160;
    const h = 160;
    for (const fwhm of [2.2, 4, 6.5]) {
      const alpha = moffatAlpha(fwhm);
      for (const [xc, yc] of [
        [80, 80],
        [80.25, 79.6],
        [79.5, 80.5],
        [81.13, 78.91],
      ]) {
        const img = new Float32Array(w * h);
        const added = addMoffat(img, w, h, xc, yc, 1e5, alpha);
        const m = moments(img, w);
        expect(Math.abs(m.sum - 1e5) / 1e5).toBeLessThan(2e-3);
        expect(Math.abs(added - m.sum) / m.sum).toBeLessThan(1e-5);
        expect(Math.abs(m.x - xc)).toBeLessThan(0.01);
        expect(Math.abs(m.y - yc)).toBeLessThan(0.01);
      }
    }
  });

  it('integrates the profile over each pixel to better than 0.5% of the peak', () => {
    for (const alpha of [1.6, 2.7, 4.3]) {
      const w = 41;
      const img = new Float32Array(w * w);
      const xc = 20.3;
      const yc = 19.85;
      addMoffat(img, w, w, xc, yc, 1e5, alpha);
      const norm = (1e5 * (PSF_BETA - 1)) / (Math.PI * alpha * alpha);
      const n = 41;
      let worst = 0;
      let peak = 0;
      for (let y = 15; y <= 25; y++) {
        for (let x = 15; x <= 25; x++) {
          let s = 0;
          for (let j = 0; j < n; j++) {
            for (let i = 0; i < n; i++) {
              const dx = x - 0.5 + (i + 0.5) / n - xc;
              const dy = y - 0.5 + (j + 0.5) / n - yc;
              s += (1 + (dx * dx + dy * dy) / (alpha * alpha)) ** -PSF_BETA;
            }
          }
          const exact = (s * norm) / (n * n);
          peak = Math.max(peak, exact);
          worst = Math.max(worst, Math.abs(img[y * w + x] - exact));
        }
      }
      expect(worst / peak, `alpha ${alpha}`).toBeLessThan(0.005);
    }
  });

  it('has the requested FWHM', () => {
    const w = 101;
    const img = new Float32Array(w * w);
    const fwhm = 5;
    addMoffat(img, w, w, 50, 50, 1e6, moffatAlpha(fwhm));
    const peak = img[50 * w + 50];
    // half-maximum along the row, by linear interpolation
    let x = 50;
    while (img[50 * w + x + 1] > peak / 2) x++;
    const a = img[50 * w + x];
    const b = img[50 * w + x + 1];
    const half = x + (a - peak / 2) / (a - b) - 50;
    expect(2 * half).toBeGreaterThan(fwhm * 0.93); // pixel integration broadens slightly
    expect(2 * half).toBeLessThan(fwhm * 1.1);
    expect(PSF_BETA).toBe(3.5);
  });

  it('clips at the image edges and grows the stamp with brightness', () => {
    const img = new Float32Array(50 * 50);
    const added = addMoffat(img, 50, 50, 0, 0, 1000, moffatAlpha(4));
    expect(added).toBeGreaterThan(200);
    expect(added).toBeLessThan(400); // a bit over a quarter of the flux (pixel 0 reaches to -0.5)
    expect(addMoffat(img, 50, 50, -500, -500, 1000, 2)).toBe(0);
    expect(addMoffat(img, 50, 50, 10, 10, 0, 2)).toBe(0);
    expect(stampRadius(1e7, 4)).toBeGreaterThan(stampRadius(1e3, 4));
  });
});
