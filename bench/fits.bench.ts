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
import { riceDecode } from '../src/fits/rice.ts';
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
      'RICE_1 encode and decode of one simulated ITL raw (16 amplifiers of 576x2048 int32), ours vs cfitsio fpack/funpack (process start subtracted), gzip -1; decoding alone into one reused array (oursDecodeIntoMs) against the per-tile JavaScript decoder doing the same (jsRiceDecodeIntoMs); templateFloat32DecodeMs: a 2200x2200 template-like image and variance (BSCALE-scaled int32, RICE_1) decoded to float32 with float32Into',
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
