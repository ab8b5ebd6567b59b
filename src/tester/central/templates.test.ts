import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { makeSkymap } from '../../astro/skymap.ts';
import { pixelToSky, skyToPixel } from '../../astro/index.ts';
import { readProcessedExposure } from '../../pipeline/outputs.ts';
import { gaussianCentroid } from '../../pipeline/lib/moments.ts';
import { moffatAlpha, PSF_BETA } from '../sim/psf.ts';
import { renderTemplate, renderTemplateImage, TEMPLATE_MAGZERO } from './templates.ts';

const sky = makeSkymap();
const TRACT = sky.tractOf(53.2, -28.1);
const PATCH = sky.patchInfo(TRACT, 100);

describe('templates', () => {
  it('are deterministic, compact, and read back as processed exposures in nJy with the patch WCS', () => {
    const bytes = renderTemplate(PATCH, 'r', { seed: 1, catalogSeed: 1 });
    expect(Buffer.from(renderTemplate(PATCH, 'r', { seed: 1, catalogSeed: 1 })).equals(bytes)).toBe(true);
    expect(bytes.length).toBeLessThan(5e6);
    const { masked, metadata } = readProcessedExposure(bytes, 'template');
    expect(masked.width).toBe(2200);
    expect(metadata.bunit).toBe('nJy');
    expect(metadata.band).toBe('r');
    const card = (k: string) => metadata.diagnostics?.find((d) => d.key === k)?.value;
    expect(card('TRACT')).toBe(TRACT);
    expect(card('PATCH')).toBe(100);
    expect(card('MAGZERO')).toBe(TEMPLATE_MAGZERO);
    expect(card('PHOTOCALIB')).toBe(1);
    const w = metadata.wcs!;
    for (const [x, y] of [[0, 0], [2199, 2199], [1000, 37]]) {
      const a = pixelToSky(w, x, y);
      const b = pixelToSky(PATCH.wcs, x, y);
      expect(Math.abs(a[0] - b[0]) * 3600).toBeLessThan(1e-6);
      expect(Math.abs(a[1] - b[1]) * 3600).toBeLessThan(1e-6);
    }
    // Quantisation (σ/4) leaves the image within σ/8 of the float render.
    const exact = renderTemplateImage(PATCH, 'r', { seed: 1, catalogSeed: 1 });
    let maxErr = 0;
    for (let i = 0; i < masked.image.length; i += 97) maxErr = Math.max(maxErr, Math.abs(masked.image[i] - exact.masked.image[i]));
    expect(maxErr).toBeLessThanOrEqual(exact.skySigmaNjy / 8 + 1e-3);
    // Background-subtracted with the sky noise of the depth asked for.
    const vals: number[] = [];
    for (let i = 0; i < masked.image.length; i += 13) if (exact.masked.variance[i] < exact.skySigmaNjy ** 2 * 1.0001) vals.push(masked.image[i]);
    vals.sort((a, b) => a - b);
    const median = vals[vals.length >> 1];
    const sigma = (vals[Math.floor(vals.length * 0.8413)] - vals[Math.floor(vals.length * 0.1587)]) / 2;
    expect(Math.abs(median)).toBeLessThan(0.1 * exact.skySigmaNjy);
    expect(sigma / exact.skySigmaNjy).toBeGreaterThan(0.95);
    expect(sigma / exact.skySigmaNjy).toBeLessThan(1.1);
  });

  it('puts catalog stars where the patch WCS says (< 0.05 px) with their nJy fluxes', () => {
    const t = renderTemplateImage(PATCH, 'r', { seed: 2, catalogSeed: 1, depthFactor: 1e6 });
    const wcs = readProcessedExposure(renderTemplate(PATCH, 'r', { seed: 2, catalogSeed: 1, depthFactor: 1e6 })).metadata.wcs!;
    const { image, variance, width: W, height: H } = t.masked;
    const s = t.stars;
    const fwhmPx = 0.7 / 0.2;
    const alpha = moffatAlpha(fwhmPx);
    let checked = 0;
    for (let i = 0; i < s.count; i++) {
      const f = s.fluxNjy[i];
      if (f < 2e4 || f > 2e6) continue;
      const p = skyToPixel(wcs, s.ra[i], s.dec[i]);
      if (p[0] < 30 || p[1] < 30 || p[0] > W - 31 || p[1] > H - 31) continue;
      // isolated: no other star within 20 px brighter than 0.5% of this one
      let crowded = false;
      for (let j = 0; j < s.count && !crowded; j++) {
        if (j !== i && s.fluxNjy[j] > 0.005 * f && (s.x[j] - s.x[i]) ** 2 + (s.y[j] - s.y[i]) ** 2 < 400) crowded = true;
      }
      if (crowded) continue;
      const c = gaussianCentroid(image, variance, W, H, p[0] + 0.3, p[1] - 0.2, fwhmPx / 2.3548);
      expect(c.ok).toBe(true);
      expect(Math.hypot(c.x - p[0], c.y - p[1])).toBeLessThan(0.05);
      // aperture flux of radius 20 px against the Moffat's enclosed fraction
      let sum = 0;
      for (let y = Math.round(p[1]) - 20; y <= Math.round(p[1]) + 20; y++) {
        for (let x = Math.round(p[0]) - 20; x <= Math.round(p[0]) + 20; x++) if ((x - p[0]) ** 2 + (y - p[1]) ** 2 <= 400) sum += image[y * W + x];
      }
      const enclosed = 1 - (1 + 400 / (alpha * alpha)) ** (1 - PSF_BETA);
      expect(Math.abs(sum / (f * enclosed) - 1)).toBeLessThan(0.01);
      checked++;
    }
    expect(checked).toBeGreaterThan(20);
  });

  it('neighbouring patches of a tract agree in their overlap (stars and noise)', () => {
    const a = renderTemplateImage(PATCH, 'g', { seed: 3, catalogSeed: 1 });
    const right = sky.patchAt(TRACT, PATCH.cellX + 1, PATCH.cellY);
    const b = renderTemplateImage(right, 'g', { seed: 3, catalogSeed: 1 });
    const dx = right.bbox.x0 - PATCH.bbox.x0; // 2000
    let maxDiff = 0;
    let maxVal = 0;
    for (let y = 0; y < PATCH.height; y += 3) {
      for (let x = dx; x < PATCH.width; x++) {
        const va = a.masked.image[y * PATCH.width + x];
        const vb = b.masked.image[y * right.width + (x - dx)];
        maxDiff = Math.max(maxDiff, Math.abs(va - vb));
        maxVal = Math.max(maxVal, Math.abs(va));
      }
    }
    expect(maxDiff).toBeLessThan(1e-5 * maxVal + 1e-3);
    // a different seed changes the noise
    const c = renderTemplateImage(PATCH, 'g', { seed: 4, catalogSeed: 1 });
    expect(c.masked.image[12345]).not.toBe(a.masked.image[12345]);
  });

  it('refuses bad options', () => {
    expect(() => renderTemplate(PATCH, 'q' as 'r', { seed: 1, catalogSeed: 1 })).toThrow(/band/);
    expect(() => renderTemplate(PATCH, 'r', { seed: 1, catalogSeed: 1, psfFwhmArcsec: 0 })).toThrow(/FWHM/);
    expect(() => renderTemplate(PATCH, 'r', { seed: 1, catalogSeed: 1, depthFactor: 0 })).toThrow(/depthFactor/);
  });
});
