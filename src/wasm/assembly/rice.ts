// Rice decoding and encoding of the FITS tiled-image convention (ZCMPTYPE 'RICE_1'), many tiles
// per call, the conversion of stored 32-bit integers to scaled float32 values, and byte-order
// swapping.
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

// Quantized floats back to float32, in place (int32 in, float32 out at the same addresses), as
// FITS tile compression restores them: v · scale + zero, or with subtractive dithering
// (v − r + 0.5) · scale + zero, r walking the 10000-entry float32 table from the tile's seed
// index (a new start every 10000 pixels); BLANK → NaN, and with SUBTRACTIVE_DITHER_2 the zero
// marker → 0. Arithmetic in float64, rounded once: the values JavaScript stores.
export function unquantizeTile(ptr: usize, n: i32, table: usize, iseed: i32, dither: bool, dither2: bool, scale: f64, zero: f64, blank: i32, hasBlank: bool): void {
  if (!dither) {
    for (let i = 0; i < n; i++) {
      const p = ptr + (<usize>i << 2);
      const v = load<i32>(p);
      store<f32>(p, hasBlank && v == blank ? NaN : <f32>(<f64>v * scale + zero));
    }
    return;
  }
  let seed = iseed;
  let next = <i32>(<f64>load<f32>(table + (<usize>seed << 2)) * 500);
  for (let i = 0; i < n; i++) {
    const p = ptr + (<usize>i << 2);
    const v = load<i32>(p);
    let out: f32;
    if (hasBlank && v == blank) out = NaN;
    else if (dither2 && v == -2147483646) out = 0;
    else out = <f32>((<f64>v - <f64>load<f32>(table + (<usize>next << 2)) + 0.5) * scale + zero);
    store<f32>(p, out);
    next++;
    if (next == 10000) {
      seed++;
      if (seed == 10000) seed = 0;
      next = <i32>(<f64>load<f32>(table + (<usize>seed << 2)) * 500);
    }
  }
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

// Encoding. Each block's pixels are replaced in place by their zig-zag mapped differences (SIMD),
// its split level is chosen from the sum of those (as cfitsio does) and its codes are written.
// The writer keeps pending bits in the low `nb` bits of a u64 `buf` (bits above them are stale and
// shift out); before each step at most 31 are pending and a step (a code, or two short ones)
// adds at most 32, after which 32 bits are stored when there are as many: as a native
// (little-endian) u32, the words being byte-swapped to stream order at the end of the tile.

/**
 * Encodes `nTiles` tiles as RICE_1. The pixels (i32, one tile after the other from `pix`) are
 * overwritten. `tiles` holds two i32 per tile: its pixel count (in), the length of its stream in
 * bytes (out). The streams are written one after the other from `out`, which needs room for
 * each tile's worst case (as riceMaxEncodedSize) plus 4 bytes. BYTEPIX 2 and 1 take the values
 * modulo 2^16 and 2^8. Returns the total length of the streams.
 */
export function encodeTiles(pix: usize, tiles: usize, nTiles: i32, out: usize, blockSize: i32, bytePix: i32): i32 {
  let q = pix;
  let p = out;
  for (let t = 0; t < nTiles; t++) {
    const entry = tiles + <usize>t * 8;
    const n = load<i32>(entry);
    const e = encodeTile(q, n, p, blockSize, bytePix);
    store<i32>(entry, <i32>(e - p), 4);
    p = e;
    q += <usize>n << 2;
  }
  return <i32>(p - out);
}

/** One tile of `n` pixels at `q` (overwritten) to a stream at `p`; returns the stream's end. */
function encodeTile(q: usize, n: i32, p: usize, blockSize: i32, bytePix: i32): usize {
  if (n <= 0) return p;
  const fsbits: i32 = bytePix == 1 ? 3 : bytePix == 2 ? 4 : 5;
  const fsmax: i32 = bytePix == 1 ? 6 : bytePix == 2 ? 14 : 25;
  const bbits: u64 = <u64>(bytePix << 3);
  const first = load<i32>(q);
  if (bytePix == 4) store<u32>(p, bswap<u32>(<u32>first));
  else if (bytePix == 2) store<u16>(p, bswap<u16>(<u16>first));
  else store<u8>(p, <u8>first);
  p += <usize>bytePix;
  const p0 = p;
  const shift = 32 - (bytePix << 3);
  // With blocks of whole vectors the differences are mapped block by block (and a block of equal
  // pixels is known without mapping them); otherwise all are mapped first.
  const byBlock = (blockSize & 3) == 0;
  if (!byBlock) mapDifferences(q, n, first, shift);
  // The pixel before the block (by blocks), and whether the block before was all zero.
  let lastPix = first;
  let quiet = true;
  let buf: u64 = 0;
  let nb: i32 = 0;
  const qn = q + (<usize>n << 2);
  while (q < qn) {
    const len = <i32>((qn - q) >> 2) < blockSize ? <i32>((qn - q) >> 2) : blockSize;
    const qb = q + (<usize>len << 2);
    let sum: u64 = 0;
    if (byBlock) {
      const last = lastPix;
      lastPix = load<i32>(qb - 4);
      // After a block of zeros, first whether any pixel differs from the one before it (in the
      // low 32 − shift bits): most blocks of a mask do not.
      let changes = true;
      if (quiet) {
        let prev = i32x4.splat(last);
        let any = i32x4.splat(0);
        let r = q;
        for (; r + 16 <= qb; r += 16) {
          const cur = v128.load(r);
          any = v128.or(any, v128.xor(cur, i8x16.shuffle(prev, cur, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27)));
          prev = cur;
        }
        // The image's last block may end inside a vector.
        let before = i32x4.extract_lane(prev, 3);
        let tail: i32 = 0;
        for (; r < qb; r += 4) {
          const next = load<i32>(r);
          tail |= next ^ before;
          before = next;
        }
        changes = v128.any_true(i32x4.shl(v128.or(any, i32x4.splat(tail)), shift));
      }
      if (changes) sum = mapAndSum(q, len, last, shift);
      quiet = sum == 0;
    } else {
      sum = blockSum(q, qb);
    }
    if (sum == 0) {
      // All differences zero.
      buf <<= <u64>fsbits;
      nb += fsbits;
      store<u32>(p, <u32>(buf >> <u64>(nb - 32)));
      const f = nb >> 5;
      p += <usize>(f << 2);
      nb -= f << 5;
      q = qb;
      continue;
    }
    let dpsum = (<f64>sum - <f64>(len >> 1) - 1.0) / <f64>len;
    if (dpsum < 0) dpsum = 0;
    const psum = (<u32>dpsum) >> 1;
    const fs: i32 = psum == 0 ? 0 : 32 - <i32>clz(psum);
    if (fs >= fsmax) {
      // High-entropy block: differences stored raw, bbits each.
      buf = (buf << <u64>fsbits) | <u64>(fsmax + 1);
      nb += fsbits;
      store<u32>(p, <u32>(buf >> <u64>(nb - 32)));
      let f = nb >> 5;
      p += <usize>(f << 2);
      nb -= f << 5;
      for (; q < qb; q += 4) {
        buf = (buf << bbits) | <u64>load<u32>(q);
        nb += <i32>bbits;
        store<u32>(p, <u32>(buf >> <u64>(nb - 32)));
        f = nb >> 5;
        p += <usize>(f << 2);
        nb -= f << 5;
      }
    } else {
      buf = (buf << <u64>fsbits) | <u64>(fs + 1);
      nb += fsbits;
      store<u32>(p, <u32>(buf >> <u64>(nb - 32)));
      let f = nb >> 5;
      p += <usize>(f << 2);
      nb -= f << 5;
      const lead: u32 = <u32>1 << <u32>fs;
      const mask: u32 = lead - 1;
      if (fs <= 14) {
        // Two codes at a time while both have at most 16 bits (a zero run shorter than `pair`):
        // the pair's bits go in with one shift of the buffer and one store.
        const pair: u32 = <u32>(16 - fs);
        for (; q + 8 <= qb; q += 8) {
          const v0 = load<u32>(q);
          const v1 = load<u32>(q, 4);
          const t0 = v0 >> <u32>fs;
          const t1 = v1 >> <u32>fs;
          if ((t0 | t1) < pair) {
            const c1 = t1 + 1 + <u32>fs;
            buf = (buf << <u64>(t0 + c1 + 1 + <u32>fs)) | (<u64>(lead | (v0 & mask)) << <u64>c1) | <u64>(lead | (v1 & mask));
            nb += <i32>(t0 + c1) + 1 + fs;
          } else {
            eBuf = buf;
            eNb = nb;
            eP = p;
            putCode(v0, fs);
            putCode(v1, fs);
            buf = eBuf;
            nb = eNb;
            p = eP;
            continue;
          }
          store<u32>(p, <u32>(buf >> <u64>(nb - 32)));
          f = nb >> 5;
          p += <usize>(f << 2);
          nb -= f << 5;
        }
      }
      // One code at a time: codes of at most 32 bits (a zero run shorter than `short`) here.
      const short: u32 = <u32>(32 - fs);
      for (; q < qb; q += 4) {
        const v = load<u32>(q);
        const top = v >> <u32>fs;
        if (top < short) {
          const clen = <i32>top + 1 + fs;
          buf = (buf << <u64>clen) | <u64>(lead | (v & mask));
          nb += clen;
          store<u32>(p, <u32>(buf >> <u64>(nb - 32)));
          f = nb >> 5;
          p += <usize>(f << 2);
          nb -= f << 5;
        } else {
          eBuf = buf;
          eNb = nb;
          eP = p;
          putCode(v, fs);
          buf = eBuf;
          nb = eNb;
          p = eP;
        }
      }
    }
  }
  swapBytes(p0, <i32>(p - p0), 4);
  while (nb >= 8) {
    nb -= 8;
    store<u8>(p, <u8>(buf >> <u64>nb));
    p++;
  }
  if (nb > 0) {
    store<u8>(p, <u8>(buf << <u64>(8 - nb)));
    p++;
  }
  return p;
}

// The writer's state across a call of putCode.
let eBuf: u64 = 0;
let eNb: i32 = 0;
let eP: usize = 0;

/** One Rice code of any length (a long zero run 32 bits at a time), writer state in eBuf, eNb, eP. */
function putCode(v: u32, fs: i32): void {
  let buf = eBuf;
  let nb = eNb;
  let p = eP;
  let z = v >> <u32>fs;
  while (z > 0) {
    const k: u32 = z > 32 ? 32 : z;
    buf <<= <u64>k;
    nb += <i32>k;
    store<u32>(p, <u32>(buf >> <u64>(nb - 32)));
    const f = nb >> 5;
    p += <usize>(f << 2);
    nb -= f << 5;
    z -= k;
  }
  const lead: u32 = <u32>1 << <u32>fs;
  buf = (buf << <u64>(fs + 1)) | <u64>(lead | (v & (lead - 1)));
  nb += fs + 1;
  store<u32>(p, <u32>(buf >> <u64>(nb - 32)));
  const f = nb >> 5;
  eP = p + <usize>(f << 2);
  eNb = nb - (f << 5);
  eBuf = buf;
}

/**
 * mapDifferences of the `n` pixels at `q` (the one before them `last`); returns the sum of the
 * mapped differences, each taken as u32.
 */
function mapAndSum(q: usize, n: i32, last: i32, shift: i32): u64 {
  const e = q + (<usize>n << 2);
  let prev = i32x4.splat(last);
  let s = i64x2.splat(0);
  for (; q + 16 <= e; q += 16) {
    const cur = v128.load(q);
    let d = i32x4.sub(cur, i8x16.shuffle(prev, cur, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27));
    if (shift != 0) d = i32x4.shr_s(i32x4.shl(d, shift), shift);
    d = v128.xor(i32x4.shl(d, 1), i32x4.shr_s(d, 31));
    v128.store(q, d);
    s = i64x2.add(s, i64x2.add(i64x2.extend_low_i32x4_u(d), i64x2.extend_high_i32x4_u(d)));
    prev = cur;
  }
  let sum = <u64>i64x2.extract_lane(s, 0) + <u64>i64x2.extract_lane(s, 1);
  let before = i32x4.extract_lane(prev, 3);
  for (; q < e; q += 4) {
    const next = load<i32>(q);
    let d = ((next - before) << shift) >> shift;
    d = (d << 1) ^ (d >> 31);
    store<i32>(q, d);
    sum += <u64><u32>d;
    before = next;
  }
  return sum;
}

/**
 * The `n` pixels at `q` replaced by their zig-zag mapped differences from the previous pixel
 * (the first from `first`), in (32 − shift)-bit wrap-around arithmetic.
 */
function mapDifferences(q: usize, n: i32, first: i32, shift: i32): void {
  const e = q + (<usize>n << 2);
  let prev = i32x4.splat(first);
  for (; q + 16 <= e; q += 16) {
    const cur = v128.load(q);
    let d = i32x4.sub(cur, i8x16.shuffle(prev, cur, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27));
    d = i32x4.shr_s(i32x4.shl(d, shift), shift);
    v128.store(q, v128.xor(i32x4.shl(d, 1), i32x4.shr_s(d, 31)));
    prev = cur;
  }
  let last = i32x4.extract_lane(prev, 3);
  for (; q < e; q += 4) {
    const next = load<i32>(q);
    const d = ((next - last) << shift) >> shift;
    store<i32>(q, (d << 1) ^ (d >> 31));
    last = next;
  }
}

/** Sum of the u32 values at [q, e). */
function blockSum(q: usize, e: usize): u64 {
  let s = i64x2.splat(0);
  for (; q + 16 <= e; q += 16) {
    const v = v128.load(q);
    s = i64x2.add(s, i64x2.add(i64x2.extend_low_i32x4_u(v), i64x2.extend_high_i32x4_u(v)));
  }
  let sum = <u64>i64x2.extract_lane(s, 0) + <u64>i64x2.extract_lane(s, 1);
  for (; q < e; q += 4) sum += <u64>load<u32>(q);
  return sum;
}

/**
 * The bytes of each `size`-byte element (2, 4 or 8) of the `n` bytes at `ptr` reversed in place
 * (big-endian ↔ little-endian); `n` is a multiple of `size`.
 */
export function swapBytes(ptr: usize, n: i32, size: i32): void {
  const e = ptr + <usize>n;
  let q = ptr;
  const e16 = ptr + <usize>(n & ~15);
  if (size == 4) {
    for (; q < e16; q += 16) {
      const v = v128.load(q);
      v128.store(q, i8x16.shuffle(v, v, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12));
    }
    for (; q < e; q += 4) store<u32>(q, bswap<u32>(load<u32>(q)));
  } else if (size == 2) {
    for (; q < e16; q += 16) {
      const v = v128.load(q);
      v128.store(q, i8x16.shuffle(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14));
    }
    for (; q < e; q += 2) store<u16>(q, bswap<u16>(load<u16>(q)));
  } else if (size == 8) {
    for (; q < e16; q += 16) {
      const v = v128.load(q);
      v128.store(q, i8x16.shuffle(v, v, 7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8));
    }
    for (; q < e; q += 8) store<u64>(q, bswap<u64>(load<u64>(q)));
  }
}
