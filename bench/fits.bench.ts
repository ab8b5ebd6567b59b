/**
 * FITS tile compression of a real-size raw: our RICE_1 encoder and decoder against cfitsio's
 * (fpack / funpack) on the same file, in the same run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { readFits } from '../src/fits/index.ts';
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
  const gzip = timeMs(() => void gzipSync(plain, { level: 1 }), 3);
  const figures: BenchResult['figures'] = {
    pixels: raw.hdus.reduce((n, h) => n + h.width * h.height, 0),
    oursEncodeMs: Math.round(encode.medianMs),
    oursDecodeMs: Math.round(decode.medianMs),
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
    what: 'RICE_1 encode and decode of one simulated ITL raw (16 amplifiers of 576x2048 int32), ours vs cfitsio fpack/funpack (process start subtracted) and gzip -1',
    figures,
  };
}
