import { describe, expect, it } from 'vitest';
import { makeTanWcs } from '../astro/index.ts';
import { InvalidInputError } from '../core/errors.ts';
import { MaskBit, makeMaskedImage } from '../core/image.ts';
import { readFits } from '../fits/index.ts';
import { readProcessedExposure, readSourceCatalog, writeProcessedExposure, writeSourceCatalog, type ExposureMetadata } from './outputs.ts';
import { makeSourceCatalog, SOURCE_COLUMNS } from './source-catalog.ts';

const meta: ExposureMetadata = {
  instrument: 'LSSTCam',
  detector: 94,
  detectorName: 'R22_S11',
  group: '2025050100003',
  visit: 2025050100006,
  exposureIds: [2025050100006, 2025050100007],
  kind: 'SCIENCE',
  filter: 'r_57',
  band: 'r',
  exposureTimeS: 30,
  darkTimeS: 30.86,
  mjdObs: 60796.96,
  dateObs: '2025-05-01T23:02:00.000',
  raDeg: 150.1,
  decDeg: -3.2,
  wcs: makeTanWcs({ raDeg: 150.1, decDeg: -3.2, crpix: [2047.5, 2001.5], pixelScaleArcsec: 0.2, rotationDeg: 30 }),
  bunit: 'electron',
  diagnostics: [
    { key: 'PSFFWHM', value: 3.71, comment: '[pix] PSF FWHM' },
    { key: 'PSFMEAS', value: true },
    { key: 'BGMEAN', value: NaN },
    { key: 'MY_LONG_DIAGNOSTIC', value: 'ok' },
  ],
};

describe('outputs', () => {
  it('writes and reads a processed exposure: planes, metadata, WCS, MP_* mask cards, diagnostics', () => {
    const mi = makeMaskedImage(30, 20);
    for (let i = 0; i < mi.image.length; i++) {
      mi.image[i] = i * 0.5 - 7;
      mi.variance[i] = 100 + i;
    }
    mi.mask[3] = MaskBit.SAT | MaskBit.DETECTED;
    mi.mask[599] = MaskBit.NO_DATA | MaskBit.DETECTED_NEGATIVE;
    const bytes = writeProcessedExposure(mi, meta);
    const f = readFits(bytes);
    expect(f.hdus.map((h) => h.name)).toEqual(['PRIMARY', 'IMAGE', 'MASK', 'VARIANCE']);
    expect(f.hdu('IMAGE').bitpix).toBe(-32);
    expect(f.hdu('MASK').bitpix).toBe(32);
    expect(f.hdu('MASK').header.get('MP_SAT')).toBe(1);
    expect(f.hdu('MASK').header.get('MP_DETECTED_NEGATIVE')).toBe(6);
    expect(f.hdu('VARIANCE').header.get('BUNIT')).toBe('electron2');
    const r = readProcessedExposure(bytes);
    expect(Array.from(r.masked.image)).toEqual(Array.from(mi.image));
    expect(Array.from(r.masked.variance)).toEqual(Array.from(mi.variance));
    expect(Array.from(r.masked.mask)).toEqual(Array.from(mi.mask));
    const { diagnostics, wcs, ...rest } = r.metadata;
    const { diagnostics: _d, wcs: w0, ...restIn } = meta;
    expect(rest).toEqual(restIn);
    expect(wcs?.cd[0][1]).toBeCloseTo(w0!.cd[0][1], 15);
    expect(wcs?.crpix).toEqual(w0!.crpix);
    expect(diagnostics).toContainEqual({ key: 'PSFFWHM', value: 3.71, comment: '[pix] PSF FWHM' });
    expect(diagnostics?.find((d) => d.key === 'PSFMEAS')?.value).toBe(true);
    expect(diagnostics?.find((d) => d.key === 'MY_LONG_DIAGNOSTIC')?.value).toBe('ok');
    expect(diagnostics?.find((d) => d.key === 'BGMEAN')).toBeUndefined();
  });

  it('writes and reads a source catalog with units', () => {
    const cat = makeSourceCatalog(3);
    for (let k = 0; k < 3; k++) {
      cat.id[k] = k + 1;
      cat.x[k] = 100.123456789 + k;
      cat.ra[k] = 150.000000123 + k * 1e-4;
      cat.apFlux[k] = 1234.5 * (k + 1);
      cat.flags[k] = k;
    }
    cat.xErr[1] = NaN;
    const bytes = writeSourceCatalog(cat, meta);
    const r = readSourceCatalog(bytes);
    expect(r.catalog.length).toBe(3);
    for (const c of SOURCE_COLUMNS) expect(Array.from(r.catalog[c.name])).toEqual(Array.from(cat[c.name]));
    expect(r.units.x).toBe('pix');
    expect(r.units.ra).toBe('deg');
    expect(r.units.apFlux).toBe('electron');
    expect(r.metadata.visit).toBe(meta.visit);
    const empty = readSourceCatalog(writeSourceCatalog(makeSourceCatalog(0), meta));
    expect(empty.catalog.length).toBe(0);
  });

  it('rejects files that are not processed exposures', () => {
    expect(() => readProcessedExposure(new Uint8Array(100))).toThrow(InvalidInputError);
    const mi = makeMaskedImage(4, 4);
    const cat = writeSourceCatalog(makeSourceCatalog(1), meta);
    expect(() => readProcessedExposure(cat)).toThrow(/HDU IMAGE is missing/);
    expect(() => writeProcessedExposure({ ...mi, mask: new Int32Array(3) }, meta)).toThrow(/do not match/);
  });
});
