/**
 * The Google Pub/Sub backend: the Broker interface on the official client's low-level (v1)
 * admin and subscriber APIs — PublisherClient.createTopic/publish, SubscriberClient
 * createSubscription/getSubscription/deleteSubscription and the synchronous
 * pull/acknowledge/modifyAckDeadline. No streaming pull and no client-side lease management:
 * the caller acks or nacks each delivery, like every other backend.
 *
 * Transports: gRPC (default) or REST (`transport: 'rest'`, HTTP/1.1 JSON, the Pub/Sub REST v1
 * API). Over REST the client can use an emulator that speaks that API, the embedded broker
 * included (`pubsub://local?emulator=127.0.0.1:8085&transport=rest`).
 *
 * Semantics:
 * - ensureTopic/ensureSubscription create, and accept ALREADY_EXISTS; an existing subscription
 *   is read back and compared on the fields we set (topic, ackDeadlineSeconds,
 *   messageRetentionDuration, filter, pushConfig.pushEndpoint, retryPolicy, deadLetterPolicy,
 *   enableMessageOrdering): ConfigError naming the differences. When creating is not permitted
 *   (PERMISSION_DENIED: a service account that may only publish or subscribe), an existing
 *   resource is accepted the same way.
 * - ackDeadlineSeconds must be an integer from 10 to 600 (Pub/Sub's range; the wire type is an
 *   integer), unless minAckDeadlineSeconds lowers the minimum for an emulator.
 * - pull: waitMs 0 asks with returnImmediately (the only way to ask "what is there now");
 *   otherwise returnImmediately=false with the call deadline set to the wait (over REST, where
 *   the client sends no deadline, the headers `x-server-timeout` (Google APIs) and `x-wait-ms`
 *   (the embedded broker) carry it). Waits longer than maxPollMs are split into several pulls.
 *   A pull deadline passing is an empty answer, not an error. Aborting rejects at once with the
 *   signal's reason; messages a pull still receives after that are nacked.
 * - deliveryAttempt: Pub/Sub fills it only on subscriptions with a dead-letter policy. For the
 *   others we count deliveries ourselves, per subscription and message ID, in this process: a
 *   message redelivered to another process starts again at 1. Counts are forgotten on ack, and
 *   beyond the 100 000 most recent messages.
 * - Ordering keys: subscriptions are created with enableMessageOrdering (option
 *   messageOrdering). Pub/Sub then delivers the messages of one key in publish order, and after a
 *   nack redelivers from the nacked one; unlike the embedded broker it may hand out several
 *   messages of one key in one pull, so handle a pull's messages in order (consume.ts does).
 * - ack/nack (modifyAckDeadline 0) ignore unknown and expired ack IDs: Pub/Sub refuses a
 *   request with a malformed ack ID (INVALID_ARGUMENT), so such a batch is retried one ID at a
 *   time, skipping the refused ones.
 */
import { v1, type CallOptions, type protos } from '@google-cloud/pubsub';
import { ConfigError, InvalidInputError, PromptError, TransientError } from '../../core/errors.ts';
import type {
  Broker,
  BrokerCapabilities,
  OutgoingMessage,
  PullOptions,
  ReceivedMessage,
  SubscriptionOptions,
} from '../broker.ts';
import { parseFilter } from '../filter.ts';
import { resourceId, resourcePath } from '../names.ts';
import { GrpcStatus, grpcStatusOf, mapPubSubError } from './pubsub-errors.ts';
import {
  pubsubOptionsFromUrl,
  resolveClientOptions,
  type PubSubBrokerOptions,
  type PubSubTransport,
  type ResolvedClientOptions,
} from './pubsub-options.ts';

export type { PubSubBrokerOptions, PubSubTransport } from './pubsub-options.ts';
export { pubsubOptionsFromUrl } from './pubsub-options.ts';

type ISubscription = protos.google.pubsub.v1.ISubscription;
type IReceivedMessage = protos.google.pubsub.v1.IReceivedMessage;
type IDuration = protos.google.protobuf.IDuration;
type ITimestamp = protos.google.protobuf.ITimestamp;

const CAPABILITIES: BrokerCapabilities = Object.freeze({
  push: true,
  filters: true,
  orderingKeys: true,
  deadLetter: true,
});

/** Pub/Sub limits and defaults. */
const MAX_ACK_DEADLINE_S = 600;
const DEFAULT_ACK_DEADLINE_S = 10;
const DEFAULT_RETENTION_S = 600;
const MAX_MESSAGES_PER_PULL = 1000;
const DEFAULT_MESSAGES_PER_PULL = 100;
const MESSAGES_PER_PUBLISH = 1000;
/** Bytes of data and attributes per publish request (Pub/Sub: 10 MB; REST adds base64). */
const BYTES_PER_PUBLISH = 7_000_000;
const ACK_IDS_PER_REQUEST = 1000;
const MAX_COUNTED_MESSAGES = 100_000;

/** Extension header of the embedded broker: how long a pull may wait (ms). */
const WAIT_MS_HEADER = 'x-wait-ms';
/** Google APIs' header for the server-side timeout of a REST request (seconds). */
const SERVER_TIMEOUT_HEADER = 'x-server-timeout';

export function createPubSubBroker(options: PubSubBrokerOptions): Broker {
  return new PubSubBroker(options);
}

/** `pubsub://PROJECT[?transport=rest][&endpoint=HOST[:PORT] | &emulator=HOST:PORT]` → Broker. */
export function pubsubBrokerFromUrl(url: URL, env: NodeJS.ProcessEnv = process.env): Broker {
  return createPubSubBroker(pubsubOptionsFromUrl(url, env));
}

interface Clients {
  publisher: v1.PublisherClient;
  subscriber: v1.SubscriberClient;
}

interface GuardOptions<T> {
  signal?: AbortSignal;
  /** The call is given up (TransientError) after this long. */
  timeoutMs: number;
  /** Receives the result of a call that completed after it was given up. */
  onOrphan?: (value: T) => void;
}

/** The fields we set on a subscription, in comparable form. */
export interface WantedSubscription {
  topic: string;
  ackDeadlineSeconds: number;
  retentionSeconds: number;
  filter: string;
  pushEndpoint: string;
  retry?: { minimumBackoffS: number; maximumBackoffS: number };
  deadLetter?: { topic: string; maxDeliveryAttempts: number };
  ordering: boolean;
}

export class PubSubBroker implements Broker {
  readonly capabilities = CAPABILITIES;
  readonly projectId: string;
  readonly transport: PubSubTransport;
  /** `host:port` the client talks to. */
  readonly endpoint: string;
  /** Plaintext, no credentials. */
  readonly emulator: boolean;
  private readonly clientConfig: ResolvedClientOptions['clientConfig'];
  private readonly requestTimeoutMs: number;
  private readonly maxPollMs: number;
  private readonly minAckDeadlineS: number;
  private readonly messageOrdering: boolean;
  private readonly closer = new AbortController();
  private readonly inflight = new Set<() => void>();
  private readonly attempts = new AttemptCounter(MAX_COUNTED_MESSAGES);
  private clients: Promise<Clients> | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: PubSubBrokerOptions) {
    const resolved = resolveClientOptions(options, emulatorAuthClient(this.closer.signal));
    this.projectId = options.projectId;
    this.transport = resolved.transport;
    this.endpoint = resolved.endpoint;
    this.emulator = resolved.emulator;
    this.clientConfig = resolved.clientConfig;
    this.requestTimeoutMs = positive(options.requestTimeoutMs ?? 30_000, 'requestTimeoutMs');
    this.maxPollMs = positive(options.maxPollMs ?? 10_000, 'maxPollMs');
    this.minAckDeadlineS = options.minAckDeadlineSeconds ?? DEFAULT_ACK_DEADLINE_S;
    if (!Number.isInteger(this.minAckDeadlineS) || this.minAckDeadlineS < 1 || this.minAckDeadlineS > MAX_ACK_DEADLINE_S) {
      throw new ConfigError(`Pub/Sub: minAckDeadlineSeconds must be an integer from 1 to ${MAX_ACK_DEADLINE_S}`);
    }
    this.messageOrdering = options.messageOrdering ?? true;
  }

  async ensureTopic(topic: string): Promise<void> {
    const id = this.id('topic', topic);
    const name = this.path('topic', id);
    const what = `create topic ${id}`;
    const { publisher } = await this.open(what);
    try {
      await this.guard(what, () => publisher.createTopic({ name }, this.callOptions()), { timeoutMs: this.callDeadline() });
    } catch (err) {
      const status = grpcStatusOf(err);
      if (status === GrpcStatus.ALREADY_EXISTS) return;
      if (status === GrpcStatus.PERMISSION_DENIED) {
        // Not allowed to create: fine if it exists.
        if (await this.topicExists(publisher, id, name)) return;
      }
      throw mapPubSubError(err, what, this.endpoint);
    }
  }

  async publish(topic: string, messages: readonly OutgoingMessage[]): Promise<string[]> {
    const id = this.id('topic', topic);
    const what = `publish to topic ${id}`;
    this.checkOpen(what);
    const wire = messages.map((m, i) => toWireMessage(m, i, what));
    if (wire.length === 0) return [];
    const { publisher } = await this.open(what);
    const topicPath = this.path('topic', id);
    const ids: string[] = [];
    let start = 0;
    while (start < wire.length) {
      let end = start;
      let bytes = 0;
      while (end < wire.length && end - start < MESSAGES_PER_PUBLISH) {
        const size = wire[end].size;
        if (end > start && bytes + size > BYTES_PER_PUBLISH) break;
        bytes += size;
        end++;
      }
      const batch = wire.slice(start, end).map((w) => w.message);
      const [res] = await this.call(what, () =>
        publisher.publish({ topic: topicPath, messages: batch }, { ...this.callOptions(), isBundling: false }),
      );
      const got = res.messageIds ?? [];
      if (got.length !== batch.length) {
        throw new TransientError(`${what}: Pub/Sub returned ${got.length} message IDs for ${batch.length} messages`);
      }
      ids.push(...got);
      start = end;
    }
    return ids;
  }

  async ensureSubscription(name: string, topic: string, options: SubscriptionOptions = {}): Promise<void> {
    const id = this.id('subscription', name);
    const topicId = this.id('topic', topic);
    const what = `create subscription ${id}`;
    const wanted = this.wantedSubscription(id, topicId, options);
    const request = this.subscriptionRequest(id, wanted);
    const { subscriber } = await this.open(what);
    try {
      await this.guard(what, () => subscriber.createSubscription(request, this.callOptions()), {
        timeoutMs: this.callDeadline(),
      });
      return;
    } catch (err) {
      const status = grpcStatusOf(err);
      if (status !== GrpcStatus.ALREADY_EXISTS && status !== GrpcStatus.PERMISSION_DENIED) {
        throw mapPubSubError(err, what, this.endpoint);
      }
      let existing: ISubscription | undefined;
      try {
        existing = await this.getSubscription(subscriber, id);
      } catch (getErr) {
        // Not permitted to create, and the subscription cannot be read: report the first refusal.
        if (status === GrpcStatus.PERMISSION_DENIED) throw mapPubSubError(err, what, this.endpoint);
        throw getErr;
      }
      if (existing === undefined) {
        if (status === GrpcStatus.PERMISSION_DENIED) throw mapPubSubError(err, what, this.endpoint);
        throw new TransientError(`${what}: it exists but cannot be found (deleted meanwhile?); retry`);
      }
      const differences = subscriptionDifferences(wanted, existing);
      if (differences.length > 0) {
        throw new ConfigError(
          `subscription ${id} already exists with other settings: ${differences.join('; ')}`,
        );
      }
    }
  }

  async deleteSubscription(name: string): Promise<void> {
    const id = this.id('subscription', name);
    const what = `delete subscription ${id}`;
    const { subscriber } = await this.open(what);
    try {
      await this.guard(
        what,
        () => subscriber.deleteSubscription({ subscription: this.path('subscription', id) }, this.callOptions()),
        { timeoutMs: this.callDeadline() },
      );
    } catch (err) {
      if (grpcStatusOf(err) === GrpcStatus.NOT_FOUND) return;
      throw mapPubSubError(err, what, this.endpoint);
    }
  }

  async pull(subscription: string, options: PullOptions = {}): Promise<ReceivedMessage[]> {
    const id = this.id('subscription', subscription);
    const what = `pull from subscription ${id}`;
    this.checkOpen(what);
    options.signal?.throwIfAborted();
    const requested = options.maxMessages ?? DEFAULT_MESSAGES_PER_PULL;
    const maxMessages = Number.isFinite(requested)
      ? Math.max(1, Math.min(Math.floor(requested), MAX_MESSAGES_PER_PULL))
      : DEFAULT_MESSAGES_PER_PULL;
    const waitMs = options.waitMs !== undefined && options.waitMs > 0 ? options.waitMs : 0; // NaN → 0
    const deadline = Date.now() + waitMs;
    const { subscriber } = await this.open(what);
    for (;;) {
      options.signal?.throwIfAborted();
      const sliceMs = Math.max(0, Math.min(Math.ceil(deadline - Date.now()), this.maxPollMs));
      const received = await this.pullOnce(subscriber, id, maxMessages, sliceMs, options.signal, what);
      if (received.length > 0 || Date.now() >= deadline) return received.map((r) => this.toReceived(id, r, what));
    }
  }

  async ack(subscription: string, ackIds: readonly string[]): Promise<void> {
    const id = this.id('subscription', subscription);
    const what = `ack on subscription ${id}`;
    this.checkOpen(what);
    if (ackIds.length === 0) return;
    const { subscriber } = await this.open(what);
    const path = this.path('subscription', id);
    await this.forEachAckBatch(ackIds, what, (batch) =>
      subscriber.acknowledge({ subscription: path, ackIds: batch }, this.callOptions()),
    );
    for (const ackId of ackIds) this.attempts.acked(ackId);
  }

  async nack(subscription: string, ackIds: readonly string[]): Promise<void> {
    const id = this.id('subscription', subscription);
    const what = `nack on subscription ${id}`;
    this.checkOpen(what);
    if (ackIds.length === 0) return;
    const { subscriber } = await this.open(what);
    await this.modAckZero(subscriber, id, ackIds, what);
    for (const ackId of ackIds) this.attempts.released(ackId);
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      this.closer.abort(new ConfigError('messaging client closed'));
      for (const stop of [...this.inflight]) stop();
      const clients = await this.clients?.catch(() => undefined);
      if (clients) {
        await Promise.allSettled([clients.publisher.close(), clients.subscriber.close()]);
      }
    })();
    return this.closing;
  }

  // ---- internals ----

  private id(kind: 'topic' | 'subscription', name: string): string {
    return resourceId(kind, name, this.projectId);
  }

  private path(kind: 'topic' | 'subscription', id: string): string {
    return resourcePath(this.projectId, kind, id);
  }

  private checkOpen(what: string): void {
    if (this.closer.signal.aborted) throw new ConfigError(`${what}: the messaging client is closed`);
  }

  /** Call options of a unary admin/ack call: one timeout for the call and its retries. */
  private callOptions(): CallOptions {
    return { timeout: this.requestTimeoutMs };
  }

  /** When we give up on a call the client did not end itself (the REST transport has no deadlines). */
  private callDeadline(): number {
    return this.requestTimeoutMs + 1000;
  }

  /**
   * The v1 clients, created and initialized once. Initializing first keeps a failure (no
   * credentials) from surfacing as an unhandled rejection inside the client; after a failure
   * the next call starts over with new clients.
   */
  private async open(what: string): Promise<Clients> {
    this.checkOpen(what);
    if (!this.clients) {
      const creating = (async () => {
        const publisher = new v1.PublisherClient(this.clientConfig);
        const subscriber = new v1.SubscriberClient(this.clientConfig);
        try {
          await Promise.all([publisher.initialize(), subscriber.initialize()]);
        } catch (err) {
          await Promise.allSettled([publisher.close(), subscriber.close()]);
          throw err;
        }
        return { publisher, subscriber };
      })();
      this.clients = creating;
      creating.catch(() => {
        if (this.clients === creating) this.clients = undefined;
      });
    }
    try {
      return await this.clients;
    } catch (err) {
      const mapped = mapPubSubError(err, what, this.endpoint);
      if (mapped instanceof ConfigError) throw mapped;
      throw new ConfigError(`${what}: cannot set up the Pub/Sub client: ${mapped.message}`, { cause: err });
    }
  }

  /** guard() plus error mapping. */
  private async call<T>(what: string, start: () => Promise<T>, options?: Partial<GuardOptions<T>>): Promise<T> {
    try {
      return await this.guard(what, start, { timeoutMs: this.callDeadline(), ...options });
    } catch (err) {
      throw mapPubSubError(err, what, this.endpoint);
    }
  }

  /**
   * Runs a client call, and stops waiting for it when the signal aborts (rejecting with its
   * reason), when the broker is closed (ConfigError) or after timeoutMs (TransientError). Errors of
   * the call itself are passed on unmapped.
   */
  private guard<T>(what: string, start: () => Promise<T>, options: GuardOptions<T>): Promise<T> {
    if (this.closer.signal.aborted) return Promise.reject(new ConfigError(`${what}: the messaging client is closed`));
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (settle: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.inflight.delete(onClose);
        settle();
      };
      const onAbort = (): void => finish(() => reject(signal!.reason));
      const onClose = (): void => finish(() => reject(new ConfigError(`${what}: the messaging client is closed`)));
      const timer = setTimeout(
        () => finish(() => reject(new TransientError(`${what}: no answer from Pub/Sub at ${this.endpoint} within ${options.timeoutMs} ms`))),
        options.timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      this.inflight.add(onClose);
      let running: Promise<T>;
      try {
        running = start();
      } catch (err) {
        running = Promise.reject(err);
      }
      running.then(
        (value) => {
          if (settled) options.onOrphan?.(value);
          else finish(() => resolve(value));
        },
        (err: unknown) => finish(() => reject(err)),
      );
    });
  }

  private async topicExists(publisher: v1.PublisherClient, id: string, name: string): Promise<boolean> {
    try {
      await this.guard(`get topic ${id}`, () => publisher.getTopic({ topic: name }, this.callOptions()), {
        timeoutMs: this.callDeadline(),
      });
      return true;
    } catch {
      return false;
    }
  }

  /** The subscription, or undefined when it does not exist. */
  private async getSubscription(subscriber: v1.SubscriberClient, id: string): Promise<ISubscription | undefined> {
    const what = `get subscription ${id}`;
    try {
      const [sub] = await this.guard(
        what,
        () => subscriber.getSubscription({ subscription: this.path('subscription', id) }, this.callOptions()),
        { timeoutMs: this.callDeadline() },
      );
      return sub;
    } catch (err) {
      if (grpcStatusOf(err) === GrpcStatus.NOT_FOUND) return undefined;
      throw mapPubSubError(err, what, this.endpoint);
    }
  }

  private wantedSubscription(id: string, topicId: string, options: SubscriptionOptions): WantedSubscription {
    const bad = (message: string): never => {
      throw new InvalidInputError(`subscription ${id}: ${message}`);
    };
    const ack = options.ackDeadlineSeconds ?? DEFAULT_ACK_DEADLINE_S;
    if (!Number.isInteger(ack) || ack < this.minAckDeadlineS || ack > MAX_ACK_DEADLINE_S) {
      bad(`ackDeadlineSeconds ${ack} must be a whole number of seconds from ${this.minAckDeadlineS} to ${MAX_ACK_DEADLINE_S}`);
    }
    const retention = options.retentionSeconds ?? DEFAULT_RETENTION_S;
    if (!(Number.isFinite(retention) && retention > 0)) bad(`retentionSeconds ${retention} must be a positive number`);
    const filter = options.filter ?? '';
    if (filter !== '') {
      try {
        parseFilter(filter);
      } catch (err) {
        bad((err as Error).message);
      }
    }
    let pushEndpoint = '';
    if (options.push) {
      let url: URL | undefined;
      try {
        url = new URL(options.push.endpoint);
      } catch {
        url = undefined;
      }
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        bad(`push endpoint ${JSON.stringify(options.push.endpoint)} is not an http(s) URL`);
      }
      pushEndpoint = options.push.endpoint;
    }
    const wanted: WantedSubscription = {
      topic: this.path('topic', topicId),
      ackDeadlineSeconds: ack,
      retentionSeconds: retention,
      filter,
      pushEndpoint,
      ordering: this.messageOrdering,
    };
    if (options.retry) {
      const { minimumBackoffS, maximumBackoffS } = options.retry;
      if (!(Number.isFinite(minimumBackoffS) && minimumBackoffS >= 0)) bad(`retry.minimumBackoffS ${minimumBackoffS} must be a number >= 0`);
      if (!(Number.isFinite(maximumBackoffS) && maximumBackoffS >= minimumBackoffS)) {
        bad(`retry.maximumBackoffS ${maximumBackoffS} must be a number >= retry.minimumBackoffS`);
      }
      wanted.retry = { minimumBackoffS, maximumBackoffS };
    }
    if (options.deadLetter) {
      const attempts = options.deadLetter.maxDeliveryAttempts;
      if (!Number.isInteger(attempts) || attempts < 1) bad(`deadLetter.maxDeliveryAttempts ${attempts} must be a positive integer`);
      wanted.deadLetter = { topic: this.path('topic', this.id('topic', options.deadLetter.topic)), maxDeliveryAttempts: attempts };
    }
    return wanted;
  }

  private subscriptionRequest(id: string, wanted: WantedSubscription): ISubscription {
    const request: ISubscription = {
      name: this.path('subscription', id),
      topic: wanted.topic,
      ackDeadlineSeconds: wanted.ackDeadlineSeconds,
      messageRetentionDuration: toDuration(wanted.retentionSeconds),
      enableMessageOrdering: wanted.ordering,
    };
    if (wanted.filter) request.filter = wanted.filter;
    if (wanted.pushEndpoint) request.pushConfig = { pushEndpoint: wanted.pushEndpoint };
    if (wanted.retry) {
      request.retryPolicy = {
        minimumBackoff: toDuration(wanted.retry.minimumBackoffS),
        maximumBackoff: toDuration(wanted.retry.maximumBackoffS),
      };
    }
    if (wanted.deadLetter) {
      request.deadLetterPolicy = {
        deadLetterTopic: wanted.deadLetter.topic,
        maxDeliveryAttempts: wanted.deadLetter.maxDeliveryAttempts,
      };
    }
    return request;
  }

  /** One pull request; an empty list when its wait ends without messages. */
  private async pullOnce(
    subscriber: v1.SubscriberClient,
    id: string,
    maxMessages: number,
    waitMs: number,
    signal: AbortSignal | undefined,
    what: string,
  ): Promise<IReceivedMessage[]> {
    const request = { subscription: this.path('subscription', id), maxMessages, returnImmediately: waitMs === 0 };
    // No retries: a pull that fails is answered (TransientError), the caller pulls again.
    const callOptions: CallOptions = { retry: null, timeout: waitMs === 0 ? this.requestTimeoutMs : waitMs };
    if (this.transport === 'rest' && waitMs > 0) {
      callOptions.otherArgs = {
        headers: { [WAIT_MS_HEADER]: String(waitMs), [SERVER_TIMEOUT_HEADER]: (waitMs / 1000).toFixed(3) },
      };
    }
    try {
      const [res] = await this.guard(what, () => subscriber.pull(request, callOptions), {
        signal,
        timeoutMs: waitMs + this.requestTimeoutMs,
        onOrphan: ([late]) => this.releaseOrphans(subscriber, id, late.receivedMessages ?? []),
      });
      return res.receivedMessages ?? [];
    } catch (err) {
      // The wait ended (the call deadline, or x-server-timeout over REST): no messages.
      if (!(err instanceof PromptError) && grpcStatusOf(err) === GrpcStatus.DEADLINE_EXCEEDED) return [];
      throw mapPubSubError(err, what, this.endpoint);
    }
  }

  /** Messages of a pull nobody waits for any more: hand them back at once. */
  private releaseOrphans(subscriber: v1.SubscriberClient, id: string, received: IReceivedMessage[]): void {
    const ackIds = received.map((r) => r.ackId).filter((a): a is string => !!a);
    if (ackIds.length === 0 || this.closer.signal.aborted) return;
    this.modAckZero(subscriber, id, ackIds, `nack of messages of an abandoned pull on subscription ${id}`).catch(() => {
      // Best effort: they come back after their ack deadline anyway.
    });
  }

  private toReceived(id: string, r: IReceivedMessage, what: string): ReceivedMessage {
    const m = r.message;
    if (!m || !r.ackId || !m.messageId) throw new TransientError(`${what}: Pub/Sub returned a message without ackId or messageId`);
    const serverAttempt = typeof r.deliveryAttempt === 'number' ? r.deliveryAttempt : 0;
    const deliveryAttempt = serverAttempt > 0 ? serverAttempt : this.attempts.delivered(id, m.messageId, r.ackId);
    const out: ReceivedMessage = {
      data: toBytes(m.data),
      attributes: { ...(m.attributes ?? {}) },
      messageId: m.messageId,
      publishTime: toRfc3339(m.publishTime),
      deliveryAttempt,
      ackId: r.ackId,
    };
    if (m.orderingKey) out.orderingKey = m.orderingKey;
    return out;
  }

  private async modAckZero(subscriber: v1.SubscriberClient, id: string, ackIds: readonly string[], what: string): Promise<void> {
    const path = this.path('subscription', id);
    await this.forEachAckBatch(ackIds, what, (batch) =>
      subscriber.modifyAckDeadline({ subscription: path, ackIds: batch, ackDeadlineSeconds: 0 }, this.callOptions()),
    );
  }

  /**
   * Sends ack IDs in requests of at most 1000. A request refused with INVALID_ARGUMENT (a
   * malformed or unknown ack ID) is retried one ID at a time, skipping the refused ones.
   */
  private async forEachAckBatch(ackIds: readonly string[], what: string, send: (batch: string[]) => Promise<unknown>): Promise<void> {
    for (let i = 0; i < ackIds.length; i += ACK_IDS_PER_REQUEST) {
      const batch = ackIds.slice(i, i + ACK_IDS_PER_REQUEST);
      try {
        await this.guard(what, () => send(batch), { timeoutMs: this.callDeadline() });
      } catch (err) {
        if (grpcStatusOf(err) !== GrpcStatus.INVALID_ARGUMENT) throw mapPubSubError(err, what, this.endpoint);
        if (batch.length === 1) continue;
        for (const one of batch) {
          try {
            await this.guard(what, () => send([one]), { timeoutMs: this.callDeadline() });
          } catch (oneErr) {
            if (grpcStatusOf(oneErr) !== GrpcStatus.INVALID_ARGUMENT) throw mapPubSubError(oneErr, what, this.endpoint);
          }
        }
      }
    }
  }
}

/**
 * Deliveries per message, for subscriptions where Pub/Sub does not count them (no dead-letter
 * policy). Keeps the most recent `capacity` messages.
 */
export class AttemptCounter {
  private readonly counts = new Map<string, number>();
  private readonly byAckId = new Map<string, string>();

  constructor(private readonly capacity: number) {}

  /** Records a delivery and returns its number (1 for the first). */
  delivered(subscription: string, messageId: string, ackId: string): number {
    const key = `${subscription}\n${messageId}`;
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.delete(key); // re-insert: most recent last
    this.counts.set(key, n);
    this.byAckId.set(ackId, key);
    trim(this.counts, this.capacity);
    trim(this.byAckId, this.capacity);
    return n;
  }

  /** The delivery was acked: the message is done. */
  acked(ackId: string): void {
    const key = this.byAckId.get(ackId);
    if (key === undefined) return;
    this.byAckId.delete(ackId);
    this.counts.delete(key);
  }

  /** The delivery was nacked: its ack ID is spent, the count stays. */
  released(ackId: string): void {
    this.byAckId.delete(ackId);
  }

  get size(): number {
    return this.counts.size;
  }
}

function trim(map: Map<string, unknown>, capacity: number): void {
  while (map.size > capacity) {
    const oldest = map.keys().next().value as string;
    map.delete(oldest);
  }
}

/** Credentials for an emulator over REST: no token; requests go through Node's fetch. */
function emulatorAuthClient(closed: AbortSignal): unknown {
  return {
    async getRequestHeaders(): Promise<Headers> {
      return new Headers();
    },
    fetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
      const signal = init.signal ? AbortSignal.any([init.signal, closed]) : closed;
      return fetch(url, { method: init.method, headers: init.headers, body: init.body, signal });
    },
  };
}

function positive(value: number, field: string): number {
  if (!(Number.isFinite(value) && value > 0)) throw new ConfigError(`Pub/Sub: ${field} must be a positive number, not ${value}`);
  return value;
}

function toWireMessage(
  m: OutgoingMessage,
  i: number,
  what: string,
): { message: protos.google.pubsub.v1.IPubsubMessage; size: number } {
  if (!(m?.data instanceof Uint8Array)) throw new InvalidInputError(`${what}: messages[${i}].data must be a Uint8Array`);
  const attributes = m.attributes ?? {};
  let size = m.data.byteLength;
  let count = 0;
  for (const [key, value] of Object.entries(attributes)) {
    if (typeof value !== 'string') throw new InvalidInputError(`${what}: messages[${i}].attributes.${key} must be a string`);
    size += Buffer.byteLength(key) + Buffer.byteLength(value);
    count++;
  }
  if (m.data.byteLength === 0 && count === 0) {
    throw new InvalidInputError(`${what}: messages[${i}] has neither data nor attributes`);
  }
  const message: protos.google.pubsub.v1.IPubsubMessage = { data: m.data };
  if (count > 0) message.attributes = { ...attributes };
  if (m.orderingKey) {
    message.orderingKey = m.orderingKey;
    size += Buffer.byteLength(m.orderingKey);
  }
  return { message, size };
}

function toDuration(seconds: number): IDuration {
  const whole = Math.floor(seconds);
  return { seconds: whole, nanos: Math.round((seconds - whole) * 1e9) };
}

function durationSeconds(d: IDuration | null | undefined): number {
  if (!d) return 0;
  return Number(String(d.seconds ?? 0)) + (d.nanos ?? 0) / 1e9;
}

function toBytes(data: Uint8Array | string | null | undefined): Uint8Array {
  if (data === null || data === undefined) return new Uint8Array(0);
  if (typeof data === 'string') return new Uint8Array(Buffer.from(data, 'base64'));
  return new Uint8Array(data); // own copy, not a view of a pooled buffer
}

/** A protobuf Timestamp as RFC 3339, with as many fractional digits as it has. */
export function toRfc3339(ts: ITimestamp | null | undefined): string {
  const seconds = Number(String(ts?.seconds ?? 0));
  const nanos = ts?.nanos ?? 0;
  const base = new Date(seconds * 1000).toISOString().slice(0, 19);
  if (nanos === 0) return `${base}Z`;
  let fraction = String(nanos).padStart(9, '0');
  fraction = fraction.replace(/0+$/, '');
  if (fraction.length < 3) fraction = fraction.padEnd(3, '0');
  return `${base}.${fraction}Z`;
}

/** Differences between the subscription we want and the existing one, e.g. "ackDeadlineSeconds is 30, not 60". */
export function subscriptionDifferences(wanted: WantedSubscription, existing: ISubscription): string[] {
  const out: string[] = [];
  const differ = (field: string, actual: unknown, expected: unknown): void => {
    out.push(`${field} is ${JSON.stringify(actual)}, not ${JSON.stringify(expected)}`);
  };
  if ((existing.topic ?? '') !== wanted.topic) differ('topic', existing.topic ?? '', wanted.topic);
  if ((existing.ackDeadlineSeconds ?? 0) !== wanted.ackDeadlineSeconds) {
    differ('ackDeadlineSeconds', existing.ackDeadlineSeconds ?? 0, wanted.ackDeadlineSeconds);
  }
  const retention = durationSeconds(existing.messageRetentionDuration);
  if (Math.abs(retention - wanted.retentionSeconds) > 1e-6) {
    out.push(`messageRetentionDuration is ${retention}s, not ${wanted.retentionSeconds}s`);
  }
  if ((existing.filter ?? '') !== wanted.filter) differ('filter', existing.filter ?? '', wanted.filter);
  const push = existing.pushConfig?.pushEndpoint ?? '';
  if (push !== wanted.pushEndpoint) differ('pushConfig.pushEndpoint', push, wanted.pushEndpoint);
  const retry = existing.retryPolicy;
  if (!retry !== !wanted.retry) {
    out.push(wanted.retry ? 'it has no retryPolicy' : 'it has a retryPolicy');
  } else if (retry && wanted.retry) {
    const min = durationSeconds(retry.minimumBackoff);
    const max = durationSeconds(retry.maximumBackoff);
    if (Math.abs(min - wanted.retry.minimumBackoffS) > 1e-6) {
      out.push(`retryPolicy.minimumBackoff is ${min}s, not ${wanted.retry.minimumBackoffS}s`);
    }
    if (Math.abs(max - wanted.retry.maximumBackoffS) > 1e-6) {
      out.push(`retryPolicy.maximumBackoff is ${max}s, not ${wanted.retry.maximumBackoffS}s`);
    }
  }
  const dl = existing.deadLetterPolicy;
  if (!dl?.deadLetterTopic !== !wanted.deadLetter) {
    out.push(wanted.deadLetter ? 'it has no deadLetterPolicy' : 'it has a deadLetterPolicy');
  } else if (dl && wanted.deadLetter) {
    if (dl.deadLetterTopic !== wanted.deadLetter.topic) {
      differ('deadLetterPolicy.deadLetterTopic', dl.deadLetterTopic, wanted.deadLetter.topic);
    }
    if ((dl.maxDeliveryAttempts ?? 0) !== wanted.deadLetter.maxDeliveryAttempts) {
      differ('deadLetterPolicy.maxDeliveryAttempts', dl.maxDeliveryAttempts ?? 0, wanted.deadLetter.maxDeliveryAttempts);
    }
  }
  if ((existing.enableMessageOrdering ?? false) !== wanted.ordering) {
    differ('enableMessageOrdering', existing.enableMessageOrdering ?? false, wanted.ordering);
  }
  return out;
}
