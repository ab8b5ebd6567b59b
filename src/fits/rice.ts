/**
 * Rice coding of integer pixels as used by the FITS tiled-image convention (ZCMPTYPE 'RICE_1').
 *
 * Stream layout: the first pixel raw (BYTEPIX bytes, big-endian), then blocks of BLOCKSIZE
 * pixel differences. Each block starts with an FSBITS-wide code: 0 = all differences zero,
 * FSMAX+1 = differences stored raw (BBITS each), otherwise fs+1 followed by Rice codes with
 * fs low bits. Differences are mapped to unsigned by zig-zag (0,-1,1,-2 -> 0,1,2,3) using
 * BYTEPIX-wide wrap-around arithmetic. Bits are written most significant first.
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

/** Number of significant bits in each byte value. */
const BIT_LENGTH = (() => {
  const t = new Uint8Array(256);
  for (let i = 1; i < 256; i++) t[i] = 32 - Math.clz32(i);
  return t;
})();

function paramsFor(bytepix: number): RiceParams {
  const p = PARAMS[bytepix as RiceBytePix];
  if (!p) throw new FitsError(`RICE_1 BYTEPIX must be 1, 2 or 4, got ${bytepix}`, { keyword: 'ZVAL2' });
  return p;
}

/** Upper bound of the encoded size of `n` pixels. */
export function riceMaxEncodedSize(n: number, blockSize: number, bytepix: RiceBytePix): number {
  const blocks = Math.ceil(n / blockSize);
  return bytepix + blocks + n * bytepix + 8;
}

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
  if (end - start < bytepix + 1 || end > src.length) {
    throw new FitsError(`RICE_1 tile too short (${end - start} bytes for ${n} pixels)`, { offset: errorOffset });
  }
  if (!(blockSize > 0)) throw new FitsError(`RICE_1 BLOCKSIZE must be positive, got ${blockSize}`, { keyword: 'ZVAL1' });
  let c = start;
  let lastpix: number;
  if (bytepix === 4) {
    lastpix = (src[c] << 24) | (src[c + 1] << 16) | (src[c + 2] << 8) | src[c + 3];
    c += 4;
  } else if (bytepix === 2) {
    lastpix = (src[c] << 8) | src[c + 1];
    c += 2;
  } else {
    lastpix = src[c];
    c += 1;
  }
  let b = src[c++];
  let nbits = 8;
  const fsmask = (1 << fsbits) - 1;
  for (let i = 0; i < n; ) {
    nbits -= fsbits;
    while (nbits < 0) {
      b = (b << 8) | src[c++];
      nbits += 8;
    }
    const fs = ((b >>> nbits) & fsmask) - 1;
    b &= (1 << nbits) - 1;
    const imax = i + blockSize < n ? i + blockSize : n;
    if (fs < 0) {
      out.fill(lastpix, outOff + i, outOff + imax);
      i = imax;
    } else if (fs === fsmax) {
      for (; i < imax; i++) {
        let diff = b;
        let need = bbits - nbits;
        while (need >= 8) {
          diff = (diff << 8) | src[c++];
          need -= 8;
        }
        if (need > 0) {
          const nb = src[c++];
          diff = (diff << need) | (nb >>> (8 - need));
          b = nb & ((1 << (8 - need)) - 1);
        } else {
          b = 0;
        }
        lastpix = (lastpix + ((diff & 1) === 0 ? diff >>> 1 : ~(diff >>> 1))) | 0;
        out[outOff + i] = lastpix;
      }
    } else {
      for (; i < imax; i++) {
        while (b === 0) {
          nbits += 8;
          b = src[c++];
          if (c > end) break;
        }
        const nzero = nbits - BIT_LENGTH[b];
        nbits -= nzero + 1;
        b ^= 1 << nbits;
        nbits -= fs;
        while (nbits < 0) {
          b = (b << 8) | src[c++];
          nbits += 8;
        }
        const diff = (nzero << fs) | (b >>> nbits);
        b &= (1 << nbits) - 1;
        lastpix = (lastpix + ((diff & 1) === 0 ? diff >>> 1 : ~(diff >>> 1))) | 0;
        out[outOff + i] = lastpix;
      }
    }
    if (c > end) {
      throw new FitsError(`RICE_1 stream ends early (decoded ${i} of ${n} pixels)`, { offset: errorOffset });
    }
  }
  if (bytepix === 2) {
    for (let i = outOff, e = outOff + n; i < e; i++) out[i] = (out[i] << 16) >> 16;
  } else if (bytepix === 1) {
    for (let i = outOff, e = outOff + n; i < e; i++) out[i] &= 0xff;
  }
}

let diffScratch = new Uint32Array(64);

/**
 * Encode `n` pixels `src[srcOff, srcOff + n)` into `dst` at `dstOff`; returns the number of bytes
 * written. `dst` must have room for riceMaxEncodedSize(n, blockSize, bytepix) bytes. Pixel values
 * are taken modulo 2^(8*bytepix). The output is bit-identical to cfitsio's encoder.
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
  if (diffScratch.length < blockSize) diffScratch = new Uint32Array(blockSize);
  const diffs = diffScratch;
  const shift = 32 - 8 * bytepix;
  let p = dstOff;
  const first = src[srcOff];
  if (bytepix === 4) {
    dst[p++] = first >>> 24;
    dst[p++] = first >>> 16;
    dst[p++] = first >>> 8;
    dst[p++] = first;
  } else if (bytepix === 2) {
    dst[p++] = first >>> 8;
    dst[p++] = first;
  } else {
    dst[p++] = first;
  }
  let acc = 0; // pending bits live in the low `nb` bits
  let nb = 0;
  let lastpix = first;
  for (let i = 0; i < n; i += blockSize) {
    const thisblock = n - i < blockSize ? n - i : blockSize;
    let pixelsum = 0;
    const base = srcOff + i;
    for (let j = 0; j < thisblock; j++) {
      const next = src[base + j];
      const pdiff = ((next - lastpix) << shift) >> shift;
      const d = ((pdiff << 1) ^ (pdiff >> 31)) >>> 0;
      diffs[j] = d;
      pixelsum += d;
      lastpix = next;
    }
    let dpsum = (pixelsum - (thisblock >> 1) - 1) / thisblock;
    if (dpsum < 0) dpsum = 0;
    const psum = (dpsum >>> 0) >>> 1;
    const fs = psum === 0 ? 0 : 32 - Math.clz32(psum);
    if (fs >= fsmax) {
      acc = (acc << fsbits) | (fsmax + 1);
      nb += fsbits;
      while (nb >= 8) {
        nb -= 8;
        dst[p++] = acc >>> nb;
      }
      for (let j = 0; j < thisblock; j++) {
        const v = diffs[j];
        if (bbits === 32) {
          acc = (acc << 16) | (v >>> 16);
          nb += 16;
          while (nb >= 8) {
            nb -= 8;
            dst[p++] = acc >>> nb;
          }
          acc = (acc << 16) | (v & 0xffff);
        } else {
          acc = (acc << bbits) | v;
        }
        nb += bbits === 32 ? 16 : bbits;
        while (nb >= 8) {
          nb -= 8;
          dst[p++] = acc >>> nb;
        }
      }
    } else if (fs === 0 && pixelsum === 0) {
      acc <<= fsbits;
      nb += fsbits;
      while (nb >= 8) {
        nb -= 8;
        dst[p++] = acc >>> nb;
      }
    } else {
      acc = (acc << fsbits) | (fs + 1);
      nb += fsbits;
      while (nb >= 8) {
        nb -= 8;
        dst[p++] = acc >>> nb;
      }
      const mask = (1 << fs) - 1;
      const lead = 1 << fs;
      for (let j = 0; j < thisblock; j++) {
        const v = diffs[j];
        let top = v >>> fs;
        if (top + fs < 24) {
          const len = top + 1 + fs;
          acc = (acc << len) | lead | (v & mask);
          nb += len;
        } else {
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
          acc = (acc << (fs + 1)) | lead | (v & mask);
          nb += fs + 1;
        }
        while (nb >= 8) {
          nb -= 8;
          dst[p++] = acc >>> nb;
        }
      }
    }
  }
  if (nb > 0) dst[p++] = acc << (8 - nb);
  return p - dstOff;
}
