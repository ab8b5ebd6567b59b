import { InvalidInputError } from '../core/errors.ts';

/**
 * CloudEvents 1.0 over HTTP (FORMATS.md C4), read by hand: binary mode (`ce-*` headers, the body
 * is the data) and structured mode (`Content-Type: application/cloudevents+json`, the body is the
 * event as JSON). Batch mode (`application/cloudevents-batch+json`) is refused: one request
 * carries one event.
 *
 * Knative KafkaSource delivers in binary mode with
 *   ce-type: dev.knative.kafka.event
 *   ce-source: /apis/v1/namespaces/<ns>/kafkasources/<name>#<topic>
 *   ce-subject: partition:<p>#<offset>
 *   ce-id: partition:<p>/offset:<o>
 *   ce-time: the record time
 *   ce-key: the record key, ce-kafkaheader<name>: one per Kafka header   (extensions)
 * and a `traceparent` header, which is not a `ce-` header and is not read here.
 */

export type HeaderSource = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

/** Header names lowercased; repeated headers joined with ", " as HTTP allows. */
export function normalizeHeaders(headers: HeaderSource): Map<string, string> {
  const out = new Map<string, string>();
  const add = (name: string, value: string): void => {
    const key = name.toLowerCase();
    const prev = out.get(key);
    out.set(key, prev === undefined ? value : `${prev}, ${value}`);
  };
  if (typeof Headers !== 'undefined' && headers instanceof Headers) {
    headers.forEach((value, name) => add(name, value));
    return out;
  }
  for (const [name, value] of Object.entries(headers as Record<string, string | readonly string[] | undefined>)) {
    if (value === undefined) continue;
    if (typeof value === 'string') add(name, value);
    else for (const v of value) add(name, v);
  }
  return out;
}

/** The media type of a Content-Type value, lowercased, without parameters. */
export function mediaType(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const t = contentType.split(';')[0].trim().toLowerCase();
  return t === '' ? undefined : t;
}

export const CLOUDEVENTS_JSON = 'application/cloudevents+json';
export const CLOUDEVENTS_BATCH_JSON = 'application/cloudevents-batch+json';

export type CloudEventMode = 'binary' | 'structured';

/** How a request carries a CloudEvent, or undefined when it carries none. */
export function cloudEventMode(headers: ReadonlyMap<string, string>): CloudEventMode | undefined {
  const type = mediaType(headers.get('content-type'));
  if (type === CLOUDEVENTS_JSON || type === CLOUDEVENTS_BATCH_JSON) return 'structured';
  if (headers.has('ce-specversion')) return 'binary';
  return undefined;
}

/** Context attributes of a CloudEvent (spec names). */
export interface CloudEventAttributes {
  readonly specversion: string;
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly subject?: string;
  readonly time?: string;
  readonly dataschema?: string;
  readonly datacontenttype?: string;
  /** Every other attribute, e.g. Knative KafkaSource's `key` and `kafkaheader<name>`. */
  readonly extensions: Readonly<Record<string, string>>;
}

/**
 * The event's data as it came: `bytes` for binary-mode bodies and structured `data_base64`,
 * `json` for the structured `data` member (an object, or a string that may hold JSON text).
 */
export type CloudEventData =
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array; readonly from: string }
  | { readonly kind: 'json'; readonly value: unknown; readonly from: string };

export interface CloudEvent {
  readonly mode: CloudEventMode;
  readonly attributes: CloudEventAttributes;
  readonly data: CloudEventData;
}

const SUPPORTED_SPECVERSION = '1.0';
const REQUIRED = ['specversion', 'id', 'source', 'type'] as const;
const OPTIONAL = ['subject', 'time', 'dataschema', 'datacontenttype'] as const;
const KNOWN = new Set<string>([...REQUIRED, ...OPTIONAL, 'data', 'data_base64']);

/**
 * Reads the CloudEvent a request carries. `headers` must come from `normalizeHeaders`. Throws
 * InvalidInputError naming what is wrong, e.g. "CloudEvent (binary mode): header ce-id is missing".
 */
export function readCloudEvent(headers: ReadonlyMap<string, string>, body: Uint8Array): CloudEvent {
  const mode = cloudEventMode(headers);
  if (mode === 'binary') return readBinary(headers, body);
  if (mode === 'structured') return readStructured(headers, body);
  throw new InvalidInputError('the request carries no CloudEvent: no ce-specversion header and no application/cloudevents+json body');
}

/** Binary mode: one `ce-<name>` header per attribute, values percent-encoded (spec 1.0.2). */
function readBinary(headers: ReadonlyMap<string, string>, body: Uint8Array): CloudEvent {
  const where = 'CloudEvent (binary mode)';
  const attrs: Record<string, string> = {};
  const extensions: Record<string, string> = {};
  for (const [name, raw] of headers) {
    if (!name.startsWith('ce-') || name.length === 3) continue;
    const attr = name.slice(3);
    let value: string;
    try {
      value = decodeURIComponent(raw);
    } catch {
      throw new InvalidInputError(`${where}: header ${name} ${JSON.stringify(raw)} has a malformed percent-encoding`);
    }
    if ((REQUIRED as readonly string[]).includes(attr) || (OPTIONAL as readonly string[]).includes(attr)) attrs[attr] = value;
    else extensions[attr] = value;
  }
  for (const name of REQUIRED) {
    if (attrs[name] === undefined) throw new InvalidInputError(`${where}: header ce-${name} is missing`);
    if (attrs[name] === '') throw new InvalidInputError(`${where}: header ce-${name} is empty`);
  }
  const contentType = headers.get('content-type');
  if (contentType !== undefined) attrs.datacontenttype = contentType;
  const attributes = finishAttributes(attrs, extensions, where, 'header ce-');
  if (body.byteLength === 0) throw new InvalidInputError(`${where}: the body (the event data) is empty`);
  return { mode: 'binary', attributes, data: { kind: 'bytes', bytes: body, from: 'CloudEvent data' } };
}

/** Structured mode: the whole event as one JSON object. */
function readStructured(headers: ReadonlyMap<string, string>, body: Uint8Array): CloudEvent {
  const where = 'CloudEvent (structured mode)';
  if (mediaType(headers.get('content-type')) === CLOUDEVENTS_BATCH_JSON) {
    throw new InvalidInputError(`${where}: batch mode (${CLOUDEVENTS_BATCH_JSON}) is not accepted; send one event per request`);
  }
  let event: unknown;
  try {
    event = JSON.parse(utf8(body, `${where}: the body`));
  } catch (e) {
    if (e instanceof InvalidInputError) throw e;
    throw new InvalidInputError(`${where}: the body is not JSON: ${(e as Error).message}`);
  }
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw new InvalidInputError(`${where}: the body is not a JSON object`);
  }
  const e = event as Record<string, unknown>;
  const attrs: Record<string, string> = {};
  for (const name of [...REQUIRED, ...OPTIONAL]) {
    const v = e[name];
    if (v === undefined || v === null) {
      if ((REQUIRED as readonly string[]).includes(name)) throw new InvalidInputError(`${where}: ${name} is missing`);
      continue;
    }
    if (typeof v !== 'string') throw new InvalidInputError(`${where}: ${name} must be a string, not ${describe(v)}`);
    if (v === '' && (REQUIRED as readonly string[]).includes(name)) throw new InvalidInputError(`${where}: ${name} is empty`);
    attrs[name] = v;
  }
  const extensions: Record<string, string> = {};
  for (const [name, v] of Object.entries(e)) {
    if (KNOWN.has(name) || v === null || v === undefined) continue;
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw new InvalidInputError(`${where}: extension attribute ${name} must be a string, number or boolean, not ${describe(v)}`);
    }
    extensions[name] = String(v);
  }
  const attributes = finishAttributes(attrs, extensions, where, '');
  const hasData = e.data !== undefined && e.data !== null;
  const hasBase64 = e.data_base64 !== undefined && e.data_base64 !== null;
  if (hasData && hasBase64) throw new InvalidInputError(`${where}: has both data and data_base64; an event carries one`);
  if (hasBase64) {
    if (typeof e.data_base64 !== 'string') {
      throw new InvalidInputError(`${where}: data_base64 must be a string, not ${describe(e.data_base64)}`);
    }
    const bytes = decodeStandardBase64(e.data_base64);
    if (!bytes) throw new InvalidInputError(`${where}: data_base64 is not base64`);
    if (bytes.byteLength === 0) throw new InvalidInputError(`${where}: data_base64 is empty`);
    return { mode: 'structured', attributes, data: { kind: 'bytes', bytes, from: 'CloudEvent data_base64' } };
  }
  if (!hasData) throw new InvalidInputError(`${where}: has neither data nor data_base64`);
  return { mode: 'structured', attributes, data: { kind: 'json', value: e.data, from: 'CloudEvent data' } };
}

function finishAttributes(
  attrs: Record<string, string>,
  extensions: Record<string, string>,
  where: string,
  prefix: string,
): CloudEventAttributes {
  if (attrs.specversion !== SUPPORTED_SPECVERSION) {
    throw new InvalidInputError(
      `${where}: ${prefix}specversion ${JSON.stringify(attrs.specversion)} is not supported (only ${SUPPORTED_SPECVERSION})`,
    );
  }
  if (attrs.time !== undefined && !RFC3339.test(attrs.time)) {
    throw new InvalidInputError(`${where}: ${prefix}time ${JSON.stringify(attrs.time)} is not an RFC 3339 timestamp`);
  }
  const out: { -readonly [K in keyof CloudEventAttributes]: CloudEventAttributes[K] } = {
    specversion: attrs.specversion,
    id: attrs.id,
    source: attrs.source,
    type: attrs.type,
    extensions: Object.freeze({ ...extensions }),
  };
  for (const name of OPTIONAL) if (attrs[name] !== undefined) out[name] = attrs[name];
  return Object.freeze(out);
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** `data_base64` is RFC 4648 base64 (standard alphabet, padded); anything else is refused. */
function decodeStandardBase64(text: string): Uint8Array | undefined {
  if (!STANDARD_BASE64.test(text)) return undefined;
  const buf = Buffer.from(text, 'base64');
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Strict UTF-8 decoding; `what` names the bytes in the error. */
export function utf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InvalidInputError(`${what} is not UTF-8 text`);
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}
