/**
 * The Google Pub/Sub push envelope ("wrapped" mode, FORMATS.md C1): what a push subscription
 * POSTs to its endpoint. `buildPushEnvelope` is used by the embedded broker, `parsePushEnvelope`
 * by whoever receives pushes (the activator).
 */
import { z } from 'zod';
import { InvalidInputError } from '../core/errors.ts';
import { decodeBase64, encodeBase64 } from './base64.ts';

/** A message as Pub/Sub's JSON shows it (pull responses and push envelopes alike). */
export interface PubsubMessageJson {
  data?: string;
  attributes?: Record<string, string>;
  messageId: string;
  message_id: string;
  publishTime: string;
  publish_time: string;
  orderingKey?: string;
}

export interface PushEnvelope {
  message: PubsubMessageJson;
  subscription: string;
  deliveryAttempt?: number;
}

export interface PushEnvelopeInput {
  /** Full name, `projects/{project}/subscriptions/{id}`. */
  subscription: string;
  messageId: string;
  /** RFC 3339. */
  publishTime: string;
  /** The payload as bytes, or `dataBase64` when it is already encoded. */
  data?: Uint8Array;
  dataBase64?: string;
  attributes?: Readonly<Record<string, string>>;
  orderingKey?: string;
  /** Set only when the subscription has a dead-letter policy (as Pub/Sub does). */
  deliveryAttempt?: number;
}

/** Builds the envelope with Pub/Sub's field rules: no empty `data`, `attributes` or `orderingKey`. */
export function buildPushEnvelope(input: PushEnvelopeInput): PushEnvelope {
  const data = input.dataBase64 ?? (input.data && input.data.byteLength > 0 ? encodeBase64(input.data) : undefined);
  const message: PushEnvelope['message'] = {} as PushEnvelope['message'];
  if (data) message.data = data;
  if (input.attributes && Object.keys(input.attributes).length > 0) message.attributes = { ...input.attributes };
  message.messageId = input.messageId;
  message.message_id = input.messageId;
  message.publishTime = input.publishTime;
  message.publish_time = input.publishTime;
  if (input.orderingKey) message.orderingKey = input.orderingKey;
  const envelope: PushEnvelope = { message, subscription: input.subscription };
  if (input.deliveryAttempt !== undefined) envelope.deliveryAttempt = input.deliveryAttempt;
  return envelope;
}

export interface ParsedPushEnvelope {
  data: Uint8Array;
  attributes: Record<string, string>;
  messageId: string;
  publishTime: string;
  /** Full name, `projects/{project}/subscriptions/{id}`. */
  subscription: string;
  deliveryAttempt?: number;
  orderingKey?: string;
}

const SUBSCRIPTION_NAME = /^projects\/[^/]+\/subscriptions\/[^/]+$/;

const envelopeSchema = z.object({
  message: z.object({
    data: z.string().optional(),
    attributes: z.record(z.string()).optional(),
    messageId: z.string().min(1).optional(),
    message_id: z.string().min(1).optional(),
    publishTime: z.string().optional(),
    publish_time: z.string().optional(),
    orderingKey: z.string().optional(),
  }),
  subscription: z.string().regex(SUBSCRIPTION_NAME, 'is not projects/{project}/subscriptions/{id}'),
  deliveryAttempt: z.number().int().positive().optional(),
});

/**
 * Validates a push body (already JSON-parsed) and returns its message. Throws InvalidInputError
 * naming what is wrong, e.g. "push envelope: message.data is not base64".
 */
export function parsePushEnvelope(body: unknown): ParsedPushEnvelope {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidInputError('push envelope: the body is not a JSON object');
  }
  const parsed = envelopeSchema.safeParse(body);
  if (!parsed.success) throw new InvalidInputError(`push envelope: ${describeZodError(parsed.error)}`);
  const { message, subscription, deliveryAttempt } = parsed.data;
  let data: Uint8Array = new Uint8Array(0);
  if (message.data !== undefined) {
    const decoded = decodeBase64(message.data);
    if (!decoded) throw new InvalidInputError('push envelope: message.data is not base64');
    data = decoded;
  }
  const messageId = message.messageId ?? message.message_id;
  if (messageId === undefined) throw new InvalidInputError('push envelope: message.messageId is missing');
  const publishTime = message.publishTime ?? message.publish_time;
  if (publishTime === undefined) throw new InvalidInputError('push envelope: message.publishTime is missing');
  if (Number.isNaN(Date.parse(publishTime))) {
    throw new InvalidInputError(`push envelope: message.publishTime ${JSON.stringify(publishTime)} is not an RFC 3339 timestamp`);
  }
  const out: ParsedPushEnvelope = {
    data,
    attributes: message.attributes ?? {},
    messageId,
    publishTime,
    subscription,
  };
  if (deliveryAttempt !== undefined) out.deliveryAttempt = deliveryAttempt;
  if (message.orderingKey) out.orderingKey = message.orderingKey;
  return out;
}

/** "message.attributes.k: expected string, received number" — the first issue, with its path. */
export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  const path = formatPath(issue.path);
  let text = issue.message;
  if (issue.code === 'invalid_type') {
    text = issue.received === 'undefined' ? 'is missing' : `must be ${article(issue.expected)}, not ${issue.received}`;
  } else if (issue.code === 'invalid_string' || issue.code === 'custom') {
    text = issue.message.startsWith('is ') ? issue.message : `is invalid: ${issue.message}`;
  } else if (issue.code === 'too_small' || issue.code === 'too_big') {
    text = `is invalid: ${issue.message.toLowerCase()}`;
  }
  return path ? `${path} ${text}` : `the body ${text}`;
}

export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${part}` : part;
  }
  return out;
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}
