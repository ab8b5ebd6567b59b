import { describe, expect, it } from 'vitest';
import { makeTanWcs, pixelToSky, skyToPixel, type TanWcs } from '../../../astro/tan-wcs.ts';
import { exactSourcePixel, gridMidpointError, makeTransformGrid, skyTransform, TargetSkyCache, type SkyTransform } from './transform-grid.ts';

describe('transform grid with a shared target sky cache', () => {
  const W = 1000;
  const H = 900;
  const target = makeTanWcs({ raDeg: 150, decDeg: 2, crpix: [W / 2, H / 2], pixelScaleArcsec: 0.2, rotationDeg: 17 });
  // Two sources: one covering part of the target, one off to the side of it.
  const near = makeTanWcs({ raDeg: 150.01, decDeg: 2.005, crpix: [300, 300], pixelScaleArcsec: 0.2 });
  const far = makeTanWcs({ raDeg: 150.5, decDeg: 2.5, crpix: [300, 300], pixelScaleArcsec: 0.2 });

  it('gives the same positions, and the same |det J| wherever a cell can reach the source', () => {
    const sky = new TargetSkyCache(target, W, H);
    for (const src of [near, far]) {
      const plain = makeTransformGrid(target, W, H, src, 32);
      const cached = makeTransformGrid(target, W, H, src, 32, { targetSky: sky, sourceWidth: 600, sourceHeight: 600 });
      expect(cached.u).toEqual(plain.u);
      expect(cached.v).toEqual(plain.v);
      let used = 0;
      for (let k = 0; k < plain.jac.length; k++) {
        if (Number.isNaN(cached.jac[k])) continue;
        expect(cached.jac[k]).toBe(plain.jac[k]);
        used++;
      }
      if (src === near) expect(used).toBeGreaterThan(0);
      else expect(used).toBe(0);
      expect(gridMidpointError(cached, target, src, 600, 600, sky)).toBe(gridMidpointError(plain, target, src, 600, 600));
    }
  });

  it('agrees, to rounding, between transforms with unit-vector fast paths and transforms with only pixelToSky / skyToPixel', () => {
    // The same WCSs as plain pixel ↔ sky pairs: the grid converts through (ra, dec).
    const plainPair = (w: TanWcs): SkyTransform => ({
      pixelToSky: (x, y, out) => pixelToSky(w, x, y, out),
      skyToPixel: (ra, dec, out) => skyToPixel(w, ra, dec, out),
    });
    expect(skyTransform(target).pixelToUnit).toBeTypeOf('function');
    const fast = makeTransformGrid(target, W, H, near, 32);
    const slow = makeTransformGrid(plainPair(target), W, H, plainPair(near), 32);
    const exact = new Float64Array(2);
    for (let k = 0; k < fast.u.length; k++) {
      expect(Math.abs(fast.u[k] - slow.u[k])).toBeLessThan(1e-8);
      expect(Math.abs(fast.v[k] - slow.v[k])).toBeLessThan(1e-8);
      expect(Math.abs(fast.jac[k] - slow.jac[k])).toBeLessThan(1e-8);
    }
    // and both are the exact transform at the nodes
    exactSourcePixel(skyTransform(target), skyTransform(near), fast.nodeX[3], fast.nodeY[2], exact);
    expect(Math.abs(fast.u[2 * fast.nx + 3] - exact[0])).toBeLessThan(1e-8);
    expect(Math.abs(fast.v[2 * fast.nx + 3] - exact[1])).toBeLessThan(1e-8);
  });
});
