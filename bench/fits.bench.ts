/**
 * FITS tile compression of a real-size raw: our RICE_1 encoder and decoder against cfitsio's
 * (fpack / funpack) on the same file, in the same run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { readFits, writeFits, type Hdu } from '../src/fits/index.ts';
import { riceEncodeImage } from '../src/fits/compressed.ts';
import { riceDecode, riceEncode, riceMaxEncodedSize } from '../src/fits/rice.ts';
import { encodeRaw, simulateRawPixels } from '../src/tester/sim/raw.ts';
import { hasCommand, ratio, timeCommandMs, timeMs, type BenchResult } from './lib.ts';

export function benchFits(): BenchResult {
  const raw = simulateRawPixels({ instrument: 'LSSTComCam', detector: 4, group: '2026112700001', filter: 'r_03', raDeg: 53.1, decDeg: -27.8, seed: 7 });
  const plain = encodeRaw(raw, { compress: false });
  let fz: Uint8Array = new Uint8Array();
  const encode = timeMs(() => {
    fz = encodeRaw(raw);
  });
  const decode = timeMs(() => {
    const f = readFits(fz);
    for (const h of f.hdus) if (h.isImage && h.shape.length) h.pixels();
  });
  // Decoding alone, into one reused array: ours, and the JavaScript decoder one call per tile.
  const images = readFits(fz).hdus.filter((h) => h.isImage && h.shape.length === 2);
  const scratch = new Int32Array(Math.max(...images.map((h) => h.shape[0] * h.shape[1])));
  const decodeInto = timeMs(() => {
    for (const h of images) h.storedPixelsInto(scratch);
  });
  const jsDecode = timeMs(() => {
    for (const h of images) riceTilesJs(fz, h, scratch);
  });
  // Encoding alone: ours (the kernel, many row tiles per call) and the JavaScript encoder one
  // call per row, on the raw's amplifiers and on a processed-exposure-like mask.
  const encodeImages = timeMs(() => {
    for (const h of raw.hdus) riceEncodeImage(h.data as Int32Array, h.width, h.height, h.width, 1, 4);
  });
  const jsEncode = timeMs(() => {
    for (const h of raw.hdus) riceRowsJs(h.data as Int32Array, h.width, h.height);
  });
  const mask = maskLike();
  const encodeMask = timeMs(() => void riceEncodeImage(mask.data, mask.width, mask.height, mask.width, 1, 4));
  const jsEncodeMask = timeMs(() => void riceRowsJs(mask.data, mask.width, mask.height));
  const template = templateLike();
  const plane = new Float32Array(template.pixels);
  const templateDecode = timeMs(() => void readFits(template.bytes).hdus.forEach((h) => h.isImage && h.float32Into(plane)));
  const gzip = timeMs(() => void gzipSync(plain, { level: 1 }), 3);
  const figures: BenchResult['figures'] = {
    pixels: raw.hdus.reduce((n, h) => n + h.width * h.height, 0),
    oursEncodeMs: Math.round(encode.medianMs),
    oursDecodeMs: Math.round(decode.medianMs),
    oursDecodeIntoMs: Math.round(decodeInto.medianMs),
    jsRiceDecodeIntoMs: Math.round(jsDecode.medianMs),
    decodeIntoVsJsRice: ratio(decodeInto.medianMs, jsDecode.medianMs),
    templateFloat32DecodeMs: Math.round(templateDecode.medianMs),
    oursEncodeImagesMs: Math.round(encodeImages.medianMs),
    jsRiceEncodeMs: Math.round(jsEncode.medianMs),
    encodeImagesVsJsRice: ratio(encodeImages.medianMs, jsEncode.medianMs),
    oursEncodeMaskMs: Math.round(encodeMask.medianMs * 10) / 10,
    jsRiceEncodeMaskMs: Math.round(jsEncodeMask.medianMs * 10) / 10,
    encodeMaskVsJsRice: ratio(encodeMask.medianMs, jsEncodeMask.medianMs),
    oursCompressionRatio: ratio(plain.length, fz.length),
    gzip1Ms: Math.round(gzip.medianMs),
    encodeVsGzip1: ratio(encode.medianMs, gzip.medianMs),
  };
  if (hasCommand('fpack') && hasCommand('funpack')) {
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-fits-'));
    try {
      const plainFile = path.join(dir, 'raw.fits');
      writeFileSync(plainFile, plain);
      // -S: to standard output (discarded while timing), so repeated runs overwrite nothing.
      const cfitsioEncode = timeCommandMs('fpack', ['-r', '-S', plainFile]);
      const fpackFile = path.join(dir, 'c.fz');
      writeFileSync(fpackFile, execFileSync('fpack', ['-r', '-S', plainFile], { maxBuffer: 1 << 30 }));
      const cfitsioDecode = timeCommandMs('funpack', ['-S', fpackFile]);
      // Our output must be what cfitsio reads, and its output what we read.
      const ours = path.join(dir, 'ours.fz');
      writeFileSync(ours, fz);
      const unpacked = execFileSync('funpack', ['-S', ours], { maxBuffer: 1 << 30 });
      if (unpacked.length !== plain.length) throw new Error('funpack of our file differs in size from the uncompressed raw');
      const back = readFits(readFileSync(fpackFile));
      if (back.hdus.length !== raw.hdus.length + 1) throw new Error('fpack output has the wrong number of HDUs');
      Object.assign(figures, {
        cfitsioEncodeMs: Math.round(cfitsioEncode),
        cfitsioDecodeMs: Math.round(cfitsioDecode),
        cfitsioCompressionRatio: ratio(plain.length, statSync(fpackFile).size),
        encodeVsCfitsio: ratio(encode.medianMs, cfitsioEncode),
        decodeVsCfitsio: ratio(decode.medianMs, cfitsioDecode),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return {
    name: 'fits',
    what:
      'RICE_1 encode and decode of one simulated ITL raw (16 amplifiers of 576x2048 int32), ours vs cfitsio fpack/funpack (process start subtracted), gzip -1; decoding alone into one reused array (oursDecodeIntoMs) against the per-tile JavaScript decoder doing the same (jsRiceDecodeIntoMs); templateFloat32DecodeMs: a 2200x2200 template-like image and variance (BSCALE-scaled int32, RICE_1) decoded to float32 with float32Into; encoding alone, ours against the JavaScript encoder one call per row tile: the raw amplifiers (oursEncodeImagesMs, jsRiceEncodeMs) and a 4072x4000 processed-exposure-like mask, 99% zero (oursEncodeMaskMs, jsRiceEncodeMaskMs)',
    figures,
  };
}

/** Every RICE_1 tile of a compressed image HDU (one 1PB descriptor per row) decoded by riceDecode. */
function riceTilesJs(file: Uint8Array, h: Hdu, out: Int32Array): void {
  const [width, height] = h.shape;
  const tileWidth = h.rawHeader.getInt('ZTILE1');
  const tileHeight = h.rawHeader.getInt('ZTILE2');
  if (tileWidth !== width) throw new Error('riceTilesJs handles tiles of whole rows only');
  const rows = h.rawHeader.getInt('NAXIS2');
  const rowBytes = h.rawHeader.getInt('NAXIS1');
  const data = file.subarray(h.dataOffset, h.dataOffset + h.dataSize);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const heap = data.subarray(h.rawHeader.has('THEAP') ? h.rawHeader.getInt('THEAP') : rows * rowBytes);
  for (let t = 0; t < rows; t++) {
    const count = dv.getUint32(t * rowBytes);
    const offset = dv.getUint32(t * rowBytes + 4);
    const n = Math.min(tileHeight, height - t * tileHeight) * width;
    riceDecode(heap, offset, offset + count, out, t * tileHeight * width, n, 32, 4);
  }
}

/** An image of row tiles encoded by riceEncode, one call per row; returns the heap's length. */
function riceRowsJs(data: Int32Array, width: number, height: number): number {
  const heap = new Uint8Array(riceMaxEncodedSize(width, 32, 4) * height);
  let pos = 0;
  for (let y = 0; y < height; y++) pos += riceEncode(data, y * width, width, 32, 4, heap, pos);
  return pos;
}

/** A mask like a processed exposure's: zero but for detection footprints (bit 5) and a few cosmic rays (bit 3). */
function maskLike(): { data: Int32Array; width: number; height: number } {
  const width = 4072;
  const height = 4000;
  const data = new Int32Array(width * height);
  let s = 777;
  const rnd = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  for (let k = 0; k < 1500; k++) {
    const cx = Math.floor(rnd() * width);
    const cy = Math.floor(rnd() * height);
    const r = 2 + Math.floor(rnd() * 6);
    for (let y = Math.max(0, cy - r); y <= Math.min(height - 1, cy + r); y++) {
      for (let x = Math.max(0, cx - r); x <= Math.min(width - 1, cx + r); x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) data[y * width + x] |= 32;
    }
  }
  for (let k = 0; k < 1800; k++) data[Math.floor(rnd() * width * height)] |= 8;
  return { data, width, height };
}

/** A template-like file: sky noise around 800 e- in nJy, BSCALE-scaled to int32, and its variance. */
function templateLike(): { bytes: Uint8Array; pixels: number } {
  const w = 2200;
  const h = 2200;
  let s = 12345;
  const gauss = (): number => {
    let sum = 0;
    for (let k = 0; k < 4; k++) sum += (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    return (sum - 2) * 1.732;
  };
  const image = new Int32Array(w * h);
  const variance = new Int32Array(w * h);
  for (let i = 0; i < image.length; i++) {
    image[i] = Math.round((800 + 12 * gauss()) / 0.95);
    variance[i] = Math.round(800 / 0.0145) + Math.round(3 * gauss());
  }
  const bytes = writeFits({}, [
    { extname: 'IMAGE', width: w, height: h, data: image, bscale: 0.95, bzero: 0, compression: { type: 'RICE_1' } },
    { extname: 'VARIANCE', width: w, height: h, data: variance, bscale: 0.0145, bzero: 0, compression: { type: 'RICE_1' } },
  ]);
  return { bytes, pixels: w * h };
}
