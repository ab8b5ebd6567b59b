import { describe, expect, it } from 'vitest';
import { htmId } from '../../astro/htm.ts';
import { makeSkymap } from '../../astro/skymap.ts';
import { skyToPixel } from '../../astro/index.ts';
import { unitVector } from '../../astro/sphere.ts';
import { getInstrument } from '../../instruments/index.ts';
import { planNight } from '../plan.ts';
import { buildCentralItem, centralItemName, centralItems } from './build.ts';
import { centralRepoContent } from './plan.ts';
import { readProcessedExposure } from '../../pipeline/outputs.ts';
import { readRefcatShard } from './refcat.ts';

/** Points spread over a convex quadrilateral (corners, edges and inside). */
function samples(corners: Array<[number, number]>, n = 24): Array<[number, number]> {
  const vs = corners.map(([ra, dec]) => unitVector(ra, dec));
  const out: Array<[number, number]> = [];
  for (let i = 0; i <= n; i++) {
    for (let j = 0; j <= n; j++) {
      const u = i / n;
      const v = j / n;
      const w = [(1 - u) * (1 - v), u * (1 - v), u * v, (1 - u) * v];
      const x = vs.reduce((a, q, k) => a + w[k] * q[0], 0);
      const y = vs.reduce((a, q, k) => a + w[k] * q[1], 0);
      const z = vs.reduce((a, q, k) => a + w[k] * q[2], 0);
      out.push([((Math.atan2(y, x) * 180) / Math.PI + 360) % 360, (Math.atan2(z, Math.hypot(x, y)) * 180) / Math.PI]);
    }
  }
  return out;
}

describe('centralRepoContent', () => {
  const inst = getInstrument('LSSTComCam');

  it("uses the tester's planNight pointings and lists masters per detector and filter", () => {
    const c = centralRepoContent(inst, { seed: 42, groups: 2 });
    const visits = planNight({ instrument: inst, groups: 2, seed: 42, dayObs: 20250501, firstSeq: 1, exposureTimeS: 18, kind: 'SCIENCE' });
    expect(c.visits).toEqual(visits);
    // other dayObs / exposure time: same pointings
    const other = centralRepoContent(inst, { seed: 42, groups: 2, dayObs: 20260101, exposureTimeS: 30 });
    expect(other.visits.map((v) => [v.raDeg, v.decDeg, v.filter])).toEqual(visits.map((v) => [v.raDeg, v.decDeg, v.filter]));
    expect(other.templates).toEqual(c.templates);
    expect(c.detectors).toHaveLength(9);
    expect(c.masters).toHaveLength(27);
    expect(c.masters.slice(0, 3).map((m) => [m.kind, m.detector, m.filter])).toEqual([
      ['bias', 0, null],
      ['dark', 0, null],
      ['flat', 0, visits[0].filter],
    ]);
    expect(centralRepoContent(inst, { seed: 42, groups: 2 })).toEqual(c);
    console.log(`LSSTComCam, 2 groups: ${c.masters.length} masters, ${c.templates.length} template patches, ${c.refcatShards.length} refcat shards`);
    expect(c.templates.length).toBeGreaterThan(20);
    expect(c.templates.length).toBeLessThan(150);
    expect(c.refcatShards.length).toBeGreaterThan(1);
    expect(c.refcatShards.length).toBeLessThan(30);
  });

  it('covers every padded detector footprint with template patches and refcat shards', () => {
    const c = centralRepoContent(inst, { seed: 7, groups: 3, detectors: [0, 4, 8] });
    const sky = makeSkymap(c.skymap);
    const patches = c.templates.map((t) => sky.patchInfo(t.tract, t.patch));
    const shards = new Set(c.refcatShards);
    expect(c.perDetector).toHaveLength(9);
    for (const need of c.perDetector) {
      for (const [ra, dec] of samples(need.footprint)) {
        const inSome = patches.some((p) => {
          const px = skyToPixel(p.wcs, ra, dec);
          return px[0] >= -0.5 && px[0] <= p.width - 0.5 && px[1] >= -0.5 && px[1] <= p.height - 0.5;
        });
        expect(inSome).toBe(true);
        expect(shards.has(htmId(ra, dec, 7))).toBe(true);
      }
    }
  });

  it('builds each item into a readable file', () => {
    const c = centralRepoContent(inst, { seed: 3, groups: 1, detectors: [4] });
    const items = centralItems(c);
    expect(items.length).toBe(c.masters.length + c.templates.length + c.refcatShards.length);
    expect(new Set(items.map(centralItemName)).size).toBe(items.length);
    const template = items.find((i) => i.type === 'template')!;
    const t = readProcessedExposure(buildCentralItem(template, c, { seed: 3, catalogSeed: 1 }));
    expect(t.metadata.bunit).toBe('nJy');
    const shard = items.find((i) => i.type === 'refcat')!;
    expect(readRefcatShard(buildCentralItem(shard, c, { seed: 3, catalogSeed: 1 })).count).toBeGreaterThan(100);
  });

  it('refuses unknown detectors and bad group counts', () => {
    expect(() => centralRepoContent(inst, { seed: 1, groups: 1, detectors: [99] })).toThrow(/detector 99/);
    expect(() => centralRepoContent(inst, { seed: 1, groups: -1 })).toThrow(/groups/);
  });
});
