/**
 * Tile-compressed images built by hand, to reach the parts of the convention our writer and fpack
 * do not produce: UNCOMPRESSED_DATA and GZIP_COMPRESSED_DATA fall-back columns, Q descriptors, a
 * ZBLANK column, THEAP with a gap, 3-D images with edge tiles, and the error paths.
 */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Card } from './card.ts';
import type { FitsValue } from './card.ts';
import { Header } from './header.ts';
import { FitsError } from './errors.ts';
import { readFits, writeFits } from './index.ts';
import { riceEncodeImage } from './compressed.ts';
import { riceEncode, riceMaxEncodedSize } from './rice.ts';
import type { RiceBytePix } from './rice.ts';
import { randomTable } from './quantize.ts';

function pad(bytes: Uint8Array, fill = 0): Uint8Array {
  const out = new Uint8Array(Math.ceil(bytes.length / 2880) * 2880).fill(fill);
  out.set(bytes);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function rice(values: number[], bytepix: RiceBytePix = 4): Uint8Array {
  const v = Int32Array.from(values);
  const buf = new Uint8Array(riceMaxEncodedSize(v.length, 32, bytepix));
  return buf.slice(0, riceEncode(v, 0, v.length, 32, bytepix, buf, 0));
}

function be(kind: 'i16' | 'i32' | 'f32' | 'f64', values: number[]): Uint8Array {
  const size = kind === 'i16' ? 2 : kind === 'f64' ? 8 : 4;
  const out = new Uint8Array(values.length * size);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => {
    if (kind === 'i16') dv.setInt16(i * size, v);
    else if (kind === 'i32') dv.setInt32(i * size, v);
    else if (kind === 'f32') dv.setFloat32(i * size, v);
    else dv.setFloat64(i * size, v);
  });
  return out;
}

interface ColumnSpec {
  name: string;
  /** 'P' or 'Q' descriptor column of bytes/ints, or a scalar 'D'/'J' column. */
  tform: string;
  /** Per row: heap bytes (P/Q; empty = count 0, `count` gives the element count) or a number. */
  cells: (Uint8Array | number | null)[];
  elementSize?: number;
}

/** A file with an empty primary and one compressed-image BINTABLE built from raw columns. */
function buildCompressedFile(keywords: [string, FitsValue][], columns: ColumnSpec[], heapGap = 0): Uint8Array {
  const nrows = columns[0].cells.length;
  const widths = columns.map((c) => (c.tform.includes('Q') ? 16 : c.tform.includes('P') ? 8 : c.tform.includes('D') ? 8 : 4));
  const rowBytes = widths.reduce((a, b) => a + b, 0);
  const table = new Uint8Array(rowBytes * nrows);
  const dv = new DataView(table.buffer);
  const heapParts: Uint8Array[] = [new Uint8Array(heapGap)];
  let heapLen = heapGap;
  for (let r = 0; r < nrows; r++) {
    let off = r * rowBytes;
    columns.forEach((c, ci) => {
      const cell = c.cells[r];
      if (c.tform.includes('P') || c.tform.includes('Q')) {
        const bytes = cell instanceof Uint8Array ? cell : new Uint8Array(0);
        const count = bytes.length / (c.elementSize ?? 1);
        const heapOffset = bytes.length ? heapLen - heapGap : 0;
        if (c.tform.includes('Q')) {
          dv.setBigUint64(off, BigInt(count));
          dv.setBigUint64(off + 8, BigInt(heapOffset));
        } else {
          dv.setUint32(off, count);
          dv.setUint32(off + 4, heapOffset);
        }
        if (bytes.length) {
          heapParts.push(bytes);
          heapLen += bytes.length;
        }
      } else if (c.tform.includes('D')) dv.setFloat64(off, cell as number);
      else dv.setInt32(off, cell as number);
      off += widths[ci];
    });
  }
  const cards: Card[] = [
    Card.create('XTENSION', 'BINTABLE'),
    Card.create('BITPIX', 8),
    Card.create('NAXIS', 2),
    Card.create('NAXIS1', rowBytes),
    Card.create('NAXIS2', nrows),
    Card.create('PCOUNT', heapLen),
    Card.create('GCOUNT', 1),
    Card.create('TFIELDS', columns.length),
  ];
  columns.forEach((c, i) => cards.push(Card.create(`TTYPE${i + 1}`, c.name), Card.create(`TFORM${i + 1}`, c.tform)));
  if (heapGap) cards.push(Card.create('THEAP', rowBytes * nrows + heapGap));
  cards.push(Card.create('ZIMAGE', true));
  for (const [k, v] of keywords) cards.push(Card.create(k, v));
  const primary = new Header([Card.create('SIMPLE', true), Card.create('BITPIX', 8), Card.create('NAXIS', 0), Card.create('EXTEND', true)]).toBytes();
  // With THEAP, the gap lies between the table and the heap: the gap bytes come first in heapParts.
  const data = concat([table, ...heapParts]);
  return concat([primary, new Header(cards).toBytes(), pad(data)]);
}

describe('RICE_1 image encoding', () => {
  /** Each tile cut from the image and encoded by riceEncode: the heap and table riceEncodeImage should give. */
  function reference(data: Uint8Array | Int16Array | Int32Array, width: number, height: number, tw: number, th: number, bytePix: RiceBytePix, blockSize: number): { heap: Uint8Array; lengths: number[] } {
    const parts: Uint8Array[] = [];
    for (let y0 = 0; y0 < height; y0 += th) {
      for (let x0 = 0; x0 < width; x0 += tw) {
        const w = Math.min(tw, width - x0);
        const h = Math.min(th, height - y0);
        const tile = new Int32Array(w * h);
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) tile[y * w + x] = data[(y0 + y) * width + x0 + x];
        const buf = new Uint8Array(riceMaxEncodedSize(tile.length, blockSize, bytePix));
        parts.push(buf.slice(0, riceEncode(tile, 0, tile.length, blockSize, bytePix, buf, 0)));
      }
    }
    return { heap: concat(parts), lengths: parts.map((p) => p.length) };
  }

  it('gives the bytes of riceEncode tile by tile: whole-row and 2-D tiles, every BYTEPIX, batches of many tiles', () => {
    let s = 5;
    const rnd = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const cases: [number, number, number, number, RiceBytePix, number][] = [
      [700, 300, 700, 1, 4, 32],
      [700, 300, 700, 3, 2, 16],
      [257, 131, 64, 50, 4, 32],
      [257, 131, 257, 1, 1, 7],
      [13, 5, 4, 2, 2, 32],
      [40, 3000, 40, 2000, 4, 32],
    ];
    for (const [width, height, tw, th, bytePix, blockSize] of cases) {
      const n = width * height;
      const data = bytePix === 1 ? new Uint8Array(n) : bytePix === 2 ? new Int16Array(n) : new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const r = rnd();
        // Mostly zero (as a mask), with noisy patches and rare large values.
        data[i] = r < 0.6 ? 0 : r < 0.97 ? Math.round(1000 + (rnd() - 0.5) * 60) : Math.floor(rnd() * 2 ** 31);
      }
      const got = riceEncodeImage(data, width, height, tw, th, bytePix, blockSize);
      const want = reference(data, width, height, tw, th, bytePix, blockSize);
      const label = `${width}x${height} tiles ${tw}x${th} BYTEPIX ${bytePix}`;
      expect(got.ntiles, label).toBe(want.lengths.length);
      // (Buffer.equals first: a deep comparison of large arrays is slow.)
      if (!Buffer.from(got.heap).equals(want.heap)) expect(got.heap, label).toEqual(want.heap);
      const dv = new DataView(got.table.buffer);
      const descriptors: number[] = [];
      let at = 0;
      for (const len of want.lengths) {
        descriptors.push(len, at);
        at += len;
      }
      expect(Array.from({ length: 2 * got.ntiles }, (_, i) => dv.getUint32(4 * i)), label).toEqual(descriptors);
      expect(got.maxLength).toBe(Math.max(...want.lengths));
    }
  });

  it('rejects a block size the encoder does not take', () => {
    expect(() => riceEncodeImage(new Int32Array(4), 2, 2, 2, 1, 4, 0)).toThrow(FitsError);
    expect(() => riceEncodeImage(new Int32Array(4), 2, 2, 2, 1, 4, 2.5)).toThrow(FitsError);
  });
});

describe('hand-built tile-compressed images', () => {
  it('UNCOMPRESSED_DATA fall-back tiles mixed with RICE_1 tiles', () => {
    const w = 6;
    const rows = [
      [1, 2, 3, 4, 5, 6],
      [-7, 8, -9, 10, -11, 12],
      [100, 100, 100, 100, 100, 100],
      [2147483647, -2147483648, 0, 1, 2, 3],
    ];
    const file = buildCompressedFile(
      [
        ['ZCMPTYPE', 'RICE_1'],
        ['ZBITPIX', 32],
        ['ZNAXIS', 2],
        ['ZNAXIS1', w],
        ['ZNAXIS2', 4],
        ['ZTILE1', w],
        ['ZTILE2', 1],
        ['ZNAME1', 'BLOCKSIZE'],
        ['ZVAL1', 32],
        ['ZNAME2', 'BYTEPIX'],
        ['ZVAL2', 4],
        ['EXTNAME', 'MIXED'],
      ],
      [
        { name: 'COMPRESSED_DATA', tform: '1PB(40)', cells: [rice(rows[0]), null, rice(rows[2]), null] },
        { name: 'UNCOMPRESSED_DATA', tform: '1PJ(6)', cells: [null, be('i32', rows[1]), null, be('i32', rows[3])], elementSize: 4 },
      ],
    );
    const h = readFits(file).hdu('MIXED');
    expect(h.type).toBe('compressed-image');
    expect(Array.from(h.pixels())).toEqual(rows.flat());
    // As float32: the RICE_1 tiles and the others end up scaled alike.
    const asFloat = Float32Array.from(rows.flat());
    expect(readFits(file).hdu('MIXED').takeFloat32()).toEqual(asFloat);
    const target = new Float32Array(4 * w);
    expect(readFits(file).hdu('MIXED').float32Into(target)).toBe(target);
    expect(target).toEqual(asFloat);
  });

  it('quantized float tiles: ZBLANK column, GZIP_COMPRESSED_DATA fall-back, Q descriptors, THEAP gap', () => {
    const w = 5;
    const scale = [0.5, 1, 0.25];
    const zero = [100, 0, -3];
    const q = [
      [0, 1, -2147483647, 3, 4],
      [0, 0, 0, 0, 0],
      [-4, -3, 7, 1000, 2],
    ];
    const raw = [1.5, NaN, -2.25, 1e30, 0];
    const file = buildCompressedFile(
      [
        ['ZCMPTYPE', 'RICE_1'],
        ['ZBITPIX', -32],
        ['ZNAXIS', 2],
        ['ZNAXIS1', w],
        ['ZNAXIS2', 3],
        ['ZTILE1', w],
        ['ZTILE2', 1],
        ['ZNAME1', 'BLOCKSIZE'],
        ['ZVAL1', 32],
        ['ZQUANTIZ', 'SUBTRACTIVE_DITHER_1'],
        ['ZDITHER0', 77],
        ['EXTNAME', 'QF'],
      ],
      [
        { name: 'COMPRESSED_DATA', tform: '1QB(40)', cells: [rice(q[0]), null, rice(q[2])] },
        { name: 'GZIP_COMPRESSED_DATA', tform: '1QB(80)', cells: [null, new Uint8Array(gzipSync(be('f32', raw))), null] },
        { name: 'ZSCALE', tform: '1D', cells: scale },
        { name: 'ZZERO', tform: '1D', cells: zero },
        { name: 'ZBLANK', tform: '1J', cells: [-2147483647, -2147483647, 1000] },
      ],
      100,
    );
    const h = readFits(file).hdu('QF');
    expect(h.compression).toBe('RICE_1 SUBTRACTIVE_DITHER_1');
    const px = h.pixels();
    expect(px).toBeInstanceOf(Float32Array);
    const r = randomTable();
    const expectTile = (t: number): number[] => {
      let iseed = (t + 77 - 1) % 10000;
      let next = Math.trunc(r[iseed] * 500);
      return q[t].map((v) => {
        const out = v === [-2147483647, -2147483647, 1000][t] ? NaN : Math.fround((v - r[next] + 0.5) * scale[t] + zero[t]);
        next++;
        if (next === 10000) {
          iseed++;
          next = Math.trunc(r[iseed] * 500);
        }
        return out;
      });
    };
    expect(Array.from(px.subarray(0, 5))).toEqual(expectTile(0));
    expect(Array.from(px.subarray(5, 10))).toEqual(raw.map((x) => Math.fround(x)));
    expect(Array.from(px.subarray(10, 15))).toEqual(expectTile(2));
    expect(px[2]).toBeNaN();
    expect(px[13]).toBeNaN();
  });

  it('3-D image with 2x2x1 tiles (edge tiles clipped), BYTEPIX 2, old files without BYTEPIX', () => {
    const [nx, ny, nz] = [5, 3, 2];
    const image = Array.from({ length: nx * ny * nz }, (_, i) => (i * 37) % 1000 - 500);
    for (const withBytepix of [true, false]) {
      const tiles: Uint8Array[] = [];
      for (let z = 0; z < nz; z++) {
        for (let ty = 0; ty < ny; ty += 2) {
          for (let tx = 0; tx < nx; tx += 2) {
            const vals: number[] = [];
            for (let y = ty; y < Math.min(ty + 2, ny); y++) for (let x = tx; x < Math.min(tx + 2, nx); x++) vals.push(image[z * nx * ny + y * nx + x]);
            tiles.push(rice(vals, withBytepix ? 2 : 4));
          }
        }
      }
      const file = buildCompressedFile(
        [
          ['ZCMPTYPE', 'RICE_1'],
          ['ZBITPIX', 16],
          ['ZNAXIS', 3],
          ['ZNAXIS1', nx],
          ['ZNAXIS2', ny],
          ['ZNAXIS3', nz],
          ['ZTILE1', 2],
          ['ZTILE2', 2],
          ['ZTILE3', 1],
          ['ZNAME1', 'BLOCKSIZE'],
          ['ZVAL1', 32],
          ...(withBytepix ? ([['ZNAME2', 'BYTEPIX'], ['ZVAL2', 2]] as [string, FitsValue][]) : []),
        ],
        [{ name: 'COMPRESSED_DATA', tform: '1PB(20)', cells: tiles }],
      );
      const h = readFits(file).hdus[1];
      expect(h.shape).toEqual([nx, ny, nz]);
      expect(h.header.get('NAXIS3')).toBe(nz);
      expect(h.pixels()).toBeInstanceOf(Int16Array);
      expect(Array.from(h.pixels())).toEqual(image);
      expect(() => h.storedPixelsRowsInto(new Int16Array(image.length), 0, 1)).toThrow(/row range of a 3-D image/);
    }
  });

  it('reports corrupt or unsupported compressed data as FitsError naming the HDU and offset', () => {
    const good = writeFits({}, [{ extname: 'A', width: 64, height: 4, data: Int32Array.from({ length: 256 }, (_, i) => i * i) , compression: { type: 'RICE_1' } }]);
    const f = readFits(good, { name: 'c.fits' });
    const h = f.hdu('A');
    // Cut the first tile's compressed bytes short by rewriting its descriptor count.
    const bad = good.slice();
    const dv = new DataView(bad.buffer, h.dataOffset);
    dv.setUint32(0, 3);
    expect(() => readFits(bad, { name: 'c.fits' }).hdu('A').pixels()).toThrow(/c\.fits, HDU 1, byte offset \d+: RICE_1 (stream ends early|tile too short)/);
    // The second tile cut to its first pixel and one block: it ends after 32 of its 64 pixels.
    const cut = good.slice();
    new DataView(cut.buffer, h.dataOffset).setUint32(8, 6);
    expect(() => readFits(cut, { name: 'c.fits' }).hdu('A').pixels()).toThrow(/HDU 1, byte offset \d+: RICE_1 stream ends early \(decoded 32 of 64 pixels\)/);
    // The first tile's first block code set to 31: split level 30, more than 25.
    const corrupt = good.slice();
    const heapAt = h.dataOffset + 4 * 8 + new DataView(good.buffer, h.dataOffset).getUint32(4);
    corrupt[heapAt + 4] = 0xff;
    expect(() => readFits(corrupt, { name: 'c.fits' }).hdu('A').pixels()).toThrow(/RICE_1 stream is corrupt \(split level 30 at pixel 0\)/);
    const unknown = buildCompressedFile(
      [
        ['ZCMPTYPE', 'PLIO_1'],
        ['ZBITPIX', 16],
        ['ZNAXIS', 1],
        ['ZNAXIS1', 2],
      ],
      [{ name: 'COMPRESSED_DATA', tform: '1PI(2)', cells: [be('i16', [1, 2])], elementSize: 2 }],
    );
    expect(() => readFits(unknown).hdus[1].pixels()).toThrow(/unsupported compression 'PLIO_1'/);
    const wrongRows = buildCompressedFile(
      [
        ['ZCMPTYPE', 'RICE_1'],
        ['ZBITPIX', 32],
        ['ZNAXIS', 2],
        ['ZNAXIS1', 2],
        ['ZNAXIS2', 5],
      ],
      [{ name: 'COMPRESSED_DATA', tform: '1PB(20)', cells: [rice([1, 2])] }],
    );
    expect(() => readFits(wrongRows).hdus[1].pixels()).toThrow(/1 rows but the image has 5 tiles/);
  });
});

describe('rows of a quantized float image', () => {
  /**
   * A W x H float image of quantized tiles (tw x th, edge tiles clipped), each with its own
   * ZSCALE and ZZERO, every fifth stored losslessly with gzip instead, with dithering.
   */
  function quantizedFile(w: number, h: number, tw: number, th: number, method: string, ditherSeed: number): Uint8Array {
    const cx = Math.ceil(w / tw);
    const ntiles = cx * Math.ceil(h / th);
    const riceCells: (Uint8Array | null)[] = [];
    const gzipCells: (Uint8Array | null)[] = [];
    const scales: number[] = [];
    const zeros: number[] = [];
    for (let t = 0; t < ntiles; t++) {
      const ew = Math.min(tw, w - (t % cx) * tw);
      const eh = Math.min(th, h - Math.floor(t / cx) * th);
      const len = ew * eh;
      scales.push(0.01 + 0.003 * t);
      zeros.push(100 - 7 * t);
      if (t % 5 === 3) {
        riceCells.push(null);
        gzipCells.push(new Uint8Array(gzipSync(be('f32', Array.from({ length: len }, (_, i) => Math.sin(t * 31 + i) * 50)))));
        continue;
      }
      const q = Array.from({ length: len }, (_, i) => ((t * 7919 + i * 104729) % 4001) - 2000);
      q[len >> 1] = -2147483647; // ZBLANK: NaN
      if (len > 3) q[3] = -2147483646; // an exact 0 with SUBTRACTIVE_DITHER_2
      riceCells.push(rice(q));
      gzipCells.push(null);
    }
    return buildCompressedFile(
      [
        ['ZCMPTYPE', 'RICE_1'],
        ['ZBITPIX', -32],
        ['ZNAXIS', 2],
        ['ZNAXIS1', w],
        ['ZNAXIS2', h],
        ['ZTILE1', tw],
        ['ZTILE2', th],
        ['ZNAME1', 'BLOCKSIZE'],
        ['ZVAL1', 32],
        ['ZQUANTIZ', method],
        ['ZDITHER0', ditherSeed],
        ['ZBLANK', -2147483647],
        ['EXTNAME', 'QF'],
      ],
      [
        { name: 'COMPRESSED_DATA', tform: '1PB(4000)', cells: riceCells },
        { name: 'GZIP_COMPRESSED_DATA', tform: '1PB(4000)', cells: gzipCells },
        { name: 'ZSCALE', tform: '1D', cells: scales },
        { name: 'ZZERO', tform: '1D', cells: zeros },
      ],
    );
  }

  const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

  for (const [tw, th] of [
    [37, 1],
    [10, 4],
    [37, 6],
  ]) {
    for (const method of ['SUBTRACTIVE_DITHER_1', 'SUBTRACTIVE_DITHER_2']) {
      it(`${tw}x${th} tiles, ${method}: a row range restores exactly the full decode's values (the dither follows the tile index)`, () => {
        const w = 37;
        const h = 29;
        // A seed near the end of the table: the tiles' sequences wrap around it.
        const file = quantizedFile(w, h, tw, th, method, 9990);
        const full = readFits(file).hdu('QF').pixelsAsFloat32();
        expect(full.some((v) => Number.isNaN(v))).toBe(true);
        for (const [y0, y1] of [
          [0, h],
          [0, 1],
          [h - 1, h],
          [5, 6],
          [3, 17],
          [9, h],
          [12, 12],
        ]) {
          for (const decode of ['float32', 'stored'] as const) {
            const target = new Float32Array(w * h).fill(-1.25);
            const hdu = readFits(file).hdu('QF');
            const got = decode === 'float32' ? hdu.float32RowsInto(target, y0, y1) : hdu.storedPixelsRowsInto(target, y0, y1);
            expect(got).toBe(target);
            const expected = new Float32Array(w * h).fill(-1.25);
            expected.set(full.subarray(y0 * w, y1 * w), y0 * w);
            expect(Array.from(bits(target))).toEqual(Array.from(bits(expected)));
          }
        }
      });
    }
  }
});
