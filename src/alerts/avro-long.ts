/**
 * Avro `long` as JS bigint, exact over the whole signed 64-bit range (avsc's own long type is
 * limited to ±2^53). The type writes and reads the zig-zag varint bytes itself (avsc's
 * "noUnpack" mode), with a double-arithmetic fast path for values below 2^52.
 */
import { Buffer } from 'node:buffer';
import avro from 'avsc';

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
/** |v| below this: zig-zag of v fits in 53 bits, exact in a double. */
const FAST_LIMIT = 1n << 51n;
const TWO_32 = 4294967296;

/**
 * Written bytes go to scratch buffers that avsc copies into its output at once, so one buffer
 * per length (1 to 10 bytes) serves every call (encoding is synchronous).
 */
const scratch = Buffer.alloc(10);
const BY_LENGTH: readonly Buffer[] = Array.from({ length: 11 }, (_, n) => Buffer.alloc(n));

function bytesOf(n: number): Buffer {
  const out = BY_LENGTH[n];
  for (let i = 0; i < n; i++) out[i] = scratch[i];
  return out;
}

export function isInt64(v: unknown): v is bigint {
  return typeof v === 'bigint' && v >= INT64_MIN && v <= INT64_MAX;
}

/** The zig-zag varint of a signed 64-bit value: a view of a shared scratch buffer. */
function toVarint(v: bigint): Buffer {
  let n = 0;
  if (v > -FAST_LIMIT && v < FAST_LIMIT) {
    const x = Number(v);
    let z = x >= 0 ? x * 2 : -x * 2 - 1;
    while (z >= 0x80) {
      scratch[n++] = (z % 0x80) | 0x80;
      z = Math.floor(z / 0x80);
    }
    scratch[n++] = z;
    return bytesOf(n);
  }
  const zz = v >= 0n ? v << 1n : ((-v) << 1n) - 1n;
  let lo = Number(zz & 0xffffffffn);
  let hi = Number(zz >> 32n);
  // Seven bits at a time from the 64-bit (hi, lo) pair.
  while (hi > 0 || lo >= 0x80) {
    scratch[n++] = (lo & 0x7f) | 0x80;
    lo = (lo >>> 7) | ((hi & 0x7f) << 25);
    lo >>>= 0;
    hi >>>= 7;
  }
  scratch[n++] = lo;
  return bytesOf(n);
}

/** The value of zig-zag varint bytes (exactly one varint). */
function fromVarint(buf: Buffer): bigint {
  const len = buf.length;
  if (len <= 7) {
    // Up to 49 bits: exact in a double.
    let z = 0;
    let mul = 1;
    for (let i = 0; i < len; i++) {
      z += (buf[i] & 0x7f) * mul;
      mul *= 0x80;
    }
    return BigInt(z % 2 === 0 ? z / 2 : -(z + 1) / 2);
  }
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < len; i++) {
    const b = buf[i] & 0x7f;
    const shift = 7 * i;
    if (shift < 32) {
      lo += b * 2 ** shift;
      if (shift > 25) hi += Math.floor(b / 2 ** (32 - shift));
    } else {
      hi += b * 2 ** (shift - 32);
    }
  }
  lo %= TWO_32;
  hi %= TWO_32;
  const zz = (BigInt(hi) << 32n) | BigInt(lo);
  return (zz & 1n) === 0n ? zz >> 1n : -((zz + 1n) >> 1n);
}

function fromJson(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  throw new TypeError(`not a long: ${String(v)}`);
}

/** avsc type of Avro `long` whose JS values are bigint. Pass to avsc through `bigintLongHook`. */
export const BIGINT_LONG: avro.Type = avro.types.LongType.__with(
  {
    fromBuffer: fromVarint,
    toBuffer: toVarint,
    fromJSON: fromJson,
    // JSON numbers where exact, decimal strings beyond 2^53.
    toJSON: (v: bigint): number | string => (v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v.toString()),
    isValid: isInt64,
    compare: (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0),
  },
  true,
);

/**
 * avsc `typeHook`: every `long`, including `{type: "long", logicalType: ...}` (timestamps in
 * microseconds), becomes BIGINT_LONG. The logical type is not interpreted.
 */
export function bigintLongHook(schema: unknown): avro.Type | undefined {
  if (schema === 'long') return BIGINT_LONG;
  if (typeof schema === 'object' && schema !== null && !Array.isArray(schema) && (schema as { type?: unknown }).type === 'long') return BIGINT_LONG;
  return undefined;
}
