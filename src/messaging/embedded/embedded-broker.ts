/**
 * The embedded backend's Broker: an HTTP client of the embedded broker server (Pub/Sub REST v1
 * JSON), using Node's global fetch. Any process that knows the broker URL can use it.
 *
 * Errors: 400 → InvalidInputError, 404 → NotFoundError, 409 → ConfigError (a subscription with
 * other settings exists), 429/5xx, timeouts and connection failures → TransientError.
 */
import { ConfigError, InvalidInputError, NotFoundError, TransientError } from '../../core/errors.ts';
import { decodeBase64, encodeBase64 } from '../base64.ts';
import type {
  Broker,
  BrokerCapabilities,
  OutgoingMessage,
  PullOptions,
  ReceivedMessage,
  SubscriptionOptions,
} from '../broker.ts';
import { DEFAULT_PROJECT, checkProjectId, resourceId, resourcePath } from '../names.ts';
import { describeFetchError } from './embedded-push.ts';
import {
  DEFAULTS,
  LIMITS,
  WAIT_HEADER,
  formatDuration,
  type ErrorJson,
  type PublishResponseJson,
  type PullResponseJson,
  type SubscriptionRequestJson,
} from './embedded-api.ts';

export interface EmbeddedBrokerClientOptions {
  /** The server's base URL, `http://host:port`. */
  url: string;
  /** Default "local". */
  project?: string;
  /** Timeout of one request other than a waiting pull (default 30 000 ms). */
  requestTimeoutMs?: number;
  /** Longest single long-poll request; longer waits are split (default 10 000 ms). */
  maxPollMs?: number;
  fetch?: typeof fetch;
}

const CAPABILITIES: BrokerCapabilities = Object.freeze({
  push: true,
  filters: true,
  orderingKeys: true,
  deadLetter: true,
});

export function createEmbeddedBroker(options: EmbeddedBrokerClientOptions): Broker {
  return new EmbeddedBroker(options);
}

class EmbeddedBroker implements Broker {
  readonly capabilities = CAPABILITIES;
  private readonly base: string;
  private readonly project: string;
  private readonly requestTimeoutMs: number;
  private readonly maxPollMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly closer = new AbortController();

  constructor(options: EmbeddedBrokerClientOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new ConfigError(`embedded broker URL ${JSON.stringify(options.url)} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ConfigError(`embedded broker URL ${JSON.stringify(options.url)} must be http://host:port`);
    }
    this.base = `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
    try {
      this.project = checkProjectId(options.project ?? DEFAULT_PROJECT);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.maxPollMs = options.maxPollMs ?? 10_000;
    this.fetchImpl = options.fetch ?? fetch;
  }

  async ensureTopic(topic: string): Promise<void> {
    const id = this.id('topic', topic);
    await this.request('PUT', `topics/${enc(id)}`, {}, `create topic ${id}`);
  }

  async publish(topic: string, messages: readonly OutgoingMessage[]): Promise<string[]> {
    const id = this.id('topic', topic);
    if (messages.length === 0) return [];
    const ids: string[] = [];
    // Split into requests within Pub/Sub's limits (1000 messages, ~10 MB).
    let batch: unknown[] = [];
    let batchBytes = 0;
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const res = (await this.request('POST', `topics/${enc(id)}:publish`, { messages: batch }, `publish to topic ${id}`)) as PublishResponseJson;
      ids.push(...res.messageIds);
      batch = [];
      batchBytes = 0;
    };
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      if (!(m?.data instanceof Uint8Array)) {
        throw new InvalidInputError(`publish to topic ${id}: messages[${i}].data must be a Uint8Array`);
      }
      const size = m.data.byteLength;
      if (batch.length > 0 && (batch.length >= LIMITS.messagesPerPublish || batchBytes + size > LIMITS.publishBytes)) {
        await flush();
      }
      const wire: { data?: string; attributes?: Record<string, string>; orderingKey?: string } = {};
      if (size > 0) wire.data = encodeBase64(m.data);
      if (m.attributes && Object.keys(m.attributes).length > 0) wire.attributes = m.attributes;
      if (m.orderingKey) wire.orderingKey = m.orderingKey;
      batch.push(wire);
      batchBytes += size;
    }
    await flush();
    return ids;
  }

  async ensureSubscription(name: string, topic: string, options: SubscriptionOptions = {}): Promise<void> {
    const id = this.id('subscription', name);
    const topicId = this.id('topic', topic);
    const body: SubscriptionRequestJson = {
      topic: resourcePath(this.project, 'topic', topicId),
      ackDeadlineSeconds: options.ackDeadlineSeconds ?? DEFAULTS.ackDeadlineSeconds,
      messageRetentionDuration: formatDuration((options.retentionSeconds ?? DEFAULTS.retentionSeconds) * 1000),
      enableMessageOrdering: true,
    };
    if (options.filter) body.filter = options.filter;
    if (options.push) body.pushConfig = { pushEndpoint: options.push.endpoint };
    if (options.retry) {
      body.retryPolicy = {
        minimumBackoff: formatDuration(options.retry.minimumBackoffS * 1000),
        maximumBackoff: formatDuration(options.retry.maximumBackoffS * 1000),
      };
    }
    if (options.deadLetter) {
      body.deadLetterPolicy = {
        deadLetterTopic: resourcePath(this.project, 'topic', this.id('topic', options.deadLetter.topic)),
        maxDeliveryAttempts: options.deadLetter.maxDeliveryAttempts,
      };
    }
    await this.request('PUT', `subscriptions/${enc(id)}`, body, `create subscription ${id}`);
  }

  async deleteSubscription(name: string): Promise<void> {
    const id = this.id('subscription', name);
    try {
      await this.request('DELETE', `subscriptions/${enc(id)}`, undefined, `delete subscription ${id}`);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }

  async pull(subscription: string, options: PullOptions = {}): Promise<ReceivedMessage[]> {
    const id = this.id('subscription', subscription);
    const maxMessages = Math.max(1, Math.min(options.maxMessages ?? DEFAULTS.maxMessagesPerPull, LIMITS.maxMessagesPerPull));
    const deadline = Date.now() + Math.max(0, options.waitMs ?? 0);
    for (;;) {
      const remaining = Math.max(0, deadline - Date.now());
      const waitMs = Math.min(remaining, this.maxPollMs);
      const res = (await this.request(
        'POST',
        `subscriptions/${enc(id)}:pull`,
        { maxMessages, returnImmediately: waitMs === 0 },
        `pull from subscription ${id}`,
        { signal: options.signal, extraTimeoutMs: waitMs, headers: { [WAIT_HEADER]: String(Math.round(waitMs)) } },
      )) as PullResponseJson;
      const received = res.receivedMessages ?? [];
      if (received.length > 0 || Date.now() >= deadline) return received.map((r) => toReceived(r, id));
    }
  }

  async ack(subscription: string, ackIds: readonly string[]): Promise<void> {
    const id = this.id('subscription', subscription);
    if (ackIds.length === 0) return;
    await this.request('POST', `subscriptions/${enc(id)}:acknowledge`, { ackIds }, `ack on subscription ${id}`);
  }

  async nack(subscription: string, ackIds: readonly string[]): Promise<void> {
    const id = this.id('subscription', subscription);
    if (ackIds.length === 0) return;
    await this.request(
      'POST',
      `subscriptions/${enc(id)}:modifyAckDeadline`,
      { ackIds, ackDeadlineSeconds: 0 },
      `nack on subscription ${id}`,
    );
  }

  async close(): Promise<void> {
    this.closer.abort(new ConfigError('messaging client closed'));
  }

  private id(kind: 'topic' | 'subscription', name: string): string {
    return resourceId(kind, name, this.project);
  }

  private async request(
    method: string,
    path: string,
    body: unknown,
    what: string,
    opts: { signal?: AbortSignal; extraTimeoutMs?: number; headers?: Record<string, string> } = {},
  ): Promise<unknown> {
    if (this.closer.signal.aborted) throw new ConfigError(`${what}: the messaging client is closed`);
    opts.signal?.throwIfAborted();
    const url = `${this.base}/v1/projects/${enc(this.project)}/${path}`;
    const timeoutMs = this.requestTimeoutMs + (opts.extraTimeoutMs ?? 0);
    const timeout = AbortSignal.timeout(timeoutMs);
    const signals = [timeout, this.closer.signal];
    if (opts.signal) signals.push(opts.signal);
    let res: Response;
    let text: string;
    try {
      res = await this.fetchImpl(url, {
        method,
        headers: body === undefined ? opts.headers : { 'content-type': 'application/json', ...opts.headers },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.any(signals),
      });
      text = await res.text();
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (this.closer.signal.aborted) throw new ConfigError(`${what}: the messaging client is closed`);
      if (timeout.aborted) {
        throw new TransientError(`${what}: the broker at ${this.base} did not answer within ${timeoutMs} ms`, { cause: err });
      }
      throw new TransientError(`${what}: cannot reach the broker at ${this.base}: ${describeFetchError(err)}`, { cause: err });
    }
    if (res.ok) {
      try {
        return text === '' ? {} : (JSON.parse(text) as unknown);
      } catch (err) {
        throw new TransientError(`${what}: the broker answered invalid JSON`, { cause: err });
      }
    }
    const message = `${what}: ${errorText(text, res.status)}`;
    if (res.status === 404) throw new NotFoundError(message);
    if (res.status === 409) throw new ConfigError(message);
    if (res.status === 408 || res.status === 429 || res.status >= 500) throw new TransientError(message);
    throw new InvalidInputError(message);
  }
}

function errorText(text: string, status: number): string {
  try {
    const parsed = JSON.parse(text) as Partial<ErrorJson>;
    if (parsed.error?.message) return parsed.error.message;
  } catch {
    // not JSON: fall through
  }
  return `HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`;
}

function toReceived(r: NonNullable<PullResponseJson['receivedMessages']>[number], subscription: string): ReceivedMessage {
  const m = r.message;
  let data = new Uint8Array(0);
  if (m.data) {
    const decoded = decodeBase64(m.data);
    if (!decoded) throw new TransientError(`pull from subscription ${subscription}: message ${m.messageId} has invalid base64 data`);
    data = new Uint8Array(decoded); // own copy, not a view of a pooled buffer
  }
  const out: ReceivedMessage = {
    data,
    attributes: m.attributes ?? {},
    messageId: m.messageId ?? m.message_id,
    publishTime: m.publishTime ?? m.publish_time,
    deliveryAttempt: r.deliveryAttempt ?? 1,
    ackId: r.ackId,
  };
  if (m.orderingKey) out.orderingKey = m.orderingKey;
  return out;
}

function enc(s: string): string {
  return encodeURIComponent(s);
}
