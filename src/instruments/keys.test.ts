import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/errors.ts';
import { buildObjectKey, exposureIdFor, groupFor, parseGroup, parseObjectKey } from './keys.ts';

describe('group and exposure ids', () => {
  it('follows the tester: (group // 100000) * 100000 + (group % 100000) * snaps + snap', () => {
    expect(exposureIdFor('2026112700003', 0, 2)).toBe(2026112700006);
    expect(exposureIdFor('2026112700003', 1, 2)).toBe(2026112700007);
    expect(exposureIdFor('2026112700003', 0, 1)).toBe(2026112700003);
  });
  it('builds and parses groups', () => {
    expect(groupFor(20261127, 12)).toBe('2026112700012');
    expect(parseGroup('2026112700012')).toEqual({ dayObs: 20261127, seq: 12 });
    expect(() => parseGroup('2026113100001')).toThrow(/valid date/);
    expect(() => parseGroup('abc')).toThrow(/13 digits/);
  });
  it('refuses a snap outside the visit and an overflowing sequence', () => {
    expect(() => exposureIdFor('2026112700003', 2, 2)).toThrow(/snap 2/);
    expect(() => exposureIdFor('2026112760000', 1, 2)).toThrow(/overflows/);
  });
});

describe('object keys', () => {
  const k = { instrument: 'LSSTComCam' as const, detector: 4, group: '2026112700003', snap: 1, filter: 'r_03' };
  const key = 'LSSTComCam/4/2026112700003/1/LSSTComCam-2026112700003-1-2026112700007-r_03-4.fz';

  it('builds the playbook key', () => {
    expect(buildObjectKey(k)).toBe(key);
  });
  it('parses it back', () => {
    expect(parseObjectKey(key)).toEqual({ ...k, exposureId: 2026112700007 });
  });
  it.each([
    ['', /empty/],
    ['/LSSTComCam/4/2026112700003/1/x.fz', /absolute/],
    ['LSSTComCam/../4/2026112700003/1/x.fz', /'\.' or '\.\.'/],
    ['LSSTComCam//4/2026112700003/1/x.fz', /empty path segment/],
    ['LSSTComCam/4/2026112700003/1', /4 segments, expected 5/],
    ['LSSTComCam/4/2026112700003/1/LSSTComCam-2026112700003-1-2026112700007-r_03-4.fits', /\.fz/],
    ['LSSTComCam/4/2026112700003/1/LSSTComCam-2026112700003-1-2026112700006-r_03-4.fz', /expected 2026112700007/],
    ['LSSTComCam/4/2026112700003/1/LSSTComCam-2026112700003-1-2026112700007-r_03-5.fz', /detector '5' in the file but '4'/],
    ['LSSTComCam/9/2026112700003/1/LSSTComCam-2026112700003-1-2026112700007-r_03-9.fz', /detector 9 does not exist/],
    ['LSSTComCam/4/2026112700003/2/LSSTComCam-2026112700003-2-2026112700008-r_03-4.fz', /snap 2|2 snap/],
    ['HSC/4/2026112700003/1/HSC-2026112700003-1-2026112700007-r-4.fz', /unknown instrument/],
    ['LSSTComCam/x/2026112700003/1/LSSTComCam-2026112700003-1-2026112700007-r_03-x.fz', /not an integer/],
    ['LSSTComCam/4/2026112700003/1/LSSTComCam-2026112700003-1-2026112700007-r 03-4.fz', /filter/],
  ])('rejects %j with a clear error', (bad, why) => {
    expect(() => parseObjectKey(bad)).toThrow(InvalidInputError);
    expect(() => parseObjectKey(bad)).toThrow(why);
  });
});
