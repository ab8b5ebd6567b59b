/**
 * FITS CHECKSUM / DATASUM: the 32-bit ones' complement sum of big-endian 32-bit words, and its
 * 16-character ASCII encoding (digits and letters only).
 */

/** Accumulates a ones' complement sum over byte chunks of any length (word alignment is tracked). */
export class OnesComplementSum {
  #hi = 0;
  #lo = 0;
  #pending = new Uint8Array(4);
  #npending = 0;

  /** Add bytes; chunks may split 32-bit words anywhere. */
  update(bytes: Uint8Array): this {
    let i = 0;
    const n = bytes.length;
    if (this.#npending > 0) {
      while (this.#npending < 4 && i < n) this.#pending[this.#npending++] = bytes[i++];
      if (this.#npending < 4) return this;
      this.#addWord(this.#pending, 0);
      this.#npending = 0;
    }
    let hi = this.#hi;
    let lo = this.#lo;
    const end = i + ((n - i) & ~3);
    // Sums of 16-bit halves stay exact in doubles for far more than any file's word count per fold.
    let count = 0;
    for (; i < end; i += 4) {
      hi += (bytes[i] << 8) | bytes[i + 1];
      lo += (bytes[i + 2] << 8) | bytes[i + 3];
      if (++count === 1 << 24) {
        ({ hi, lo } = fold(hi, lo));
        count = 0;
      }
    }
    ({ hi, lo } = fold(hi, lo));
    this.#hi = hi;
    this.#lo = lo;
    while (i < n) this.#pending[this.#npending++] = bytes[i++];
    return this;
  }

  #addWord(b: Uint8Array, i: number): void {
    const r = fold(this.#hi + ((b[i] << 8) | b[i + 1]), this.#lo + ((b[i + 2] << 8) | b[i + 3]));
    this.#hi = r.hi;
    this.#lo = r.lo;
  }

  /** The 32-bit sum (a partial trailing word is zero-padded). */
  get value(): number {
    let hi = this.#hi;
    let lo = this.#lo;
    if (this.#npending > 0) {
      const b = new Uint8Array(4);
      b.set(this.#pending.subarray(0, this.#npending));
      ({ hi, lo } = fold(hi + ((b[0] << 8) | b[1]), lo + ((b[2] << 8) | b[3])));
    }
    return (hi * 65536 + lo) >>> 0;
  }
}

/** Fold carries of the two 16-bit half sums into each other (end-around carry). */
function fold(hi: number, lo: number): { hi: number; lo: number } {
  let hc = Math.floor(hi / 65536);
  let lc = Math.floor(lo / 65536);
  while (hc !== 0 || lc !== 0) {
    hi = (hi % 65536) + lc;
    lo = (lo % 65536) + hc;
    hc = Math.floor(hi / 65536);
    lc = Math.floor(lo / 65536);
  }
  return { hi, lo };
}

/** Ones' complement sum of bytes. */
export function checksumOf(bytes: Uint8Array): number {
  return new OnesComplementSum().update(bytes).value;
}

/** Ones' complement addition of two 32-bit sums. */
export function addSums(a: number, b: number): number {
  let s = (a >>> 0) + (b >>> 0);
  while (s > 0xffffffff) s = (s % 0x100000000) + Math.floor(s / 0x100000000);
  return s >>> 0;
}

const EXCLUDED = new Set([0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x40, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0x60]);

/**
 * Encode a 32-bit sum as the 16-character CHECKSUM string. With `complement` (the usual case)
 * the complement is encoded, so that the HDU sum including the CHECKSUM card becomes -0.
 */
export function encodeChecksum(sum: number, complement = true): string {
  const value = complement ? (0xffffffff - (sum >>> 0)) >>> 0 : sum >>> 0;
  const chars = new Array<number>(16);
  for (let byteIdx = 0; byteIdx < 4; byteIdx++) {
    const byte = (value >>> (24 - 8 * byteIdx)) & 0xff;
    const q = Math.floor(byte / 4) + 0x30;
    const ch = [q + (byte % 4), q, q, q];
    // Move values out of the punctuation ranges in pairs, keeping each pair's sum.
    for (let changed = true; changed; ) {
      changed = false;
      for (const bad of EXCLUDED) {
        for (let j = 0; j < 4; j += 2) {
          if (ch[j] === bad || ch[j + 1] === bad) {
            ch[j]++;
            ch[j + 1]--;
            changed = true;
          }
        }
      }
    }
    for (let j = 0; j < 4; j++) chars[4 * j + byteIdx] = ch[j];
  }
  // Rotate one place to the right.
  const rotated = new Array<number>(16);
  for (let i = 0; i < 16; i++) rotated[i] = chars[(i + 15) % 16];
  return String.fromCharCode(...rotated);
}
