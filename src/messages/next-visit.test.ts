import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/errors.ts';
import { decodeNextVisit, encodeNextVisit, nextVisitAttributes, parseNextVisit } from './next-visit.ts';

const good = {
  instrument: 'LSSTComCam',
  detector: 4,
  group: '2026112700003',
  snaps: 2,
  filter: 'r_03',
  ra: 150.1,
  dec: -3.2,
  kind: 'SCIENCE',
};

describe('nextVisit', () => {
  it('accepts the prototype fields and round-trips through bytes', () => {
    const v = parseNextVisit(good);
    expect(v).toEqual(good);
    expect(decodeNextVisit(encodeNextVisit(v))).toEqual(v);
    expect(nextVisitAttributes(v)).toEqual({ instrument: 'LSSTComCam', group: '2026112700003', detector: '4' });
  });

  it('accepts a numeric group and ignores unknown fields', () => {
    expect(parseNextVisit({ ...good, group: 2026112700003, extra: 1 }).group).toBe('2026112700003');
  });

  it.each([
    [{ ...good, instrument: 'HSC' }, /instrument must be one of/],
    [{ ...good, detector: 3.5 }, /detector must be an integer/],
    [{ ...good, detector: 9 }, /detector 9 does not exist/],
    [{ ...good, detector: '4' }, /detector/],
    [{ ...good, group: '20261127' }, /group/],
    [{ ...good, snaps: 0 }, /snaps must be ≥ 1/],
    [{ ...good, snaps: 3 }, /snaps 3 exceeds/],
    [{ ...good, filter: 'r' }, /filter 'r' is not a filter/],
    [{ ...good, ra: 360 }, /ra must be in \[0, 360\)/],
    [{ ...good, dec: -91 }, /dec must be in \[-90, 90\]/],
    [{ ...good, kind: 'SKY' }, /kind must be one of SCIENCE, BIAS, DARK, FLAT/],
    [{ ...good, kind: undefined }, /kind is missing/],
    [[], /must be a JSON object/],
  ])('names the bad field: %j', (msg, why) => {
    expect(() => parseNextVisit(msg)).toThrow(InvalidInputError);
    expect(() => parseNextVisit(msg)).toThrow(why);
  });

  it('names every bad field at once', () => {
    expect(() => parseNextVisit({ ...good, ra: 'x', kind: 'SKY' })).toThrow(/ra .*; kind/);
  });

  it('rejects bytes that are not UTF-8 JSON', () => {
    expect(() => decodeNextVisit(new Uint8Array([0xff, 0xfe]))).toThrow(/not UTF-8/);
    expect(() => decodeNextVisit(new TextEncoder().encode('{"instrument":'))).toThrow(/not JSON/);
  });
});
