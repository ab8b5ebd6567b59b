/**
 * The messaging interface on NATS JetStream (nats 2.x client, servers 2.9 and later).
 *
 *   nats://[USER:PASS@|TOKEN@]HOST[:PORT][?prefix=P&token=T&maxAgeS=N&replicas=R]
 *
 * Mapping (names and headers are spelled as nats-names.ts describes):
 * - topic → a stream `{prefix}_{topic}` capturing the one subject `{prefix}.{topic}`, limits
 *   retention, file storage, max age `maxAgeSeconds` (default 7 days: the longest subscription
 *   retention). ensureTopic creates it or accepts an existing stream that captures the subject.
 * - publish → one `js.publish` per message, attributes and ordering key in headers; the message
 *   ID is the stream sequence (unique within a topic). Messages of one call go out in order on
 *   one connection, but a call is not atomic: when one message fails, the ones before it may be
 *   stored. A payload that would not fit in one NATS message (the server's max_payload, 1 MB by
 *   default) goes to the object store bucket `{prefix}-payloads`, whose objects expire after the
 *   same max age, and the stream message refers to it.
 * - subscription → a durable pull consumer on the topic's stream: deliver_policy new (only
 *   messages published after it was created), ack_policy explicit, ack_wait = ackDeadlineSeconds,
 *   max_deliver unlimited. The subscription's settings (topic, filter, retention, retry, dead
 *   letter) are kept as JSON in the consumer's description, so every client sees the same ones.
 *   Subscription IDs are unique across topics, like Pub/Sub: pull finds a subscription by asking
 *   the streams of the prefix for the consumer (once per client; the answer is cached).
 * - pull → pull requests on `$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}`: first one that
 *   answers at once (no_wait) with up to maxMessages; when nothing is there, one that waits up to
 *   waitMs for a single message, then again one that answers at once. A pull request answers as
 *   soon as a message exists, and an aborted pull withdraws its request. Before a delivery is
 *   returned, the client applies what JetStream cannot:
 *   - the filter (Pub/Sub syntax, filter.ts): a non-matching message is acked, never returned;
 *   - the retention: a message older than retentionSeconds is terminated, never returned;
 *   - the dead-letter policy: a message delivered more than maxDeliveryAttempts times (its
 *     last ack deadline passed) is republished on the dead-letter topic and terminated.
 *   deliveryAttempt is JetStream's delivery count, publishTime the stream's timestamp, ackId an
 *   opaque key of the delivery, kept by this client until the ack deadline passes.
 * - ack → `+ACK`, awaiting the server's confirmation; nack → `-NAK`, with the retry policy's
 *   backoff as delay (none without a retry policy: redelivery at once). A nack of the last
 *   allowed attempt moves the message to the dead-letter topic at once. Ack IDs that this
 *   client does not know, or whose ack deadline passed, are ignored.
 * - capabilities: filters and dead letters as above; no push (NATS has no HTTP push delivery:
 *   run a consumer loop that pulls); no ordering keys (they are carried, but a pull consumer
 *   does not hold back later messages of a key while one is out).
 * - errors: unreachable server, timeouts, JetStream unavailable → TransientError; unknown topic
 *   or subscription → NotFoundError; bad name, message, filter or option → InvalidInputError;
 *   a subscription that exists with other settings, bad credentials, a push subscription, use
 *   after close → ConfigError.
 * - close() withdraws waiting pulls and drains the connection.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  connect,
  createInbox,
  headers as natsHeaders,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamClient,
  type JetStreamManager,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type ObjectStore,
  type StreamInfo,
} from 'nats';
import { ConfigError, InvalidInputError, NotFoundError, PromptError, TransientError, errorMessage } from '../../core/errors.ts';
import type {
  Broker,
  BrokerCapabilities,
  OutgoingMessage,
  PullOptions,
  ReceivedMessage,
  SubscriptionOptions,
} from '../broker.ts';
import { DEFAULTS, LIMITS } from '../embedded/embedded-api.ts';
import { DEAD_LETTER_ATTRIBUTES, retryBackoffMs } from '../embedded/store.ts';
import { parseFilter, type MessageFilter } from '../filter.ts';
import { checkResourceId } from '../names.ts';
import {
  DEFAULT_STREAM_PREFIX,
  PAYLOAD_OBJECT_HEADER,
  checkStreamPrefix,
  consumerName,
  decodeMessageHeaders,
  encodeMessageHeaders,
  nanosToRfc3339,
  parseAckSubject,
  payloadBucket,
  prefixSubjects,
  streamName,
  topicSubject,
} from './nats-names.ts';

export interface NatsBrokerOptions {
  /** `host:port`, or several for a cluster. */
  servers: string | string[];
  /** Namespace of the streams and subjects (default "prompt"): letters, digits and '-'. */
  streamPrefix?: string;
  user?: string;
  pass?: string;
  token?: string;
  /** How long a topic keeps messages, acked or not (default 7 days). */
  maxAgeSeconds?: number;
  /** Stream replicas in a cluster (default 1). */
  replicas?: number;
  /** Timeout of one request to the server (default 10 000 ms). */
  requestTimeoutMs?: number;
  /** Connection name the server shows (default "prompt-processing"). */
  name?: string;
}

const CAPABILITIES: BrokerCapabilities = Object.freeze({
  push: false,
  filters: true,
  orderingKeys: false,
  deadLetter: true,
});

const DEFAULT_PORT = 4222;
const DEFAULT_MAX_AGE_SECONDS = LIMITS.maxRetentionSeconds;
/** Messages delivered and not yet acked, per subscription (JetStream's default is 1000). */
const MAX_ACK_PENDING = 10_000;
/** Messages published concurrently by one publish call. */
const PUBLISH_WINDOW = 256;
/** Room left for headers and protocol when deciding whether a payload fits in one message. */
const PAYLOAD_HEADROOM_BYTES = 4096;
/** How long to wait beyond a pull request's own expiry for the server's answer. */
const PULL_ANSWER_GRACE_MS = 3000;
/** A wait shorter than this is not worth a waiting pull request. */
const MIN_WAIT_MS = 5;
/** Delay before a message whose dead-lettering failed is offered again. */
const DEAD_LETTER_RETRY_MS = 1000;

const ACK = '+ACK';
const NAK = '-NAK';
const TERM = '+TERM';
const WPI = '+WPI';

/** What ensureSubscription stores in the consumer's description. */
interface SubscriptionSpec {
  v: 1;
  topic: string;
  ackDeadlineSeconds: number;
  retentionSeconds: number;
  filter: string;
  retry: { minimumBackoffS: number; maximumBackoffS: number } | null;
  deadLetter: { topic: string; maxDeliveryAttempts: number } | null;
}

interface Delivery {
  readonly msg: Msg;
  readonly message: ReceivedMessage;
  /** Local time after which the ack ID is ignored. */
  readonly expiresAt: number;
}

interface SubscriptionHandle {
  readonly id: string;
  readonly stream: string;
  readonly consumer: string;
  spec: SubscriptionSpec;
  filter: MessageFilter;
  ackWaitMs: number;
  /** Live deliveries by ack ID, in delivery order (so expiry order too). */
  readonly deliveries: Map<string, Delivery>;
}

interface Connection {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  objects?: Promise<ObjectStore>;
}

export function createNatsBroker(options: NatsBrokerOptions): Broker {
  return new NatsBroker(options);
}

/** `nats://[USER:PASS@|TOKEN@]HOST[:PORT][?prefix=P&token=T&maxAgeS=N&replicas=R]` → options. */
export function natsOptionsFromUrl(url: URL): NatsBrokerOptions {
  const shown = redactUrl(url);
  if (url.protocol !== 'nats:') throw new ConfigError(`NATS URL ${shown} must start with nats://`);
  if (!url.hostname) throw new ConfigError(`NATS URL ${shown} has no host`);
  if (url.pathname !== '' && url.pathname !== '/') {
    throw new ConfigError(`NATS URL ${shown} has a path; use nats://HOST:PORT[?prefix=P]`);
  }
  const options: NatsBrokerOptions = { servers: `${url.hostname}:${url.port || DEFAULT_PORT}` };
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  if (user && pass) {
    options.user = user;
    options.pass = pass;
  } else if (user) {
    options.token = user;
  } else if (pass) {
    throw new ConfigError(`NATS URL ${shown} has a password but no user`);
  }
  for (const [key, value] of url.searchParams) {
    switch (key) {
      case 'prefix':
        options.streamPrefix = checkStreamPrefix(value);
        break;
      case 'token':
        if (options.user) throw new ConfigError(`NATS URL ${shown} has both a user and a token`);
        options.token = value;
        break;
      case 'maxAgeS':
        options.maxAgeSeconds = positiveNumber(value, 'maxAgeS', shown);
        break;
      case 'replicas': {
        const n = positiveNumber(value, 'replicas', shown);
        if (!Number.isInteger(n) || n > 5) throw new ConfigError(`NATS URL ${shown}: replicas must be an integer from 1 to 5`);
        options.replicas = n;
        break;
      }
      default:
        throw new ConfigError(`NATS URL ${shown} has an unknown parameter ${JSON.stringify(key)} (known: prefix, token, maxAgeS, replicas)`);
    }
  }
  return options;
}

export function natsBrokerFromUrl(url: URL): Broker {
  return createNatsBroker(natsOptionsFromUrl(url));
}

class NatsBroker implements Broker {
  readonly capabilities = CAPABILITIES;
  private readonly prefix: string;
  private readonly servers: string[];
  private readonly maxAgeMs: number;
  private readonly replicas: number;
  private readonly requestTimeoutMs: number;
  private readonly options: NatsBrokerOptions;
  private readonly closer = new AbortController();
  private connecting: Promise<Connection> | undefined;
  private live: Connection | undefined;
  private readonly subscriptions = new Map<string, SubscriptionHandle>();
  private readonly ackIdPrefix = randomBytes(6).toString('base64url');
  private ackCounter = 0;

  constructor(options: NatsBrokerOptions) {
    this.options = options;
    this.prefix = checkStreamPrefix(options.streamPrefix ?? DEFAULT_STREAM_PREFIX);
    this.servers = (Array.isArray(options.servers) ? options.servers : [options.servers]).filter((s) => s !== '');
    if (this.servers.length === 0) throw new ConfigError('NATS broker: no server given');
    const maxAgeS = options.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS;
    if (!(maxAgeS > 0)) throw new ConfigError(`NATS broker: maxAgeSeconds ${maxAgeS} must be positive`);
    this.maxAgeMs = Math.round(maxAgeS * 1000);
    this.replicas = options.replicas ?? 1;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  // ---- topics and publishing ----

  async ensureTopic(topic: string): Promise<void> {
    const id = checkResourceId('topic', topic);
    const what = `create topic ${id}`;
    const conn = await this.connection(what);
    const stream = streamName(this.prefix, id);
    const subject = topicSubject(this.prefix, id);
    await this.call(what, async () => {
      const existing = await streamInfo(conn.jsm, stream);
      if (existing) return checkTopicStream(existing, id, subject, what);
      try {
        await conn.jsm.streams.add({
          name: stream,
          description: `topic ${id}`,
          subjects: [subject],
          retention: RetentionPolicy.Limits,
          storage: StorageType.File,
          discard: DiscardPolicy.Old,
          max_age: nanos(this.maxAgeMs),
          num_replicas: this.replicas,
        });
      } catch (err) {
        // Created meanwhile by another client, with other limits: fine if it captures the subject.
        const again = await streamInfo(conn.jsm, stream);
        if (again) return checkTopicStream(again, id, subject, what);
        throw err;
      }
    });
  }

  async publish(topic: string, messages: readonly OutgoingMessage[]): Promise<string[]> {
    const id = checkResourceId('topic', topic);
    const what = `publish to topic ${id}`;
    if (!Array.isArray(messages)) throw new InvalidInputError(`${what}: messages must be an array`);
    messages.forEach((m, i) => checkOutgoing(m, i, what));
    if (this.closer.signal.aborted) throw closedError(what);
    if (messages.length === 0) return [];
    const conn = await this.connection(what);
    const subject = topicSubject(this.prefix, id);
    const ids = new Array<string>(messages.length);
    try {
      for (let start = 0; start < messages.length; start += PUBLISH_WINDOW) {
        const window = messages.slice(start, start + PUBLISH_WINDOW);
        await Promise.all(
          window.map(async (m, j) => {
            ids[start + j] = await this.publishOne(conn, subject, m);
          }),
        );
      }
    } catch (err) {
      if (isNoResponders(err) && !(await this.call(what, () => streamInfo(conn.jsm, streamName(this.prefix, id))))) {
        throw new NotFoundError(`${what}: topic ${id} not found (create it first)`);
      }
      throw mapError(err, what);
    }
    return ids;
  }

  private async publishOne(conn: Connection, subject: string, m: OutgoingMessage): Promise<string> {
    const pairs = encodeMessageHeaders(m.attributes ?? {}, m.orderingKey);
    let data = m.data;
    const headerBytes = pairs.reduce((n, [k, v]) => n + k.length + v.length + 4, 16);
    if (data.byteLength + headerBytes + PAYLOAD_HEADROOM_BYTES > conn.nc.info!.max_payload) {
      const name = randomUUID();
      const store = await this.payloadStore(conn);
      await store.putBlob({ name }, data);
      pairs.push([PAYLOAD_OBJECT_HEADER, name]);
      data = new Uint8Array(0);
    }
    let h: MsgHdrs | undefined;
    if (pairs.length > 0) {
      h = natsHeaders();
      for (const [k, v] of pairs) h.set(k, v);
    }
    const ack = await conn.js.publish(subject, data, { headers: h, timeout: this.requestTimeoutMs });
    return String(ack.seq);
  }

  private payloadStore(conn: Connection): Promise<ObjectStore> {
    if (!conn.objects) {
      const opening = conn.js.views.os(payloadBucket(this.prefix), {
        description: `payloads too large for one message, of the topics under ${this.prefix}`,
        ttl: nanos(this.maxAgeMs),
        storage: StorageType.File,
        replicas: this.replicas,
      });
      conn.objects = opening;
      opening.catch(() => {
        if (conn.objects === opening) conn.objects = undefined;
      });
    }
    return conn.objects;
  }

  // ---- subscriptions ----

  async ensureSubscription(name: string, topic: string, options: SubscriptionOptions = {}): Promise<void> {
    const id = checkResourceId('subscription', name);
    const topicId = checkResourceId('topic', topic);
    const what = `create subscription ${id}`;
    const spec = subscriptionSpec(topicId, options ?? {}, what);
    const conn = await this.connection(what);
    const stream = streamName(this.prefix, topicId);
    await this.call(what, async () => {
      if (!(await streamInfo(conn.jsm, stream))) throw new NotFoundError(`${what}: topic ${topicId} not found`);
      if (spec.deadLetter && !(await streamInfo(conn.jsm, streamName(this.prefix, spec.deadLetter.topic)))) {
        throw new NotFoundError(`${what}: dead-letter topic ${spec.deadLetter.topic} not found (create it first)`);
      }
      const existing = await this.lookup(conn, id, stream);
      if (existing) {
        const differences = describeDifferences(existing.spec, spec);
        if (differences.length > 0) {
          throw new ConfigError(`subscription ${id} already exists with other settings: ${differences.join('; ')}`);
        }
        return;
      }
      const config: Partial<ConsumerConfig> = {
        durable_name: consumerName(id),
        description: JSON.stringify(spec),
        deliver_policy: DeliverPolicy.New,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(spec.ackDeadlineSeconds * 1000),
        max_deliver: -1,
        max_ack_pending: MAX_ACK_PENDING,
        replay_policy: ReplayPolicy.Instant,
      };
      const info = await conn.jsm.consumers.add(stream, config);
      this.remember(id, info);
    });
  }

  async deleteSubscription(name: string): Promise<void> {
    const id = checkResourceId('subscription', name);
    const what = `delete subscription ${id}`;
    const conn = await this.connection(what);
    await this.call(what, async () => {
      const handle = await this.lookup(conn, id);
      this.subscriptions.delete(id);
      if (!handle) return;
      try {
        await conn.jsm.consumers.delete(handle.stream, handle.consumer);
      } catch (err) {
        if (apiStatus(err) !== 404) throw err;
      }
    });
  }

  // ---- pulling ----

  async pull(subscription: string, options: PullOptions = {}): Promise<ReceivedMessage[]> {
    const id = checkResourceId('subscription', subscription);
    const what = `pull from subscription ${id}`;
    const signal = options.signal;
    signal?.throwIfAborted();
    const conn = await this.connection(what);
    const handle = await this.subscription(conn, id, what);
    sweep(handle);
    const max = Math.max(1, Math.min(Math.floor(options.maxMessages ?? DEFAULTS.maxMessagesPerPull), LIMITS.maxMessagesPerPull));
    const deadline = Date.now() + Math.max(0, options.waitMs ?? 0);
    const out: ReceivedMessage[] = [];
    for (;;) {
      const want = max - out.length;
      const now = await this.request(conn, handle, { batch: want, no_wait: true }, signal, what);
      out.push(...(await this.accept(conn, handle, now)));
      if (out.length >= max) return out;
      if (now.length === want) continue; // a full batch: more may be there (some were filtered out)
      if (out.length > 0) return out;
      const remaining = deadline - Date.now();
      if (remaining < MIN_WAIT_MS) return out;
      const waited = await this.request(conn, handle, { batch: 1, expiresMs: remaining }, signal, what);
      if (waited.length === 0) return out;
      out.push(...(await this.accept(conn, handle, waited)));
    }
  }

  /**
   * One pull request; resolves with the deliveries when the server ends it (404 no messages,
   * 408 expired) or the batch is full. An abort or close withdraws it (its subscription ends, so
   * the server drops it) and releases what it already received.
   */
  private request(
    conn: Connection,
    handle: SubscriptionHandle,
    req: { batch: number; no_wait?: boolean; expiresMs?: number },
    signal: AbortSignal | undefined,
    what: string,
  ): Promise<Msg[]> {
    const closer = this.closer.signal;
    if (closer.aborted) return Promise.reject(closedError(what));
    if (signal?.aborted) return Promise.reject(signal.reason);
    const got: Msg[] = [];
    let answered = false;
    return new Promise<Msg[]>((resolve, reject) => {
      let done = false;
      const finish = (err?: unknown): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sub.unsubscribe();
        signal?.removeEventListener('abort', onAbort);
        closer.removeEventListener('abort', onClose);
        if (err === undefined) {
          resolve(got);
          return;
        }
        for (const m of got) m.respond(NAK);
        reject(err);
      };
      const onAbort = (): void => finish(signal?.reason);
      const onClose = (): void => finish(closedError(what));
      const inbox = createInbox();
      const sub = conn.nc.subscribe(inbox, {
        callback: (err, msg) => {
          if (done) {
            if (parseAckSubject(msg?.reply)) msg.respond(NAK);
            return;
          }
          if (err) {
            finish(mapError(err, what));
            return;
          }
          answered = true;
          if (parseAckSubject(msg.reply)) {
            got.push(msg);
            if (got.length >= req.batch) {
              finish();
              return;
            }
            clearTimeout(timer);
            timer = setTimeout(onSilence, PULL_ANSWER_GRACE_MS);
            return;
          }
          const code = msg.headers?.code ?? 0;
          const description = msg.headers?.description ?? '';
          if (code === 100) return; // idle heartbeat
          if (code === 409 && /consumer deleted/i.test(description)) {
            this.forget(handle);
            finish(new NotFoundError(`${what}: subscription ${handle.id} was deleted`));
            return;
          }
          if (code === 503) {
            finish(new TransientError(`${what}: JetStream is not available (${description || 'no responders'})`));
            return;
          }
          finish(); // 404 no messages, 408 request expired, other 409s: this request is over
        },
      });
      const onSilence = (): void => {
        if (answered) {
          finish();
          return;
        }
        // No answer at all: the consumer may be gone (a pull on a missing consumer is not answered).
        void this.consumerExists(conn, handle).then(
          (exists) => {
            if (exists) finish();
            else {
              this.forget(handle);
              finish(new NotFoundError(`${what}: subscription ${handle.id} not found`));
            }
          },
          (e: unknown) => finish(mapError(e, what)),
        );
      };
      // Until the request's expiry plus a grace period; then the grace period after each delivery.
      let timer = setTimeout(onSilence, (req.expiresMs ?? 0) + PULL_ANSWER_GRACE_MS);
      signal?.addEventListener('abort', onAbort, { once: true });
      closer.addEventListener('abort', onClose, { once: true });
      const body: Record<string, unknown> = { batch: req.batch };
      if (req.no_wait) body.no_wait = true;
      if (req.expiresMs !== undefined) body.expires = nanos(req.expiresMs);
      try {
        conn.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${handle.stream}.${handle.consumer}`, JSON.stringify(body), {
          reply: inbox,
        });
      } catch (err) {
        finish(mapError(err, what));
      }
    });
  }

  /** Turns deliveries into received messages, applying filter, retention and dead letters. */
  private async accept(conn: Connection, handle: SubscriptionHandle, msgs: readonly Msg[]): Promise<ReceivedMessage[]> {
    const out: ReceivedMessage[] = [];
    for (let i = 0; i < msgs.length; i++) {
      const msg = msgs[i];
      try {
        const received = await this.receive(conn, handle, msg);
        if (received) out.push(received);
      } catch (err) {
        // Give back everything of this batch, so nothing waits for an ack deadline.
        for (const m of msgs.slice(i)) m.respond(NAK);
        for (const r of out) {
          handle.deliveries.get(r.ackId)?.msg.respond(NAK);
          handle.deliveries.delete(r.ackId);
        }
        throw mapError(err, `pull from subscription ${handle.id}`);
      }
    }
    return out;
  }

  private async receive(conn: Connection, handle: SubscriptionHandle, msg: Msg): Promise<ReceivedMessage | undefined> {
    const info = parseAckSubject(msg.reply)!;
    const { attributes, orderingKey, payloadObject } = decodeMessageHeaders(msg.headers ?? []);
    if (!handle.filter.matches(attributes)) {
      msg.respond(ACK);
      return undefined;
    }
    const publishMs = Number(info.timestampNanos / 1_000_000n);
    if (Date.now() - publishMs > handle.spec.retentionSeconds * 1000) {
      msg.respond(TERM);
      return undefined;
    }
    let data: Uint8Array;
    if (payloadObject) {
      const blob = await (await this.payloadStore(conn)).getBlob(payloadObject);
      if (!blob) {
        // The payload expired with the bucket's max age: the message cannot be delivered.
        msg.respond(TERM);
        return undefined;
      }
      data = blob;
    } else {
      data = new Uint8Array(msg.data); // own copy
    }
    const message: ReceivedMessage = {
      data,
      attributes,
      messageId: String(info.streamSequence),
      publishTime: nanosToRfc3339(info.timestampNanos),
      deliveryAttempt: info.deliveryCount,
      ackId: `${this.ackIdPrefix}.${(++this.ackCounter).toString(36)}`,
    };
    if (orderingKey) message.orderingKey = orderingKey;
    const dl = handle.spec.deadLetter;
    if (dl && info.deliveryCount > dl.maxDeliveryAttempts) {
      // Its last allowed delivery was not acked in time.
      await this.deadLetter(conn, handle, msg, message).catch(() => undefined);
      return undefined;
    }
    handle.deliveries.set(message.ackId, { msg, message, expiresAt: Date.now() + handle.ackWaitMs });
    return message;
  }

  /** Republishes on the dead-letter topic, then terminates; on failure, offers it again later. */
  private async deadLetter(conn: Connection, handle: SubscriptionHandle, msg: Msg, message: ReceivedMessage): Promise<void> {
    const dl = handle.spec.deadLetter!;
    try {
      await this.publishOne(conn, topicSubject(this.prefix, dl.topic), {
        data: message.data,
        attributes: {
          ...message.attributes,
          [DEAD_LETTER_ATTRIBUTES.deliveryCount]: String(message.deliveryAttempt),
          [DEAD_LETTER_ATTRIBUTES.subscription]: handle.id,
          [DEAD_LETTER_ATTRIBUTES.topicPublishTime]: message.publishTime,
        },
        orderingKey: message.orderingKey,
      });
    } catch (err) {
      msg.respond(nakPayload(DEAD_LETTER_RETRY_MS));
      throw new TransientError(
        `subscription ${handle.id}: cannot move message ${message.messageId} to dead-letter topic ${dl.topic}: ${errorMessage(err)}`,
        { cause: err },
      );
    }
    await conn.nc.request(msg.reply!, TERM, { timeout: this.requestTimeoutMs });
  }

  // ---- acknowledgements ----

  async ack(subscription: string, ackIds: readonly string[]): Promise<void> {
    const id = checkResourceId('subscription', subscription);
    const what = `ack on subscription ${id}`;
    const { live } = this.take(id, ackIds, what);
    if (live.length === 0) return;
    const conn = await this.connection(what);
    await this.settle(live, what, async (d) => {
      await conn.nc.request(d.msg.reply!, ACK, { timeout: this.requestTimeoutMs });
    });
  }

  async nack(subscription: string, ackIds: readonly string[]): Promise<void> {
    const id = checkResourceId('subscription', subscription);
    const what = `nack on subscription ${id}`;
    const { handle, live } = this.take(id, ackIds, what);
    if (!handle || live.length === 0) return;
    const conn = await this.connection(what);
    await this.settle(live, what, async (d) => {
      const attempt = d.message.deliveryAttempt;
      const dl = handle.spec.deadLetter;
      if (dl && attempt >= dl.maxDeliveryAttempts) {
        await this.deadLetter(conn, handle, d.msg, d.message);
        return;
      }
      const retry = handle.spec.retry
        ? { minimumBackoffMs: handle.spec.retry.minimumBackoffS * 1000, maximumBackoffMs: handle.spec.retry.maximumBackoffS * 1000 }
        : undefined;
      const delayMs = retryBackoffMs(retry, attempt, 0, DEFAULTS.maximumBackoffSeconds * 1000);
      await conn.nc.request(d.msg.reply!, nakPayload(delayMs), { timeout: this.requestTimeoutMs });
    });
  }

  /**
   * Work in progress: restarts the ack wait of each live delivery (JetStream `+WPI`), so that a
   * message being worked on longer than the ack deadline is not handed to another consumer.
   */
  async extendAckDeadline(subscription: string, ackIds: readonly string[]): Promise<void> {
    const id = checkResourceId('subscription', subscription);
    const what = `extending the ack deadline on subscription ${id}`;
    if (this.closer.signal.aborted) throw closedError(what);
    const handle = this.subscriptions.get(id);
    if (!handle) return;
    sweep(handle);
    const live: Delivery[] = [];
    for (const ackId of ackIds) {
      const d = handle.deliveries.get(ackId);
      if (!d) continue;
      // Re-inserted at the end: the map stays in expiry order.
      handle.deliveries.delete(ackId);
      handle.deliveries.set(ackId, { ...d, expiresAt: Date.now() + handle.ackWaitMs });
      live.push(d);
    }
    if (live.length === 0) return;
    const conn = await this.connection(what);
    await this.settle(live, what, async (d) => {
      await conn.nc.request(d.msg.reply!, WPI, { timeout: this.requestTimeoutMs });
    });
  }

  /** Removes and returns the live deliveries of these ack IDs; unknown and expired ones are skipped. */
  private take(id: string, ackIds: readonly string[], what: string): { handle?: SubscriptionHandle; live: Delivery[] } {
    if (this.closer.signal.aborted) throw closedError(what);
    if (!Array.isArray(ackIds)) throw new InvalidInputError(`${what}: ackIds must be an array`);
    const handle = this.subscriptions.get(id);
    if (!handle) return { live: [] };
    sweep(handle);
    const live: Delivery[] = [];
    for (const ackId of ackIds) {
      const d = handle.deliveries.get(ackId);
      if (!d) continue;
      handle.deliveries.delete(ackId);
      live.push(d);
    }
    return { handle, live };
  }

  /** Runs `op` on every delivery; the first failure is thrown after all were tried. */
  private async settle(live: Delivery[], what: string, op: (d: Delivery) => Promise<void>): Promise<void> {
    const results = await Promise.allSettled(live.map(op));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed) return;
    // A delivery whose stream or consumer is gone has nothing left to settle.
    if (isNoResponders(failed.reason)) return;
    throw mapError(failed.reason, what);
  }

  // ---- lifecycle ----

  async close(): Promise<void> {
    if (this.closer.signal.aborted) return;
    this.closer.abort(new ConfigError('messaging client closed'));
    const conn = await this.connecting?.catch(() => undefined);
    this.connecting = undefined;
    this.live = undefined;
    if (!conn || conn.nc.isClosed()) return;
    try {
      await conn.nc.drain();
    } catch {
      await conn.nc.close();
    }
  }

  private connection(what: string): Promise<Connection> {
    if (this.closer.signal.aborted) return Promise.reject(closedError(what));
    if (!this.connecting) {
      const opening = this.open();
      this.connecting = opening;
      opening.catch(() => {
        if (this.connecting === opening) this.connecting = undefined;
      });
    }
    return this.connecting.catch((err: unknown) => {
      throw mapError(err, `${what}: cannot reach the NATS server at ${this.servers.join(', ')}`);
    });
  }

  private async open(): Promise<Connection> {
    const nc = await connect({
      servers: this.servers,
      user: this.options.user,
      pass: this.options.pass,
      token: this.options.token,
      name: this.options.name ?? 'prompt-processing',
      timeout: this.requestTimeoutMs,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      waitOnFirstConnect: false,
    });
    try {
      const jsm = await nc.jetstreamManager({ timeout: this.requestTimeoutMs });
      const js = nc.jetstream({ timeout: this.requestTimeoutMs });
      const conn: Connection = { nc, js, jsm };
      this.live = conn;
      void nc.closed().then(() => {
        // Closed by the client library (say, credentials refused on a reconnect): the next call connects again.
        if (this.live === conn) {
          this.live = undefined;
          this.connecting = undefined;
        }
      });
      return conn;
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
  }

  // ---- subscription lookup ----

  /** The cached handle, or the server's answer; NotFoundError when no stream has it. */
  private async subscription(conn: Connection, id: string, what: string): Promise<SubscriptionHandle> {
    const cached = this.subscriptions.get(id);
    if (cached) return cached;
    const found = await this.call(what, () => this.lookup(conn, id));
    if (!found) throw new NotFoundError(`${what}: subscription ${id} not found`);
    return found;
  }

  /** Asks the server which stream of the prefix has the subscription's consumer (`first` first). */
  private async lookup(conn: Connection, id: string, first?: string): Promise<SubscriptionHandle | undefined> {
    const consumer = consumerName(id);
    if (first) {
      const info = await consumerInfo(conn.jsm, first, consumer);
      if (info) return this.remember(id, info);
    }
    const streams: string[] = [];
    for await (const name of conn.jsm.streams.names(prefixSubjects(this.prefix))) {
      if (name !== first && name.startsWith(`${this.prefix}_`)) streams.push(name);
    }
    const infos = await Promise.all(streams.map((s) => consumerInfo(conn.jsm, s, consumer)));
    const info = infos.find((i) => i !== undefined);
    if (!info) {
      this.subscriptions.delete(id);
      return undefined;
    }
    return this.remember(id, info);
  }

  private remember(id: string, info: ConsumerInfo): SubscriptionHandle {
    const spec = specFromConsumer(info);
    const ackWaitMs = Number(info.config.ack_wait ?? 30e9) / 1e6;
    const cached = this.subscriptions.get(id);
    if (cached && cached.stream === info.stream_name && cached.consumer === info.name) {
      cached.spec = spec;
      cached.filter = parseFilterLenient(spec.filter);
      cached.ackWaitMs = ackWaitMs;
      return cached;
    }
    const handle: SubscriptionHandle = {
      id,
      stream: info.stream_name,
      consumer: info.name,
      spec,
      filter: parseFilterLenient(spec.filter),
      ackWaitMs,
      deliveries: new Map(),
    };
    this.subscriptions.set(id, handle);
    return handle;
  }

  private forget(handle: SubscriptionHandle): void {
    if (this.subscriptions.get(handle.id) === handle) this.subscriptions.delete(handle.id);
  }

  private async consumerExists(conn: Connection, handle: SubscriptionHandle): Promise<boolean> {
    return (await consumerInfo(conn.jsm, handle.stream, handle.consumer)) !== undefined;
  }

  /** Runs `fn`, mapping NATS errors to the interface's classes. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (this.closer.signal.aborted && !(err instanceof PromptError)) throw closedError(what);
      throw mapError(err, what);
    }
  }
}

// ---- helpers ----

function checkOutgoing(m: OutgoingMessage, i: number, what: string): void {
  const where = `${what}: messages[${i}]`;
  if (!m || typeof m !== 'object') throw new InvalidInputError(`${where} must be an object`);
  if (!(m.data instanceof Uint8Array)) throw new InvalidInputError(`${where}.data must be a Uint8Array`);
  if (m.data.byteLength > LIMITS.publishBytes) {
    throw new InvalidInputError(`${where}.data is ${m.data.byteLength} bytes; the maximum is ${LIMITS.publishBytes}`);
  }
  const attributes = m.attributes ?? {};
  if (typeof attributes !== 'object') throw new InvalidInputError(`${where}.attributes must be an object`);
  const keys = Object.keys(attributes);
  if (keys.length > LIMITS.attributesPerMessage) {
    throw new InvalidInputError(`${where}.attributes has ${keys.length} entries; the maximum is ${LIMITS.attributesPerMessage}`);
  }
  for (const key of keys) {
    const value = attributes[key];
    if (key === '') throw new InvalidInputError(`${where}.attributes has an empty key`);
    if (typeof value !== 'string') throw new InvalidInputError(`${where}.attributes.${key} must be a string`);
    if (Buffer.byteLength(key) > LIMITS.attributeKeyBytes) {
      throw new InvalidInputError(`${where}.attributes key ${JSON.stringify(key.slice(0, 40))}... is longer than ${LIMITS.attributeKeyBytes} bytes`);
    }
    if (Buffer.byteLength(value) > LIMITS.attributeValueBytes) {
      throw new InvalidInputError(`${where}.attributes.${key} is longer than ${LIMITS.attributeValueBytes} bytes`);
    }
  }
  if (m.orderingKey !== undefined) {
    if (typeof m.orderingKey !== 'string') throw new InvalidInputError(`${where}.orderingKey must be a string`);
    if (Buffer.byteLength(m.orderingKey) > LIMITS.orderingKeyBytes) {
      throw new InvalidInputError(`${where}.orderingKey is longer than ${LIMITS.orderingKeyBytes} bytes`);
    }
  }
  if (m.data.byteLength === 0 && keys.length === 0) {
    throw new InvalidInputError(`${where} has neither data nor attributes`);
  }
}

function subscriptionSpec(topic: string, options: SubscriptionOptions, what: string): SubscriptionSpec {
  if (options.push) {
    throw new ConfigError(
      `${what}: push subscriptions are not supported on NATS (it has no HTTP push delivery); pull from the subscription instead`,
    );
  }
  const bad = (message: string): never => {
    throw new InvalidInputError(`${what}: ${message}`);
  };
  const ackDeadlineSeconds = options.ackDeadlineSeconds ?? DEFAULTS.ackDeadlineSeconds;
  if (!(ackDeadlineSeconds > 0) || ackDeadlineSeconds > LIMITS.maxAckDeadlineSeconds) {
    bad(`ackDeadlineSeconds ${ackDeadlineSeconds} is out of range (0, ${LIMITS.maxAckDeadlineSeconds}]`);
  }
  const retentionSeconds = options.retentionSeconds ?? DEFAULTS.retentionSeconds;
  if (!(retentionSeconds > 0) || retentionSeconds > LIMITS.maxRetentionSeconds) {
    bad(`retentionSeconds ${retentionSeconds} is out of range (0, ${LIMITS.maxRetentionSeconds}]`);
  }
  const filter = options.filter ?? '';
  try {
    parseFilter(filter);
  } catch (err) {
    bad(errorMessage(err));
  }
  let retry: SubscriptionSpec['retry'] = null;
  if (options.retry) {
    const { minimumBackoffS, maximumBackoffS } = options.retry;
    if (!(minimumBackoffS >= 0) || !(maximumBackoffS >= 0)) bad('retry backoffs must be numbers >= 0');
    if (maximumBackoffS > LIMITS.maxBackoffSeconds) bad(`retry.maximumBackoffS is above ${LIMITS.maxBackoffSeconds}`);
    if (maximumBackoffS < minimumBackoffS) bad('retry.maximumBackoffS is smaller than retry.minimumBackoffS');
    retry = { minimumBackoffS, maximumBackoffS };
  }
  let deadLetter: SubscriptionSpec['deadLetter'] = null;
  if (options.deadLetter) {
    const dlTopic = checkResourceId('topic', options.deadLetter.topic);
    const attempts = options.deadLetter.maxDeliveryAttempts;
    if (!Number.isInteger(attempts) || attempts < 1 || attempts > LIMITS.maxDeliveryAttempts) {
      bad(`deadLetter.maxDeliveryAttempts ${attempts} is not an integer in [1, ${LIMITS.maxDeliveryAttempts}]`);
    }
    deadLetter = { topic: dlTopic, maxDeliveryAttempts: attempts };
  }
  return { v: 1, topic, ackDeadlineSeconds, retentionSeconds, filter, retry, deadLetter };
}

/** The spec in a consumer's description; a consumer made by other means gets the defaults. */
function specFromConsumer(info: ConsumerInfo): SubscriptionSpec {
  try {
    const parsed = JSON.parse(info.config.description ?? '') as Partial<SubscriptionSpec>;
    if (parsed && parsed.v === 1 && typeof parsed.topic === 'string') {
      return {
        v: 1,
        topic: parsed.topic,
        ackDeadlineSeconds: Number(parsed.ackDeadlineSeconds ?? DEFAULTS.ackDeadlineSeconds),
        retentionSeconds: Number(parsed.retentionSeconds ?? DEFAULTS.retentionSeconds),
        filter: typeof parsed.filter === 'string' ? parsed.filter : '',
        retry: parsed.retry ?? null,
        deadLetter: parsed.deadLetter ?? null,
      };
    }
  } catch {
    // not ours: fall through
  }
  return {
    v: 1,
    topic: `(stream ${info.stream_name})`,
    ackDeadlineSeconds: Number(info.config.ack_wait ?? 30e9) / 1e9,
    retentionSeconds: LIMITS.maxRetentionSeconds,
    filter: '',
    retry: null,
    deadLetter: null,
  };
}

function describeDifferences(existing: SubscriptionSpec, requested: SubscriptionSpec): string[] {
  const out: string[] = [];
  const cmp = (name: string, a: unknown, b: unknown): void => {
    const sa = JSON.stringify(a);
    const sb = JSON.stringify(b);
    if (sa !== sb) out.push(`${name}: existing ${sa}, requested ${sb}`);
  };
  cmp('topic', existing.topic, requested.topic);
  cmp('ackDeadlineSeconds', existing.ackDeadlineSeconds, requested.ackDeadlineSeconds);
  cmp('retentionSeconds', existing.retentionSeconds, requested.retentionSeconds);
  cmp('filter', existing.filter, requested.filter);
  cmp('retry', existing.retry, requested.retry);
  cmp('deadLetter', existing.deadLetter, requested.deadLetter);
  return out;
}

function parseFilterLenient(filter: string): MessageFilter {
  try {
    return parseFilter(filter);
  } catch {
    // A stored filter that no longer parses lets everything through rather than nothing.
    return parseFilter('');
  }
}

function checkTopicStream(info: StreamInfo, topic: string, subject: string, what: string): void {
  if (!(info.config.subjects ?? []).includes(subject)) {
    throw new ConfigError(
      `${what}: stream ${info.config.name} exists but does not capture subject ${subject} (subjects: ${(info.config.subjects ?? []).join(', ') || 'none'}); topic ${topic} cannot use it`,
    );
  }
}

/** Drops the deliveries whose ack deadline passed (they are in delivery order). */
function sweep(handle: SubscriptionHandle): void {
  const now = Date.now();
  for (const [ackId, d] of handle.deliveries) {
    if (d.expiresAt > now) break;
    handle.deliveries.delete(ackId);
  }
}

async function streamInfo(jsm: JetStreamManager, stream: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(stream);
  } catch (err) {
    if (apiStatus(err) === 404) return undefined;
    throw err;
  }
}

async function consumerInfo(jsm: JetStreamManager, stream: string, consumer: string): Promise<ConsumerInfo | undefined> {
  try {
    return await jsm.consumers.info(stream, consumer);
  } catch (err) {
    if (apiStatus(err) === 404) return undefined;
    throw err;
  }
}

function nakPayload(delayMs: number): string {
  return delayMs > 0 ? `${NAK} ${JSON.stringify({ delay: nanos(delayMs) })}` : NAK;
}

function nanos(ms: number): number {
  return Math.round(ms * 1e6);
}

function closedError(what: string): ConfigError {
  return new ConfigError(`${what}: the messaging client is closed`);
}

interface NatsErrorLike {
  code?: unknown;
  message?: unknown;
  api_error?: { code?: number; err_code?: number; description?: string };
}

function apiStatus(err: unknown): number | undefined {
  return (err as NatsErrorLike | undefined)?.api_error?.code;
}

function isNoResponders(err: unknown): boolean {
  return (err as NatsErrorLike | undefined)?.code === '503';
}

const CONFIG_CODES = new Set([
  'AUTHORIZATION_VIOLATION',
  'AUTHENTICATION_EXPIRED',
  'AUTHENTICATION_TIMEOUT',
  'ACCOUNT_EXPIRED',
  'PERMISSIONS_VIOLATION',
  'BAD_AUTHENTICATION',
  'BAD_CREDS',
  'INVALID_OPTION',
  'TLS',
  'WSS_REQUIRED',
]);

/** NATS client and JetStream API errors → the classes of core/errors.ts. */
function mapError(err: unknown, what: string): Error {
  if (err instanceof PromptError) return err;
  const e = (err ?? {}) as NatsErrorLike;
  const detail = e.api_error?.description ?? (typeof e.message === 'string' && e.message !== '' ? e.message : String(err));
  const message = `${what}: ${detail}`;
  const status = e.api_error?.code;
  if (status !== undefined) {
    if (status === 404) return new NotFoundError(message, { cause: err });
    if (status === 400 || status === 409) return new ConfigError(message, { cause: err });
    return new TransientError(message, { cause: err });
  }
  if (typeof e.code === 'string') {
    if (CONFIG_CODES.has(e.code)) return new ConfigError(message, { cause: err });
    if (e.code === '503') return new TransientError(`${what}: no responders (JetStream unavailable or nothing captures the subject)`, { cause: err });
    if (e.code === 'BAD_HEADER' || e.code === 'BAD_SUBJECT' || e.code === 'BAD_PAYLOAD' || e.code === 'MAX_PAYLOAD_EXCEEDED') {
      return new InvalidInputError(message, { cause: err });
    }
  }
  return new TransientError(message, { cause: err });
}

function positiveNumber(value: string, name: string, shown: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new ConfigError(`NATS URL ${shown}: ${name} must be a positive number, not ${JSON.stringify(value)}`);
  }
  return n;
}

/** The URL without its password or token, for messages. */
function redactUrl(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password) copy.password = '***';
  else if (copy.username) copy.username = '***';
  if (copy.searchParams.has('token')) copy.searchParams.set('token', '***');
  return JSON.stringify(copy.href);
}
