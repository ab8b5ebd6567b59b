/**
 * Rice coding of integer pixels as used by the FITS tiled-image convention (ZCMPTYPE 'RICE_1').
 *
 * Stream layout: the first pixel raw (BYTEPIX bytes, big-endian), then blocks of BLOCKSIZE
 * pixel differences. Each block starts with an FSBITS-wide code: 0 = all differences zero,
 * FSMAX+1 = differences stored raw (BBITS each), otherwise fs+1 followed by Rice codes with
 * fs low bits. Differences are mapped to unsigned by zig-zag (0,-1,1,-2 -> 0,1,2,3) using
 * BYTEPIX-wide wrap-around arithmetic. Bits are written most significant first.
 *
 * Images are decoded and encoded by the WebAssembly kernels (wasm/rice.ts, many tiles per call,
 * see compressed.ts); riceDecode and riceEncode here code one stream in JavaScript and are the
 * references the kernels are tested against.
 */
import { FitsError } from './errors.ts';

export type RiceBytePix = 1 | 2 | 4;

interface RiceParams {
  readonly fsbits: number;
  readonly fsmax: number;
  readonly bbits: number;
}

const PARAMS: Readonly<Record<RiceBytePix, RiceParams>> = {
  1: { fsbits: 3, fsmax: 6, bbits: 8 },
  2: { fsbits: 4, fsmax: 14, bbits: 16 },
  4: { fsbits: 5, fsmax: 25, bbits: 32 },
};

function paramsFor(bytepix: number): RiceParams {
  const p = PARAMS[bytepix as RiceBytePix];
  if (!p) throw new FitsError(`RICE_1 BYTEPIX must be 1, 2 or 4, got ${bytepix}`, { keyword: 'ZVAL2' });
  return p;
}

/**
 * Upper bound of the encoded size of `n` pixels, plus slack for the encoder's speculative stores.
 * (A Rice-coded block never needs more than about fs + 3 bits per pixel, which is at most the raw
 * size; a quarter more is kept as margin.)
 */
export function riceMaxEncodedSize(n: number, blockSize: number, bytepix: RiceBytePix): number {
  const blocks = Math.ceil(n / blockSize);
  return bytepix + blocks + Math.ceil(n * bytepix * 1.25) + 16;
}

/** Zero-padded copy of a tile that ends too close to the end of its array. */
let padScratch = new Uint8Array(0);

/**
 * Decode `n` pixels from `src[start, end)` into `out[outOff, outOff + n)`.
 * BYTEPIX 2 values are sign-extended 16-bit; BYTEPIX 1 values are unsigned bytes.
 * Throws FitsError (with `errorOffset`) if the stream is shorter than it should be.
 */
export function riceDecode(
  src: Uint8Array,
  start: number,
  end: number,
  out: Int32Array,
  outOff: number,
  n: number,
  blockSize: number,
  bytepix: RiceBytePix,
  errorOffset = start,
): void {
  const { fsbits, fsmax, bbits } = paramsFor(bytepix);
  if (n <= 0) return;
  if (end - start < bytepix || end > src.length || start < 0) {
    throw new FitsError(`RICE_1 tile too short (${end - start} bytes for ${n} pixels)`, { offset: errorOffset });
  }
  if (!(blockSize > 0)) throw new FitsError(`RICE_1 BLOCKSIZE must be positive, got ${blockSize}`, { keyword: 'ZVAL1' });
  // The bit reservoir reads up to 4 bytes ahead: work on a zero-padded copy near the array end.
  if (end + 8 > src.length) {
    const len = end - start;
    if (padScratch.length < len + 8) padScratch = new Uint8Array(len + 64);
    padScratch.set(src.subarray(start, end));
    padScratch.fill(0, len, len + 8);
    src = padScratch;
    end = len;
    start = 0;
  }
  decodeStream(src, start, end, out, outOff, n, blockSize, bytepix, fsbits, fsmax, bbits, errorOffset);
  if (bytepix === 2) {
    for (let i = outOff, e = outOff + n; i < e; i++) out[i] = (out[i] << 16) >> 16;
  } else if (bytepix === 1) {
    for (let i = outOff, e = outOff + n; i < e; i++) out[i] &= 0xff;
  }
}

/** State handed back by slowCode (avoids allocating in the hot loop). */
const slow = { c: 0, acc: 0, avail: 0, diff: 0 };

/** One Rice code whose bits do not all sit in the reservoir (long zero run or straddling low bits). */
function slowCode(src: Uint8Array, c: number, end: number, acc: number, avail: number, fs: number): void {
  let nz: number;
  if (acc === 0) {
    nz = avail;
    while (src[c] === 0 && c < end) {
      nz += 8;
      c++;
    }
    const byte = src[c++];
    const lead = Math.clz32(byte) - 24;
    nz += lead;
    acc = (byte << (24 + lead)) << 1; // two shifts: a shift by 32 would be a shift by 0
    avail = 7 - lead;
  } else {
    nz = Math.clz32(acc);
    acc = (acc << nz) << 1;
    avail -= nz + 1;
  }
  while (avail <= 24) {
    acc |= src[c++] << (24 - avail);
    avail += 8;
  }
  slow.diff = (nz << fs) | ((acc >>> 1) >>> (31 - fs));
  slow.acc = acc << fs;
  slow.avail = avail - fs;
  slow.c = c;
}

/**
 * The decoding loop. The reservoir `acc` holds `avail` unread bits left-aligned (next bit in the
 * most significant position); bits below them are zero. `src` has at least 8 readable bytes past `end`.
 */
function decodeStream(
  src: Uint8Array,
  start: number,
  end: number,
  out: Int32Array,
  outOff: number,
  n: number,
  blockSize: number,
  bytepix: number,
  fsbits: number,
  fsmax: number,
  bbits: number,
  errorOffset: number,
): void {
  let c = start;
  let lastpix = 0;
  for (let k = 0; k < bytepix; k++) lastpix = (lastpix << 8) | src[c++];
  let acc = 0;
  let avail = 0;
  for (let i = 0; i < n; ) {
    while (avail <= 24) {
      acc |= src[c++] << (24 - avail);
      avail += 8;
    }
    const fs = (acc >>> (32 - fsbits)) - 1;
    acc <<= fsbits;
    avail -= fsbits;
    const imax = i + blockSize < n ? i + blockSize : n;
    if (fs < 0) {
      out.fill(lastpix, outOff + i, outOff + imax);
      i = imax;
    } else if (fs > fsmax) {
      throw new FitsError(`RICE_1 stream is corrupt (split level ${fs} at pixel ${i})`, { offset: errorOffset });
    } else if (fs === fsmax) {
      // High-entropy block: differences stored raw, bbits each (read as halves of at most 16 bits).
      const half = bbits === 32 ? 16 : bbits;
      for (; i < imax; i++) {
        let diff = 0;
        for (let got = 0; got < bbits; got += half) {
          while (avail <= 24) {
            acc |= src[c++] << (24 - avail);
            avail += 8;
          }
          diff = (diff << half) | (acc >>> (32 - half));
          acc <<= half;
          avail -= half;
        }
        lastpix = (lastpix + ((diff >>> 1) ^ -(diff & 1))) | 0;
        out[outOff + i] = lastpix;
      }
    } else {
      for (; i < imax; i++) {
        // Branch-free refill of 16 bits when fewer than 16 remain.
        const f = (avail - 16) >>> 31;
        acc |= (((src[c] << 8) | src[c + 1]) << (16 - avail)) & -f;
        c += f << 1;
        avail += f << 4;
        const nz = Math.clz32(acc);
        let diff: number;
        if (nz + 1 + fs <= avail) {
          acc = (acc << nz) << 1;
          diff = (nz << fs) | ((acc >>> 1) >>> (31 - fs));
          acc <<= fs;
          avail -= nz + 1 + fs;
        } else {
          slowCode(src, c, end, acc, avail, fs);
          c = slow.c;
          acc = slow.acc;
          avail = slow.avail;
          diff = slow.diff;
        }
        lastpix = (lastpix + ((diff >>> 1) ^ -(diff & 1))) | 0;
        out[outOff + i] = lastpix;
      }
    }
    if (c - (avail >> 3) > end) {
      throw new FitsError(`RICE_1 stream ends early (decoded ${i} of ${n} pixels)`, { offset: errorOffset });
    }
  }
}

let diffScratch = new Int32Array(1024);
let fsScratch = new Int32Array(64);

/**
 * Encode `n` pixels `src[srcOff, srcOff + n)` into `dst` at `dstOff`; returns the number of bytes
 * written. `dst` must have room for riceMaxEncodedSize(n, blockSize, bytepix) bytes from `dstOff`
 * (a few bytes past the returned length may be scribbled on). Pixel values are taken modulo
 * 2^(8*bytepix). The output is bit-identical to cfitsio's encoder.
 */
export function riceEncode(
  src: Int32Array,
  srcOff: number,
  n: number,
  blockSize: number,
  bytepix: RiceBytePix,
  dst: Uint8Array,
  dstOff: number,
): number {
  const { fsbits, fsmax, bbits } = paramsFor(bytepix);
  if (n <= 0) return 0;
  if (!(blockSize > 0)) throw new FitsError(`RICE_1 BLOCKSIZE must be positive, got ${blockSize}`);
  if (diffScratch.length < n) diffScratch = new Int32Array(n);
  const nblocks = Math.ceil(n / blockSize);
  if (fsScratch.length < nblocks) fsScratch = new Int32Array(nblocks);
  const first = src[srcOff];
  mapDifferences(src, srcOff, n, blockSize, 32 - 8 * bytepix, fsmax, diffScratch, fsScratch);
  let p = dstOff;
  for (let k = bytepix - 1; k >= 0; k--) dst[p++] = first >>> (8 * k);
  const end = writeCodes(diffScratch, n, blockSize, fsScratch, fsbits, fsmax, bbits, dst, p);
  // Typed-array stores past the end are dropped silently: make that loud.
  if (end + 2 > dst.length) throw new FitsError(`RICE_1 output buffer too small (${dst.length - dstOff} bytes for ${n} pixels)`);
  return end - dstOff;
}

/**
 * Zig-zag mapped differences (in `bits`-wide wrap-around arithmetic) and the split level of each
 * block: fs, or -1 for an all-zero block (fsmax for raw blocks).
 */
function mapDifferences(
  src: Int32Array,
  srcOff: number,
  n: number,
  blockSize: number,
  shift: number,
  fsmax: number,
  diffs: Int32Array,
  fsOut: Int32Array,
): void {
  let lastpix = src[srcOff];
  let b = 0;
  for (let i = 0; i < n; i += blockSize) {
    const e = n - i < blockSize ? n : i + blockSize;
    let pixelsum = 0;
    if (shift === 0) {
      for (let j = i; j < e; j++) {
        const next = src[srcOff + j];
        const pdiff = (next - lastpix) | 0;
        const d = (pdiff << 1) ^ (pdiff >> 31);
        diffs[j] = d;
        pixelsum += d >>> 0;
        lastpix = next;
      }
    } else {
      for (let j = i; j < e; j++) {
        const next = src[srcOff + j];
        const pdiff = ((next - lastpix) << shift) >> shift;
        const d = (pdiff << 1) ^ (pdiff >> 31);
        diffs[j] = d;
        pixelsum += d;
        lastpix = next;
      }
    }
    const thisblock = e - i;
    let dpsum = (pixelsum - (thisblock >> 1) - 1) / thisblock;
    if (dpsum < 0) dpsum = 0;
    const psum = (dpsum >>> 0) >>> 1;
    const fs = psum === 0 ? 0 : 32 - Math.clz32(psum);
    fsOut[b++] = fs >= fsmax ? fsmax : fs === 0 && pixelsum === 0 ? -1 : fs;
  }
}

const longState = { acc: 0, nb: 0 };

/** A Rice code longer than 16 bits (rare); returns the new position, state in longState. */
function writeLongCode(dst: Uint8Array, p: number, acc: number, nb: number, v: number, fs: number): number {
  while (nb >= 8) {
    nb -= 8;
    dst[p++] = acc >>> nb;
  }
  let top = v >>> fs;
  while (top > 0) {
    const k = top > 16 ? 16 : top;
    acc <<= k;
    nb += k;
    top -= k;
    while (nb >= 8) {
      nb -= 8;
      dst[p++] = acc >>> nb;
    }
  }
  longState.acc = (acc << (fs + 1)) | (1 << fs) | (v & ((1 << fs) - 1));
  longState.nb = nb + fs + 1;
  return p;
}

/** Write block codes and Rice codes; returns the end position in `dst`. */
function writeCodes(
  diffs: Int32Array,
  n: number,
  blockSize: number,
  fsOf: Int32Array,
  fsbits: number,
  fsmax: number,
  bbits: number,
  dst: Uint8Array,
  p: number,
): number {
  // Pending bits live in the low `nb` bits of `acc`; before each code at most 15 are pending.
  let acc = 0;
  let nb = 0;
  let b = 0;
  for (let i = 0; i < n; i += blockSize) {
    const e = n - i < blockSize ? n : i + blockSize;
    const fs = fsOf[b++];
    while (nb >= 8) {
      nb -= 8;
      dst[p++] = acc >>> nb;
    }
    if (fs === fsmax) {
      acc = (acc << fsbits) | (fsmax + 1);
      nb += fsbits;
      const half = bbits === 32 ? 16 : bbits;
      for (let j = i; j < e; j++) {
        const v = diffs[j];
        for (let left = bbits - half; left >= 0; left -= half) {
          while (nb >= 8) {
            nb -= 8;
            dst[p++] = acc >>> nb;
          }
          acc = (acc << half) | ((v >>> left) & ((1 << half) - 1));
          nb += half;
        }
      }
    } else if (fs < 0) {
      acc <<= fsbits;
      nb += fsbits;
    } else {
      acc = (acc << fsbits) | (fs + 1);
      nb += fsbits;
      const mask = (1 << fs) - 1;
      const lead = 1 << fs;
      for (let j = i; j < e; j++) {
        const v = diffs[j];
        const len = (v >>> fs) + 1 + fs;
        // Branch-free flush of 16 bits when 16 or more are pending (the speculative stores are
        // overwritten later when no flush happens).
        const f = (nb >> 4) & 1;
        dst[p] = acc >>> (nb - 8);
        dst[p + 1] = acc >>> (nb - 16);
        p += f << 1;
        nb -= f << 4;
        if (len <= 16) {
          acc = (acc << len) | lead | (v & mask);
          nb += len;
        } else {
          p = writeLongCode(dst, p, acc, nb, v, fs);
          acc = longState.acc;
          nb = longState.nb;
        }
      }
    }
  }
  while (nb >= 8) {
    nb -= 8;
    dst[p++] = acc >>> nb;
  }
  if (nb > 0) dst[p++] = acc << (8 - nb);
  return p;
}
