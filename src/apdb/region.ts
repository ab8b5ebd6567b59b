/**
 * The APDB's spatial index, as dax_apdb's SQL backend keeps it: `pixelId` is the HTM level-20
 * index of (ra, dec), and a region is read as at most 64 ranges of pixelId. The ranges come from
 * the finest HTM cover with at most 64 ranges, refined one level further with the closest ranges
 * merged (sphgeom's envelope with maxRanges does the same kind of coarsening); they always contain
 * every trixel the region touches, so rows must still be tested against the polygon itself.
 *
 * Writers lock the coarser level-8 trixels (~20 arcmin) of their region: two regions that share a
 * point share at least one of them.
 */
import { InvalidInputError } from '../core/errors.ts';
import { convexPolygon, polygonContains, type ConvexPolygon } from '../astro/spherical-polygon.ts';
import { unitVector } from '../astro/sphere.ts';
import { htmCoverPolygonRanges, htmId, type HtmRange } from '../astro/htm.ts';
import type { ApdbRegion } from './types.ts';

export const APDB_HTM_LEVEL = 20;
export const APDB_HTM_MAX_RANGES = 64;
export const APDB_LOCK_HTM_LEVEL = 8;

/** The region as a convex polygon; InvalidInputError naming what is wrong with it. */
export function regionPolygon(region: ApdbRegion): ConvexPolygon {
  if (!region || !Array.isArray(region.vertices)) throw new InvalidInputError('APDB region must have vertices: [[ra, dec], …]');
  return convexPolygon(region.vertices, 'APDB region');
}

/** HTM level-20 index of a position: the pixelId the APDB stores. */
export function pixelIdOf(raDeg: number, decDeg: number): number {
  return htmId(raDeg, decDeg, APDB_HTM_LEVEL);
}

/** Merges the closest neighbouring ranges until at most `max` remain. */
export function mergeRanges(ranges: readonly HtmRange[], max: number): HtmRange[] {
  if (ranges.length <= max) return ranges.map(([a, b]) => [a, b] as const);
  // Keep the max − 1 widest gaps; every other gap is filled.
  const gaps = ranges.slice(1).map((r, i) => ({ i, width: r[0] - ranges[i][1] }));
  gaps.sort((x, y) => y.width - x.width || x.i - y.i);
  const kept = new Set(gaps.slice(0, max - 1).map((g) => g.i));
  const out: Array<[number, number]> = [[ranges[0][0], ranges[0][1]]];
  for (let i = 1; i < ranges.length; i++) {
    if (kept.has(i - 1)) out.push([ranges[i][0], ranges[i][1]]);
    else out[out.length - 1][1] = ranges[i][1];
  }
  return out;
}

/** The covers of the regions used last, least recently used first. */
const COVER_CACHE_SIZE = 256;
const coverCache = new Map<string, HtmRange[]>();

/**
 * Half-open level-`level` index ranges covering the region, at most `maxRanges` of them: at the
 * first level whose cover has more than `maxRanges` ranges, the smaller of that cover with its
 * closest ranges merged and the previous level's cover, scaled to `level` (or the cover at
 * `level` itself when that needs no more).
 */
export function regionRanges(region: ApdbRegion, level = APDB_HTM_LEVEL, maxRanges = APDB_HTM_MAX_RANGES): HtmRange[] {
  regionPolygon(region);
  if (!Number.isInteger(maxRanges) || maxRanges < 1) throw new InvalidInputError(`maxRanges must be a positive integer, got ${maxRanges}`);
  // A cover takes milliseconds, and a region is read more than once (its history, then its store).
  const key = `${level}:${maxRanges}:${region.vertices.map(([ra, dec]) => `${ra},${dec}`).join(';')}`;
  let ranges = coverCache.get(key);
  if (ranges) {
    coverCache.delete(key);
  } else {
    ranges = coverRanges(region, level, maxRanges);
    if (coverCache.size >= COVER_CACHE_SIZE) coverCache.delete(coverCache.keys().next().value!);
  }
  coverCache.set(key, ranges);
  return ranges.slice();
}

function coverRanges(region: ApdbRegion, level: number, maxRanges: number): HtmRange[] {
  let prev: HtmRange[] = [];
  for (let l = 0; l <= level; l++) {
    const r = htmCoverPolygonRanges(region.vertices, l);
    if (r.length > maxRanges) {
      const merged = scale(mergeRanges(r, maxRanges), l, level);
      const coarser = scale(prev, l - 1, level);
      return l > 0 && size(coarser) <= size(merged) ? coarser : merged;
    }
    prev = r;
  }
  return prev;
}

function size(ranges: readonly HtmRange[]): number {
  return ranges.reduce((n, [a, b]) => n + (b - a), 0);
}

function scale(ranges: readonly HtmRange[], from: number, to: number): HtmRange[] {
  const f = 4 ** (to - from);
  return ranges.map(([a, b]) => [a * f, b * f] as const);
}

/** Level-8 trixels touching the region, ascending: the locks a writer of the region takes. */
export function lockTrixels(region: ApdbRegion, level = APDB_LOCK_HTM_LEVEL): number[] {
  const ids: number[] = [];
  for (const [a, b] of htmCoverPolygonRanges(region.vertices, level)) for (let i = a; i < b; i++) ids.push(i);
  return ids;
}

/** Whether (ra, dec) lies inside the polygon (edges included). */
export function polygonHas(poly: ConvexPolygon, raDeg: number, decDeg: number): boolean {
  return Number.isFinite(raDeg) && Number.isFinite(decDeg) && polygonContains(poly, unitVector(raDeg, decDeg));
}
