/**
 * Seeded pseudo-random numbers: xoshiro128** (Blackman & Vigna) seeded through splitmix32,
 * with a ziggurat normal (Marsaglia & Tsang 2000) and a fast Poisson.
 *
 * Every stream has a 64-bit key (the seed, or a string hashed). `fork(label)` derives a child
 * stream from the key and the label only, never from how many numbers the parent has drawn, so
 * `rng.fork('det/5').fork('snap/1')` gives the same numbers however many detectors a caller
 * simulates and in which order. Nothing here touches Math.random.
 */

const TWO_POW_M32 = 2 ** -32;

/** splitmix32 step: returns the next output for a state `a` (the caller advances `a`). */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32-bit murmur3-style hash of a string's UTF-16 code units with a seed. */
function hashString32(s: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    let k = s.charCodeAt(i);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= s.length;
  return fmix32(h);
}

/** Two independent 32-bit hashes of a string: a 64-bit key. */
function hashString64(s: string): [number, number] {
  return [hashString32(s, 0x2545f491), hashString32(s, 0x9e3779b9)];
}

/** Key of a numeric seed: the integer's low and high 32 bits (any finite number is accepted). */
function keyOfNumber(seed: number): [number, number] {
  if (!Number.isFinite(seed)) throw new RangeError(`rng seed must be finite, got ${seed}`);
  if (!Number.isInteger(seed) || Math.abs(seed) > Number.MAX_SAFE_INTEGER) return hashString64(`n:${seed}`);
  const neg = seed < 0;
  const a = Math.abs(seed);
  const lo = a % 4294967296;
  const hi = Math.floor(a / 4294967296) + (neg ? 0x80000000 : 0);
  return [lo >>> 0, hi >>> 0];
}

// ---------------------------------------------------------------- ziggurat tables (128 layers)
const ZIG_R = 3.442619855899;
const KN = new Float64Array(128);
const WN = new Float64Array(128);
const FN = new Float64Array(128);
{
  const m1 = 2147483648.0;
  const vn = 9.91256303526217e-3;
  let dn = ZIG_R;
  let tn = dn;
  const q = vn / Math.exp(-0.5 * dn * dn);
  KN[0] = (dn / q) * m1;
  KN[1] = 0;
  WN[0] = q / m1;
  WN[127] = dn / m1;
  FN[0] = 1;
  FN[127] = Math.exp(-0.5 * dn * dn);
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(vn / dn + Math.exp(-0.5 * dn * dn)));
    KN[i + 1] = (dn / tn) * m1;
    tn = dn;
    FN[i] = Math.exp(-0.5 * dn * dn);
    WN[i] = dn / m1;
  }
}

/** Above this mean the Poisson draw is a rounded normal (continuity corrected). */
export const POISSON_NORMAL_THRESHOLD = 30;

export type RngSeed = number | string;

/** A deterministic random stream. Not thread-safe by design: one stream per task. */
export class Rng {
  /** The stream's 64-bit key as two unsigned 32-bit words (what `fork` derives from). */
  readonly key: readonly [number, number];
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private lastLambda = -1;
  private lastExpNegLambda = 0;

  private constructor(key: readonly [number, number]) {
    this.key = Object.freeze([key[0] >>> 0, key[1] >>> 0]) as readonly [number, number];
    // splitmix32 over the key words fills the 128-bit state.
    let a = (key[0] ^ Math.imul(key[1] ^ 0x5bd1e995, 0x27d4eb2d)) | 0;
    const next = (): number => {
      a = (a + 0x9e3779b9) | 0;
      return fmix32(a ^ key[1]);
    };
    this.s0 = next() | 0;
    this.s1 = next() | 0;
    this.s2 = next() | 0;
    this.s3 = next() | 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** A stream from an integer seed or a string (hashed). */
  static from(seed: RngSeed): Rng {
    return new Rng(typeof seed === 'string' ? hashString64(`s:${seed}`) : keyOfNumber(seed));
  }

  /**
   * An independent child stream named `label`. It depends only on this stream's key and the
   * label, not on how many numbers were drawn from this stream.
   */
  fork(label: string | number): Rng {
    return new Rng(hashString64(`${this.key[0].toString(16)}.${this.key[1].toString(16)}/${label}`));
  }

  /** Next raw 32-bit output, as a signed int32. */
  nextInt32(): number {
    const s1 = this.s1;
    const r = Math.imul(s1, 5);
    const rot = Math.imul((r << 7) | (r >>> 25), 9);
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    const s3 = this.s3;
    this.s3 = (s3 << 11) | (s3 >>> 21);
    return rot | 0;
  }

  /** Next raw 32-bit output, unsigned. */
  nextUint32(): number {
    return this.nextInt32() >>> 0;
  }

  /** Uniform in [0, 1) with 32 random bits. */
  uniform(): number {
    return (this.nextInt32() >>> 0) * TWO_POW_M32;
  }

  /** Uniform in the open interval (0, 1): safe under log(). */
  uniformOpen(): number {
    return ((this.nextInt32() >>> 0) + 0.5) * TWO_POW_M32;
  }

  /** Uniform in [a, b). */
  range(a: number, b: number): number {
    return a + (b - a) * this.uniform();
  }

  /** Uniform integer in [0, n) for 0 < n ≤ 2^32. */
  int(n: number): number {
    if (!(n > 0) || n > 4294967296) throw new RangeError(`rng.int(n) needs 0 < n <= 2^32, got ${n}`);
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal deviate (ziggurat: one 32-bit draw in ~98.8% of calls). */
  normal(): number {
    const hz = this.nextInt32();
    const iz = hz & 127;
    if (Math.abs(hz) < KN[iz]) return hz * WN[iz];
    return this.normalTail(hz, iz);
  }

  private normalTail(hz: number, iz: number): number {
    for (;;) {
      const x = hz * WN[iz];
      if (iz === 0) {
        let xt: number;
        let yt: number;
        do {
          xt = -Math.log(this.uniformOpen()) / ZIG_R;
          yt = -Math.log(this.uniformOpen());
        } while (yt + yt < xt * xt);
        return hz > 0 ? ZIG_R + xt : -ZIG_R - xt;
      }
      if (FN[iz] + this.uniform() * (FN[iz - 1] - FN[iz]) < Math.exp(-0.5 * x * x)) return x;
      hz = this.nextInt32();
      iz = hz & 127;
      if (Math.abs(hz) < KN[iz]) return hz * WN[iz];
    }
  }

  /** Normal deviate with the given mean and standard deviation. */
  gaussian(mean: number, sigma: number): number {
    return mean + sigma * this.normal();
  }

  /** Exponential deviate with unit mean. */
  exponential(): number {
    return -Math.log(this.uniformOpen());
  }

  /**
   * Poisson deviate. Exact (inversion) below POISSON_NORMAL_THRESHOLD; above it the normal
   * approximation with continuity correction, round(λ + √λ·z), clipped at 0.
   */
  poisson(lambda: number): number {
    if (!(lambda > 0)) return 0;
    if (lambda >= POISSON_NORMAL_THRESHOLD) {
      const v = Math.floor(lambda + Math.sqrt(lambda) * this.normal() + 0.5);
      return v > 0 ? v : 0;
    }
    let p: number;
    if (lambda === this.lastLambda) {
      p = this.lastExpNegLambda;
    } else {
      p = Math.exp(-lambda);
      this.lastLambda = lambda;
      this.lastExpNegLambda = p;
    }
    const u = this.uniform();
    let s = p;
    let k = 0;
    while (u >= s && k < 200) {
      k++;
      p *= lambda / k;
      s += p;
    }
    return k;
  }
}

/** A stream from a seed (shorthand for Rng.from). */
export function createRng(seed: RngSeed): Rng {
  return Rng.from(seed);
}

/** A stable 32-bit hash of a string (for seeds derived from names). */
export function hashSeed(s: string): number {
  return hashString32(s, 0x2545f491);
}
