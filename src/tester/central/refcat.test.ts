import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { htmCoverCircle, htmId } from '../../astro/htm.ts';
import { InvalidInputError } from '../../core/errors.ts';
import { magToNjy, starsInRegion, starsNear } from '../sim/sky-catalog.ts';
import { readRefcatShard, refcatShard, refcatShardStars, REFCAT_EPOCH_MJD } from './refcat.ts';

describe('reference catalog shards', () => {
  const shardId = htmId(53.2, -28.1, 7);

  it('are deterministic and read back with every column', () => {
    const bytes = refcatShard(shardId, { catalogSeed: 1 });
    const s = readRefcatShard(bytes);
    expect(Buffer.from(refcatShard(shardId, { catalogSeed: 1 })).equals(bytes)).toBe(true);
    expect(s.htm7).toBe(shardId);
    expect(s.count).toBeGreaterThan(1000);
    const stars = refcatShardStars(shardId, { catalogSeed: 1 });
    expect(s.count).toBe(stars.count);
    for (const i of [0, Math.floor(s.count / 2), s.count - 1]) {
      expect(s.ids[i]).toBe(stars.ids[i]);
      expect(s.ra[i]).toBe(stars.ra[i]);
      expect(s.dec[i]).toBe(stars.dec[i]);
      expect(s.flux.r[i]).toBeCloseTo(magToNjy(stars.mags.r[i]), 6);
      expect(s.fluxErr.r[i]).toBeGreaterThan(0);
      expect(s.fluxErr.r[i]).toBeLessThan(s.flux.r[i]);
      expect(s.mag.g[i]).toBe(stars.mags.g[i]);
      expect(s.pmRa[i]).toBe(0);
      expect(s.epochMjd[i]).toBe(REFCAT_EPOCH_MJD);
      expect(htmId(s.ra[i], s.dec[i], 7)).toBe(shardId);
    }
    // a magnitude cut
    const bright = refcatShardStars(shardId, { catalogSeed: 1, maxMag: 20, band: 'i' });
    expect(bright.count).toBeLessThan(stars.count / 5);
    expect(Math.max(...bright.mags.i)).toBeLessThan(20);
  });

  it('partition the catalog: the union of the shards over a region is starsInRegion, without duplicates', () => {
    const region = { raMinDeg: 52.9, raMaxDeg: 53.7, decMinDeg: -28.5, decMaxDeg: -27.8 };
    const shards = htmCoverCircle(53.3, -28.15, 0.6, 7);
    expect(shards.length).toBeGreaterThan(3);
    const seen = new Set<number>();
    let inRegion = 0;
    for (const id of shards) {
      const s = readRefcatShard(refcatShard(id, { catalogSeed: 7 }));
      for (let i = 0; i < s.count; i++) {
        if (seen.has(s.ids[i])) throw new Error(`star ${s.ids[i]} is in two shards`);
        seen.add(s.ids[i]);
        if (s.ra[i] >= region.raMinDeg && s.ra[i] <= region.raMaxDeg && s.dec[i] >= region.decMinDeg && s.dec[i] <= region.decMaxDeg) inRegion++;
      }
    }
    const truth = starsInRegion(7, region);
    expect(inRegion).toBe(truth.count);
    for (let i = 0; i < truth.count; i++) expect(seen.has(truth.ids[i])).toBe(true);
  });

  it('shards across RA 0 and at the pole partition too', () => {
    for (const [ra, dec] of [[0.05, 0.3], [45, -89.9]]) {
      const shards = htmCoverCircle(ra, dec, 0.15, 7);
      const ids = new Set<number>();
      let total = 0;
      for (const id of shards) {
        const st = refcatShardStars(id, { catalogSeed: 2, maxMag: 21 });
        total += st.count;
        for (let i = 0; i < st.count; i++) ids.add(st.ids[i]);
      }
      expect(ids.size).toBe(total);
      const near = starsNear(2, ra, dec, 0.15, { maxMag: 21 });
      expect(near.count).toBeGreaterThan(10);
      for (let i = 0; i < near.count; i++) expect(ids.has(near.ids[i])).toBe(true);
    }
  });

  it('refuses ids that are not htm7 and files that are not shards', () => {
    expect(() => refcatShard(12345, { catalogSeed: 1 })).toThrow(InvalidInputError);
    expect(() => readRefcatShard(new Uint8Array(10))).toThrow(/not a readable FITS/);
  });
});
