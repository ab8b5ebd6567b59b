/**
 * The Kafka backend of the messaging interface (kafkajs). Any number of processes share the
 * subscriptions: a subscription is a consumer group, so the partitions of its topic are spread
 * over the processes that pull from it, and a process that dies leaves what it had not acked to
 * the next member of the group.
 *
 *   kafka://HOST:PORT[,HOST:PORT…][?prefix=P&clientId=C&partitions=N&replication=R]
 *   kafka+ssl://[user:pass@]HOST:PORT[,…][?mechanism=plain|scram-sha-256|scram-sha-512&…]
 *
 * (PORT 9092; user:pass in the userinfo turns SASL on, PLAIN unless `mechanism` says otherwise;
 * kafka+ssl:// is TLS. `new URL()` refuses several HOST:PORT with different ports, so
 * parseKafkaUrl and kafkaBrokerFromUrl also take the URL as a string.)
 *
 * Names (P = prefix, default empty, so that topics published by others, such as
 * `lsst.sal.ScriptQueue.logevent_nextVisit`, are read under their own names):
 *
 *   topic T             Kafka topic `P{T}`, created by ensureTopic with the admin client
 *                       (`partitions`, default 1; `replicationFactor`, default 1;
 *                       max.message.bytes = maxMessageBytes). A name with characters Kafka
 *                       refuses (~ + %) or longer than 249 has them written as `_` and ends in
 *                       `__` plus 16 hex digits of its SHA-256. Topics are never auto-created:
 *                       publish checks the cluster's metadata (cached 10 s) and throws
 *                       NotFoundError for an unknown topic.
 *   subscription S      consumer group `P{S}`; its options live in the registry.
 *   registry            compacted topic `P__subscriptions` (or `registryTopic`), one partition:
 *                       one record per subscription, key S,
 *                       value JSON {topic, kafkaTopic, ackDeadlineMs, retentionMs, filter,
 *                       retryMinMs, retryMaxMs, deadLetterTopic, maxDeliveryAttempts,
 *                       startOffsets, createdAt, nonce}; a null value (tombstone) deletes it.
 *                       Each client reads it from the start with a consumer group of its own
 *                       and keeps following it, so other processes see subscriptions created,
 *                       deleted or created again elsewhere; a call that must see the latest state
 *                       reads up to the registry's end offset first. Two processes creating the
 *                       same subscription at once: the first record in the log wins, and the
 *                       loser writes the winner's record again (so it is also the last one, the
 *                       one compaction keeps).
 *
 *   publish             producer.send, idempotent (`idempotent: true`, `maxInFlightRequests: 1`,
 *                       acks = all). Attributes are record headers (UTF-8); the ordering key is
 *                       the record key and the `x-ordering-key` header, so a key's records stay
 *                       in one partition in publish order. The partition of each record is
 *                       chosen here (Kafka's default partitioner: murmur2 of the key, round
 *                       robin without one), so the message ID `{partition}:{offset}` is known
 *                       from the produce response. Records produced by others (no such header)
 *                       are delivered too: value = data, headers = attributes, timestamp =
 *                       publish time.
 *   ensureSubscription  reads the registry to its end; an existing record with the same options
 *                       is a no-op, with other options ConfigError naming the differences;
 *                       otherwise records the topic's end offsets (startOffsets) and writes the
 *                       record. The group itself appears on the first pull (joining a new
 *                       group waits the broker's group.initial.rebalance.delay.ms, 3 s by
 *                       default: test servers set it to 0).
 *   deleteSubscription  tombstone in the registry, stops this client's consumer, deletes the
 *                       group (best effort: it may still have members elsewhere, which stop when
 *                       they see the tombstone); idempotent.
 *
 * Delivery. Kafka keeps one committed offset per partition and group, not per-message acks, so
 * Pub/Sub semantics are emulated over a consumer (see offsets.ts): on the first pull this client
 * joins the group (`eachBatch`, autoCommit off) and buffers what it fetches; pull hands out up to
 * maxMessages of the buffer, each leased for the ack deadline; ack marks a message done and
 * commits, per partition, the lowest offset not yet acked (contiguous acks only); nack, or a
 * deadline that passes, makes it deliverable again from the buffer with deliveryAttempt + 1
 * (after the retry backoff); extendAckDeadline restarts a lease. When this process dies, what it
 * had not committed is read again by the member that takes its partitions over: that is the
 * redelivery a deployment of several processes relies on (at least once; deliveryAttempt counts
 * again from 1 there). A process that leaves (close) hands its partitions over at once; one that
 * dies, after the group's session timeout (sessionTimeoutMs, 30 s). The buffer pauses fetching
 * past maxBufferedMessages or maxBufferedBytes. While kafkajs reconnects after a failure, pulls
 * throw TransientError.
 *   start position      on the first fetch of a partition, a position before the subscription's
 *                       startOffsets (a new group starts at the earliest offset) is moved there
 *                       by a seek, so a subscription receives what was published after it was
 *                       created, also when an older group of the same name left offsets behind.
 *                       Partitions added to the topic later are read from their beginning.
 *   filter              evaluated on the headers as records arrive; non-matching records are
 *                       never delivered (done at once, as if acked).
 *   retention           records published longer than retentionSeconds ago are dropped instead
 *                       of delivered (Kafka's own topic retention still applies).
 *   ordering keys       honoured per partition: one message of a key outstanding at a time, in
 *                       offset order (a nacked one is redelivered before the next).
 *   dead letters        a failed delivery (nack or deadline) that was attempt maxDeliveryAttempts
 *                       is published to the dead-letter topic with the
 *                       CloudPubSubDeadLetterSource* attributes, then done; attempts are counted
 *                       by this client (they restart on the member that takes a partition over).
 *   ack IDs             `{partition}:{offset}/{attempt}/{session}.{epoch}`, valid in this client
 *                       only, for this delivery only; stale and unknown ones are ignored.
 *
 *   close()             commits what was acked, leaves the groups (their partitions move to the
 *                       other members at once) and disconnects the producer, consumers and admin.
 *
 * Limits and defaults are the embedded broker's (LIMITS, DEFAULTS of embedded-api.ts): 1000
 * messages per pull, attributes of at most 100 entries, ack deadline (0, 600] s (default 10),
 * retention (0, 7 days] (default 600 s); data of at most 10 MB per message.
 *
 * Capabilities: pull only (no push), filters, ordering keys, dead letters.
 *
 * Errors: Kafka unreachable, a timeout, a dropped connection, a rebalance under way →
 * TransientError (connection attempts and requests are retried `retries` times, then fail);
 * unknown topic or subscription → NotFoundError; bad names, messages and filters, a topic name
 * Kafka refuses, a message too large → InvalidInputError; credentials or permissions refused,
 * an impossible replication factor, unsupported options and calls after close() → ConfigError.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  Kafka,
  Partitioners,
  logLevel as KafkaLogLevel,
  type ConsumerConfig,
  type ConsumerCrashEvent,
  type ConsumerEvents,
  type ConsumerGroupJoinEvent,
  type ConsumerRunConfig,
  type ConsumerSubscribeTopics,
  type EachBatchPayload,
  type IHeaders,
  type ITopicConfig,
  type ITopicMetadata,
  type KafkaConfig,
  type KafkaMessage,
  type Message,
  type PartitionMetadata,
  type ProducerConfig,
  type ProducerRecord,
  type RecordMetadata,
  type SASLOptions,
  type SeekEntry,
  type TopicPartitionOffsetAndMetadata,
} from 'kafkajs';
import { ConfigError, InvalidInputError, NotFoundError, PromptError, TransientError } from '../../core/errors.ts';
import type {
  Broker,
  BrokerCapabilities,
  OutgoingMessage,
  PullOptions,
  ReceivedMessage,
  SubscriptionOptions,
} from '../broker.ts';
import { DEFAULTS, LIMITS } from '../embedded/embedded-api.ts';
import { DEAD_LETTER_ATTRIBUTES } from '../embedded/store.ts';
import { parseFilter, type MessageFilter } from '../filter.ts';
import { describeDifferences, normalizePullSubscription, type PullSubscriptionConfig } from '../pull-subscription.ts';
import { DEFAULT_PROJECT, checkProjectId, resourceId } from '../names.ts';
import { OffsetLedger, type DeadLetter, type Delivery, type IncomingRecord } from './offsets.ts';

// ---- the parts of kafkajs this backend uses (a kafkajs `Kafka` is one; tests pass a model) ----

export interface KafkaAdminClient {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  createTopics(options: { topics: ITopicConfig[]; waitForLeaders?: boolean; timeout?: number }): Promise<boolean>;
  fetchTopicMetadata(options?: { topics: string[] }): Promise<{ topics: ITopicMetadata[] }>;
  fetchTopicOffsets(topic: string): Promise<Array<SeekEntry & { high: string; low: string }>>;
  deleteGroups(groupIds: string[]): Promise<unknown>;
}

export interface KafkaProducerClient {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  send(record: ProducerRecord): Promise<RecordMetadata[]>;
}

export interface KafkaConsumerClient {
  readonly events: Pick<ConsumerEvents, 'GROUP_JOIN' | 'CRASH'>;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  subscribe(subscription: ConsumerSubscribeTopics): Promise<void>;
  run(config?: ConsumerRunConfig): Promise<void>;
  commitOffsets(offsets: TopicPartitionOffsetAndMetadata[]): Promise<void>;
  seek(entry: { topic: string; partition: number; offset: string }): void;
  pause(topics: Array<{ topic: string; partitions?: number[] }>): void;
  resume(topics: Array<{ topic: string; partitions?: number[] }>): void;
  on(eventName: ConsumerEvents['GROUP_JOIN'], listener: (event: ConsumerGroupJoinEvent) => void): unknown;
  on(eventName: ConsumerEvents['CRASH'], listener: (event: ConsumerCrashEvent) => void): unknown;
}

export interface KafkaClient {
  admin(): KafkaAdminClient;
  producer(config?: ProducerConfig): KafkaProducerClient;
  consumer(config: ConsumerConfig): KafkaConsumerClient;
}

// ---- options ----

export type KafkaSaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

export interface KafkaBrokerOptions {
  /** Bootstrap servers, `HOST:PORT` (default ["127.0.0.1:9092"]). */
  brokers?: string[];
  /** Client ID in Kafka's logs and quotas (default "prompt-processing"). */
  clientId?: string;
  /** Prefix of every topic and group name (default ""). */
  prefix?: string;
  /** The subscription registry's topic (default `{prefix}__subscriptions`). */
  registryTopic?: string;
  /** TLS (kafka+ssl://). */
  ssl?: boolean;
  /** SASL credentials. */
  sasl?: { mechanism: KafkaSaslMechanism; username: string; password: string };
  /** Partitions of the topics ensureTopic creates (default 1). */
  partitions?: number;
  /** Replication factor of the topics this backend creates (default 1). */
  replicationFactor?: number;
  /** Project of accepted full resource paths and of dead-letter attributes (default "local"). */
  project?: string;
  /** Bound of one connection attempt (default 3000 ms). */
  connectTimeoutMs?: number;
  /** Bound of one request (default 30 000 ms). */
  requestTimeoutMs?: number;
  /** Retries of a failed connection or request before it fails (default 3). */
  retries?: number;
  /** Longest wait of one fetch for new records (default 500 ms). */
  fetchMaxWaitMs?: number;
  /** Consumer group session timeout (default 30 000 ms). */
  sessionTimeoutMs?: number;
  /** Fetching pauses while a subscription holds this many messages (default 5000)… */
  maxBufferedMessages?: number;
  /** …or this many bytes (default 64 MiB). */
  maxBufferedBytes?: number;
  /** max.message.bytes of the topics this backend creates, and fetch sizes (default 10 MB + 100 KiB). */
  maxMessageBytes?: number;
  /** kafkajs' own log on the console (default "nothing": failures surface as errors of the calls). */
  logLevel?: 'nothing' | 'error' | 'warn' | 'info' | 'debug';
  /** A kafkajs-compatible client to use instead of one built from the options above. */
  client?: KafkaClient;
}

export const KAFKA_DEFAULTS = {
  brokers: ['127.0.0.1:9092'],
  port: 9092,
  clientId: 'prompt-processing',
  prefix: '',
  partitions: 1,
  replicationFactor: 1,
  connectTimeoutMs: 3000,
  requestTimeoutMs: 30_000,
  retries: 3,
  fetchMaxWaitMs: 500,
  sessionTimeoutMs: 30_000,
  maxBufferedMessages: 5000,
  maxBufferedBytes: 64 * 1024 * 1024,
  maxMessageBytes: LIMITS.publishBytes + 100 * 1024,
} as const;

/** Header carrying the ordering key (also the record key); refused as an attribute. */
export const ORDERING_KEY_HEADER = 'x-ordering-key';

const CAPABILITIES: BrokerCapabilities = Object.freeze({
  push: false,
  filters: true,
  orderingKeys: true,
  deadLetter: true,
});

const KAFKA_NAME = /^[A-Za-z0-9._-]+$/;
const MAX_TOPIC_NAME = 249;
const PREFIX_PATTERN = /^[A-Za-z0-9._-]{0,100}$/;
const CLIENT_ID_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;
const URL_PARAMS = ['prefix', 'clientId', 'mechanism', 'partitions', 'replication'] as const;
const MECHANISMS: readonly KafkaSaslMechanism[] = ['plain', 'scram-sha-256', 'scram-sha-512'];
const METADATA_TTL_MS = 10_000;
/** Records sent by one produce request at most (bytes and count). */
const SEND_CHUNK_BYTES = 8 * 1024 * 1024;
const SEND_CHUNK_COUNT = 1000;
/** Memory a buffered message costs beyond its data and attributes. */
const RECORD_OVERHEAD_BYTES = 200;

// ---- URLs ----

/**
 * Splits a `kafka://` or `kafka+ssl://` URL into options; throws ConfigError naming the problem
 * (with the password hidden). A string may list several HOST:PORT, which `new URL()` refuses.
 */
export function parseKafkaUrl(url: URL | string): KafkaBrokerOptions {
  const text = typeof url === 'string' ? url : url.href;
  const shown = JSON.stringify(redactUrl(text));
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(?:([^@/?#]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?(?:#.*)?$/.exec(text.trim());
  if (!m) throw new ConfigError(`messaging URL ${shown} is not a URL; expected kafka://HOST:PORT[,HOST:PORT…][?prefix=P&clientId=C]`);
  const [, scheme, userinfo, hostList, path, query] = m;
  const protocol = scheme.toLowerCase();
  if (protocol !== 'kafka' && protocol !== 'kafka+ssl') {
    throw new ConfigError(`messaging URL ${shown}: expected kafka://HOST:PORT[,HOST:PORT…][?prefix=P&clientId=C] or kafka+ssl://…`);
  }
  if (path !== undefined && path !== '/') {
    throw new ConfigError(`messaging URL ${shown}: a Kafka URL has no path (found ${JSON.stringify(path)})`);
  }
  const brokers: string[] = [];
  for (const part of hostList.split(',')) {
    const hp = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(part.trim());
    if (!hp) throw new ConfigError(`messaging URL ${shown}: ${JSON.stringify(part)} is not HOST or HOST:PORT`);
    const port = hp[2] === undefined ? KAFKA_DEFAULTS.port : Number(hp[2]);
    if (!(port >= 1 && port <= 65535)) throw new ConfigError(`messaging URL ${shown}: invalid port ${hp[2]}`);
    brokers.push(`${hp[1]}:${port}`);
  }
  if (brokers.length === 0 || brokers.some((b) => b.startsWith(':'))) throw new ConfigError(`messaging URL ${shown} has no host`);
  const options: KafkaBrokerOptions = { brokers };
  if (protocol === 'kafka+ssl') options.ssl = true;
  const params = new URLSearchParams(query ?? '');
  for (const key of params.keys()) {
    if (!(URL_PARAMS as readonly string[]).includes(key)) {
      throw new ConfigError(`messaging URL ${shown}: unknown parameter ${JSON.stringify(key)} (supported: ${URL_PARAMS.join(', ')})`);
    }
  }
  if (userinfo !== undefined && userinfo !== '') {
    const colon = userinfo.indexOf(':');
    const decode = (s: string): string => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw new ConfigError(`messaging URL ${shown}: the user or password is not percent-encoded correctly`);
      }
    };
    const username = decode(colon < 0 ? userinfo : userinfo.slice(0, colon));
    const password = colon < 0 ? '' : decode(userinfo.slice(colon + 1));
    if (username === '') throw new ConfigError(`messaging URL ${shown}: SASL needs a user name`);
    const mechanism = (params.get('mechanism') ?? 'plain').toLowerCase();
    if (!(MECHANISMS as readonly string[]).includes(mechanism)) {
      throw new ConfigError(`messaging URL ${shown}: unknown SASL mechanism ${JSON.stringify(mechanism)} (supported: ${MECHANISMS.join(', ')})`);
    }
    options.sasl = { mechanism: mechanism as KafkaSaslMechanism, username, password };
  } else if (params.has('mechanism')) {
    throw new ConfigError(`messaging URL ${shown}: mechanism needs a user and password (kafka+ssl://USER:PASS@HOST:PORT)`);
  }
  const prefix = params.get('prefix');
  if (prefix !== null) options.prefix = prefix;
  checkPrefix(options.prefix ?? KAFKA_DEFAULTS.prefix, `messaging URL ${shown}`);
  const clientId = params.get('clientId');
  if (clientId !== null) {
    if (!CLIENT_ID_PATTERN.test(clientId)) {
      throw new ConfigError(`messaging URL ${shown}: clientId must be 1-100 letters, digits, '.', '_' or '-'`);
    }
    options.clientId = clientId;
  }
  const count = (name: 'partitions' | 'replication', max: number): number | undefined => {
    const v = params.get(name);
    if (v === null) return undefined;
    if (!/^\d{1,5}$/.test(v) || Number(v) < 1 || Number(v) > max) {
      throw new ConfigError(`messaging URL ${shown}: ${name} must be an integer in [1, ${max}], not ${JSON.stringify(v)}`);
    }
    return Number(v);
  };
  const partitions = count('partitions', 10_000);
  if (partitions !== undefined) options.partitions = partitions;
  const replication = count('replication', 100);
  if (replication !== undefined) options.replicationFactor = replication;
  return options;
}

export function kafkaBrokerFromUrl(url: URL | string): Broker {
  return createKafkaBroker(parseKafkaUrl(url));
}

export function createKafkaBroker(options: KafkaBrokerOptions = {}): Broker {
  return new KafkaBroker(options);
}

function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}

function checkPrefix(prefix: string, where: string): void {
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    throw new ConfigError(`${where}: invalid prefix ${JSON.stringify(prefix)} (0-100 letters, digits, '.', '_' or '-': Kafka's topic characters)`);
  }
}

// ---- names ----

/**
 * The Kafka topic of `prefix + id`: unchanged when it is made of Kafka's characters
 * ([A-Za-z0-9._-]) and at most 249 long; otherwise the other characters become `_`, the name is
 * cut to fit, and `__` plus 16 hex digits of the SHA-256 of `prefix + id` end it.
 */
export function kafkaTopicName(prefix: string, id: string): string {
  const name = prefix + id;
  if (name.length <= MAX_TOPIC_NAME && KAFKA_NAME.test(name)) return name;
  const hash = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 16);
  return `${name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, MAX_TOPIC_NAME - 18)}__${hash}`;
}

// ---- subscription options as stored in the registry ----

type SubConfig = PullSubscriptionConfig;

/** A registry record. */
interface SubRecord extends SubConfig {
  kafkaTopic: string;
  /** Partition → the topic's end offset when the subscription was created. */
  startOffsets: Record<string, string>;
  createdAt: string;
  /** Identifies one creation (a subscription deleted and created again gets another). */
  nonce: string;
  /** A loser of a creation race writing the winner's record again. */
  reassert?: boolean;
}

function encodeRecord(r: SubRecord): Buffer {
  return Buffer.from(
    JSON.stringify({
      v: 1,
      topic: r.topic,
      kafkaTopic: r.kafkaTopic,
      ackDeadlineMs: r.ackDeadlineMs,
      retentionMs: r.retentionMs,
      filter: r.filter,
      retryMinMs: r.retryMinMs ?? null,
      retryMaxMs: r.retryMaxMs ?? null,
      deadLetterTopic: r.deadLetterTopic ?? null,
      maxDeliveryAttempts: r.maxDeliveryAttempts ?? null,
      startOffsets: r.startOffsets,
      createdAt: r.createdAt,
      nonce: r.nonce,
      ...(r.reassert ? { reassert: true } : {}),
    }),
    'utf8',
  );
}

/** undefined when the value is not a record this module wrote. */
function decodeRecord(value: Buffer): SubRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(value.toString('utf8'));
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  const str = (x: unknown): x is string => typeof x === 'string';
  const optNum = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
  if (o.v !== 1 || !str(o.topic) || !str(o.kafkaTopic) || !str(o.filter) || !str(o.nonce) || !str(o.createdAt)) return undefined;
  if (typeof o.ackDeadlineMs !== 'number' || !(o.ackDeadlineMs > 0) || typeof o.retentionMs !== 'number' || !(o.retentionMs > 0)) return undefined;
  if (o.startOffsets === null || typeof o.startOffsets !== 'object') return undefined;
  const startOffsets: Record<string, string> = {};
  for (const [p, off] of Object.entries(o.startOffsets as Record<string, unknown>)) {
    if (/^\d+$/.test(p) && str(off) && /^\d+$/.test(off)) startOffsets[p] = off;
  }
  return {
    topic: o.topic,
    kafkaTopic: o.kafkaTopic,
    ackDeadlineMs: o.ackDeadlineMs,
    retentionMs: o.retentionMs,
    filter: o.filter,
    retryMinMs: optNum(o.retryMinMs),
    retryMaxMs: optNum(o.retryMaxMs),
    deadLetterTopic: str(o.deadLetterTopic) ? o.deadLetterTopic : undefined,
    maxDeliveryAttempts: optNum(o.maxDeliveryAttempts),
    startOffsets,
    createdAt: o.createdAt,
    nonce: o.nonce,
    reassert: o.reassert === true ? true : undefined,
  };
}


// ---- records ----

/** What the buffer holds of a fetched record. */
interface Payload {
  data: Uint8Array;
  attributes: Record<string, string>;
}

function headerText(value: IHeaders[string]): string | undefined {
  const v = Array.isArray(value) ? value[value.length - 1] : value;
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' ? v : Buffer.from(v).toString('utf8');
}

/** Attributes and ordering key of a fetched record, from its headers. */
export function recordAttributes(headers: IHeaders | undefined): { attributes: Record<string, string>; orderingKey: string | undefined } {
  const attributes: Record<string, string> = {};
  let orderingKey: string | undefined;
  for (const [key, value] of Object.entries(headers ?? {})) {
    const text = headerText(value);
    if (text === undefined) continue;
    if (key === ORDERING_KEY_HEADER) orderingKey = text === '' ? undefined : text;
    else attributes[key] = text;
  }
  return { attributes, orderingKey };
}

/** Validates one outgoing message and returns its Kafka record (without a partition yet). */
function toRecord(m: OutgoingMessage, i: number, what: string): { message: Message; bytes: number } {
  if (!(m?.data instanceof Uint8Array)) throw new InvalidInputError(`${what}: messages[${i}].data must be a Uint8Array`);
  const attributes = m.attributes ?? {};
  if (typeof attributes !== 'object' || attributes === null) {
    throw new InvalidInputError(`${what}: messages[${i}].attributes must be an object of strings`);
  }
  const headers: IHeaders = {};
  let count = 0;
  let bytes = m.data.byteLength;
  for (const [key, value] of Object.entries(attributes)) {
    count++;
    if (key === '') throw new InvalidInputError(`${what}: messages[${i}].attributes has an empty key`);
    if (key === ORDERING_KEY_HEADER) {
      throw new InvalidInputError(`${what}: messages[${i}].attributes.${key} is reserved for the ordering key (set orderingKey instead)`);
    }
    if (typeof value !== 'string') throw new InvalidInputError(`${what}: messages[${i}].attributes.${key} must be a string`);
    const keyBytes = Buffer.byteLength(key);
    const valueBytes = Buffer.byteLength(value);
    if (keyBytes > LIMITS.attributeKeyBytes) {
      throw new InvalidInputError(`${what}: messages[${i}].attributes key ${JSON.stringify(key.slice(0, 40))}... is longer than ${LIMITS.attributeKeyBytes} bytes`);
    }
    if (valueBytes > LIMITS.attributeValueBytes) {
      throw new InvalidInputError(`${what}: messages[${i}].attributes.${key} is longer than ${LIMITS.attributeValueBytes} bytes`);
    }
    headers[key] = value;
    bytes += keyBytes + valueBytes;
  }
  if (count > LIMITS.attributesPerMessage) {
    throw new InvalidInputError(`${what}: messages[${i}].attributes has ${count} entries; the maximum is ${LIMITS.attributesPerMessage}`);
  }
  if (m.data.byteLength === 0 && count === 0) {
    throw new InvalidInputError(`${what}: messages[${i}] has neither data nor attributes`);
  }
  if (m.orderingKey !== undefined && (typeof m.orderingKey !== 'string' || Buffer.byteLength(m.orderingKey) > LIMITS.orderingKeyBytes)) {
    throw new InvalidInputError(`${what}: messages[${i}].orderingKey must be a string of at most ${LIMITS.orderingKeyBytes} bytes`);
  }
  if (bytes > LIMITS.publishBytes) {
    throw new InvalidInputError(`${what}: messages[${i}] is ${bytes} bytes with its attributes; the maximum is ${LIMITS.publishBytes}`);
  }
  let key: Buffer | null = null;
  if (m.orderingKey) {
    key = Buffer.from(m.orderingKey, 'utf8');
    headers[ORDERING_KEY_HEADER] = m.orderingKey;
    bytes += key.byteLength * 2;
  }
  return { message: { key, value: Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength), headers }, bytes };
}

function toReceived(d: Delivery<Payload>): ReceivedMessage {
  const out: ReceivedMessage = {
    data: d.payload.data,
    attributes: { ...d.payload.attributes },
    messageId: `${d.partition}:${d.offset}`,
    publishTime: new Date(d.publishMs).toISOString(),
    deliveryAttempt: d.attempt,
    ackId: d.ackId,
  };
  if (d.orderingKey !== undefined) out.orderingKey = d.orderingKey;
  return out;
}

// ---- errors ----

/** The errors under `err`: itself, its causes, and the members of aggregate errors. */
function errorChain(err: unknown): Array<{ name?: unknown; type?: unknown; message?: unknown }> {
  const out: Array<{ name?: unknown; type?: unknown; message?: unknown }> = [];
  const queue: unknown[] = [err];
  while (queue.length > 0 && out.length < 20) {
    const e = queue.shift();
    if (e === null || typeof e !== 'object' || out.includes(e)) continue;
    out.push(e);
    const o = e as { cause?: unknown; errors?: unknown; originalError?: unknown };
    if (o.cause !== undefined) queue.push(o.cause);
    if (o.originalError !== undefined) queue.push(o.originalError);
    if (Array.isArray(o.errors)) queue.push(...o.errors);
  }
  return out;
}

const CONFIG_TYPES = new Set([
  'SASL_AUTHENTICATION_FAILED',
  'UNSUPPORTED_SASL_MECHANISM',
  'ILLEGAL_SASL_STATE',
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'INVALID_REPLICATION_FACTOR',
  'INVALID_REPLICA_ASSIGNMENT',
  'INVALID_PARTITIONS',
  'INVALID_CONFIG',
  'POLICY_VIOLATION',
  'UNSUPPORTED_VERSION',
]);
const INPUT_TYPES = new Set(['INVALID_TOPIC_EXCEPTION', 'MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD']);

/** Error classes of the messaging interface for a kafkajs failure. */
export function mapKafkaError(err: unknown, what: string, address: string): Error {
  if (err instanceof PromptError) return err;
  const chain = errorChain(err);
  const types = new Set(chain.map((e) => e.type).filter((t): t is string => typeof t === 'string'));
  const names = new Set(chain.map((e) => e.name).filter((t): t is string => typeof t === 'string'));
  const message = err instanceof Error ? err.message : String(err);
  const detail = [...new Set(chain.map((e) => e.message).filter((m): m is string => typeof m === 'string' && m !== ''))].join(': ') || message;
  if (types.has('UNKNOWN_TOPIC_OR_PARTITION')) return new NotFoundError(`${what}: Kafka at ${address}: topic not found (${detail})`, { cause: err });
  if (names.has('KafkaJSSASLAuthenticationError') || [...types].some((t) => CONFIG_TYPES.has(t))) {
    return new ConfigError(`${what}: Kafka at ${address} refused: ${detail}`, { cause: err });
  }
  if ([...types].some((t) => INPUT_TYPES.has(t))) return new InvalidInputError(`${what}: Kafka refused: ${detail}`, { cause: err });
  if (/certificate|self[- ]signed|SSL routines/i.test(detail)) {
    return new ConfigError(`${what}: TLS with Kafka at ${address} failed: ${detail}`, { cause: err });
  }
  return new TransientError(`${what}: Kafka at ${address}: ${detail}`, { cause: err });
}

// ---- the broker ----

class KafkaBroker implements Broker {
  readonly capabilities = CAPABILITIES;
  readonly prefix: string;
  readonly project: string;
  readonly address: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly requestTimeoutMs: number;
  readonly retries: number;
  readonly fetchMaxWaitMs: number;
  readonly sessionTimeoutMs: number;
  readonly maxBufferedMessages: number;
  readonly maxBufferedBytes: number;
  readonly maxMessageBytes: number;
  readonly client: KafkaClient;
  readonly admin: KafkaAdminClient;
  private readonly producer: KafkaProducerClient;
  private adminReady: Promise<void> | undefined;
  private producerReady: Promise<void> | undefined;
  private readonly partitioner = Partitioners.DefaultPartitioner();
  /** Kafka topic → its partitions, as of `at`. */
  private readonly topics = new Map<string, { partitions: PartitionMetadata[]; at: number }>();
  private readonly registry: SubscriptionRegistry;
  private readonly runners = new Map<string, SubscriptionRunner>();
  /** Consumers being stopped, by subscription. */
  private readonly stopping = new Map<string, Promise<void>>();
  private closed = false;

  constructor(options: KafkaBrokerOptions) {
    this.prefix = options.prefix ?? KAFKA_DEFAULTS.prefix;
    checkPrefix(this.prefix, 'Kafka broker');
    try {
      this.project = checkProjectId(options.project ?? DEFAULT_PROJECT);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
    const brokers = options.brokers ?? [...KAFKA_DEFAULTS.brokers];
    if (!Array.isArray(brokers) || brokers.length === 0 || brokers.some((b) => typeof b !== 'string' || !/^.+:\d{1,5}$/.test(b))) {
      throw new ConfigError(`Kafka broker: brokers must be a non-empty list of HOST:PORT, not ${JSON.stringify(brokers)}`);
    }
    this.address = brokers.join(',');
    const clientId = options.clientId ?? KAFKA_DEFAULTS.clientId;
    if (!CLIENT_ID_PATTERN.test(clientId)) throw new ConfigError(`Kafka broker: clientId must be 1-100 letters, digits, '.', '_' or '-'`);
    this.partitions = integer(options.partitions, KAFKA_DEFAULTS.partitions, 'partitions', 1, 10_000);
    this.replicationFactor = integer(options.replicationFactor, KAFKA_DEFAULTS.replicationFactor, 'replicationFactor', 1, 100);
    const connectTimeoutMs = integer(options.connectTimeoutMs, KAFKA_DEFAULTS.connectTimeoutMs, 'connectTimeoutMs', 1, 600_000);
    this.requestTimeoutMs = integer(options.requestTimeoutMs, KAFKA_DEFAULTS.requestTimeoutMs, 'requestTimeoutMs', 1, 600_000);
    this.retries = integer(options.retries, KAFKA_DEFAULTS.retries, 'retries', 0, 100);
    this.fetchMaxWaitMs = integer(options.fetchMaxWaitMs, KAFKA_DEFAULTS.fetchMaxWaitMs, 'fetchMaxWaitMs', 1, 60_000);
    this.sessionTimeoutMs = integer(options.sessionTimeoutMs, KAFKA_DEFAULTS.sessionTimeoutMs, 'sessionTimeoutMs', 1000, 3_600_000);
    this.maxBufferedMessages = integer(options.maxBufferedMessages, KAFKA_DEFAULTS.maxBufferedMessages, 'maxBufferedMessages', 1, 10_000_000);
    this.maxBufferedBytes = integer(options.maxBufferedBytes, KAFKA_DEFAULTS.maxBufferedBytes, 'maxBufferedBytes', 1, Number.MAX_SAFE_INTEGER);
    this.maxMessageBytes = integer(options.maxMessageBytes, KAFKA_DEFAULTS.maxMessageBytes, 'maxMessageBytes', 1024, 1024 * 1024 * 1024);
    const registryTopic = options.registryTopic ?? `${this.prefix}__subscriptions`;
    if (typeof registryTopic !== 'string' || registryTopic.length > MAX_TOPIC_NAME || !KAFKA_NAME.test(registryTopic)) {
      throw new ConfigError(`Kafka broker: invalid registryTopic ${JSON.stringify(registryTopic)}`);
    }
    if (options.sasl !== undefined) {
      const { mechanism, username, password } = options.sasl;
      if (!MECHANISMS.includes(mechanism) || typeof username !== 'string' || username === '' || typeof password !== 'string') {
        throw new ConfigError(`Kafka broker: sasl needs a mechanism (${MECHANISMS.join(', ')}), a user name and a password`);
      }
    }
    if (options.client) {
      this.client = options.client;
    } else {
      const level = options.logLevel ?? 'nothing';
      const levels = { nothing: KafkaLogLevel.NOTHING, error: KafkaLogLevel.ERROR, warn: KafkaLogLevel.WARN, info: KafkaLogLevel.INFO, debug: KafkaLogLevel.DEBUG };
      if (!Object.hasOwn(levels, level)) throw new ConfigError(`Kafka broker: unknown logLevel ${JSON.stringify(level)}`);
      const config: KafkaConfig = {
        clientId,
        brokers,
        connectionTimeout: connectTimeoutMs,
        requestTimeout: this.requestTimeoutMs,
        retry: { retries: this.retries, initialRetryTime: 100, maxRetryTime: 2000 },
        logLevel: levels[level],
      };
      if (options.ssl) config.ssl = true;
      if (options.sasl) config.sasl = { ...options.sasl } as SASLOptions;
      this.client = new Kafka(config);
    }
    this.admin = this.client.admin();
    this.producer = this.client.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: Math.max(1, this.retries), initialRetryTime: 100, maxRetryTime: 2000 },
    });
    this.registry = new SubscriptionRegistry(this, registryTopic, (id) => this.onRegistryChange(id));
  }

  // ---- topics ----

  async ensureTopic(topic: string): Promise<void> {
    const id = this.id('topic', topic);
    const what = `create topic ${id}`;
    const name = this.topicName(id);
    await this.createTopic(
      { topic: name, numPartitions: this.partitions, replicationFactor: this.replicationFactor, configEntries: [{ name: 'max.message.bytes', value: String(this.maxMessageBytes) }] },
      what,
    );
  }

  /** Creates a Kafka topic unless it exists. */
  async createTopic(config: ITopicConfig, what: string): Promise<void> {
    await this.withAdmin(what, (admin) => admin.createTopics({ topics: [config], waitForLeaders: true, timeout: this.requestTimeoutMs }));
    this.topics.delete(config.topic);
  }

  async publish(topic: string, messages: readonly OutgoingMessage[]): Promise<string[]> {
    const id = this.id('topic', topic);
    const what = `publish to topic ${id}`;
    if (!Array.isArray(messages)) throw new InvalidInputError(`${what}: messages must be an array`);
    const records = messages.map((m, i) => toRecord(m, i, what));
    this.checkOpen(what);
    if (records.length === 0) return [];
    const name = this.topicName(id);
    const partitions = await this.topicPartitions(name, what);
    if (!partitions) throw new NotFoundError(`${what}: topic ${id} not found (create it with ensureTopic)`);
    return this.produce(name, partitions, records, what);
  }

  /** Sends records to a topic in order, each to a partition chosen here; returns `{partition}:{offset}` IDs. */
  private async produce(
    name: string,
    partitions: PartitionMetadata[],
    records: ReadonlyArray<{ message: Message; bytes: number }>,
    what: string,
  ): Promise<string[]> {
    for (const r of records) r.message.partition = this.partitioner({ topic: name, partitionMetadata: partitions, message: r.message });
    await this.connectProducer(what);
    const ids: string[] = [];
    let i = 0;
    while (i < records.length) {
      const chunk: Message[] = [];
      let bytes = 0;
      while (i < records.length && chunk.length < SEND_CHUNK_COUNT && (chunk.length === 0 || bytes + records[i].bytes <= SEND_CHUNK_BYTES)) {
        chunk.push(records[i].message);
        bytes += records[i].bytes;
        i++;
      }
      let response: RecordMetadata[];
      try {
        response = await this.producer.send({ topic: name, messages: chunk, acks: -1, timeout: this.requestTimeoutMs });
      } catch (err) {
        this.topics.delete(name);
        const suffix = ids.length > 0 ? ` (${ids.length} of ${records.length} messages were published)` : '';
        throw this.mapError(err, `${what}${suffix}`);
      }
      const next = new Map<number, bigint>();
      for (const r of response) {
        const base = r.baseOffset ?? r.offset;
        if (r.topicName === name && base !== undefined && /^\d+$/.test(base)) next.set(r.partition, BigInt(base));
      }
      for (const m of chunk) {
        const p = m.partition as number;
        const offset = next.get(p);
        if (offset === undefined) throw new TransientError(`${what}: Kafka did not report the offset of partition ${p}`);
        ids.push(`${p}:${offset}`);
        next.set(p, offset + 1n);
      }
    }
    return ids;
  }

  /** The partitions of a Kafka topic, or undefined when it does not exist (metadata cached 10 s). */
  async topicPartitions(name: string, what: string): Promise<PartitionMetadata[] | undefined> {
    const now = Date.now();
    const known = this.topics.get(name);
    if (known && now - known.at < METADATA_TTL_MS) return known.partitions;
    const { topics } = await this.withAdmin(what, (admin) => admin.fetchTopicMetadata());
    this.topics.clear();
    for (const t of topics) this.topics.set(t.name, { partitions: t.partitions, at: now });
    return this.topics.get(name)?.partitions;
  }

  // ---- subscriptions ----

  async ensureSubscription(name: string, topic: string, options: SubscriptionOptions = {}): Promise<void> {
    const id = this.id('subscription', name);
    const topicId = this.id('topic', topic);
    const what = `create subscription ${id}`;
    const requested = this.normalize(options ?? {}, topicId, what);
    this.checkOpen(what);
    await this.registry.sync(what);
    const existing = this.registry.get(id);
    if (existing) {
      this.compare(id, existing, requested);
      return;
    }
    const kafkaTopic = this.topicName(topicId);
    if (!(await this.topicPartitions(kafkaTopic, what))) throw new NotFoundError(`${what}: topic ${topicId} not found`);
    if (requested.deadLetterTopic !== undefined && !(await this.topicPartitions(this.topicName(requested.deadLetterTopic), what))) {
      throw new NotFoundError(`${what}: dead-letter topic ${requested.deadLetterTopic} not found (create it first)`);
    }
    const ends = await this.withAdmin(what, (admin) => admin.fetchTopicOffsets(kafkaTopic));
    const startOffsets: Record<string, string> = {};
    for (const e of ends) startOffsets[String(e.partition)] = String(e.high ?? e.offset);
    const record: SubRecord = { ...requested, kafkaTopic, startOffsets, createdAt: new Date().toISOString(), nonce: randomBytes(8).toString('hex') };
    const winner = await this.registry.put(id, record, what);
    if (winner.nonce !== record.nonce) this.compare(id, winner, requested);
  }

  private compare(id: string, existing: SubConfig, requested: SubConfig): void {
    const differences = describeDifferences(existing, requested);
    if (differences.length > 0) {
      throw new ConfigError(`subscription ${id} already exists with other settings: ${differences.join('; ')}`);
    }
  }

  private normalize(options: SubscriptionOptions, topic: string, what: string): SubConfig {
    return normalizePullSubscription(options, topic, what, { backend: 'Kafka', topicId: (name) => this.id('topic', name) });
  }


  async deleteSubscription(name: string): Promise<void> {
    const id = this.id('subscription', name);
    const what = `delete subscription ${id}`;
    this.checkOpen(what);
    await this.registry.sync(what);
    const existing = this.registry.get(id);
    if (existing) await this.registry.remove(id, what);
    this.stopRunner(id);
    await this.stopping.get(id);
    if (existing) {
      try {
        await this.withAdmin(what, (admin) => admin.deleteGroups([this.groupId(id)]));
      } catch {
        // best effort: members elsewhere leave it when they see the deletion; its offsets expire
      }
    }
  }

  /** The registry changed for subscription `id`: stop a consumer of a deleted or replaced subscription. */
  private onRegistryChange(id: string): void {
    const runner = this.runners.get(id);
    const current = this.registry.get(id);
    if (runner && !(current && current.nonce === runner.record.nonce)) this.stopRunner(id);
  }

  /** Stops this client's consumer of subscription `id` (deleted, or created again). */
  private stopRunner(id: string, reason: Error = new NotFoundError(`subscription ${id} was deleted`)): void {
    const runner = this.runners.get(id);
    if (!runner) return;
    this.runners.delete(id);
    const stopped = runner.stop(reason).finally(() => {
      if (this.stopping.get(id) === stopped) this.stopping.delete(id);
    });
    this.stopping.set(id, stopped);
  }

  // ---- delivery ----

  async pull(subscription: string, options: PullOptions = {}): Promise<ReceivedMessage[]> {
    const id = this.id('subscription', subscription);
    const what = `pull from subscription ${id}`;
    const max = Math.max(1, Math.min(Math.floor(options.maxMessages ?? DEFAULTS.maxMessagesPerPull), LIMITS.maxMessagesPerPull));
    const waitMs = Math.max(0, options.waitMs ?? 0);
    const { signal } = options;
    signal?.throwIfAborted();
    this.checkOpen(what);
    const deadline = Date.now() + waitMs;
    const runner = await this.runner(id, what);
    try {
      return await runner.pull(max, deadline, signal);
    } catch (err) {
      if (signal?.aborted && err === signal.reason) throw err;
      if (runner.failed && this.runners.get(id) === runner) this.runners.delete(id);
      throw this.mapError(err, what);
    }
  }

  async ack(subscription: string, ackIds: readonly string[]): Promise<void> {
    const runner = await this.settleTarget(subscription, ackIds, 'ack');
    if (runner && runner.ledger.ack(ackIds) > 0) await runner.afterSettle();
  }

  async nack(subscription: string, ackIds: readonly string[]): Promise<void> {
    const runner = await this.settleTarget(subscription, ackIds, 'nack');
    if (runner && runner.ledger.nack(ackIds, Date.now()) > 0) await runner.afterSettle();
  }

  async extendAckDeadline(subscription: string, ackIds: readonly string[]): Promise<void> {
    const runner = await this.settleTarget(subscription, ackIds, 'extending the ack deadline');
    runner?.ledger.extend(ackIds, Date.now());
  }

  /** The local consumer the ack IDs belong to; undefined when there is none (the IDs are then unknown). */
  private async settleTarget(subscription: string, ackIds: readonly string[], verb: string): Promise<SubscriptionRunner | undefined> {
    const id = this.id('subscription', subscription);
    const what = `${verb} on subscription ${id}`;
    if (!Array.isArray(ackIds)) throw new InvalidInputError(`${what}: ackIds must be an array of strings`);
    this.checkOpen(what);
    const runner = this.runners.get(id);
    if (runner) return runner;
    if (!this.registry.get(id)) {
      await this.registry.sync(what);
      if (!this.registry.get(id)) throw new NotFoundError(`${what}: subscription ${id} not found`);
    }
    return undefined;
  }

  /** This client's consumer of subscription `id`, started on first use. */
  private async runner(id: string, what: string): Promise<SubscriptionRunner> {
    let record = this.registry.get(id);
    if (!record) {
      await this.registry.sync(what);
      record = this.registry.get(id);
      if (!record) throw new NotFoundError(`${what}: subscription ${id} not found`);
    }
    this.checkOpen(what);
    const current = this.runners.get(id);
    if (current && current.record.nonce === record.nonce) return current;
    this.stopRunner(id);
    const runner = new SubscriptionRunner(this, id, record);
    this.runners.set(id, runner);
    runner.start();
    return runner;
  }

  /** Publishes dead letters of subscription `id` to its dead-letter topic. */
  async forwardDeadLetters(id: string, record: SubRecord, letters: readonly DeadLetter<Payload>[]): Promise<void> {
    if (record.deadLetterTopic === undefined) return;
    const what = `dead-letter to topic ${record.deadLetterTopic}`;
    const name = this.topicName(record.deadLetterTopic);
    const partitions = await this.topicPartitions(name, what);
    if (!partitions) throw new NotFoundError(`${what}: topic ${record.deadLetterTopic} not found`);
    const records = letters.map((d) => {
      const headers: IHeaders = {
        ...d.payload.attributes,
        [DEAD_LETTER_ATTRIBUTES.deliveryCount]: String(d.attempts),
        [DEAD_LETTER_ATTRIBUTES.subscription]: id,
        [DEAD_LETTER_ATTRIBUTES.subscriptionProject]: this.project,
        [DEAD_LETTER_ATTRIBUTES.topicPublishTime]: new Date(d.publishMs).toISOString(),
      };
      let key: Buffer | null = null;
      if (d.orderingKey !== undefined) {
        key = Buffer.from(d.orderingKey, 'utf8');
        headers[ORDERING_KEY_HEADER] = d.orderingKey;
      }
      const value = Buffer.from(d.payload.data.buffer, d.payload.data.byteOffset, d.payload.data.byteLength);
      return { message: { key, value, headers }, bytes: value.byteLength + 1024 };
    });
    await this.produce(name, partitions, records, what);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closedError = new ConfigError('the messaging client is closed');
    for (const id of [...this.runners.keys()]) this.stopRunner(id, closedError);
    await Promise.all(this.stopping.values());
    await this.registry.stop();
    if (this.producerReady) await this.producer.disconnect().catch(() => {});
    if (this.adminReady) await this.admin.disconnect().catch(() => {});
  }

  // ---- plumbing ----

  get isClosed(): boolean {
    return this.closed;
  }

  id(kind: 'topic' | 'subscription', name: string): string {
    return resourceId(kind, name, this.project);
  }

  topicName(topicId: string): string {
    return kafkaTopicName(this.prefix, topicId);
  }

  groupId(subscriptionId: string): string {
    return `${this.prefix}${subscriptionId}`;
  }

  checkOpen(what: string): void {
    if (this.closed) throw new ConfigError(`${what}: the messaging client is closed`);
  }

  mapError(err: unknown, what: string): Error {
    if (err instanceof PromptError) return err;
    if (this.closed) return new ConfigError(`${what}: the messaging client is closed`, { cause: err });
    return mapKafkaError(err, what, this.address);
  }

  /** Runs `body` with the admin client (connected first), mapping failures to the error classes. */
  async withAdmin<T>(what: string, body: (admin: KafkaAdminClient) => Promise<T>): Promise<T> {
    this.checkOpen(what);
    const connecting = (this.adminReady ??= this.admin.connect());
    try {
      await connecting;
    } catch (err) {
      if (this.adminReady === connecting) this.adminReady = undefined;
      throw this.mapError(err, what);
    }
    try {
      return await body(this.admin);
    } catch (err) {
      throw this.mapError(err, what);
    }
  }

  async connectProducer(what: string): Promise<void> {
    this.checkOpen(what);
    const connecting = (this.producerReady ??= this.producer.connect());
    try {
      await connecting;
    } catch (err) {
      if (this.producerReady === connecting) this.producerReady = undefined;
      throw this.mapError(err, what);
    }
  }

  /** Produces one record to the registry topic (null value: a tombstone); returns its offset. */
  async produceRegistry(topic: string, key: string, value: Buffer | null, what: string): Promise<number> {
    await this.connectProducer(what);
    try {
      const [r] = await this.producer.send({ topic, messages: [{ key, value, partition: 0 }], acks: -1, timeout: this.requestTimeoutMs });
      return Number(r?.baseOffset ?? r?.offset ?? -1);
    } catch (err) {
      throw this.mapError(err, what);
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function integer(value: number | undefined, fallback: number, name: string, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`Kafka broker: ${name} must be an integer in [${min}, ${max}], not ${value}`);
  }
  return value;
}

// ---- the registry reader ----

/**
 * This client's view of the registry topic: read from the start by a consumer of its own group
 * (never committed), and followed while the client lives.
 */
class SubscriptionRegistry {
  private readonly view = new Map<string, SubRecord>();
  /** The offset after the last registry record applied. */
  private position = 0;
  private consumer: KafkaConsumerClient | undefined;
  private starting: Promise<void> | undefined;
  private failure: Error | undefined;
  private readonly waiters = new Set<() => void>();
  private stopped = false;

  constructor(
    private readonly broker: KafkaBroker,
    readonly topic: string,
    private readonly onChange: (id: string) => void,
  ) {}

  get(id: string): SubRecord | undefined {
    return this.view.get(id);
  }

  /** Reads the registry up to its current end (creating the topic and the reader first if needed). */
  async sync(what: string): Promise<void> {
    await this.start(what);
    const ends = await this.broker.withAdmin(what, (admin) => admin.fetchTopicOffsets(this.topic));
    const end = Math.max(0, ...ends.map((e) => Number(e.high ?? e.offset)));
    await this.waitFor(end, what);
  }

  /**
   * Writes a new subscription's record and reads it back: returns the record in force, which is
   * the first one written since the subscription last did not exist (ours or another's).
   */
  async put(id: string, record: SubRecord, what: string): Promise<SubRecord> {
    const offset = await this.broker.produceRegistry(this.topic, id, encodeRecord(record), what);
    await this.waitFor(offset + 1, what);
    const winner = this.view.get(id);
    if (!winner) throw new TransientError(`${what}: subscription ${id} was deleted while it was being created`);
    if (winner.nonce !== record.nonce) {
      // Lost a race: write the winner again so that it is also the last record of the key.
      await this.broker.produceRegistry(this.topic, id, encodeRecord({ ...winner, reassert: true }), what);
    }
    return winner;
  }

  async remove(id: string, what: string): Promise<void> {
    const offset = await this.broker.produceRegistry(this.topic, id, null, what);
    await this.waitFor(offset + 1, what);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    const consumer = this.consumer;
    this.consumer = undefined;
    await Promise.race([this.starting?.catch(() => {}), delay(Math.min(this.broker.sessionTimeoutMs, 10_000))]);
    if (consumer) await consumer.disconnect().catch(() => {});
  }

  private async start(what: string): Promise<void> {
    this.broker.checkOpen(what);
    if (this.failure) {
      this.failure = undefined;
      this.starting = undefined;
      const consumer = this.consumer;
      this.consumer = undefined;
      if (consumer) await consumer.disconnect().catch(() => {});
    }
    const starting = (this.starting ??= this.open(what));
    try {
      await starting;
    } catch (err) {
      if (this.starting === starting) this.starting = undefined;
      throw this.broker.mapError(err, what);
    }
  }

  private async open(what: string): Promise<void> {
    await this.broker.createTopic(
      {
        topic: this.topic,
        numPartitions: 1,
        replicationFactor: this.broker.replicationFactor,
        configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
      },
      what,
    );
    const groupId = `${this.topic}-reader-${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
    const consumer = this.broker.client.consumer({
      groupId,
      sessionTimeout: this.broker.sessionTimeoutMs,
      maxWaitTimeInMs: this.broker.fetchMaxWaitMs,
      allowAutoTopicCreation: false,
      retry: { retries: this.broker.retries, initialRetryTime: 100, maxRetryTime: 2000, restartOnFailure: async () => !this.stopped },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.CRASH, (event) => {
      if (event.payload.restart) return;
      this.failure = this.broker.mapError(event.payload.error, 'reading the subscription registry');
      this.wake();
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [this.topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) this.apply(m);
        const last = Number(batch.lastOffset());
        if (Number.isFinite(last)) this.position = Math.max(this.position, last + 1);
        this.wake();
      },
    });
    if (this.stopped) await consumer.disconnect().catch(() => {});
  }

  private apply(m: KafkaMessage): void {
    const offset = Number(m.offset);
    if (offset < this.position || m.key === null) return;
    this.position = offset + 1;
    const id = m.key.toString('utf8');
    if (m.value === null) {
      if (this.view.delete(id)) this.onChange(id);
      return;
    }
    const record = decodeRecord(m.value);
    if (!record) return;
    const existing = this.view.get(id);
    if (existing && existing.nonce !== record.nonce && !record.reassert) return; // the first creation wins
    this.view.set(id, record);
    if (!existing || existing.nonce !== record.nonce) this.onChange(id);
  }

  /** Waits until the records before `offset` are applied. */
  private async waitFor(offset: number, what: string): Promise<void> {
    const deadline = Date.now() + this.broker.requestTimeoutMs;
    while (this.position < offset) {
      if (this.failure) throw this.failure;
      this.broker.checkOpen(what);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new TransientError(`${what}: the subscription registry ${this.topic} was not read up to offset ${offset} within ${this.broker.requestTimeoutMs} ms`);
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 1000));
        this.waiters.add(done);
      });
    }
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

// ---- one subscription's consumer in this client ----

class SubscriptionRunner {
  readonly ledger: OffsetLedger<Payload>;
  private readonly matcher: MessageFilter;
  private readonly startOffsets = new Map<number, number>();
  /** Partitions moved to their start offset since their assignment. */
  private readonly seeked = new Set<number>();
  private consumer: KafkaConsumerClient | undefined;
  private starting: Promise<void> | undefined;
  private running = false;
  private paused = false;
  private failure: Error | undefined;
  /** Set between a crash that kafkajs recovers from (it restarts the consumer) and the next join. */
  private outage: Error | undefined;
  private stopReason: Error | undefined;
  private readonly waiters = new Set<(err?: unknown) => void>();
  private commits: Promise<void> = Promise.resolve();
  private forwarding: Promise<void> | undefined;

  constructor(
    private readonly broker: KafkaBroker,
    readonly id: string,
    readonly record: SubRecord,
  ) {
    this.matcher = parseFilter(record.filter);
    for (const [p, off] of Object.entries(record.startOffsets)) this.startOffsets.set(Number(p), Number(off));
    this.ledger = new OffsetLedger<Payload>({
      ackDeadlineMs: record.ackDeadlineMs,
      retentionMs: record.retentionMs,
      retry: record.retryMinMs === undefined ? undefined : { minimumBackoffMs: record.retryMinMs, maximumBackoffMs: record.retryMaxMs ?? record.retryMinMs },
      maxDeliveryAttempts: record.deadLetterTopic === undefined ? undefined : record.maxDeliveryAttempts,
    });
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Joins the group in the background; pulls wait for it (failures surface through them). */
  start(): void {
    this.starting = this.open().catch((err: unknown) => {
      this.failure = this.broker.mapError(err, `pull from subscription ${this.id}`);
      this.wake();
    });
  }

  private async open(): Promise<void> {
    const topic = this.record.kafkaTopic;
    const consumer = this.broker.client.consumer({
      groupId: this.broker.groupId(this.id),
      sessionTimeout: this.broker.sessionTimeoutMs,
      maxWaitTimeInMs: this.broker.fetchMaxWaitMs,
      maxBytesPerPartition: this.broker.maxMessageBytes,
      maxBytes: Math.max(this.broker.maxMessageBytes * 5, 50 * 1024 * 1024),
      allowAutoTopicCreation: false,
      // kafkajs restarts a consumer after a retriable crash, unless it was stopped meanwhile.
      retry: { retries: this.broker.retries, initialRetryTime: 100, maxRetryTime: 2000, restartOnFailure: async () => !this.stopReason },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (event) => this.onJoin(event.payload.memberAssignment[topic] ?? []));
    consumer.on(consumer.events.CRASH, (event) => this.onCrash(event.payload.error, event.payload.restart));
    await consumer.connect();
    if (this.stopReason) return;
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    if (this.stopReason) return;
    this.running = true;
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  private onJoin(partitions: number[]): void {
    const kept = new Set(partitions);
    for (const p of [...this.seeked]) if (!kept.has(p)) this.seeked.delete(p);
    this.ledger.assign(partitions);
    this.running = true;
    this.outage = undefined;
    this.updatePause(true);
    void this.flushCommits();
    this.wake();
  }

  private onCrash(error: unknown, restart: boolean): void {
    // The consumer left the group: what it held is read again by whoever gets the partitions.
    this.ledger.reset();
    this.seeked.clear();
    this.paused = false;
    this.running = false;
    const mapped = this.broker.mapError(error, `pull from subscription ${this.id}`);
    if (restart) this.outage = mapped instanceof TransientError ? mapped : new TransientError(mapped.message, { cause: error });
    else this.failure = mapped;
    this.wake();
  }

  private async onBatch({ batch, resolveOffset, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (this.stopReason || !isRunning() || isStale()) return;
    const p = batch.partition;
    if (!this.ledger.isAssigned(p) || batch.messages.length === 0) return;
    const start = this.startOffsets.get(p);
    const first = Number(batch.messages[0].offset);
    if (start !== undefined && first < start && this.ledger.isFresh(p) && !this.seeked.has(p)) {
      // A new group starts at the earliest offset: move to where the subscription began.
      this.seeked.add(p);
      this.consumer?.seek({ topic: batch.topic, partition: p, offset: String(start) });
      return;
    }
    const records: IncomingRecord<Payload>[] = [];
    for (const m of batch.messages) {
      const offset = Number(m.offset);
      const { attributes, orderingKey } = recordAttributes(m.headers);
      const data = m.value ? new Uint8Array(m.value) : new Uint8Array(0);
      let size = RECORD_OVERHEAD_BYTES + data.byteLength;
      for (const [k, v] of Object.entries(attributes)) size += k.length + v.length;
      const timestamp = Number(m.timestamp);
      records.push({
        offset,
        publishMs: timestamp > 0 ? timestamp : Date.now(), // no timestamp (old record formats): now
        orderingKey,
        size,
        skip: (start !== undefined && offset < start) || !this.matcher.matches(attributes),
        payload: { data, attributes },
      });
    }
    this.ledger.add(p, records);
    resolveOffset(batch.messages[batch.messages.length - 1].offset);
    this.updatePause(false);
    void this.flushCommits();
    this.wake();
  }

  /** Pauses fetching while the buffer is full, resumes below half of it. */
  private updatePause(force: boolean): void {
    const consumer = this.consumer;
    if (!consumer || !this.running) return;
    const { messages, bytes } = this.ledger.held();
    const full = messages >= this.broker.maxBufferedMessages || bytes >= this.broker.maxBufferedBytes;
    const low = messages < this.broker.maxBufferedMessages / 2 && bytes < this.broker.maxBufferedBytes / 2;
    try {
      if (full && (!this.paused || force)) {
        consumer.pause([{ topic: this.record.kafkaTopic }]);
        this.paused = true;
      } else if (!full && (force || (this.paused && low))) {
        consumer.resume([{ topic: this.record.kafkaTopic }]);
        this.paused = false;
      }
    } catch {
      // not running (restarting): the next join decides again
    }
  }

  async pull(max: number, deadline: number, signal: AbortSignal | undefined): Promise<ReceivedMessage[]> {
    for (;;) {
      if (this.stopReason) throw this.stopReason;
      if (this.failure) throw this.failure;
      const now = Date.now();
      const got = this.ledger.take(max, now);
      this.afterTake();
      if (got.length > 0) return got.map(toReceived);
      if (this.outage) throw this.outage; // kafkajs is reconnecting: retry later
      signal?.throwIfAborted();
      const remaining = deadline - now;
      if (remaining <= 0) return [];
      const wakeAt = this.ledger.nextWakeAt(now);
      const ms = wakeAt === undefined ? remaining : Math.max(1, Math.min(remaining, wakeAt - now));
      await this.wait(ms, signal);
    }
  }

  /** After an ack or nack: dead letters, commits and the buffer. */
  async afterSettle(): Promise<void> {
    await this.forwardDeadLetters();
    this.updatePause(false);
    await this.flushCommits();
    this.wake();
  }

  /** Take may have dropped records (retention) or failed leases (dead letters). */
  private afterTake(): void {
    void this.forwardDeadLetters();
    this.updatePause(false);
    void this.flushCommits();
  }

  /** Publishes the dead letters to the dead-letter topic, one run at a time. */
  private forwardDeadLetters(): Promise<void> {
    if (this.record.deadLetterTopic === undefined) return Promise.resolve();
    if (this.forwarding) return this.forwarding;
    const run = async (): Promise<void> => {
      for (;;) {
        const letters = this.ledger.takeDeadLetters();
        if (letters.length === 0) return;
        try {
          await this.broker.forwardDeadLetters(this.id, this.record, letters);
          this.ledger.settleDeadLetters(letters, true);
        } catch {
          this.ledger.settleDeadLetters(letters, false); // tried again after the next ack, nack or pull
          return;
        }
      }
    };
    // Cleared once settled (a `finally` inside `run` could run before the assignment).
    const forwarding = run().finally(() => {
      if (this.forwarding === forwarding) this.forwarding = undefined;
    });
    this.forwarding = forwarding;
    return forwarding;
  }

  /** Commits the partitions whose contiguous acks moved, one commit at a time. */
  flushCommits(): Promise<void> {
    this.commits = this.commits.then(async () => {
      const consumer = this.consumer;
      if (!consumer || !this.running) return;
      const points = this.ledger.pendingCommits();
      if (points.length === 0) return;
      try {
        await consumer.commitOffsets(points.map((c) => ({ topic: this.record.kafkaTopic, partition: c.partition, offset: String(c.offset) })));
        this.ledger.markCommitted(points);
      } catch {
        // a rebalance or an outage: committed after the next ack or pull; a partition lost meanwhile
        // is read again by its new owner (at least once)
      }
    });
    return this.commits;
  }

  /** Ends pulls under way with `reason`, commits what was acked and leaves the group. */
  async stop(reason: Error): Promise<void> {
    if (this.stopReason) return;
    this.stopReason = reason;
    this.wake();
    // Joining may wait for the other members (up to their rebalance timeout): leave it be after a while.
    await Promise.race([this.starting, delay(Math.min(this.broker.sessionTimeoutMs, 10_000))]);
    await this.forwarding?.catch(() => {});
    await this.flushCommits();
    this.running = false;
    const consumer = this.consumer;
    this.consumer = undefined;
    if (consumer) await consumer.disconnect().catch(() => {});
  }

  private wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (err?: unknown): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', onAbort);
        if (err !== undefined) reject(err);
        else resolve();
      };
      const onAbort = (): void => done(signal?.reason);
      const timer = setTimeout(() => done(), ms);
      this.waiters.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}
