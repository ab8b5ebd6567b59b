import { InvalidInputError } from '../core/errors.ts';
import {
  cloudEventMode,
  normalizeHeaders,
  readCloudEvent,
  utf8,
  type CloudEventAttributes,
  type HeaderSource,
} from './cloudevent.ts';
import type { NextVisit } from './next-visit.ts';
import {
  decodeAnyNextVisit,
  readNextVisitJson,
  type DecodedNextVisit,
  type NextVisitShape,
  type ScriptQueueVisit,
} from './next-visit-fanout.ts';

export type { HeaderSource } from './cloudevent.ts';

/**
 * A nextVisit delivered over HTTP, whatever carried it (FORMATS.md C1, C4, D):
 *
 * - `pubsub-push`: a Pub/Sub push envelope (wrapped mode); `message.data` is base64 of the
 *   nextVisit JSON.
 * - `cloudevent-binary`: CloudEvents binary mode (`ce-specversion`, `ce-id`, `ce-source`,
 *   `ce-type` headers), the body is the nextVisit JSON. This is how Knative KafkaSource delivers
 *   a Kafka record.
 * - `cloudevent-structured`: `Content-Type: application/cloudevents+json`, the event as JSON;
 *   its `data` is the nextVisit object or a string holding its JSON text (the fan-out service
 *   sends the latter), or `data_base64` holds the JSON bytes.
 *
 * In every carrier the nextVisit itself may have this service's fields (`parseNextVisit`) or the
 * fan-out fields (`parseFanOutNextVisit`, mapping documented there), and the data may be a JSON
 * string holding the JSON text.
 */
export const NEXT_VISIT_CARRIERS = ['pubsub-push', 'cloudevent-binary', 'cloudevent-structured'] as const;
export type NextVisitCarrier = (typeof NEXT_VISIT_CARRIERS)[number];

/** What the Pub/Sub push envelope reader returns (structurally `ParsedPushEnvelope` of messaging). */
export interface PushEnvelopeMessage {
  data: Uint8Array;
  attributes: Record<string, string>;
  messageId: string;
  publishTime: string;
  subscription: string;
  deliveryAttempt?: number;
  orderingKey?: string;
}

/**
 * Carrier readers that live in layers above this one, passed in by the caller: the activator
 * passes `parsePushEnvelope` from messaging/push-envelope.ts, the one reader of that format.
 */
export interface NextVisitCarrierReaders {
  /** Validates a JSON-decoded push body, throwing InvalidInputError naming what is wrong. */
  readonly readPushEnvelope: (body: unknown) => PushEnvelopeMessage;
}

export interface ReceivedNextVisit {
  readonly visit: NextVisit;
  readonly carrier: NextVisitCarrier;
  readonly shape: NextVisitShape;
  /** The carrier's id for the message: Pub/Sub messageId, or the CloudEvent id. */
  readonly messageId: string;
  /** Pub/Sub push only. */
  readonly pubsub?: {
    readonly subscription: string;
    readonly publishTime: string;
    readonly attributes: Readonly<Record<string, string>>;
    readonly deliveryAttempt?: number;
    readonly orderingKey?: string;
  };
  /** CloudEvents only: context attributes (KafkaSource's `key`, `kafkaheader…` are extensions). */
  readonly cloudEvent?: CloudEventAttributes;
  /** Fan-out shape only: the observatory fields that the nextVisit does not carry. */
  readonly scriptQueue?: ScriptQueueVisit;
}

/**
 * Which carrier a request uses, from its headers alone (so that even an unreadable body is
 * answered with that carrier's rules): a CloudEvents content type means structured mode, a
 * `ce-specversion` header binary mode, anything else a Pub/Sub push.
 */
export function detectCarrier(headers: HeaderSource): NextVisitCarrier {
  return carrierOf(normalizeHeaders(headers));
}

function carrierOf(headers: ReadonlyMap<string, string>): NextVisitCarrier {
  const mode = cloudEventMode(headers);
  if (mode === 'binary') return 'cloudevent-binary';
  if (mode === 'structured') return 'cloudevent-structured';
  return 'pubsub-push';
}

/**
 * Reads the nextVisit an HTTP request carries, from its headers and body bytes. Throws
 * InvalidInputError naming what is wrong (which a retry cannot fix), or NoWorkError for a
 * fan-out message whose instrument is blank (not an observation).
 */
export function readNextVisitRequest(
  headers: HeaderSource,
  body: Uint8Array,
  readers: NextVisitCarrierReaders,
): ReceivedNextVisit {
  const h = normalizeHeaders(headers);
  const carrier = carrierOf(h);
  if (carrier === 'pubsub-push') return readPubsubPush(body, readers);
  const event = readCloudEvent(h, body);
  const decoded: DecodedNextVisit =
    event.data.kind === 'bytes' ? decodeAnyNextVisit(event.data.bytes, event.data.from) : readNextVisitJson(event.data.value, event.data.from);
  return withDecoded(decoded, { carrier, messageId: event.attributes.id, cloudEvent: event.attributes });
}

function readPubsubPush(body: Uint8Array, readers: NextVisitCarrierReaders): ReceivedNextVisit {
  let json: unknown;
  try {
    json = JSON.parse(utf8(body, 'push envelope: the body'));
  } catch (e) {
    if (e instanceof InvalidInputError) throw e;
    throw new InvalidInputError(`push envelope: the body is not JSON: ${(e as Error).message}`);
  }
  const env = readers.readPushEnvelope(json);
  const decoded = decodeAnyNextVisit(env.data, 'push envelope message.data');
  const pubsub: { -readonly [K in keyof NonNullable<ReceivedNextVisit['pubsub']>]: NonNullable<ReceivedNextVisit['pubsub']>[K] } = {
    subscription: env.subscription,
    publishTime: env.publishTime,
    attributes: Object.freeze({ ...env.attributes }),
  };
  if (env.deliveryAttempt !== undefined) pubsub.deliveryAttempt = env.deliveryAttempt;
  if (env.orderingKey !== undefined) pubsub.orderingKey = env.orderingKey;
  return withDecoded(decoded, { carrier: 'pubsub-push', messageId: env.messageId, pubsub: Object.freeze(pubsub) });
}

function withDecoded(
  decoded: DecodedNextVisit,
  rest: Omit<ReceivedNextVisit, 'visit' | 'shape' | 'scriptQueue'>,
): ReceivedNextVisit {
  const out: ReceivedNextVisit = { visit: decoded.visit, shape: decoded.shape, ...rest };
  return Object.freeze(decoded.scriptQueue ? { ...out, scriptQueue: decoded.scriptQueue } : out);
}
