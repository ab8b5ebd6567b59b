import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  FitsError,
  Header,
  fitsInfo,
  formatFitsInfo,
  formatSection,
  parseSection,
  pixelStats,
  readFits,
  writeFits,
  writeFitsChunks,
} from './index.ts';
import type { CardInput, ImageHduInput, ImageInputArray, TableHduInput } from './index.ts';
import { checksumOf } from './checksum.ts';
import { makeRandom } from './oracle-helpers.ts';

const W = 37;
const H = 23;
const N = W * H;
const rnd = makeRandom(7);

function fill<T extends ImageInputArray>(arr: T, f: (i: number) => number | bigint): T {
  for (let i = 0; i < arr.length; i++) (arr as unknown as (number | bigint)[])[i] = f(i);
  return arr;
}

const sampleHeader: CardInput[] = [
  { key: 'OBSERVER', value: "O'Brien", comment: 'who observed' },
  { key: 'EXPTIME', value: 30.25, comment: '[s]' },
  { key: 'DATASEC', value: '[   4:  13,   1: 520]' },
  { key: 'LONGSTR', value: 'L'.repeat(100) + ' end', comment: 'long string with CONTINUE' },
  { key: 'ESO DET CHIP ID', value: 'chip-7' },
  { key: 'BIGVAL', value: 2n ** 62n },
  { key: 'TINY', value: -2.7078566e-7 },
  { key: 'HISTORY', value: 'written by the round-trip test' },
  { key: 'COMMENT', value: 'a comment' },
  { key: 'NOVALUE' },
  { key: 'ISOK', value: true },
];

function expectHeaderValues(h: Header): void {
  for (const c of sampleHeader) {
    if (c.key === 'HISTORY' || c.key === 'COMMENT') expect(h.getAll(c.key)).toContain(c.value);
    else expect(h.get(c.key), c.key).toEqual(c.value === undefined ? null : c.value);
  }
  expect(h.getComment('LONGSTR')).toBe('long string with CONTINUE');
}

describe('image round trips in memory', () => {
  const cases: { name: string; data: ImageInputArray; bitpix: number; stored: string; physical: string }[] = [
    { name: 'U8', data: fill(new Uint8Array(N), (i) => i % 256), bitpix: 8, stored: 'Uint8Array', physical: 'Uint8Array' },
    { name: 'I16', data: fill(new Int16Array(N), (i) => (i * 97) % 65536 - 32768), bitpix: 16, stored: 'Int16Array', physical: 'Int16Array' },
    { name: 'U16', data: fill(new Uint16Array(N), (i) => (i * 1031) % 65536), bitpix: 16, stored: 'Int16Array', physical: 'Uint16Array' },
    { name: 'I32', data: fill(new Int32Array(N), (i) => (i * 2654435761) | 0), bitpix: 32, stored: 'Int32Array', physical: 'Int32Array' },
    { name: 'I64', data: fill(new BigInt64Array(N), (i) => BigInt(i) * 1000000007n - 2n ** 40n), bitpix: 64, stored: 'Float64Array', physical: 'Float64Array' },
    { name: 'F32', data: fill(new Float32Array(N), () => rnd.gauss(0, 1e3)), bitpix: -32, stored: 'Float32Array', physical: 'Float32Array' },
    { name: 'F64', data: fill(new Float64Array(N), () => rnd.gauss(0, 1e-20)), bitpix: -64, stored: 'Float64Array', physical: 'Float64Array' },
    { name: 'I8', data: fill(new Int8Array(N), (i) => (i % 256) - 128), bitpix: 8, stored: 'Uint8Array', physical: 'Float32Array' },
    { name: 'U32', data: fill(new Uint32Array(N), (i) => (i * 2654435761) >>> 0), bitpix: 32, stored: 'Int32Array', physical: 'Float64Array' },
  ];

  for (const c of cases) {
    it(`BITPIX ${c.bitpix} from ${c.data.constructor.name}`, () => {
      if (c.data instanceof Float32Array || c.data instanceof Float64Array) c.data[5] = NaN;
      const bytes = writeFits({ header: sampleHeader }, [
        { extname: c.name, width: W, height: H, data: c.data, header: sampleHeader },
        { width: W, height: H, data: c.data },
      ]);
      expect(bytes.length % 2880).toBe(0);
      const f = readFits(bytes);
      expect(f.hdus.length).toBe(3);
      const h = f.hdu(c.name);
      expect(h.index).toBe(1);
      expect(h.type).toBe('image');
      expect(h.bitpix).toBe(c.bitpix);
      expect(h.shape).toEqual([W, H]);
      expect(h.isImage).toBe(true);
      expect(h.compression).toBeNull();
      expect(h.storedPixels().constructor.name).toBe(c.stored);
      const px = h.pixels();
      expect(px.constructor.name).toBe(c.physical);
      if (c.data instanceof BigInt64Array) {
        expect(h.storedBigInts()).toEqual(c.data);
        expect(px[3]).toBe(Number(c.data[3]));
      } else {
        expect(Array.from(px)).toEqual(Array.from(c.data));
      }
      expect(h.pixels()).toBe(px); // cached
      expect(h.pixelsAsFloat32()).toBeInstanceOf(Float32Array);
      expectHeaderValues(h.header);
      expectHeaderValues(f.hdus[0].header);
      expect(f.hdus[0].type).toBe('primary');
      expect(f.hdus[0].name).toBe('PRIMARY');
      expect(f.hdus[0].shape).toEqual([]);
      expect(f.hdus[0].isImage).toBe(false);
      expect(f.hdus[2].name).toBe('');
    });
  }

  it('primary image with explicit scaling and BLANK', () => {
    const stored = fill(new Int16Array(N), (i) => (i % 200) - 100);
    stored[0] = -32768;
    const bytes = writeFits({ width: W, height: H, data: stored, bscale: 0.5, bzero: 1000, header: [{ key: 'BLANK', value: -32768 }] });
    const h = readFits(bytes).hdus[0];
    expect(h.type).toBe('primary');
    expect(h.storedPixels()).toEqual(stored);
    const px = h.pixels();
    expect(px).toBeInstanceOf(Float32Array);
    expect(px[0]).toBeNaN();
    expect(px[1]).toBe(stored[1] * 0.5 + 1000);
    const i32 = fill(new Int32Array(N), (i) => i * 1000);
    const p32 = readFits(writeFits({ width: W, height: H, data: i32, bscale: 1e-3, bzero: -5 })).hdus[0].pixels();
    expect(p32).toBeInstanceOf(Float64Array);
    expect(p32[7]).toBeCloseTo(7 * 1000 * 1e-3 - 5, 12);
  });

  it('rejects bad input with FitsError', () => {
    expect(() => writeFits({ width: 2, height: 2, data: new Int16Array(3) })).toThrow(FitsError);
    expect(() => writeFits({ width: 0, height: 2, data: new Int16Array(0) })).toThrow(FitsError);
    expect(() => writeFits({ width: 2, height: 1, data: new Float32Array(2), bzero: 1 })).toThrow(FitsError);
    expect(() => writeFits({ width: 2, height: 1, data: new Uint16Array(2), bzero: 1 })).toThrow(FitsError);
    expect(() => writeFits({ width: 2, height: 1, data: new Float32Array(2), compression: { type: 'RICE_1' } })).toThrow(/integer/);
  });

  it('drops structural keywords given in user headers', () => {
    const bytes = writeFits({}, [
      {
        extname: 'X',
        width: 2,
        height: 2,
        data: new Int32Array(4),
        header: [
          { key: 'BITPIX', value: 16 },
          { key: 'NAXIS1', value: 99 },
          { key: 'BZERO', value: 32768 },
          { key: 'EXTNAME', value: 'Y' },
          { key: 'KEEP', value: 1 },
        ],
      },
    ]);
    const h = readFits(bytes).hdu('X');
    expect(h.bitpix).toBe(32);
    expect(h.shape).toEqual([2, 2]);
    expect(h.header.has('BZERO')).toBe(false);
    expect(h.header.getAll('EXTNAME')).toEqual(['X']);
    expect(h.header.get('KEEP')).toBe(1);
  });
});

describe('RICE_1 compressed images in memory', () => {
  const kinds: { data: ImageInputArray; label: string }[] = [
    { label: 'uint8', data: fill(new Uint8Array(N), () => Math.min(255, Math.max(0, Math.round(rnd.gauss(120, 30))))) },
    { label: 'int16', data: fill(new Int16Array(N), () => Math.round(rnd.gauss(-500, 300))) },
    { label: 'uint16', data: fill(new Uint16Array(N), () => Math.round(rnd.gauss(40000, 2000))) },
    { label: 'int32', data: fill(new Int32Array(N), () => Math.round(rnd.gauss(20000, 7))) },
  ];
  const tilings: (ImageHduInput['compression'] & object)[] = [
    { type: 'RICE_1' },
    { type: 'RICE_1', tileWidth: 10, tileHeight: 4 },
    { type: 'RICE_1', tileWidth: W, tileHeight: H },
    { type: 'RICE_1', tileWidth: 1, tileHeight: 7, blockSize: 16 },
  ];
  for (const k of kinds) {
    it(`lossless ${k.label} with several tilings`, () => {
      for (const comp of tilings) {
        const bytes = writeFits({}, [
          { extname: 'RAW', width: W, height: H, data: k.data, header: sampleHeader },
          { extname: 'AMP', width: W, height: H, data: k.data, header: sampleHeader, compression: comp },
        ]);
        const f = readFits(bytes);
        const c = f.hdu('AMP');
        const raw = f.hdu('RAW');
        expect(c.type).toBe('compressed-image');
        expect(c.compression).toBe('RICE_1');
        expect(c.isImage).toBe(true);
        expect(c.bitpix).toBe(raw.bitpix);
        expect(c.shape).toEqual([W, H]);
        expect(c.storedPixels()).toEqual(raw.storedPixels());
        expect(c.pixels()).toEqual(raw.pixels());
        expect(c.pixels().constructor).toBe(k.data.constructor);
        // The reconstructed header says what the uncompressed one says.
        const strip = (h: Header): string[] => h.cards().map((card) => `${card.key}=${String(card.value)}`);
        expect(strip(c.header).filter((s) => !s.startsWith('EXTNAME'))).toEqual(strip(raw.header).filter((s) => !s.startsWith('EXTNAME')));
        expect(c.header.get('EXTNAME')).toBe('AMP');
        expect(c.rawHeader.get('ZCMPTYPE')).toBe('RICE_1');
        expect(c.rawHeader.get('ZBITPIX')).toBe(raw.bitpix);
      }
    });
  }

  it('compressed primary image becomes an empty primary plus a ZSIMPLE extension', () => {
    const data = fill(new Int32Array(N), (i) => i);
    const f = readFits(writeFits({ width: W, height: H, data, compression: { type: 'RICE_1' }, header: [{ key: 'OBJECT', value: 'x' }] }));
    expect(f.hdus.length).toBe(2);
    const c = f.hdus[1];
    expect(c.name).toBe('COMPRESSED_IMAGE');
    expect(c.header.cards()[0].key).toBe('SIMPLE');
    expect(c.header.get('EXTEND')).toBe(true);
    expect(c.header.has('EXTNAME')).toBe(false);
    expect(c.header.get('OBJECT')).toBe('x');
    expect(c.pixels()).toEqual(data);
  });
});

describe('tables in memory', () => {
  const table: TableHduInput = {
    kind: 'table',
    extname: 'CAT',
    header: [{ key: 'ORIGIN', value: 'test' }],
    columns: [
      { name: 'flag', format: 'L', data: [true, false, true, true] },
      { name: 'byte', format: 'B', data: Uint8Array.from([0, 1, 254, 255]) },
      { name: 'short', format: 'I', data: Int16Array.from([-32768, -1, 0, 32767]), unit: 'adu' },
      { name: 'int', format: 'J', data: Int32Array.from([-2147483648, 1, 2, 2147483647]) },
      { name: 'long', format: 'K', data: BigInt64Array.from([-(2n ** 63n), 0n, 1n, 2n ** 63n - 1n]) },
      { name: 'float', format: 'E', data: Float32Array.from([1.5, NaN, -0, 3.4e38]) },
      { name: 'double', format: 'D', data: Float64Array.from([Math.PI, -1e-300, Infinity, 0]) },
      { name: 'name', format: '12A', data: ['alpha', '', 'with space', 'twelve chars'] },
      { name: 'plain', format: 'J', data: [1, 2, 3, 4] },
    ],
  };

  it('round-trips every column format', () => {
    const f = readFits(writeFits({}, [table]));
    const h = f.hdu('cat');
    expect(h.type).toBe('table');
    expect(h.bitpix).toBe(8);
    expect(h.isImage).toBe(false);
    expect(h.header.get('ORIGIN')).toBe('test');
    expect(h.header.get('TUNIT3')).toBe('adu');
    const t = h.table();
    expect(t.nrows).toBe(4);
    expect(t.names).toEqual(table.columns.map((c) => c.name));
    for (const col of table.columns) {
      const got = t.column(col.name);
      if (col.data instanceof Float32Array || col.data instanceof Float64Array) {
        expect(Array.from(got as Float32Array)).toEqual(Array.from(col.data));
      } else if (col.name === 'plain') {
        expect(Array.from(got as Int32Array)).toEqual(col.data);
      } else {
        expect(got).toEqual(col.data);
      }
    }
    expect(t.column('NAME')).toEqual(t.column(7));
    expect(t.columns[2].unit).toBe('adu');
    expect(() => t.column('nope')).toThrow(/columns are: flag, byte/);
    expect(() => h.pixels()).toThrow(FitsError);
    expect(() => f.hdus[0].table()).toThrow(FitsError);
  });

  it('rejects inconsistent columns', () => {
    const bad = (columns: TableHduInput['columns']): (() => Uint8Array) => () => writeFits({}, [{ kind: 'table', columns }]);
    expect(bad([{ name: 'a', format: 'I', data: [1, 2] }, { name: 'b', format: 'I', data: [1] }])).toThrow(FitsError);
    expect(bad([{ name: 'a', format: 'I', data: [40000] }])).toThrow(/does not fit/);
    expect(bad([{ name: 'a', format: '3A', data: ['toolong'] }])).toThrow(/longer than 3/);
  });
});

describe('file-level behaviour', () => {
  const exts: ImageHduInput[] = [
    { extname: 'A', width: 4, height: 3, data: new Int32Array(12).fill(5) },
    { extname: 'B', width: 4, height: 3, data: new Float32Array(12).fill(1.5), header: [{ key: 'EXTVER', value: 1 }] },
    { extname: 'B', width: 4, height: 3, data: new Float32Array(12).fill(2.5), header: [{ key: 'EXTVER', value: 2 }] },
  ];

  it('writeFitsChunks yields 2880-aligned HDUs equal to writeFits', () => {
    const chunks = [...writeFitsChunks({ header: [{ key: 'A', value: 1 }] }, exts)];
    const whole = writeFits({ header: [{ key: 'A', value: 1 }] }, exts);
    expect(Buffer.concat(chunks.map((c) => Buffer.from(c))).equals(Buffer.from(whole))).toBe(true);
    expect(chunks.length).toBeGreaterThan(4);
  });

  it('finds HDUs by name, EXTVER and index, and lists names when one is missing', () => {
    const f = readFits(writeFits({}, exts), { name: 'sample.fits' });
    expect(f.hdu('b').pixels()[0]).toBe(1.5);
    expect(f.hdu('B', 2).pixels()[0]).toBe(2.5);
    expect(f.hdu(1).name).toBe('A');
    expect(f.has('A')).toBe(true);
    expect(f.has('Z')).toBe(false);
    expect(() => f.hdu('Z')).toThrow(/sample\.fits.*no HDU named 'Z'; names present: PRIMARY, A, B/);
    expect(() => f.hdu(9)).toThrow(FitsError);
  });

  it('reads gzip-wrapped files', () => {
    const f = readFits(gzipSync(writeFits({}, exts)));
    expect(f.hdu('A').pixels()[11]).toBe(5);
  });

  it('writes valid CHECKSUM/DATASUM (HDU sums to -0)', () => {
    const bytes = writeFits({ header: [{ key: 'X', value: 'y'.repeat(100) }] }, [...exts, { kind: 'table', columns: [{ name: 'a', format: 'D', data: [1, 2, 3] }] }], {
      checksum: true,
    });
    const f = readFits(bytes);
    for (let i = 0; i < f.hdus.length; i++) {
      const h = f.hdus[i];
      const end = i + 1 < f.hdus.length ? f.hdus[i + 1].byteOffset : bytes.length;
      expect(checksumOf(bytes.subarray(h.byteOffset, end))).toBe(0xffffffff);
      const dataEnd = h.dataOffset + Math.ceil(h.dataSize / 2880) * 2880;
      expect(String(checksumOf(bytes.subarray(h.dataOffset, dataEnd)))).toBe(h.rawHeader.get('DATASUM'));
    }
    expect(f.hdus[0].header.get('LONGSTRN')).toBe('OGIP 1.0');
  });

  it('rejects non-FITS input and reports truncated data lazily with its offset', () => {
    expect(() => readFits(new Uint8Array(100))).toThrow(/not a FITS file/);
    const bytes = writeFits({}, exts);
    const cut = bytes.subarray(0, bytes.length - 2880 - 100);
    const f = readFits(cut, { name: 'cut.fits' });
    expect(f.hdus.length).toBe(4);
    expect(() => f.hdus[3].pixels()).toThrow(/cut\.fits, HDU 3, byte offset \d+: data area needs 48 bytes/);
  });

  it('summarises HDUs with fitsInfo / formatFitsInfo', () => {
    const f = readFits(writeFits({}, [...exts, { kind: 'table', extname: 'T', columns: [{ name: 'a', format: 'J', data: [1] }] }]));
    const info = fitsInfo(f);
    expect(info.map((i) => i.type)).toEqual(['primary', 'image', 'image', 'image', 'table']);
    expect(info[1].stats).toMatchObject({ count: 12, min: 5, max: 5, median: 5, std: 0 });
    expect(info[0].stats).toBeNull();
    const text = formatFitsInfo(info);
    const lines = text.split('\n');
    expect(lines.length).toBe(6);
    expect(lines[0]).toMatch(/^No\.\s+Name\s+Type\s+BITPIX\s+Dimensions/);
    expect(lines[2]).toMatch(/\bA\b.*image.*32.*4x3/);
  });
});

describe('pixelStats', () => {
  function naive(values: number[]): { median: number; mean: number; std: number } {
    const v = values.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
    const n = v.length;
    const median = n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    const mean = v.reduce((a, b) => a + b, 0) / n;
    const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
    return { median, mean, std };
  }

  it('matches a sort-based reference, ignoring NaN', () => {
    for (const n of [1, 2, 3, 10, 101, 1000, 4096]) {
      const a = Array.from({ length: n }, () => Math.round(rnd.gauss(100, 10)));
      if (n > 3) a[1] = NaN;
      const s = pixelStats(Float32Array.from(a));
      const r = naive(a);
      expect(s.median).toBe(r.median);
      expect(s.mean).toBeCloseTo(r.mean, 9);
      expect(s.std).toBeCloseTo(r.std, 9);
      expect(s.nanCount).toBe(n > 3 ? 1 : 0);
      expect(s.count).toBe(n - s.nanCount);
    }
    expect(pixelStats([1, 2, 3, 4])).toEqual({ count: 4, nanCount: 0, min: 1, max: 4, mean: 2.5, median: 2.5, std: Math.sqrt(1.25) });
    const empty = pixelStats([NaN, NaN]);
    expect(empty.count).toBe(0);
    expect(empty.median).toBeNaN();
  });

  it('handles many duplicates quickly', () => {
    const a = new Int32Array(1_000_000).fill(3);
    a[5] = 1;
    a[6] = 9;
    const s = pixelStats(a);
    expect(s.median).toBe(3);
    expect(s.min).toBe(1);
    expect(s.max).toBe(9);
  });
});

describe('sections', () => {
  it('parses 1-based inclusive sections with spaces and flips', () => {
    expect(parseSection('[   4:  13,   1: 520]')).toEqual({ x0: 3, x1: 13, y0: 0, y1: 520, flipX: false, flipY: false });
    expect(parseSection('[1:512,4004:2003]')).toEqual({ x0: 0, x1: 512, y0: 2002, y1: 4004, flipX: false, flipY: true });
    expect(parseSection('[512:1,1:2]')).toMatchObject({ x0: 0, x1: 512, flipX: true });
    for (const s of ['[1:512,4004:2003]', '[512:1,2002:1]', '[11:522,1:2002]']) expect(formatSection(parseSection(s))).toBe(s);
    for (const junk of ['', '[1:2]', '[a:b,c:d]', '1:2,3:4', '[0:5,1:2]', '[1:2,3:4] x', '[1:2;3:4]']) {
      expect(() => parseSection(junk), junk).toThrow(FitsError);
    }
    expect(() => formatSection({ x0: 5, x1: 5, y0: 0, y1: 1 })).toThrow(FitsError);
  });
});

describe('float32Copy', () => {
  it('gives the physical values of a scaled, compressed int32 image in a new array the caller owns', () => {
    const data = new Int32Array(64 * 8);
    for (let i = 0; i < data.length; i++) data[i] = (i * 37) % 1000 - 500;
    const bytes = writeFits({}, [{ extname: 'IMG', width: 64, height: 8, data, bscale: 0.25, bzero: 10, compression: { type: 'RICE_1' } }]);
    const hdu = readFits(bytes).hdu('IMG');
    const a = hdu.float32Copy();
    expect(a).toBeInstanceOf(Float32Array);
    for (let i = 0; i < data.length; i++) expect(a[i]).toBe(data[i] * 0.25 + 10);
    a[0] = 12345;
    expect(hdu.float32Copy()[0]).toBe(data[0] * 0.25 + 10);
    expect(hdu.pixels()[0]).toBe(data[0] * 0.25 + 10);
  });
});
