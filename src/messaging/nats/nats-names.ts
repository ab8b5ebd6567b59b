/**
 * How the NATS JetStream backend spells the messaging interface's names and attributes on the
 * wire. Pure functions, no connection.
 *
 * Names (a topic or subscription ID follows the Pub/Sub rules of names.ts: letters, digits and
 * - _ . ~ + %):
 *   stream of topic T          `{prefix}_{token(T)}`
 *   subject of topic T         `{prefix}.{subjectToken(T)}`
 *   durable consumer of sub S  `{token(S)}`
 *   payload object bucket      `{prefix}-payloads` (its stream is `OBJ_{prefix}-payloads`)
 * where token() keeps letters, digits and '-' and writes every other byte as `_XX` (upper-case
 * hex), so it is injective and safe in stream names, consumer names and file names; a token
 * longer than its limit is cut and ends in `__` plus 16 hex digits of the name's SHA-256 (`__`
 * never occurs in an uncut token). subjectToken() writes '%' as `%25` and '.' as `%2E`, the only
 * characters of an ID that a subject token may not hold. The prefix is letters, digits and '-',
 * so `{prefix}_` starts the stream names of one prefix only.
 *
 * Attributes travel as headers `Attr-{esc(key)}: {esc(value)}`, the ordering key as
 * `Ordering-Key: {esc(key)}`, where esc() is encodeURIComponent that also escapes ! ' ( ) *, so
 * any key and value (spaces, ':', new lines, non-ASCII) survives NATS header rules (keys are
 * printable ASCII without ':', values lose surrounding blanks and cannot hold CR or LF).
 * A payload too large for one NATS message is stored in the payload bucket and the stream
 * message carries `Payload-Object: {object name}` and an empty body.
 */
import { createHash } from 'node:crypto';
import { ConfigError } from '../../core/errors.ts';

export const DEFAULT_STREAM_PREFIX = 'prompt';

export const ATTRIBUTE_HEADER_PREFIX = 'Attr-';
export const ORDERING_KEY_HEADER = 'Ordering-Key';
export const PAYLOAD_OBJECT_HEADER = 'Payload-Object';

const PREFIX_PATTERN = /^[A-Za-z][A-Za-z0-9-]{0,31}$/;
/** Longest token in a stream name (the prefix adds at most 33 characters). */
const STREAM_TOKEN_MAX = 96;
/** Longest consumer name. */
const CONSUMER_TOKEN_MAX = 128;

/** Returns the prefix unchanged, or throws ConfigError. */
export function checkStreamPrefix(prefix: string): string {
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    throw new ConfigError(
      `invalid NATS stream prefix ${JSON.stringify(prefix)}: 1-32 characters, a letter first, then letters, digits and '-'`,
    );
  }
  return prefix;
}

/** Letters, digits and '-' kept; any other UTF-8 byte as `_XX`; cut with a hash beyond `max`. */
export function nameToken(id: string, max: number = CONSUMER_TOKEN_MAX): string {
  let out = '';
  for (const byte of Buffer.from(id, 'utf8')) {
    const isKept =
      (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte === 0x2d;
    out += isKept ? String.fromCharCode(byte) : `_${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out.length <= max) return out;
  const hash = createHash('sha256').update(id, 'utf8').digest('hex').slice(0, 16);
  let head = out.slice(0, max - 18);
  // Do not leave half an escape at the cut.
  const lastEscape = head.lastIndexOf('_');
  if (lastEscape >= 0 && lastEscape > head.length - 3) head = head.slice(0, lastEscape);
  return `${head}__${hash}`;
}

export function streamName(prefix: string, topic: string): string {
  return `${prefix}_${nameToken(topic, STREAM_TOKEN_MAX)}`;
}

export function consumerName(subscription: string): string {
  return nameToken(subscription, CONSUMER_TOKEN_MAX);
}

export function subjectToken(id: string): string {
  return id.replace(/%/g, '%25').replace(/\./g, '%2E');
}

export function topicSubject(prefix: string, topic: string): string {
  return `${prefix}.${subjectToken(topic)}`;
}

/** The subject filter that matches every topic of a prefix. */
export function prefixSubjects(prefix: string): string {
  return `${prefix}.>`;
}

export function payloadBucket(prefix: string): string {
  return `${prefix}-payloads`;
}

/** encodeURIComponent, also escaping ! ' ( ) *: the result is [A-Za-z0-9-_.~%]*. */
export function escapeHeaderText(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The inverse of escapeHeaderText; text that is not percent-encoded is returned as it is. */
export function unescapeHeaderText(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Header name → value pairs for a message's attributes and ordering key. */
export function encodeMessageHeaders(attributes: Readonly<Record<string, string>>, orderingKey?: string): [string, string][] {
  const out: [string, string][] = [];
  for (const [key, value] of Object.entries(attributes)) {
    out.push([ATTRIBUTE_HEADER_PREFIX + escapeHeaderText(key), escapeHeaderText(value)]);
  }
  if (orderingKey) out.push([ORDERING_KEY_HEADER, escapeHeaderText(orderingKey)]);
  return out;
}

/** Attributes and ordering key back from header pairs; other headers are ignored. */
export function decodeMessageHeaders(pairs: Iterable<readonly [string, readonly string[] | string]>): {
  attributes: Record<string, string>;
  orderingKey: string | undefined;
  payloadObject: string | undefined;
} {
  const attributes: Record<string, string> = {};
  let orderingKey: string | undefined;
  let payloadObject: string | undefined;
  for (const [name, values] of pairs) {
    const value = typeof values === 'string' ? values : (values[0] ?? '');
    if (name.startsWith(ATTRIBUTE_HEADER_PREFIX)) {
      attributes[unescapeHeaderText(name.slice(ATTRIBUTE_HEADER_PREFIX.length))] = unescapeHeaderText(value);
    } else if (name === ORDERING_KEY_HEADER) {
      orderingKey = unescapeHeaderText(value) || undefined;
    } else if (name === PAYLOAD_OBJECT_HEADER) {
      payloadObject = value || undefined;
    }
  }
  return { attributes, orderingKey, payloadObject };
}

export interface AckSubjectInfo {
  stream: string;
  consumer: string;
  /** 1 on the first delivery. */
  deliveryCount: number;
  streamSequence: number;
  /** Publication time, nanoseconds since the epoch. */
  timestampNanos: bigint;
}

/**
 * Parses the reply subject of a JetStream delivery:
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>` or the longer form
 * `$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>.<token>`.
 * Returns undefined for anything else.
 */
export function parseAckSubject(subject: string | undefined): AckSubjectInfo | undefined {
  if (!subject) return undefined;
  const tokens = subject.split('.');
  if (tokens[0] !== '$JS' || tokens[1] !== 'ACK') return undefined;
  let rest: string[];
  if (tokens.length === 9) rest = tokens.slice(2);
  else if (tokens.length >= 11) rest = tokens.slice(4);
  else return undefined;
  const [stream, consumer, delivered, sseq, , ts] = rest;
  const deliveryCount = Number(delivered);
  const streamSequence = Number(sseq);
  if (!Number.isSafeInteger(deliveryCount) || !Number.isSafeInteger(streamSequence) || !/^\d+$/.test(ts ?? '')) {
    return undefined;
  }
  return { stream, consumer, deliveryCount, streamSequence, timestampNanos: BigInt(ts) };
}

/** RFC 3339 (millisecond precision) of a nanosecond timestamp. */
export function nanosToRfc3339(nanos: bigint): string {
  return new Date(Number(nanos / 1_000_000n)).toISOString();
}
