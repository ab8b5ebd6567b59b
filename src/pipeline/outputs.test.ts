import { describe, expect, it } from 'vitest';
import { makeTanWcs } from '../astro/index.ts';
import { InvalidInputError } from '../core/errors.ts';
import { MaskBit, makeMaskedImage } from '../core/image.ts';
import { readFits, writeFits } from '../fits/index.ts';
import {
  allocateExposurePlanes,
  maskPlaneCards,
  metadataCards,
  readMasterCalibration,
  readProcessedExposure,
  readSourceCatalog,
  reuseOutputBuffers,
  writeProcessedExposure,
  writeProcessedExposureInPlace,
  writeSourceCatalog,
  type ExposureMetadata,
} from './outputs.ts';
import { expandMaster } from './stages/calibrate-signature/calibrate-signature.ts';
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

  it('writes the file over planes laid out for it, with the bytes of a copy; other planes are copied and left as they are', () => {
    const W = 37;
    const H = 23;
    const fill = (mi: { image: Float32Array; variance: Float32Array; mask: Int32Array }) => {
      for (let i = 0; i < W * H; i++) {
        mi.image[i] = Math.sin(i) * 1000;
        mi.variance[i] = 50 + (i % 7);
        mi.mask[i] = i % 13 === 0 ? MaskBit.DETECTED : 0;
      }
    };
    const plain = makeMaskedImage(W, H);
    fill(plain);
    const expected = writeProcessedExposure(plain, meta);
    const planes = allocateExposurePlanes(W, H);
    const laidOut = { width: W, height: H, ...planes, mask: new Int32Array(W * H) };
    fill(laidOut);
    const inPlace = writeProcessedExposureInPlace(laidOut, meta);
    expect(inPlace.buffer).toBe(planes.image.buffer);
    expect(inPlace).toEqual(expected);
    const copy = makeMaskedImage(W, H);
    fill(copy);
    const copied = writeProcessedExposureInPlace(copy, meta);
    expect(copied.buffer).not.toBe(copy.image.buffer);
    expect(copied).toEqual(expected);
    expect(copy.image).toEqual(plain.image);
    const back = readProcessedExposure(inPlace);
    expect(back.masked.image).toEqual(plain.image);
    expect(back.masked.mask).toEqual(plain.mask);
    // Decoded into the planes of an earlier read: the same values.
    const other = makeMaskedImage(W, H);
    const again = readProcessedExposure(expected, 'again', other);
    expect(again.masked.image).toBe(other.image);
    expect(again.masked.mask).toBe(other.mask);
    expect(again.masked.variance).toEqual(plain.variance);
    expect(again.masked.mask).toEqual(plain.mask);
  });

  it('lays planes out in the memory of files handed back, cleared (or not, when asked), and makes the same file there', () => {
    const W = 41;
    const H = 19;
    const make = (planes: { image: Float32Array; variance: Float32Array }) => {
      const m = { width: W, height: H, ...planes, mask: new Int32Array(W * H) };
      for (let i = 0; i < W * H; i++) {
        m.image[i] = Math.cos(i) * 300;
        m.variance[i] = 20 + (i % 5);
        m.mask[i] = i % 11 === 0 ? MaskBit.SAT : 0;
      }
      return writeProcessedExposureInPlace(m, meta);
    };
    const first = make(allocateExposurePlanes(W, H));
    const expected = first.slice();
    reuseOutputBuffers([first.buffer, first.buffer]);
    const reused = allocateExposurePlanes(W, H);
    expect(reused.image.buffer).toBe(first.buffer);
    expect(reused.image.every((v) => v === 0) && reused.variance.every((v) => v === 0)).toBe(true);
    // Taken: the next planes are new ones, as are planes of another size.
    expect(allocateExposurePlanes(W, H).image.buffer).not.toBe(first.buffer);
    const again = make(reused);
    expect(again.buffer).toBe(first.buffer);
    expect(again).toEqual(expected);
    reuseOutputBuffers([again.buffer]);
    expect(allocateExposurePlanes(W + 1, H).image.buffer).not.toBe(again.buffer);
    const uncleared = allocateExposurePlanes(W, H, { clear: false });
    expect(uncleared.image.buffer).toBe(again.buffer);
    expect(uncleared.image.some((v) => v !== 0)).toBe(true);
  });

  it('reads a row range of a processed exposure: those rows as a full read gives them, the others left as they were', () => {
    const W = 45;
    const H = 31;
    const n = W * H;
    const image = Int32Array.from({ length: n }, (_, i) => ((i * 7919) % 20_001) - 10_000);
    const variance = Int32Array.from({ length: n }, (_, i) => 5_000 + ((i * 104729) % 3_000));
    const mask = Int32Array.from({ length: n }, (_, i) => (i % 17 === 0 ? 1 << 3 : i % 23 === 0 ? 1 << 0 : 0));
    // The file's mask bits differ from ours (BAD and CR swapped): they are remapped.
    const mp = maskPlaneCards().map((c) => (c.key === 'MP_BAD' ? { ...c, value: 3 } : c.key === 'MP_CR' ? { ...c, value: 0 } : c));
    const compressed = (width: number, height: number) => ({ type: 'RICE_1' as const, tileWidth: width, tileHeight: height });
    for (const [tw, th] of [
      [W, 1],
      [16, 4],
    ]) {
      const bytes = writeFits({ header: metadataCards(meta) }, [
        { extname: 'IMAGE', width: W, height: H, data: image, bscale: 0.37, bzero: 0, compression: compressed(tw, th) },
        { extname: 'MASK', header: mp, width: W, height: H, data: mask, compression: compressed(tw, th) },
        { extname: 'VARIANCE', width: W, height: H, data: variance, bscale: 0.011, bzero: 0, compression: compressed(tw, th) },
      ]);
      const full = readProcessedExposure(bytes).masked;
      expect(full.mask[17]).toBe(MaskBit.BAD);
      expect(full.mask[23]).toBe(MaskBit.CR);
      for (const [y0, y1] of [
        [0, H],
        [3, 9],
        [H - 1, H],
        [10, 10],
      ]) {
        const into = makeMaskedImage(W, H);
        into.image.fill(-1);
        into.variance.fill(-2);
        into.mask.fill(-3);
        const got = readProcessedExposure(bytes, 'rows', into, { y0, y1 }).masked;
        expect(got.image).toBe(into.image);
        expect(got.mask).toBe(into.mask);
        expect(got.variance).toBe(into.variance);
        const expected = makeMaskedImage(W, H);
        expected.image.fill(-1);
        expected.variance.fill(-2);
        expected.mask.fill(-3);
        for (const p of ['image', 'variance', 'mask'] as const) expected[p].set(full[p].subarray(y0 * W, y1 * W), y0 * W);
        expect(got.image).toEqual(expected.image);
        expect(got.variance).toEqual(expected.variance);
        expect(got.mask).toEqual(expected.mask);
        // New planes when none are given.
        const fresh = readProcessedExposure(bytes, 'rows', null, { y0, y1 }).masked;
        expect(fresh.image.subarray(y0 * W, y1 * W)).toEqual(full.image.subarray(y0 * W, y1 * W));
        expect(fresh.mask.subarray(y0 * W, y1 * W)).toEqual(full.mask.subarray(y0 * W, y1 * W));
      }
      expect(() => readProcessedExposure(bytes, 'rows', null, { y0: 5, y1: H + 1 })).toThrow(InvalidInputError);
    }
  });

  it('reads a master calibration compactly, to the values of a full read', () => {
    const W = 64;
    const H = 20;
    const n = W * H;
    const rice = { type: 'RICE_1' as const, tileWidth: W, tileHeight: 1 };
    const image = Int32Array.from({ length: n }, (_, i) => 9_000 + ((i * 37) % 2_000)); // fits 16 bits
    const variance = Int32Array.from({ length: n }, (_, i) => 100_000 + i * 1_000); // does not: Float32
    const mask = new Int32Array(n);
    mask[3] = MaskBit.BAD;
    mask[700] = MaskBit.SAT;
    const bytes = writeFits({ header: metadataCards({ ...meta, kind: 'FLAT' }) }, [
      { extname: 'IMAGE', width: W, height: H, data: image, bscale: 0.0001, bzero: 0.5, compression: rice },
      { extname: 'MASK', header: maskPlaneCards(), width: W, height: H, data: mask, compression: rice },
      { extname: 'VARIANCE', width: W, height: H, data: variance, bscale: 1e-7, bzero: 0, compression: rice },
    ]);
    const full = readProcessedExposure(bytes).masked;
    for (const scratch of [null, new Int32Array(n)]) {
      const { master } = readMasterCalibration(bytes, 'flat', scratch);
      expect(master.image).not.toBeInstanceOf(Float32Array);
      expect(master.variance).toBeInstanceOf(Float32Array);
      expect(master.mask).not.toBeInstanceOf(Int32Array);
      const expanded = expandMaster(master);
      expect(expanded.image).toEqual(full.image);
      expect(expanded.variance).toEqual(full.variance);
      expect(expanded.mask).toEqual(full.mask);
    }
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
