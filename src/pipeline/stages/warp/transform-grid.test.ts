import { describe, expect, it } from 'vitest';
import { makeTanWcs } from '../../../astro/tan-wcs.ts';
import { gridMidpointError, makeTransformGrid, TargetSkyCache } from './transform-grid.ts';

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
});
