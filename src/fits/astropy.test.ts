/**
 * astropy as an oracle: files written by astropy.io.fits are read by us with the same values, and
 * files we write are read by astropy with the values we put in.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFits, writeFits } from './index.ts';
import type { FitsFile, ImageHduInput, TableHduInput } from './index.ts';
import { hasAstropy, makeRandom, makeTempDir, runPython, skipNotice } from './oracle-helpers.ts';

const haveAstropy = hasAstropy();
if (!haveAstropy) skipNotice('astropy oracle tests', 'python3 cannot import astropy.io.fits (install python3-astropy)');

/** Writes astropy files into argv[1] and expected values: <name>.bin (little-endian float64) and expected.json. */
const WRITE_SCRIPT = String.raw`
import sys, json
import numpy as np
from astropy.io import fits
d = sys.argv[1]
rng = np.random.default_rng(12345)
exp = {}

def save(name, arr):
    np.asarray(arr, dtype='<f8').ravel().tofile(f'{d}/{name}.bin')

u16 = rng.integers(0, 65536, size=(40, 50)).astype(np.uint16)
hdr = fits.Header()
hdr['OBSERVER'] = "O'Brien"
hdr['EXPTIME'] = (30.25, 'exposure [s]')
hdr['LONGSTR'] = 'This value is long enough to need the CONTINUE convention, ' * 3
hdr['HIERARCH ESO DET CHIP ID'] = 'ccd-07'
hdr['TINY'] = -2.7078566e-07
hdr['BIGINT'] = 2**62
hdr['COMMENT'] = 'a comment card'
hdr['HISTORY'] = 'a history card'
fits.PrimaryHDU(u16, header=hdr).writeto(f'{d}/u16.fits')
save('u16', u16)
exp['header'] = {'OBSERVER': hdr['OBSERVER'], 'EXPTIME': hdr['EXPTIME'], 'LONGSTR': hdr['LONGSTR'],
                 'ESO DET CHIP ID': hdr['ESO DET CHIP ID'], 'TINY': hdr['TINY']}

f32 = rng.normal(100, 10, size=(30, 20)).astype(np.float32); f32[3, 4] = np.nan
f64 = rng.normal(0, 1e-3, size=(30, 20)); f64[0, 0] = np.nan
u8 = rng.integers(0, 256, size=(30, 20)).astype(np.uint8)
i32 = rng.normal(20000, 7, size=(64, 48)).round().astype(np.int32)
i64 = (np.arange(600, dtype=np.int64).reshape(30, 20) * 123456789)
i16 = rng.normal(0, 1000, size=(30, 20)).round().astype(np.int16)
scaled = rng.integers(-1000, 1000, size=(30, 20)).astype(np.int16); scaled[1, 1] = -32768
sh = fits.Header(); sh['BLANK'] = -32768
sc = fits.ImageHDU(scaled, header=sh, name='SCALED', do_not_scale_image_data=True)
sc.header['BSCALE'] = 0.1
sc.header['BZERO'] = 5.0
hdus = [fits.PrimaryHDU(),
        fits.ImageHDU(f32, name='F32'), fits.ImageHDU(f64, name='F64'), fits.ImageHDU(u8, name='U8'),
        fits.ImageHDU(i64, name='I64'), fits.ImageHDU(i16, name='I16'), sc]
fits.HDUList(hdus).writeto(f'{d}/images.fits')
for n, a in [('f32', f32), ('f64', f64), ('u8', u8), ('i64', i64), ('i16', i16)]: save(n, a)
with fits.open(f'{d}/images.fits') as f:
    save('scaled', f['SCALED'].data)

ci32 = fits.CompImageHDU(i32, compression_type='RICE_1', name='RICE32')
ci16 = fits.CompImageHDU(i16, compression_type='RICE_1', name='RICE16')
cu16 = fits.CompImageHDU(u16, compression_type='RICE_1', name='RICEU16')
fq1 = fits.CompImageHDU(f32, compression_type='RICE_1', name='FQ1', quantize_level=16.0, quantize_method=1, dither_seed=42)
fq2 = fits.CompImageHDU(f32, compression_type='RICE_1', name='FQ2', quantize_level=16.0, quantize_method=2, dither_seed=9999)
gz = fits.CompImageHDU(i32, compression_type='GZIP_1', name='GZ32')
gz2 = fits.CompImageHDU(i16, compression_type='GZIP_2', name='GZ16')
fits.HDUList([fits.PrimaryHDU(), ci32, ci16, cu16, fq1, fq2, gz, gz2]).writeto(f'{d}/comp.fits')
save('i32', i32)
with fits.open(f'{d}/comp.fits') as f:
    save('fq1', f['FQ1'].data)
    save('fq2', f['FQ2'].data)

cols = [
    fits.Column(name='ID', format='J', array=np.array([1, 2, 3], dtype=np.int32)),
    fits.Column(name='FLAG', format='L', array=np.array([True, False, True])),
    fits.Column(name='MAG', format='E', unit='mag', array=np.array([20.5, np.nan, 21.25], dtype=np.float32)),
    fits.Column(name='RA', format='D', unit='deg', array=np.array([10.1, 10.2, 10.3])),
    fits.Column(name='NAME', format='10A', array=np.array(['star', 'galaxy', ''])),
    fits.Column(name='U16', format='I', bzero=32768, array=np.array([0, 40000, 65535], dtype=np.uint16)),
    fits.Column(name='BIG', format='K', array=np.array([1, -1, 2**50], dtype=np.int64)),
    fits.Column(name='VEC', format='3E', array=np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=np.float32)),
    fits.Column(name='VLJ', format='PJ()', array=np.array([np.array([1, 2, 3]), np.array([4]), np.array([], dtype=np.int32)], dtype=object)),
    fits.Column(name='VLD', format='QD()', array=np.array([np.array([1.5]), np.array([2.5, 3.5]), np.array([4.5, 5.5, 6.5])], dtype=object)),
]
acols = [
    fits.Column(name='N', format='I5', array=np.array([1, -22, 333])),
    fits.Column(name='X', format='F8.3', array=np.array([1.5, -2.25, 100.125])),
    fits.Column(name='Y', format='E12.5', array=np.array([1e-5, 2.5e10, -3.0])),
    fits.Column(name='Z', format='D20.10', array=np.array([0.1, 0.2, 0.3])),
    fits.Column(name='S', format='A6', array=np.array(['ab', 'cdef', ''])),
]
fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols, name='CAT'),
              fits.TableHDU.from_columns(acols, name='ASCII')]).writeto(f'{d}/table.fits')
json.dump(exp, open(f'{d}/expected.json', 'w'))
`;

/** Reads a file written by us and prints a JSON summary of what astropy sees. */
const READ_SCRIPT = String.raw`
import sys, json
import numpy as np
from astropy.io import fits
out = []
with fits.open(sys.argv[1]) as f:
    f.verify('exception')
    for h in f:
        item = {'name': h.name, 'kind': type(h).__name__}
        if h.is_image and h.data is not None:
            a = np.asarray(h.data)
            item['dtype'] = str(a.dtype.newbyteorder('=')) if a.dtype.byteorder not in '=|' else str(a.dtype)
            item['shape'] = list(a.shape)
            item['values'] = [None if np.isnan(x) else float(x) for x in a.ravel()[:50].astype(float)]
            item['sum'] = float(np.nansum(a.astype(np.float64)))
        elif isinstance(h, fits.BinTableHDU):
            item['columns'] = {c.name: [v.item() if hasattr(v, 'item') else v for v in h.data[c.name]] for c in h.columns}
        item['header'] = {k: (v if isinstance(v, (str, int, float, bool)) else str(v)) for k, v in h.header.items() if k not in ('COMMENT', 'HISTORY', '')}
        out.append(item)
print(json.dumps(out))
`;

function loadBin(dir: string, name: string): Float64Array {
  return new Float64Array(new Uint8Array(readFileSync(path.join(dir, `${name}.bin`))).buffer);
}

function expectValues(actual: ArrayLike<number>, expected: Float64Array, label: string): void {
  expect(actual.length, label).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e)) expect(a, `${label}[${i}]`).toBeNaN();
    else if (a !== e) expect(Math.abs(a - e) / Math.max(Math.abs(e), 1e-30), `${label}[${i}] ${a} vs ${e}`).toBeLessThan(1e-6);
  }
}

describe.skipIf(!haveAstropy)('files written by astropy', () => {
  let tmp: { dir: string; cleanup: () => void };
  let expected: { header: Record<string, string | number> };
  let images: FitsFile;
  let comp: FitsFile;
  beforeAll(() => {
    tmp = makeTempDir('fits-astropy-');
    runPython(WRITE_SCRIPT, [tmp.dir]);
    expected = JSON.parse(readFileSync(path.join(tmp.dir, 'expected.json'), 'utf8')) as typeof expected;
    images = readFits(readFileSync(path.join(tmp.dir, 'images.fits')));
    comp = readFits(readFileSync(path.join(tmp.dir, 'comp.fits')));
  });
  afterAll(() => tmp?.cleanup());

  it('uint16 primary (BITPIX 16, BZERO 32768) with long strings, HIERARCH, bigints', () => {
    const f = readFits(readFileSync(path.join(tmp.dir, 'u16.fits')));
    const h = f.hdus[0];
    expect(h.bitpix).toBe(16);
    expect(h.shape).toEqual([50, 40]);
    const px = h.pixels();
    expect(px).toBeInstanceOf(Uint16Array);
    expectValues(px, loadBin(tmp.dir, 'u16'), 'u16');
    for (const [k, v] of Object.entries(expected.header)) expect(h.header.get(k), k).toBe(v);
    expect(h.header.get('BIGINT')).toBe(2n ** 62n);
    expect(h.header.getAll('COMMENT')).toContain('a comment card');
    expect(h.header.getComment('EXPTIME')).toBe('exposure [s]');
  });

  it('float32/float64 with NaN, uint8, int64, int16', () => {
    for (const [name, type] of [
      ['F32', Float32Array],
      ['F64', Float64Array],
      ['U8', Uint8Array],
      ['I64', Float64Array],
      ['I16', Int16Array],
    ] as const) {
      const h = images.hdu(name);
      expect(h.shape).toEqual([20, 30]);
      expect(h.pixels(), name).toBeInstanceOf(type);
      expectValues(h.pixels(), loadBin(tmp.dir, name.toLowerCase()), name);
    }
    expect(images.hdu('I64').storedBigInts()[599]).toBe(599n * 123456789n);
  });

  it('scaled int16 with BSCALE/BZERO/BLANK gives astropy physical values and NaN for BLANK', () => {
    const h = images.hdu('SCALED');
    const px = h.pixels();
    expect(px).toBeInstanceOf(Float32Array);
    expectValues(px, loadBin(tmp.dir, 'scaled'), 'scaled');
    expect(px[1 * 20 + 1]).toBeNaN();
  });

  it('CompImageHDU RICE_1 int32/int16/uint16 and GZIP_1/GZIP_2 decode exactly', () => {
    const i32 = loadBin(tmp.dir, 'i32');
    for (const name of ['RICE32', 'GZ32']) {
      const h = comp.hdu(name);
      expect(h.type).toBe('compressed-image');
      expect(h.shape).toEqual([48, 64]);
      expect(h.pixels()).toBeInstanceOf(Int32Array);
      expectValues(h.pixels(), i32, name);
    }
    expect(comp.hdu('RICE32').compression).toBe('RICE_1');
    expect(comp.hdu('GZ32').compression).toBe('GZIP_1');
    expect(comp.hdu('GZ16').compression).toBe('GZIP_2');
    expectValues(comp.hdu('RICE16').pixels(), loadBin(tmp.dir, 'i16'), 'RICE16');
    expectValues(comp.hdu('GZ16').pixels(), loadBin(tmp.dir, 'i16'), 'GZ16');
    expect(comp.hdu('RICEU16').pixels()).toBeInstanceOf(Uint16Array);
    expectValues(comp.hdu('RICEU16').pixels(), loadBin(tmp.dir, 'u16'), 'RICEU16');
    expect(comp.hdu('RICE32').header.get('XTENSION')).toBe('IMAGE');
    expect(comp.hdu('RICE32').header.get('NAXIS1')).toBe(48);
  });

  it('quantized float CompImageHDUs (SUBTRACTIVE_DITHER_1 and _2) agree with astropy within 1e-6', () => {
    const q1 = comp.hdu('FQ1');
    expect(q1.compression).toBe('RICE_1 SUBTRACTIVE_DITHER_1');
    expect(q1.rawHeader.get('ZDITHER0')).toBe(42);
    expectValues(q1.pixels(), loadBin(tmp.dir, 'fq1'), 'FQ1');
    expect(q1.pixels()[3 * 20 + 4]).toBeNaN();
    const q2 = comp.hdu('FQ2');
    expect(q2.compression).toBe('RICE_1 SUBTRACTIVE_DITHER_2');
    expectValues(q2.pixels(), loadBin(tmp.dir, 'fq2'), 'FQ2');
  });

  it('BINTABLE: scalars, strings, logicals, unsigned, vectors and P/Q variable-length arrays', () => {
    const f = readFits(readFileSync(path.join(tmp.dir, 'table.fits')));
    const t = f.hdu('CAT').table();
    expect(t.nrows).toBe(3);
    expect(Array.from(t.column('ID') as Int32Array)).toEqual([1, 2, 3]);
    expect(t.column('FLAG')).toEqual([true, false, true]);
    const mag = t.column('MAG') as Float32Array;
    expect(mag[0]).toBe(20.5);
    expect(mag[1]).toBeNaN();
    expect(Array.from(t.column('RA') as Float64Array)).toEqual([10.1, 10.2, 10.3]);
    expect(t.column('NAME')).toEqual(['star', 'galaxy', '']);
    const u16 = t.column('U16');
    expect(u16).toBeInstanceOf(Uint16Array);
    expect(Array.from(u16 as Uint16Array)).toEqual([0, 40000, 65535]);
    expect(t.column('BIG')).toEqual(BigInt64Array.from([1n, -1n, 2n ** 50n]));
    expect(Array.from(t.column('VEC') as Float32Array)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(t.columns[7].repeat).toBe(3);
    const vlj = t.column('VLJ') as Int32Array[];
    expect(vlj.map((r) => Array.from(r))).toEqual([[1, 2, 3], [4], []]);
    const vld = t.column('VLD') as Float64Array[];
    expect(vld.map((r) => Array.from(r))).toEqual([[1.5], [2.5, 3.5], [4.5, 5.5, 6.5]]);
    expect(t.columns[2].unit).toBe('mag');

    const a = f.hdu('ASCII');
    expect(a.type).toBe('table');
    const at = a.table();
    expect(Array.from(at.column('N') as Int32Array)).toEqual([1, -22, 333]);
    expect(Array.from(at.column('X') as Float64Array)).toEqual([1.5, -2.25, 100.125]);
    expect(Array.from(at.column('Y') as Float64Array)).toEqual([1e-5, 2.5e10, -3]);
    expect(Array.from(at.column('Z') as Float64Array)).toEqual([0.1, 0.2, 0.3]);
    expect(at.column('S')).toEqual(['ab', 'cdef', '']);
  });
});

describe.skipIf(!haveAstropy)('files we write, read by astropy', () => {
  let tmp: { dir: string; cleanup: () => void };
  beforeAll(() => {
    tmp = makeTempDir('fits-astropy-read-');
  });
  afterAll(() => tmp?.cleanup());

  interface AstropyHdu {
    name: string;
    kind: string;
    dtype?: string;
    shape?: number[];
    values?: (number | null)[];
    sum?: number;
    columns?: Record<string, unknown[]>;
    header: Record<string, string | number | boolean>;
  }

  it('every image type, RICE images, a table and header conventions come back as written', () => {
    const rnd = makeRandom(99);
    const w = 40;
    const h = 30;
    const n = w * h;
    const header = [
      { key: 'OBSERVER', value: "O'Brien" },
      { key: 'LONGSTR', value: 'x'.repeat(120) + ' tail', comment: 'long' },
      { key: 'ESO DET CHIP ID', value: 'chip' },
      { key: 'EXPTIME', value: 12.5 },
    ];
    const data = {
      U8: Uint8Array.from({ length: n }, (_, i) => i % 256),
      I16: Int16Array.from({ length: n }, () => Math.round(rnd.gauss(0, 3000))),
      U16: Uint16Array.from({ length: n }, () => Math.round(rnd.gauss(30000, 3000))),
      I32: Int32Array.from({ length: n }, () => Math.round(rnd.gauss(20000, 7))),
      F32: Float32Array.from({ length: n }, () => rnd.gauss(0, 1)),
      F64: Float64Array.from({ length: n }, () => rnd.gauss(0, 1e-9)),
    };
    const exts: (ImageHduInput | TableHduInput)[] = Object.entries(data).map(([name, arr]) => ({ extname: name, width: w, height: h, data: arr, header }));
    exts.push({ extname: 'RU16', width: w, height: h, data: data.U16, header, compression: { type: 'RICE_1' } });
    exts.push({ extname: 'RI32', width: w, height: h, data: data.I32, compression: { type: 'RICE_1', tileWidth: 16, tileHeight: 8 } });
    exts.push({ extname: 'RU8', width: w, height: h, data: data.U8, compression: { type: 'RICE_1' } });
    exts.push({
      kind: 'table',
      extname: 'CAT',
      columns: [
        { name: 'ID', format: 'J', data: Int32Array.from([1, 2]) },
        { name: 'OK', format: 'L', data: [true, false] },
        { name: 'NAME', format: '8A', data: ['a b', 'c'] },
        { name: 'X', format: 'D', data: Float64Array.from([0.5, -1]) },
        { name: 'K', format: 'K', data: BigInt64Array.from([5n, -(2n ** 40n)]) },
      ],
    });
    const file = path.join(tmp.dir, 'ours.fits');
    writeFileSync(file, writeFits({ header }, exts, { checksum: true }));
    const seen = JSON.parse(runPython(READ_SCRIPT, [file])) as AstropyHdu[];
    expect(seen.map((s) => s.name)).toEqual(['PRIMARY', 'U8', 'I16', 'U16', 'I32', 'F32', 'F64', 'RU16', 'RI32', 'RU8', 'CAT']);
    const dtypes: Record<string, string> = { U8: 'uint8', I16: 'int16', U16: 'uint16', I32: 'int32', F32: 'float32', F64: 'float64', RU16: 'uint16', RI32: 'int32', RU8: 'uint8' };
    const source: Record<string, ArrayLike<number>> = { ...data, RU16: data.U16, RI32: data.I32, RU8: data.U8 };
    for (const s of seen.slice(1, 10)) {
      expect(s.dtype, s.name).toBe(dtypes[s.name]);
      expect(s.shape).toEqual([h, w]);
      const src = source[s.name];
      expect(s.values).toEqual(Array.from(src).slice(0, 50));
      let sum = 0;
      for (let i = 0; i < src.length; i++) sum += src[i];
      expect(s.sum).toBeCloseTo(sum, 6);
      if (['U8', 'I16', 'U16', 'I32', 'F32', 'F64', 'RU16'].includes(s.name)) {
        expect(s.header.OBSERVER).toBe("O'Brien");
        expect(s.header.LONGSTR).toBe('x'.repeat(120) + ' tail');
        expect(s.header['ESO DET CHIP ID']).toBe('chip');
      }
    }
    expect(seen[7].kind).toBe('CompImageHDU');
    const cat = seen[10].columns ?? {};
    expect(cat.ID).toEqual([1, 2]);
    expect(cat.OK).toEqual([true, false]);
    expect(cat.NAME).toEqual(['a b', 'c']);
    expect(cat.X).toEqual([0.5, -1]);
    expect(cat.K).toEqual([5, -(2 ** 40)]);
  });
});
