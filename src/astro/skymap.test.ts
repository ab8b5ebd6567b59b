import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/errors.ts';
import { getInstrument } from '../instruments/index.ts';
import { placementFootprint, type DetectorPlacement } from './footprint.ts';
import { DEFAULT_SKYMAP_CONFIG, makeSkymap, Skymap, skymapHash, type PatchInfo } from './skymap.ts';
import { convexPolygon, polygonContains } from './spherical-polygon.ts';
import { unitVector } from './sphere.ts';
import { pixelToSky, skyToPixel } from './tan-wcs.ts';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

const sky = makeSkymap();
const info0 = (t: number) => sky.tractInfo(t);

/** Whether (ra, dec) falls inside a patch's outer box (through the patch WCS). */
function inPatch(p: PatchInfo, ra: number, dec: number): boolean {
  const px = skyToPixel(p.wcs, ra, dec);
  return px[0] >= -0.5 && px[0] <= p.width - 0.5 && px[1] >= -0.5 && px[1] <= p.height - 0.5;
}

function comCamPlacements(): DetectorPlacement[] {
  const cam = getInstrument('LSSTComCam');
  return cam.detectors.map((d) => {
    const g = d.geometry();
    return { centerArcsec: d.centerArcsec, detectorRotationDeg: d.rotationDeg, pixelScaleArcsec: cam.pixelScaleArcsec, width: g.width, height: g.height };
  });
}

describe('skymap tessellation', () => {
  it('is fixed by its config: ring count, tract count and ids are stable', () => {
    expect(sky.numRings).toBe(119);
    expect(sky.ringSizeDeg).toBeCloseTo(1.5, 12);
    expect(sky.numTracts).toBe(18629);
    const t = sky.tractOf(53.2, -28.1);
    expect(t).toBe(4842);
    expect(info0(t).centerDeg[0]).toBeCloseTo(52.394366197183096, 9);
    const info = sky.tractInfo(t);
    expect(info.centerDeg[1]).toBeCloseTo(-28.5, 9);
    expect(info.numPatchesX).toBe(14);
    expect(info.numPatchesY).toBe(14);
    expect(info.width).toBe(28000);
    expect(sky.tractOf(0, -90)).toBe(0);
    expect(sky.tractOf(123, 90)).toBe(sky.numTracts - 1);
    expect(sky.tractOf(359.99, 0.1)).toBe(sky.tractOf(0.01, 0.1));
    expect(skymapHash(DEFAULT_SKYMAP_CONFIG)).toMatch(/^[0-9a-f]{64}$/);
    // A second instance from the same config agrees everywhere.
    const again = new Skymap({ ...DEFAULT_SKYMAP_CONFIG });
    expect(again.tractInfo(t)).toEqual(info);
    expect(again.patchInfo(t, 97)).toEqual(sky.patchInfo(t, 97));
    expect(makeSkymap({ ...DEFAULT_SKYMAP_CONFIG })).toBe(sky);
  });

  it("every position lies in its owner tract's pixel box, at least the tract overlap from the edge", () => {
    const rnd = lcg(1);
    const margin = DEFAULT_SKYMAP_CONFIG.overlapPx * 0.99;
    for (let k = 0; k < 3000; k++) {
      const ra = rnd() * 360;
      const dec = k < 100 ? (rnd() < 0.5 ? -1 : 1) * (88 + rnd() * 2) : Math.asin(2 * rnd() - 1) * (180 / Math.PI);
      const t = sky.tractInfo(sky.tractOf(ra, dec));
      const px = skyToPixel(t.wcs, ra, dec);
      expect(px[0]).toBeGreaterThan(-0.5 + margin);
      expect(px[0]).toBeLessThan(t.width - 0.5 - margin);
      expect(px[1]).toBeGreaterThan(-0.5 + margin);
      expect(px[1]).toBeLessThan(t.height - 0.5 - margin);
      // the owner tract is among those overlapping a small polygon around the point
      const d = 0.001;
      const poly: Array<[number, number]> = [[ra - d, dec - d], [ra + d, dec - d], [ra + d, dec + d], [ra - d, dec + d]].map(
        ([r, dd]) => [r, Math.max(-89.9999, Math.min(89.9999, dd))] as [number, number],
      );
      if (Math.abs(dec) < 89.99) expect(sky.tractsOverlapping(poly).map((x) => x.tract)).toContain(t.tract);
    }
  });

  it('patches tile their tract: inner boxes partition the pixel grid, outer boxes add the overlap', () => {
    const t = sky.tractInfo(4842);
    const P = DEFAULT_SKYMAP_CONFIG.patchSizePx;
    const ov = DEFAULT_SKYMAP_CONFIG.overlapPx;
    let area = 0;
    for (let i = 0; i < t.numPatchesX * t.numPatchesY; i++) {
      const p = sky.patchInfo(t.tract, i);
      expect(p.patch).toBe(i);
      expect(p.cellY * t.numPatchesX + p.cellX).toBe(i);
      expect(p.width).toBe(P + 2 * ov);
      expect(p.height).toBe(P + 2 * ov);
      expect(p.bbox.x0).toBe(p.innerBBox.x0 - ov);
      area += (p.innerBBox.x1 - p.innerBBox.x0) * (p.innerBBox.y1 - p.innerBBox.y0);
    }
    expect(area).toBe(t.width * t.height);
    expect(() => sky.patchInfo(t.tract, t.numPatchesX * t.numPatchesY)).toThrow(InvalidInputError);
    expect(() => sky.tractInfo(sky.numTracts)).toThrow(InvalidInputError);
  });

  it("a patch's WCS is the tract's shifted to the patch corner", () => {
    const rnd = lcg(2);
    for (const tract of [0, 4842, 9000, sky.numTracts - 1]) {
      const t = sky.tractInfo(tract);
      for (let k = 0; k < 5; k++) {
        const p = sky.patchInfo(tract, Math.floor(rnd() * t.numPatchesX * t.numPatchesY));
        for (const [x, y] of [[0, 0], [p.width - 1, 0], [1234.5, 77.25]]) {
          const a = pixelToSky(p.wcs, x, y);
          const b = pixelToSky(t.wcs, x + p.bbox.x0, y + p.bbox.y0);
          expect(Math.abs(a[0] - b[0]) * 3600).toBeLessThan(1e-6);
          expect(Math.abs(a[1] - b[1]) * 3600).toBeLessThan(1e-6);
        }
        // corners are the outer pixel edges, counter-clockwise (a valid convex polygon)
        const poly = convexPolygon(p.corners);
        const mid = pixelToSky(p.wcs, p.width / 2, p.height / 2);
        expect(polygonContains(poly, unitVector(mid[0], mid[1]))).toBe(true);
        expect(p.wcs.cd[0][0]).toBeLessThan(0); // east left
      }
    }
  });

  it('records carry ids and sky polygons as JSON', () => {
    const tr = sky.tractRecord(4842);
    expect(tr).toMatchObject({ skymap: DEFAULT_SKYMAP_CONFIG.name, tract: 4842, numPatchesX: 14 });
    const region = JSON.parse(tr.region) as { type: string; vertices: Array<[number, number]> };
    expect(region.type).toBe('ConvexPolygon');
    expect(region.vertices).toHaveLength(4);
    convexPolygon(region.vertices);
    const pr = sky.patchRecord(4842, 100);
    expect(pr).toMatchObject({ tract: 4842, patch: 100, cellX: 2, cellY: 7 });
    expect(JSON.parse(pr.region).vertices).toEqual(sky.patchInfo(4842, 100).corners.map((c) => [...c]));
  });

  it('refuses bad configs and polygons with a clear message', () => {
    expect(() => new Skymap({ ...DEFAULT_SKYMAP_CONFIG, patchSizePx: 0 })).toThrow(/patchSizePx/);
    expect(() => new Skymap({ ...DEFAULT_SKYMAP_CONFIG, overlapPx: 5000 })).toThrow(/overlapPx/);
    expect(() => new Skymap({ ...DEFAULT_SKYMAP_CONFIG, name: 'a b' })).toThrow(/name/);
    expect(() => sky.patchesOverlapping([[0, 0], [1, 1]])).toThrow(InvalidInputError);
    expect(() => sky.patchesOverlapping([[0, -40], [120, -40], [240, -40]])).toThrow(/at most 30/);
  });
});

describe('patches of a detector footprint', () => {
  const placements = comCamPlacements();

  function checkCovered(patches: PatchInfo[], corners: Array<[number, number]>, rnd: () => number): void {
    const vs = corners.map(([ra, dec]) => unitVector(ra, dec));
    for (let k = 0; k < 2000; k++) {
      // random convex combination of the corners (and the corners themselves)
      const w = vs.map(() => (k < 4 ? 0 : rnd()));
      if (k < 4) w[k] = 1;
      const s = w.reduce((a, b) => a + b, 0);
      const x = vs.reduce((a, v, i) => a + w[i] * v[0], 0) / s;
      const y = vs.reduce((a, v, i) => a + w[i] * v[1], 0) / s;
      const z = vs.reduce((a, v, i) => a + w[i] * v[2], 0) / s;
      const ra = ((Math.atan2(y, x) * 180) / Math.PI + 360) % 360;
      const dec = (Math.atan2(z, Math.hypot(x, y)) * 180) / Math.PI;
      if (!patches.some((p) => inPatch(p, ra, dec))) throw new Error(`(${ra}, ${dec}) is in none of ${patches.length} patches`);
    }
  }

  it('covers every point of every ComCam detector (padded by 1 arcmin), including across RA 0, a tract boundary and near a pole', () => {
    const rnd = lcg(4);
    const pointings = [
      { raDeg: 53.2, decDeg: -28.1, rotationDeg: 0 },
      { raDeg: 0.02, decDeg: -0.4, rotationDeg: 30 },
      { raDeg: 150, decDeg: -42.75, rotationDeg: 0 }, // a ring boundary
      { raDeg: 10, decDeg: 88.9, rotationDeg: 75 },
    ];
    for (const b of pointings) {
      for (const d of placements) {
        const corners = placementFootprint(b, d, 60);
        const all = sky.patchesOverlapping(corners);
        const covering = sky.patchesCovering(corners);
        expect(covering.length).toBeGreaterThan(0);
        expect(covering.length).toBeLessThanOrEqual(all.length);
        checkCovered(all, corners, rnd);
        checkCovered(covering, corners, rnd);
        // no duplicates
        expect(new Set(all.map((p) => `${p.tract}/${p.patch}`)).size).toBe(all.length);
      }
    }
  });

  it('returns few extra patches: each returned patch touches the footprint', () => {
    const b = { raDeg: 53.2, decDeg: -28.1, rotationDeg: 20 };
    const corners = placementFootprint(b, placements[4], 60);
    const patches = sky.patchesOverlapping(corners);
    // a 0.25 deg detector on 2000-px (0.11 deg) patches: 3x3 to 5x5
    expect(patches.length).toBeGreaterThanOrEqual(9);
    expect(patches.length).toBeLessThanOrEqual(25);
    for (const p of patches) {
      // some point of the footprint (dense grid) lies in the patch
      const vs = corners.map(([ra, dec]) => unitVector(ra, dec));
      let hit = false;
      for (let i = 0; i <= 60 && !hit; i++) {
        for (let j = 0; j <= 60 && !hit; j++) {
          const u = i / 60;
          const v = j / 60;
          const w = [(1 - u) * (1 - v), u * (1 - v), u * v, (1 - u) * v];
          const x = vs.reduce((a, q, k) => a + w[k] * q[0], 0);
          const y = vs.reduce((a, q, k) => a + w[k] * q[1], 0);
          const z = vs.reduce((a, q, k) => a + w[k] * q[2], 0);
          hit = inPatch(p, ((Math.atan2(y, x) * 180) / Math.PI + 360) % 360, (Math.atan2(z, Math.hypot(x, y)) * 180) / Math.PI);
        }
      }
      expect(hit).toBe(true);
    }
  });
});
