// Rice decoding of the FITS tiled-image convention (ZCMPTYPE 'RICE_1'), many tiles per call, and
// the conversion of stored 32-bit integers to scaled float32 values.
//
// Stream of one tile: the first pixel raw (BYTEPIX bytes, big-endian), then blocks of BLOCKSIZE
// pixel differences, each block led by an FSBITS-wide code: 0 = all differences zero, FSMAX + 1 =
// differences stored raw (BBITS each), otherwise fs + 1 followed by Rice codes with fs low bits
// (a run of zeros, a one, fs bits). Differences are zig-zag mapped (0, -1, 1, -2 -> 0, 1, 2, 3).
// Bits are stored most significant first.
//
// The heap of streams is first reversed in place, so that eight stream bytes read big-endian are
// one little-endian i64 load (at decreasing addresses as the stream advances). The reader keeps a
// 64-bit buffer `buf` whose top `nbits` bits are the next unread bits; the bits below them are zero
// or the stream's own next bits (a refill ORs the next eight bytes in below the valid ones, so a
// bit it sets again gets the value it already had). `rp` is the address of the i64 whose most
// significant byte is the first byte not yet in the buffer. After a refill `nbits` is at least 56.

/** decodeTiles result: a block's split level is out of range. */
const CORRUPT: i32 = 1;
/** decodeTiles result: a tile's stream ends before its pixels do. */
const ENDS_EARLY: i32 = 2;

/** Pixels decoded between two checks that the stream has not run past its tile's bytes. */
const CHUNK: i32 = 64;

// The reader's state across a call of slowCode.
let sBuf: u64 = 0;
let sNbits: i32 = 0;
let sRp: usize = 0;

/** Reverses `n` bytes at `ptr` in place. */
function reverseBytes(ptr: usize, n: usize): void {
  if (n < 2) return;
  let a = ptr;
  let b = ptr + n - 16;
  while (a + 16 <= b) {
    const va = v128.load(a);
    const vb = v128.load(b);
    v128.store(a, i8x16.shuffle(vb, vb, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
    v128.store(b, i8x16.shuffle(va, va, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
    a += 16;
    b -= 16;
  }
  let y = b + 15;
  while (a < y) {
    const c = load<u8>(a);
    store<u8>(a, load<u8>(y));
    store<u8>(y, c);
    a++;
    y--;
  }
}

/**
 * One Rice code that does not fit the buffered bits: a zero run longer than them, or low bits
 * past them. Reader state in and out through sBuf, sNbits, sRp. Returns the code's value, or -1
 * when the zero run reaches below `rmin` (past the end of the stream).
 */
function slowCode(fs: i32, rmin: usize): i64 {
  let buf = sBuf;
  let nbits = sNbits;
  let rp = sRp;
  let nz: i32 = 0;
  for (;;) {
    const z = <i32>clz(buf);
    if (z < nbits) {
      nz += z;
      buf <<= <u64>z;
      nbits -= z;
      break;
    }
    nz += nbits;
    if (rp < rmin) return -1;
    buf = load<u64>(rp);
    rp -= 7;
    nbits = 56;
  }
  buf <<= 1;
  nbits -= 1;
  buf |= load<u64>(rp) >> <u64>nbits;
  const k = (63 - nbits) >> 3;
  rp -= <usize>k;
  nbits += k << 3;
  const diff = (nz << fs) | <i32>((buf >> <u64>(63 - fs)) >> 1);
  sBuf = buf << <u64>fs;
  sNbits = nbits - fs;
  sRp = rp;
  return <i64><u32>diff;
}

/**
 * Decodes `nTiles` RICE_1 tiles. The heap holds the streams (`heapLen` bytes at `heap`); it is
 * reversed in place. The reader may look at up to 1024 bytes past the end of a stream, which in
 * the reversed heap are the bytes below `heap`: they must be readable (their values do not matter). `tiles` holds three i32 per tile: the byte offset of its stream in the
 * heap, the stream's length in bytes (at least `bytePix`) and its pixel count. The pixels are
 * written as i32, one tile after the other, from `out`; BYTEPIX 2 values are sign-extended 16-bit,
 * BYTEPIX 1 values unsigned bytes.
 *
 * Returns 0, or CORRUPT / ENDS_EARLY with the tile index, the pixel and the split level at `info`
 * (three i32).
 */
export function decodeTiles(heap: usize, heapLen: i32, tiles: usize, nTiles: i32, out: usize, blockSize: i32, bytePix: i32, info: usize): i32 {
  reverseBytes(heap, <usize>heapLen);
  const top = heap + <usize>heapLen;
  let o = out;
  for (let t = 0; t < nTiles; t++) {
    const entry = tiles + <usize>t * 12;
    const n = load<i32>(entry, 8);
    // The i64 whose most significant byte is the stream's first byte.
    const r0 = top - 8 - <usize>load<i32>(entry);
    const code = decodeTile(r0, load<i32>(entry, 4), o, n, blockSize, bytePix);
    if (code != 0) {
      store<i32>(info, t);
      store<i32>(info, ePixel, 4);
      store<i32>(info, eFs, 8);
      return code;
    }
    o += <usize>n << 2;
  }
  const total = <i32>((o - out) >> 2);
  if (bytePix == 2) {
    let q = out;
    const e4 = out + (<usize>(total & ~3) << 2);
    for (; q < e4; q += 16) v128.store(q, i32x4.shr_s(i32x4.shl(v128.load(q), 16), 16));
    for (; q < o; q += 4) store<i32>(q, (load<i32>(q) << 16) >> 16);
  } else if (bytePix == 1) {
    let q = out;
    const e4 = out + (<usize>(total & ~3) << 2);
    const m = i32x4.splat(0xff);
    for (; q < e4; q += 16) v128.store(q, v128.and(v128.load(q), m));
    for (; q < o; q += 4) store<i32>(q, load<i32>(q) & 0xff);
  }
  return 0;
}

// Where decodeTile failed: the pixel and the block's split level.
let ePixel: i32 = 0;
let eFs: i32 = 0;

/** Keeps the pixel index and split level of an error; returns `code`. */
// @ts-ignore: decorator
@inline
function fail(code: i32, o: usize, q: usize, fs: i32): i32 {
  ePixel = <i32>((q - o) >> 2);
  eFs = fs;
  return code;
}

/** One tile: `len` stream bytes from the i64 at `r0` (reversed heap), `n` pixels to `o`. */
function decodeTile(r0: usize, len: i32, o: usize, n: i32, blockSize: i32, bytePix: i32): i32 {
  const fsbits: i32 = bytePix == 1 ? 3 : bytePix == 2 ? 4 : 5;
  const fsmax: i32 = bytePix == 1 ? 6 : bytePix == 2 ? 14 : 25;
  const bbits: i32 = bytePix << 3;
  const endBits = <i64>len << 3;
  // Where a zero run is given up: 16 bytes past the end of the stream.
  const rmin = r0 - <usize>len - 16;
  let lastpix: i32 = 0;
  for (let k = 0; k < bytePix; k++) lastpix = (lastpix << 8) | <i32>load<u8>(r0 + 7 - <usize>k);
  let rp = r0 - <usize>bytePix;
  let buf: u64 = 0;
  let nbits: i32 = 0;
  let q = o;
  const qn = o + (<usize>n << 2);
  while (q < qn) {
    buf |= load<u64>(rp) >> <u64>nbits;
    let k = (63 - nbits) >> 3;
    rp -= <usize>k;
    nbits += k << 3;
    const fs = <i32>(buf >> <u64>(64 - fsbits)) - 1;
    buf <<= <u64>fsbits;
    nbits -= fsbits;
    const qb = <i32>((qn - q) >> 2) < blockSize ? qn : q + (<usize>blockSize << 2);
    if (fs < 0) {
      const v = i32x4.splat(lastpix);
      for (; q + 16 <= qb; q += 16) v128.store(q, v);
      for (; q < qb; q += 4) store<i32>(q, lastpix);
    } else if (fs > fsmax) {
      return fail(CORRUPT, o, q, fs);
    } else if (fs == fsmax) {
      // High-entropy block: differences stored raw, bbits each.
      while (q < qb) {
        const qc = qb - q < <usize>(CHUNK << 2) ? qb : q + (<usize>CHUNK << 2);
        for (; q < qc; q += 4) {
          buf |= load<u64>(rp) >> <u64>nbits;
          k = (63 - nbits) >> 3;
          rp -= <usize>k;
          nbits += k << 3;
          const diff = <i32>(buf >> <u64>(64 - bbits));
          buf <<= <u64>bbits;
          nbits -= bbits;
          lastpix += (diff >>> 1) ^ -(diff & 1);
          store<i32>(q, lastpix);
        }
        if (<i64>(r0 - rp) * 8 - nbits > endBits) break;
      }
    } else {
      // Rice codes, a group of them per refill, sized so that the group's codes nearly always
      // fit the buffered bits: each code is then a leading-zero count and shifts of the buffer,
      // and the refill's load stays off the chain from one code to the next. A code that does
      // not fit (its zero run and fs bits reach past `room` + fs buffered bits) ends the group
      // and is decoded by slowCode. The loop stores the zig-zag mapped differences; undiff turns
      // them into pixel values afterwards, four at a time.
      const fs1 = fs + 1;
      const group = <usize>(56 / (fs1 + 5)) << 2;
      const qs = q;
      const sh = <u64>(63 - fs);
      const fs1l = <u64>fs1;
      while (q < qb) {
        const qc = qb - q < <usize>(CHUNK << 2) ? qb : q + (<usize>CHUNK << 2);
        while (q < qc) {
          buf |= load<u64>(rp) >> <u64>nbits;
          k = (63 - nbits) >> 3;
          rp -= <usize>k;
          nbits += k << 3;
          const qg = qc - q < group ? qc : q + group;
          let room = nbits - fs;
          for (; q < qg; q += 4) {
            const nz = clz(buf);
            const nzi = <i32>nz;
            if (nzi >= room) break;
            const diff = <i32>((buf << nz) >> sh) + ((nzi - 1) << fs);
            const adv = nz + fs1l;
            buf <<= adv;
            room -= <i32>adv;
            store<i32>(q, diff);
          }
          nbits = room + fs;
          if (q < qg) {
            sBuf = buf;
            sNbits = nbits;
            sRp = rp;
            const d = slowCode(fs, rmin);
            if (d < 0) return fail(ENDS_EARLY, o, q, fs);
            buf = sBuf;
            nbits = sNbits;
            rp = sRp;
            store<i32>(q, <i32>d);
            q += 4;
          }
        }
        if (<i64>(r0 - rp) * 8 - nbits > endBits) break;
      }
      lastpix = undiff(qs, q, lastpix);
    }
    if (<i64>(r0 - rp) * 8 - nbits > endBits) return fail(ENDS_EARLY, o, q, fs);
  }
  return 0;
}

/**
 * Stored 32-bit integers to physical float32 values in place: v · scale + zero computed in float64
 * and rounded once to float32; pixels equal to `blank` (when `hasBlank`) become NaN.
 */
export function scaleInt32ToFloat32(ptr: usize, n: i32, scale: f64, zero: f64, blank: i32, hasBlank: bool): void {
  const n4 = n & ~3;
  const s = f64x2.splat(scale);
  const z = f64x2.splat(zero);
  const e4 = ptr + (<usize>n4 << 2);
  let q = ptr;
  if (hasBlank) {
    const b = i32x4.splat(blank);
    const nan = f32x4.splat(NaN);
    for (; q < e4; q += 16) {
      const v = v128.load(q);
      const lo = f64x2.add(f64x2.mul(f64x2.convert_low_i32x4_s(v), s), z);
      const hi = f64x2.add(f64x2.mul(f64x2.convert_low_i32x4_s(i8x16.shuffle(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7)), s), z);
      const f = i8x16.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
      v128.store(q, v128.bitselect(nan, f, i32x4.eq(v, b)));
    }
  } else {
    for (; q < e4; q += 16) {
      const v = v128.load(q);
      const lo = f64x2.add(f64x2.mul(f64x2.convert_low_i32x4_s(v), s), z);
      const hi = f64x2.add(f64x2.mul(f64x2.convert_low_i32x4_s(i8x16.shuffle(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7)), s), z);
      v128.store(q, i8x16.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23));
    }
  }
  const e = ptr + (<usize>n << 2);
  for (; q < e; q += 4) {
    const v = load<i32>(q);
    store<f32>(q, hasBlank && v == blank ? NaN : <f32>(<f64>v * scale + zero));
  }
}

/**
 * Zig-zag mapped differences at [p, e) replaced by the pixel values they lead to from `last`
 * (a prefix sum, four lanes at a time); returns the last value.
 */
function undiff(p: usize, e: usize, last: i32): i32 {
  let acc = i32x4.splat(last);
  const one = i32x4.splat(1);
  const zero = i32x4.splat(0);
  for (; p + 16 <= e; p += 16) {
    let d = v128.load(p);
    d = v128.xor(i32x4.shr_u(d, 1), i32x4.neg(v128.and(d, one)));
    d = i32x4.add(d, i8x16.shuffle(zero, d, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27));
    d = i32x4.add(d, i8x16.shuffle(zero, d, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23));
    d = i32x4.add(d, acc);
    v128.store(p, d);
    acc = i8x16.shuffle(d, d, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15);
  }
  let v = i32x4.extract_lane(acc, 0);
  for (; p < e; p += 4) {
    const diff = load<i32>(p);
    v += (diff >>> 1) ^ -(diff & 1);
    store<i32>(p, v);
  }
  return v;
}
