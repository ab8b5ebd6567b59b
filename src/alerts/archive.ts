/**
 * Alert archives: Avro Object Container Files of alert packets (Avro spec, "Object Container
 * Files"), as lsst/alert_packet writes them and any Avro tool reads them:
 *
 *   "Obj" 0x01 | metadata map<bytes> {avro.schema: the full alert schema JSON, avro.codec} |
 *   16-byte sync marker | blocks: count (long), byte size (long), data, sync marker
 *
 * Writing is deterministic: the sync marker is derived from the content (the schema, the codec
 * and every encoded alert) unless a seed or an explicit marker is given, so writing the same
 * alerts twice gives the same bytes. With codec `null` (the default) that holds everywhere; with
 * `deflate` (raw DEFLATE, RFC 1951, as the spec requires) for a given zlib build.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type avro from 'avsc';
import { InvalidInputError } from '../core/errors.ts';
import { encodeAlert, withPlainCutouts, type AlertPacket } from './codec.ts';
import { ALERT_SCHEMA_CANONICAL, ALERT_SCHEMA_JSON, ALERT_TYPE, avroType, parsingCanonicalForm } from './schema.ts';

export const AVRO_CONTAINER_MAGIC: Uint8Array = Uint8Array.of(0x4f, 0x62, 0x6a, 0x01);
export const SYNC_MARKER_BYTES = 16;

export type AlertArchiveCodec = 'null' | 'deflate';

export interface AlertArchiveOptions {
  /**
   * Block compression (default 'null', as lsst/alert_packet writes: byte-identical output on
   * every machine, and 5x faster; 'deflate' halves the size, identical bytes per zlib build).
   */
  readonly codec?: AlertArchiveCodec;
  /** zlib level for 'deflate', 0-9 (default 6). */
  readonly deflateLevel?: number;
  /** The sync marker itself (16 bytes). */
  readonly syncMarker?: Uint8Array;
  /** Derive the sync marker from this instead of from the content (e.g. "visit/detector"). */
  readonly seed?: string | Uint8Array;
  /** A block is closed once its alerts take this many bytes, before compression (default 1 MiB). */
  readonly blockBytes?: number;
}

/** True when the bytes start like an Avro container file. */
export function isAlertArchive(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x4f && bytes[1] === 0x62 && bytes[2] === 0x6a && bytes[3] === 0x01;
}

// --- Avro binary primitives of the container framing ---------------------------------------------

function varLong(n: number): Buffer {
  if (!Number.isSafeInteger(n)) throw new RangeError(`${n} is not a safe integer`);
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  const out: number[] = [];
  while (z >= 0x80) {
    out.push((z % 0x80) | 0x80);
    z = Math.floor(z / 0x80);
  }
  out.push(z);
  return Buffer.from(out);
}

function avroBytes(b: Uint8Array): Buffer[] {
  return [varLong(b.length), Buffer.from(b.buffer, b.byteOffset, b.byteLength)];
}

class Cursor {
  pos: number;
  constructor(
    readonly buf: Buffer,
    pos = 0,
    private readonly what = 'archive',
  ) {
    this.pos = pos;
  }

  truncated(context: string): InvalidInputError {
    return new InvalidInputError(`${this.what} truncated: ${context} runs past its end (${this.buf.length} bytes)`);
  }

  long(context: string): number {
    let z = 0;
    let mul = 1;
    for (let i = 0; ; i++) {
      if (this.pos >= this.buf.length) throw this.truncated(context);
      const b = this.buf[this.pos++];
      z += (b & 0x7f) * mul;
      if (!(b & 0x80)) break;
      mul *= 0x80;
      if (i >= 7) throw new InvalidInputError(`${this.what}: ${context} is not a count (varint too long at byte ${this.pos})`);
    }
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  take(n: number, context: string): Buffer {
    if (n < 0) throw new InvalidInputError(`${this.what}: ${context} has negative length ${n}`);
    if (this.pos + n > this.buf.length) throw this.truncated(context);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

// --- Writing ------------------------------------------------------------------------------------

function header(codec: AlertArchiveCodec, sync: Uint8Array): Buffer {
  const meta: Array<[string, Uint8Array]> = [
    ['avro.schema', Buffer.from(ALERT_SCHEMA_JSON, 'utf8')],
    ['avro.codec', Buffer.from(codec, 'utf8')],
  ];
  const parts: Buffer[] = [Buffer.from(AVRO_CONTAINER_MAGIC), varLong(meta.length)];
  for (const [k, v] of meta) parts.push(...avroBytes(Buffer.from(k, 'utf8')), ...avroBytes(v));
  parts.push(varLong(0), Buffer.from(sync));
  return Buffer.concat(parts);
}

function syncMarkerFor(opts: AlertArchiveOptions, codec: AlertArchiveCodec, bodies: readonly Uint8Array[]): Uint8Array {
  if (opts.syncMarker) {
    if (opts.syncMarker.length !== SYNC_MARKER_BYTES) throw new RangeError(`sync marker must be ${SYNC_MARKER_BYTES} bytes, got ${opts.syncMarker.length}`);
    return opts.syncMarker;
  }
  const h = createHash('sha256').update('lsst alert archive sync marker\0');
  if (opts.seed !== undefined) {
    h.update('seed\0').update(opts.seed);
  } else {
    h.update(ALERT_SCHEMA_CANONICAL).update('\0').update(codec).update('\0');
    const len = Buffer.alloc(8);
    for (const b of bodies) {
      len.writeBigUInt64LE(BigInt(b.length));
      h.update(len).update(b);
    }
  }
  return h.digest().subarray(0, SYNC_MARKER_BYTES);
}

/**
 * An archive of already encoded alert bodies (schemaless Avro binary of schema v11.0, as
 * encodeAlert or unframeAlert give them), in order.
 */
export function writeAlertArchiveBodies(bodies: Iterable<Uint8Array>, opts: AlertArchiveOptions = {}): Uint8Array {
  const codec = opts.codec ?? 'null';
  if (codec !== 'null' && codec !== 'deflate') throw new RangeError(`unknown archive codec ${JSON.stringify(codec)} (null or deflate)`);
  const blockBytes = opts.blockBytes ?? 1 << 20;
  const all = [...bodies];
  const sync = syncMarkerFor(opts, codec, all);
  const parts: Buffer[] = [header(codec, sync)];
  const syncBuf = Buffer.from(sync);
  const flush = (block: Uint8Array[], size: number): void => {
    if (!block.length) return;
    const raw = Buffer.concat(block, size);
    const data = codec === 'deflate' ? deflateRawSync(raw, { level: opts.deflateLevel ?? 6 }) : raw;
    parts.push(varLong(block.length), varLong(data.length), data, syncBuf);
  };
  let block: Uint8Array[] = [];
  let size = 0;
  for (const b of all) {
    block.push(b);
    size += b.length;
    if (size >= blockBytes) {
      flush(block, size);
      block = [];
      size = 0;
    }
  }
  flush(block, size);
  const out = Buffer.concat(parts);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** An archive (Avro container file) of the packets, in order. */
export function writeAlertArchive(packets: Iterable<AlertPacket>, opts: AlertArchiveOptions = {}): Uint8Array {
  const bodies: Buffer[] = [];
  for (const p of packets) bodies.push(encodeAlert(p));
  return writeAlertArchiveBodies(bodies, opts);
}

// --- Reading ------------------------------------------------------------------------------------

export interface AlertArchiveHeader {
  /** The writer's schema (parsed avro.schema). */
  readonly schema: unknown;
  readonly codec: string;
  readonly syncMarker: Uint8Array;
  /** Every metadata entry, raw. */
  readonly metadata: Readonly<Record<string, Uint8Array>>;
  /** Offset of the first block. */
  readonly dataOffset: number;
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export function readAlertArchiveHeader(bytes: Uint8Array): AlertArchiveHeader {
  const buf = asBuffer(bytes);
  if (!isAlertArchive(buf)) {
    const got = [...buf.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new InvalidInputError(`not an Avro container file: starts with ${got || '(nothing)'}, expected 4f 62 6a 01 ("Obj\\x01")`);
  }
  const c = new Cursor(buf, 4, 'archive header');
  const metadata: Record<string, Uint8Array> = {};
  for (;;) {
    let n = c.long('metadata block count');
    if (n === 0) break;
    if (n < 0) {
      n = -n;
      c.long('metadata block size');
    }
    for (let i = 0; i < n; i++) {
      const key = c.take(c.long('metadata key length'), 'metadata key').toString('utf8');
      metadata[key] = c.take(c.long(`metadata ${key} length`), `metadata ${key}`);
    }
  }
  const syncMarker = c.take(SYNC_MARKER_BYTES, 'sync marker');
  const schemaBytes = metadata['avro.schema'];
  if (!schemaBytes) throw new InvalidInputError('Avro container file has no avro.schema metadata');
  let schema: unknown;
  try {
    schema = JSON.parse(Buffer.from(schemaBytes).toString('utf8'));
  } catch (e) {
    throw new InvalidInputError(`Avro container file: avro.schema is not JSON: ${(e as Error).message}`);
  }
  const codec = metadata['avro.codec'] ? Buffer.from(metadata['avro.codec']).toString('utf8') : 'null';
  return { schema, codec, syncMarker, metadata, dataOffset: c.pos };
}

interface Reader {
  readonly type: avro.Type;
  readonly resolver: avro.Resolver | undefined;
}

/** How to read data written with `schema` as alert v11.0 packets. */
function readerFor(schema: unknown): Reader {
  let writer: avro.Type;
  try {
    writer = avroType(schema);
  } catch (e) {
    throw new InvalidInputError(`archive schema is not a valid Avro schema: ${(e as Error).message}`);
  }
  if (parsingCanonicalForm(writer) === ALERT_SCHEMA_CANONICAL) return { type: ALERT_TYPE, resolver: undefined };
  try {
    return { type: ALERT_TYPE, resolver: ALERT_TYPE.createResolver(writer) };
  } catch (e) {
    const name = typeof schema === 'object' && schema !== null ? String((schema as { namespace?: string }).namespace ?? '') + '.' + String((schema as { name?: string }).name ?? '') : '?';
    throw new InvalidInputError(`archive schema ${name} cannot be read as the alert schema v11.0: ${(e as Error).message}`);
  }
}

function inflate(data: Buffer, codec: string, block: number): Buffer {
  if (codec === 'null') return data;
  if (codec === 'deflate') {
    try {
      return inflateRawSync(data);
    } catch (e) {
      throw new InvalidInputError(`archive block ${block}: deflate data is corrupt: ${(e as Error).message}`);
    }
  }
  throw new InvalidInputError(`archive codec ${JSON.stringify(codec)} is not supported (null, deflate)`);
}

/** The packets of an archive, one block at a time. */
export function* iterateAlertArchive(bytes: Uint8Array): Generator<AlertPacket, void, undefined> {
  const h = readAlertArchiveHeader(bytes);
  if (h.codec !== 'null' && h.codec !== 'deflate') throw new InvalidInputError(`archive codec ${JSON.stringify(h.codec)} is not supported (null, deflate)`);
  const reader = readerFor(h.schema);
  const c = new Cursor(asBuffer(bytes), h.dataOffset);
  const sync = Buffer.from(h.syncMarker);
  for (let block = 0; c.pos < c.buf.length; block++) {
    const count = c.long(`block ${block} count`);
    const size = c.long(`block ${block} size`);
    if (count < 0) throw new InvalidInputError(`archive block ${block}: negative count ${count}`);
    const data = inflate(c.take(size, `block ${block} (${size} bytes)`), h.codec, block);
    const marker = c.take(SYNC_MARKER_BYTES, `block ${block} sync marker`);
    if (!marker.equals(sync)) throw new InvalidInputError(`archive block ${block}: sync marker does not match the header's (corrupt or truncated file)`);
    let pos = 0;
    for (let i = 0; i < count; i++) {
      let r: { value: unknown; offset: number };
      try {
        r = reader.type.decode(data, pos, reader.resolver);
      } catch (e) {
        throw new InvalidInputError(`archive block ${block}, alert ${i}: cannot decode: ${(e as Error).message}`);
      }
      if (r.offset < 0) throw new InvalidInputError(`archive block ${block}: alert ${i} of ${count} is truncated`);
      pos = r.offset;
      yield withPlainCutouts(r.value as AlertPacket);
    }
    if (pos !== data.length) throw new InvalidInputError(`archive block ${block}: ${data.length - pos} byte(s) after its ${count} alerts`);
  }
}

/** Every packet of an archive. */
export function readAlertArchive(bytes: Uint8Array): AlertPacket[] {
  return [...iterateAlertArchive(bytes)];
}
