/**
 * The wire of the embedded broker: the subset of the Google Pub/Sub REST v1 JSON API it serves,
 * shared by the server (validation, responses) and the client (requests, response parsing).
 */
import { z } from 'zod';
import { InvalidInputError } from '../../core/errors.ts';
import { base64ByteLength, canonicalBase64 } from '../base64.ts';
import { MAX_FILTER_BYTES, parseFilter } from '../filter.ts';
import { checkResourceId, resourcePath } from '../names.ts';
import { describeZodError, type PubsubMessageJson } from '../push-envelope.ts';
import type { Delivery, PublishInput, StoredMessage, SubscriptionConfig, SubscriptionInfo } from './store.ts';

export const LIMITS = {
  messagesPerPublish: 1000,
  /** Pub/Sub: 10 MB per message and per publish request. */
  publishBytes: 10_000_000,
  attributesPerMessage: 100,
  attributeKeyBytes: 256,
  attributeValueBytes: 1024,
  orderingKeyBytes: 1024,
  /** Raw request body (base64 inflates the data by 4/3). */
  requestBodyBytes: 16 * 1024 * 1024,
  maxMessagesPerPull: 1000,
  maxAckDeadlineSeconds: 600,
  maxRetentionSeconds: 7 * 24 * 3600,
  maxBackoffSeconds: 600,
  maxDeliveryAttempts: 100,
} as const;

export const DEFAULTS = {
  ackDeadlineSeconds: 10,
  /** The playbook's "Message retention duration": 10 minutes. */
  retentionSeconds: 600,
  /** Pub/Sub's defaults when a retry policy leaves a bound out. */
  minimumBackoffSeconds: 10,
  maximumBackoffSeconds: 600,
  maxDeliveryAttempts: 5,
  maxMessagesPerPull: 100,
} as const;

/** Extension: how long a pull may wait for messages (ms), as a header or a body field. */
export const WAIT_HEADER = 'x-wait-ms';

// ---- errors ----

export type ErrorStatus =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'INTERNAL'
  | 'UNIMPLEMENTED'
  | 'UNAVAILABLE';

export interface ErrorJson {
  error: { code: number; message: string; status: ErrorStatus };
}

const STATUS_OF_CODE: Record<number, ErrorStatus> = {
  400: 'INVALID_ARGUMENT',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  503: 'UNAVAILABLE',
};

export function errorJson(code: number, message: string): ErrorJson {
  return { error: { code, message, status: STATUS_OF_CODE[code] ?? 'INTERNAL' } };
}

// ---- durations ("600s", "0.5s": protobuf JSON Duration) ----

export function parseDuration(text: unknown, field: string): number {
  if (typeof text !== 'string') throw new InvalidInputError(`${field} must be a duration string such as "600s"`);
  const m = /^(\d+)(\.\d{1,9})?s$/.exec(text);
  if (!m) throw new InvalidInputError(`${field} ${JSON.stringify(text)} is not a duration such as "600s" or "0.5s"`);
  return Number(`${m[1]}${m[2] ?? ''}`) * 1000;
}

export function formatDuration(ms: number): string {
  const seconds = Math.round(ms) / 1000;
  return `${seconds}s`;
}

// ---- JSON shapes ----

export interface TopicJson {
  name: string;
}

export type { PubsubMessageJson };

export interface ReceivedMessageJson {
  ackId: string;
  message: PubsubMessageJson;
  deliveryAttempt: number;
}

export interface PullResponseJson {
  receivedMessages?: ReceivedMessageJson[];
}

export interface PublishResponseJson {
  messageIds: string[];
}

export interface SubscriptionJson {
  name: string;
  topic: string;
  pushConfig: { pushEndpoint?: string };
  ackDeadlineSeconds: number;
  filter?: string;
  messageRetentionDuration: string;
  retainAckedMessages: boolean;
  retryPolicy?: { minimumBackoff: string; maximumBackoff: string };
  deadLetterPolicy?: { deadLetterTopic: string; maxDeliveryAttempts: number };
  enableMessageOrdering?: boolean;
  state: 'ACTIVE' | 'RESOURCE_ERROR';
  detached?: boolean;
}

/** Subscription request body as the client sends it and the server accepts it. */
export interface SubscriptionRequestJson {
  topic: string;
  pushConfig?: { pushEndpoint?: string };
  ackDeadlineSeconds?: number;
  filter?: string;
  messageRetentionDuration?: string;
  retainAckedMessages?: boolean;
  retryPolicy?: { minimumBackoff?: string; maximumBackoff?: string };
  deadLetterPolicy?: { deadLetterTopic?: string; maxDeliveryAttempts?: number };
  enableMessageOrdering?: boolean;
}

export function messageJson(msg: StoredMessage): PubsubMessageJson {
  const out = {} as PubsubMessageJson;
  if (msg.data) out.data = msg.data;
  for (const _ in msg.attributes) {
    out.attributes = msg.attributes as Record<string, string>;
    break;
  }
  out.messageId = msg.messageId;
  out.message_id = msg.messageId;
  out.publishTime = msg.publishTime;
  out.publish_time = msg.publishTime;
  if (msg.orderingKey) out.orderingKey = msg.orderingKey;
  return out;
}

export function receivedMessageJson(d: Delivery): ReceivedMessageJson {
  return { ackId: d.ackId, message: messageJson(d.message), deliveryAttempt: d.deliveryAttempt };
}

export function subscriptionJson(project: string, info: SubscriptionInfo): SubscriptionJson {
  const c = info.config;
  const out: SubscriptionJson = {
    name: resourcePath(project, 'subscription', info.id),
    topic: info.detached ? '_deleted-topic_' : resourcePath(project, 'topic', c.topic),
    pushConfig: c.pushEndpoint ? { pushEndpoint: c.pushEndpoint } : {},
    ackDeadlineSeconds: c.ackDeadlineMs / 1000,
    messageRetentionDuration: formatDuration(c.retentionMs),
    retainAckedMessages: false,
    state: 'ACTIVE',
  };
  if (c.filter) out.filter = c.filter;
  if (c.retry) {
    out.retryPolicy = {
      minimumBackoff: formatDuration(c.retry.minimumBackoffMs),
      maximumBackoff: formatDuration(c.retry.maximumBackoffMs),
    };
  }
  if (c.deadLetter) {
    out.deadLetterPolicy = {
      deadLetterTopic: resourcePath(project, 'topic', c.deadLetter.topic),
      maxDeliveryAttempts: c.deadLetter.maxDeliveryAttempts,
    };
  }
  if (c.ordering) out.enableMessageOrdering = true;
  if (info.detached) out.detached = true;
  return out;
}

// ---- request validation ----

function parseBody<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidInputError(`${what}: the request body must be a JSON object`);
  }
  const r = schema.safeParse(body);
  if (!r.success) throw new InvalidInputError(`${what}: ${describeZodError(r.error)}`);
  return r.data;
}

const publishSchema = z.object({
  messages: z.array(
    z.object({
      data: z.string().optional(),
      attributes: z.record(z.string()).optional(),
      orderingKey: z.string().optional(),
    }),
  ),
});

/** Validates a publish body; errors name the field, e.g. "messages[3].data is not base64". */
export function parsePublishRequest(body: unknown): PublishInput[] {
  const { messages } = parseBody(publishSchema, body, 'publish');
  if (messages.length === 0) throw new InvalidInputError('publish: messages must not be empty');
  if (messages.length > LIMITS.messagesPerPublish) {
    throw new InvalidInputError(
      `publish: ${messages.length} messages in one request; the maximum is ${LIMITS.messagesPerPublish}`,
    );
  }
  let total = 0;
  const out: PublishInput[] = new Array<PublishInput>(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    let data = '';
    if (m.data !== undefined && m.data !== '') {
      const canonical = canonicalBase64(m.data);
      if (canonical === undefined) throw new InvalidInputError(`publish: messages[${i}].data is not base64`);
      data = canonical;
      total += base64ByteLength(canonical);
    }
    const attributes = m.attributes ?? {};
    let count = 0;
    for (const key in attributes) {
      count++;
      if (key === '') throw new InvalidInputError(`publish: messages[${i}].attributes has an empty key`);
      if (key.toLowerCase().startsWith('goog')) {
        throw new InvalidInputError(`publish: messages[${i}].attributes.${key}: keys must not start with "goog"`);
      }
      if (Buffer.byteLength(key) > LIMITS.attributeKeyBytes) {
        throw new InvalidInputError(
          `publish: messages[${i}].attributes key ${JSON.stringify(key.slice(0, 40))}... is longer than ${LIMITS.attributeKeyBytes} bytes`,
        );
      }
      if (Buffer.byteLength(attributes[key]) > LIMITS.attributeValueBytes) {
        throw new InvalidInputError(
          `publish: messages[${i}].attributes.${key} is longer than ${LIMITS.attributeValueBytes} bytes`,
        );
      }
    }
    if (count > LIMITS.attributesPerMessage) {
      throw new InvalidInputError(
        `publish: messages[${i}].attributes has ${count} entries; the maximum is ${LIMITS.attributesPerMessage}`,
      );
    }
    if (data === '' && count === 0) {
      throw new InvalidInputError(`publish: messages[${i}] has neither data nor attributes`);
    }
    if (m.orderingKey !== undefined && Buffer.byteLength(m.orderingKey) > LIMITS.orderingKeyBytes) {
      throw new InvalidInputError(
        `publish: messages[${i}].orderingKey is longer than ${LIMITS.orderingKeyBytes} bytes`,
      );
    }
    out[i] = m.orderingKey ? { data, attributes, orderingKey: m.orderingKey } : { data, attributes };
  }
  if (total > LIMITS.publishBytes) {
    throw new InvalidInputError(`publish: ${total} bytes of data in one request; the maximum is ${LIMITS.publishBytes}`);
  }
  return out;
}

const subscriptionSchema = z
  .object({
    topic: z.string(),
    pushConfig: z
      .object({
        pushEndpoint: z.string().optional(),
        oidcToken: z.unknown().optional(),
        noWrapper: z.unknown().optional(),
        attributes: z.record(z.string()).optional(),
      })
      .optional(),
    ackDeadlineSeconds: z.number().optional(),
    filter: z.string().optional(),
    messageRetentionDuration: z.string().optional(),
    retainAckedMessages: z.boolean().optional(),
    retryPolicy: z.object({ minimumBackoff: z.string().optional(), maximumBackoff: z.string().optional() }).optional(),
    deadLetterPolicy: z
      .object({ deadLetterTopic: z.string().optional(), maxDeliveryAttempts: z.number().optional() })
      .optional(),
    enableMessageOrdering: z.boolean().optional(),
    enableExactlyOnceDelivery: z.boolean().optional(),
  })
  .passthrough();

/** Extracts the topic ID from `projects/{project}/topics/{id}`. */
export function topicIdFromPath(project: string, path: string, field: string): string {
  const m = /^projects\/([^/]+)\/topics\/([^/]+)$/.exec(path);
  if (!m) throw new InvalidInputError(`${field} ${JSON.stringify(path)} is not projects/{project}/topics/{topic}`);
  if (m[1] !== project) {
    throw new InvalidInputError(`${field} ${JSON.stringify(path)} is in project ${m[1]}; this broker serves project ${project}`);
  }
  try {
    return checkResourceId('topic', m[2]);
  } catch (err) {
    throw new InvalidInputError(`${field}: ${(err as Error).message}`);
  }
}

/** Validates a subscription body and applies the defaults. */
export function parseSubscriptionRequest(project: string, body: unknown): SubscriptionConfig {
  const b = parseBody(subscriptionSchema, body, 'subscription');
  const bad = (msg: string): never => {
    throw new InvalidInputError(`subscription: ${msg}`);
  };
  const topic = topicIdFromPath(project, b.topic, 'subscription: topic');

  let pushEndpoint: string | undefined;
  if (b.pushConfig) {
    if (b.pushConfig.oidcToken !== undefined) bad('pushConfig.oidcToken is not supported by the embedded broker');
    if (b.pushConfig.noWrapper !== undefined) bad('pushConfig.noWrapper is not supported by the embedded broker (wrapped mode only)');
    const ep = b.pushConfig.pushEndpoint;
    if (ep !== undefined && ep !== '') {
      let url: URL | undefined;
      try {
        url = new URL(ep);
      } catch {
        url = undefined;
      }
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        bad(`pushConfig.pushEndpoint ${JSON.stringify(ep)} is not an http(s) URL`);
      }
      pushEndpoint = ep;
    }
  }

  let ackDeadlineSeconds: number = DEFAULTS.ackDeadlineSeconds;
  if (b.ackDeadlineSeconds !== undefined && b.ackDeadlineSeconds !== 0) {
    if (!(b.ackDeadlineSeconds > 0) || b.ackDeadlineSeconds > LIMITS.maxAckDeadlineSeconds) {
      bad(`ackDeadlineSeconds ${b.ackDeadlineSeconds} is out of range (0, ${LIMITS.maxAckDeadlineSeconds}]`);
    }
    ackDeadlineSeconds = b.ackDeadlineSeconds;
  }

  let retentionMs = DEFAULTS.retentionSeconds * 1000;
  if (b.messageRetentionDuration !== undefined) {
    retentionMs = parseDuration(b.messageRetentionDuration, 'subscription: messageRetentionDuration');
    if (retentionMs <= 0 || retentionMs > LIMITS.maxRetentionSeconds * 1000) {
      bad(`messageRetentionDuration ${b.messageRetentionDuration} is out of range (0s, ${LIMITS.maxRetentionSeconds}s]`);
    }
  }

  if (b.retainAckedMessages === true) bad('retainAckedMessages=true is not supported by the embedded broker');
  if (b.enableExactlyOnceDelivery === true) bad('enableExactlyOnceDelivery=true is not supported by the embedded broker');

  const filter = b.filter ?? '';
  if (Buffer.byteLength(filter) > MAX_FILTER_BYTES) bad(`filter is longer than ${MAX_FILTER_BYTES} bytes`);
  try {
    parseFilter(filter);
  } catch (err) {
    bad((err as Error).message);
  }

  let retry: SubscriptionConfig['retry'];
  if (b.retryPolicy) {
    const min = b.retryPolicy.minimumBackoff === undefined
      ? DEFAULTS.minimumBackoffSeconds * 1000
      : parseDuration(b.retryPolicy.minimumBackoff, 'subscription: retryPolicy.minimumBackoff');
    const max = b.retryPolicy.maximumBackoff === undefined
      ? DEFAULTS.maximumBackoffSeconds * 1000
      : parseDuration(b.retryPolicy.maximumBackoff, 'subscription: retryPolicy.maximumBackoff');
    if (min > LIMITS.maxBackoffSeconds * 1000) bad(`retryPolicy.minimumBackoff is above ${LIMITS.maxBackoffSeconds}s`);
    if (max > LIMITS.maxBackoffSeconds * 1000) bad(`retryPolicy.maximumBackoff is above ${LIMITS.maxBackoffSeconds}s`);
    if (max < min) bad('retryPolicy.maximumBackoff is smaller than retryPolicy.minimumBackoff');
    retry = { minimumBackoffMs: min, maximumBackoffMs: max };
  }

  let deadLetter: SubscriptionConfig['deadLetter'];
  if (b.deadLetterPolicy) {
    const path = b.deadLetterPolicy.deadLetterTopic;
    if (!path) bad('deadLetterPolicy.deadLetterTopic is missing');
    const dlTopic = topicIdFromPath(project, path as string, 'subscription: deadLetterPolicy.deadLetterTopic');
    let attempts: number = b.deadLetterPolicy.maxDeliveryAttempts ?? 0;
    if (attempts === 0) attempts = DEFAULTS.maxDeliveryAttempts;
    if (!Number.isInteger(attempts) || attempts < 1 || attempts > LIMITS.maxDeliveryAttempts) {
      bad(`deadLetterPolicy.maxDeliveryAttempts ${attempts} is not an integer in [1, ${LIMITS.maxDeliveryAttempts}]`);
    }
    deadLetter = { topic: dlTopic, maxDeliveryAttempts: attempts };
  }

  return {
    topic,
    ackDeadlineMs: ackDeadlineSeconds * 1000,
    retentionMs,
    filter,
    pushEndpoint,
    retry,
    deadLetter,
    ordering: b.enableMessageOrdering === true,
  };
}

const pullSchema = z.object({
  maxMessages: z.number().int().nonnegative().optional(),
  returnImmediately: z.boolean().optional(),
  waitMs: z.number().nonnegative().optional(),
});

export interface PullRequest {
  maxMessages: number;
  returnImmediately: boolean;
  waitMs: number | undefined;
}

export function parsePullRequest(body: unknown): PullRequest {
  const b = parseBody(pullSchema, body, 'pull');
  const max = b.maxMessages === undefined || b.maxMessages === 0 ? DEFAULTS.maxMessagesPerPull : b.maxMessages;
  return {
    maxMessages: Math.min(max, LIMITS.maxMessagesPerPull),
    returnImmediately: b.returnImmediately === true,
    waitMs: b.waitMs,
  };
}

const ackSchema = z.object({ ackIds: z.array(z.string()) });

export function parseAckRequest(body: unknown): string[] {
  return parseBody(ackSchema, body, 'acknowledge').ackIds;
}

const modAckSchema = z.object({ ackIds: z.array(z.string()), ackDeadlineSeconds: z.number() });

export function parseModifyAckDeadlineRequest(body: unknown): { ackIds: string[]; ackDeadlineSeconds: number } {
  const b = parseBody(modAckSchema, body, 'modifyAckDeadline');
  if (b.ackDeadlineSeconds < 0 || b.ackDeadlineSeconds > LIMITS.maxAckDeadlineSeconds) {
    throw new InvalidInputError(
      `modifyAckDeadline: ackDeadlineSeconds ${b.ackDeadlineSeconds} is out of range [0, ${LIMITS.maxAckDeadlineSeconds}]`,
    );
  }
  return b;
}
