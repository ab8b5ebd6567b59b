/** Strict base64 for message data: Node's decoder silently skips bad characters, this does not. */

const STANDARD_CANONICAL = /^[A-Za-z0-9+/]*={0,2}$/;
const ANY_ALPHABET = /^[A-Za-z0-9+/\-_]*$/;

/**
 * Decodes standard or URL-safe base64, padded or not (the proto3 JSON mapping of `bytes`
 * accepts both). Returns undefined when the text is not base64.
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  const body = stripPadding(text);
  if (body === undefined) return undefined;
  const buf = Buffer.from(body, 'base64');
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * Returns the text as canonical standard base64 (with padding), or undefined when it is not
 * base64. Canonical input (the usual case) is returned as is, without decoding.
 */
export function canonicalBase64(text: string): string | undefined {
  if (text.length % 4 === 0 && STANDARD_CANONICAL.test(text)) return text;
  const body = stripPadding(text);
  if (body === undefined) return undefined;
  return Buffer.from(body, 'base64').toString('base64');
}

/** Decoded length of canonical base64 text. */
export function base64ByteLength(canonical: string): number {
  let pad = 0;
  if (canonical.endsWith('==')) pad = 2;
  else if (canonical.endsWith('=')) pad = 1;
  return (canonical.length / 4) * 3 - pad;
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function stripPadding(text: string): string | undefined {
  if (typeof text !== 'string') return undefined;
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 61 /* = */ && text.length - end < 2) end--;
  const padded = end !== text.length;
  if (padded && text.length % 4 !== 0) return undefined;
  const body = end === text.length ? text : text.slice(0, end);
  if (body.length % 4 === 1) return undefined;
  if (!ANY_ALPHABET.test(body)) return undefined;
  return body;
}
