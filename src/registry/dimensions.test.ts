import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/errors.ts';
import { datasetId, uuidV5 } from './dataset-id.ts';
import { canonicalDimensions, checkDataId, compareDataIds, dataIdKey } from './dimensions.ts';

describe('dataIdKey', () => {
  it('is canonical: DIMENSIONS order whatever the order given, strings quoted', () => {
    const k = dataIdKey(['visit', 'instrument', 'detector'], { detector: 94, visit: 2026112700001, instrument: 'LSSTCam' });
    expect(k).toBe('instrument="LSSTCam",detector=94,visit=2026112700001');
    expect(dataIdKey(['instrument', 'detector', 'visit'], { visit: 2026112700001, instrument: 'LSSTCam', detector: 94, band: 'r' })).toBe(k);
    expect(dataIdKey(['instrument'], { instrument: 'a,b="c"' })).toBe('instrument="a,b=\\"c\\""');
    expect(dataIdKey([], {})).toBe('');
  });

  it('refuses missing keys and values of the wrong kind', () => {
    expect(() => dataIdKey(['instrument', 'detector'], { instrument: 'LATISS' })).toThrow(/lacks detector/);
    expect(() => dataIdKey(['detector'], { detector: 1.5 })).toThrow(InvalidInputError);
    expect(() => dataIdKey(['detector'], { detector: -1 })).toThrow(/non-negative integer/);
    expect(() => dataIdKey(['group'], { group: '2026112700001' })).not.toThrow();
    expect(() => dataIdKey(['group'], { group: '20261127001' })).toThrow(/13-digit/);
    expect(() => dataIdKey(['day_obs'], { day_obs: 20261340 })).toThrow(/YYYYMMDD/);
    expect(() => dataIdKey(['htm7'], { htm7: 131071 })).toThrow(/level-7/);
    expect(() => dataIdKey(['band'], { band: 'r\n' })).toThrow(/control characters/);
  });
});

describe('data ID checks', () => {
  it('names missing and extra keys', () => {
    expect(() => checkDataId(['instrument', 'detector'], { instrument: 'LATISS', visit: 3 }, 'calexp'))
      .toThrow('data ID {"instrument":"LATISS","visit":3} of calexp does not match its dimensions [instrument, detector]: missing detector; extra visit');
    expect(() => checkDataId(['instrument'], { instrument: 'LATISS', visit: 3 }, 'x', true)).not.toThrow();
    expect(() => canonicalDimensions(['visit', 'instrument'], 'x')).not.toThrow();
    expect(canonicalDimensions(['visit', 'instrument'], 'x')).toEqual(['instrument', 'visit']);
  });

  it('orders data IDs dimension by dimension, numbers numerically', () => {
    const ids = [{ instrument: 'b', detector: 10 }, { instrument: 'a', detector: 2 }, { instrument: 'b', detector: 9 }, { instrument: 'a' }];
    expect([...ids].sort(compareDataIds)).toEqual([{ instrument: 'a' }, { instrument: 'a', detector: 2 }, { instrument: 'b', detector: 9 }, { instrument: 'b', detector: 10 }]);
  });
});

describe('dataset ids', () => {
  it('are RFC 4122 version 5 UUIDs', () => {
    // The RFC's DNS namespace example, as Python's uuid.uuid5 gives it.
    expect(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
    const id = datasetId('raw', 'LATISS/raw/all', 'instrument="LATISS",detector=0,exposure=1');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(datasetId('raw', 'LATISS/raw/all', 'instrument="LATISS",detector=0,exposure=1')).toBe(id);
    expect(datasetId('raw', 'LATISS/raw/al', 'linstrument="LATISS",detector=0,exposure=1')).not.toBe(id);
  });
});
