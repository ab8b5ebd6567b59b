/**
 * The embedded broker's state: topics, subscriptions and, per subscription, the state machine of
 * every message (ready → leased → acked, or back to ready/delayed on nack or ack-deadline expiry,
 * or dead-lettered, or dropped when retention ends). Pure: no timers, no I/O; time comes from an
 * injected clock, so tests drive it directly.
 *
 * The runtime around it (embedded-runtime.ts) asks `nextWakeAt` when something will change by
 * itself, calls `advance` then, and reads `takeChanged` after every operation to wake long polls
 * and push delivery. `BrokerStore` is the contract; `MemoryStore` keeps everything in memory
 * (the broker process lives for the whole night). A persistent store implements the same
 * interface.
 */
import { randomBytes } from 'node:crypto';
import { InvalidInputError, NotFoundError } from '../../core/errors.ts';
import { parseFilter, type MessageFilter } from '../filter.ts';
import { resourcePath } from '../names.ts';
import { Deque, MinHeap } from './queues.ts';

export interface StoredMessage {
  readonly messageId: string;
  /** Canonical base64; '' when the message has no data. */
  readonly data: string;
  readonly attributes: Readonly<Record<string, string>>;
  /** RFC 3339, millisecond precision. */
  readonly publishTime: string;
  readonly publishMs: number;
  /** '' when none. */
  readonly orderingKey: string;
}

export interface PublishInput {
  /** Canonical base64 ('' for none). */
  data: string;
  attributes: Readonly<Record<string, string>>;
  orderingKey?: string;
}

export interface RetryConfig {
  readonly minimumBackoffMs: number;
  readonly maximumBackoffMs: number;
}

export interface DeadLetterConfig {
  /** Topic ID in the same project. */
  readonly topic: string;
  readonly maxDeliveryAttempts: number;
}

/** A subscription's settings, normalised (defaults applied, times in ms). */
export interface SubscriptionConfig {
  /** Topic ID. */
  readonly topic: string;
  readonly ackDeadlineMs: number;
  readonly retentionMs: number;
  /** '' = no filter. */
  readonly filter: string;
  readonly pushEndpoint: string | undefined;
  readonly retry: RetryConfig | undefined;
  readonly deadLetter: DeadLetterConfig | undefined;
  /** Deliver messages of the same ordering key one at a time, in order. */
  readonly ordering: boolean;
}

export interface SubscriptionInfo {
  readonly id: string;
  readonly config: SubscriptionConfig;
  /** True once its topic was deleted: it receives nothing more. */
  readonly detached: boolean;
}

export interface Delivery {
  readonly ackId: string;
  readonly message: StoredMessage;
  /** 1-based. */
  readonly deliveryAttempt: number;
  /** Nacks and expired deadlines of this message so far. */
  readonly previousFailures: number;
}

export interface SubscriptionStats {
  /** Messages not yet acked, dropped or dead-lettered (all states below). */
  readonly backlog: number;
  readonly ready: number;
  readonly leased: number;
  readonly delayed: number;
  /** Waiting behind an earlier message with the same ordering key. */
  readonly blocked: number;
  readonly delivered: number;
  readonly acked: number;
  readonly expired: number;
  readonly deadLettered: number;
}

export type CreateSubscriptionResult =
  | { readonly status: 'created' | 'exists' }
  | { readonly status: 'conflict'; readonly differences: readonly string[] };

export type StoreLogger = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

/** The operations the runtime needs; a persistent store implements the same. */
export interface BrokerStore {
  readonly project: string;
  createTopic(id: string): { created: boolean };
  hasTopic(id: string): boolean;
  listTopics(): string[];
  deleteTopic(id: string): boolean;
  listTopicSubscriptions(topic: string): string[];
  /** Returns the message IDs. Throws NotFoundError for an unknown topic. */
  publish(topic: string, messages: readonly PublishInput[]): string[];
  createSubscription(id: string, config: SubscriptionConfig): CreateSubscriptionResult;
  getSubscription(id: string): SubscriptionInfo | undefined;
  listSubscriptions(): SubscriptionInfo[];
  deleteSubscription(id: string): boolean;
  /** Leases up to `max` ready messages; `leaseMs` overrides the ack deadline (push uses it). */
  pull(subscription: string, max: number, options?: { leaseMs?: number }): Delivery[];
  ack(subscription: string, ackIds: readonly string[]): void;
  /** Redelivers after `delayMs`, or after the subscription's retry backoff when omitted. */
  nack(subscription: string, ackIds: readonly string[], delayMs?: number): void;
  /** 0 = nack; otherwise the lease ends `seconds` from now. */
  modifyAckDeadline(subscription: string, ackIds: readonly string[], seconds: number): void;
  /** Applies what is due: expired leases, ended backoffs, retention, dead letters. */
  advance(subscription: string): void;
  /** When `advance` next has something to do (epoch ms), or undefined. */
  nextWakeAt(subscription: string): number | undefined;
  /** Subscriptions that changed (new ready messages or new deadlines) since the last call. */
  takeChanged(): string[];
  stats(subscription: string): SubscriptionStats;
}

export interface MemoryStoreOptions {
  project: string;
  /** Epoch milliseconds; default Date.now. */
  now?: () => number;
  /** Backoff cap when a subscription has no retry policy (default 10 000 ms). */
  defaultMaxBackoffMs?: number;
  /** Prefix of ack IDs (default random, so IDs from an earlier broker never match). */
  ackIdPrefix?: string;
  log?: StoreLogger;
}

export const DEAD_LETTER_ATTRIBUTES = {
  deliveryCount: 'CloudPubSubDeadLetterSourceDeliveryCount',
  subscription: 'CloudPubSubDeadLetterSourceSubscription',
  subscriptionProject: 'CloudPubSubDeadLetterSourceSubscriptionProject',
  topicPublishTime: 'CloudPubSubDeadLetterSourceTopicPublishTime',
} as const;

/**
 * Exponential backoff: `max(minimum, floor) * 2^(failures-1)`, capped at the maximum
 * (never below the floor). 0 when both minimum and floor are 0 ("retry immediately").
 */
export function retryBackoffMs(
  retry: RetryConfig | undefined,
  failures: number,
  floorMs: number,
  defaultMaxMs: number,
): number {
  const min = retry?.minimumBackoffMs ?? 0;
  const max = Math.max(retry?.maximumBackoffMs ?? defaultMaxMs, floorMs);
  const base = Math.max(min, floorMs);
  if (base <= 0) return 0;
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  return Math.min(max, base * 2 ** exponent);
}

type EntryState = 'ready' | 'delayed' | 'leased' | 'blocked' | 'done';

interface Entry {
  readonly msg: StoredMessage;
  readonly expireAt: number;
  state: EntryState;
  /** Bumped on every state change; heap items carry the value they were pushed with. */
  gen: number;
  attempts: number;
  failures: number;
  ackId: string | undefined;
  deadline: number;
}

interface HeapItem {
  readonly entry: Entry;
  readonly gen: number;
}

interface Topic {
  readonly id: string;
  readonly subscriptions: Set<Sub>;
}

interface Sub {
  readonly id: string;
  readonly config: SubscriptionConfig;
  readonly filter: MessageFilter;
  detached: boolean;
  readonly ready: Deque<Entry>;
  readonly delayed: MinHeap<HeapItem>;
  readonly leases: Map<string, Entry>;
  readonly leaseHeap: MinHeap<HeapItem>;
  /** Ordering key → its unfinished entries in publish order; the head is the active one. */
  readonly keyQueues: Map<string, Deque<Entry>>;
  backlog: number;
  delivered: number;
  acked: number;
  expired: number;
  deadLettered: number;
}

export class MemoryStore implements BrokerStore {
  readonly project: string;
  private readonly now: () => number;
  private readonly defaultMaxBackoffMs: number;
  private readonly ackIdPrefix: string;
  private readonly log: StoreLogger;
  private readonly topics = new Map<string, Topic>();
  private readonly subs = new Map<string, Sub>();
  private readonly changed = new Set<string>();
  private nextMessageId = 1;
  private nextAckId = 1;

  constructor(options: MemoryStoreOptions) {
    this.project = options.project;
    this.now = options.now ?? Date.now;
    this.defaultMaxBackoffMs = options.defaultMaxBackoffMs ?? 10_000;
    this.ackIdPrefix = options.ackIdPrefix ?? `${randomBytes(4).toString('hex')}-`;
    this.log = options.log ?? (() => {});
  }

  // ---- topics ----

  createTopic(id: string): { created: boolean } {
    if (this.topics.has(id)) return { created: false };
    this.topics.set(id, { id, subscriptions: new Set() });
    return { created: true };
  }

  hasTopic(id: string): boolean {
    return this.topics.has(id);
  }

  listTopics(): string[] {
    return [...this.topics.keys()].sort();
  }

  deleteTopic(id: string): boolean {
    const topic = this.topics.get(id);
    if (!topic) return false;
    for (const sub of topic.subscriptions) sub.detached = true;
    this.topics.delete(id);
    return true;
  }

  listTopicSubscriptions(topicId: string): string[] {
    const topic = this.requireTopic(topicId);
    return [...topic.subscriptions].map((s) => s.id).sort();
  }

  publish(topicId: string, messages: readonly PublishInput[]): string[] {
    const topic = this.requireTopic(topicId);
    return this.fanOut(topic, messages);
  }

  private fanOut(topic: Topic, messages: readonly PublishInput[]): string[] {
    const now = this.now();
    const publishTime = new Date(now).toISOString();
    const ids: string[] = new Array<string>(messages.length);
    const stored: StoredMessage[] = new Array<StoredMessage>(messages.length);
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      const messageId = String(this.nextMessageId++);
      ids[i] = messageId;
      stored[i] = {
        messageId,
        data: m.data,
        attributes: m.attributes,
        publishTime,
        publishMs: now,
        orderingKey: m.orderingKey ?? '',
      };
    }
    for (const sub of topic.subscriptions) {
      let added = false;
      for (const msg of stored) {
        if (!sub.filter.matches(msg.attributes)) continue; // auto-acked: never delivered
        this.enqueue(sub, msg);
        added = true;
      }
      if (added) this.changed.add(sub.id);
    }
    return ids;
  }

  private enqueue(sub: Sub, msg: StoredMessage): void {
    const entry: Entry = {
      msg,
      expireAt: msg.publishMs + sub.config.retentionMs,
      state: 'ready',
      gen: 0,
      attempts: 0,
      failures: 0,
      ackId: undefined,
      deadline: 0,
    };
    sub.backlog++;
    if (sub.config.ordering && msg.orderingKey) {
      const queue = sub.keyQueues.get(msg.orderingKey);
      if (queue) {
        entry.state = 'blocked';
        queue.push(entry);
        return;
      }
      const fresh = new Deque<Entry>();
      fresh.push(entry);
      sub.keyQueues.set(msg.orderingKey, fresh);
    }
    sub.ready.push(entry);
  }

  // ---- subscriptions ----

  createSubscription(id: string, config: SubscriptionConfig): CreateSubscriptionResult {
    const existing = this.subs.get(id);
    if (existing) {
      const differences = describeConfigDifferences(existing.config, config);
      if (existing.detached) {
        differences.unshift(`its topic ${config.topic} was deleted, so it is detached (delete and recreate it)`);
      }
      return differences.length === 0 ? { status: 'exists' } : { status: 'conflict', differences };
    }
    const topic = this.requireTopic(config.topic);
    if (config.deadLetter && !this.topics.has(config.deadLetter.topic)) {
      throw new NotFoundError(
        `dead-letter topic ${resourcePath(this.project, 'topic', config.deadLetter.topic)} not found (create it first)`,
      );
    }
    if (!(config.ackDeadlineMs > 0) || !(config.retentionMs > 0)) {
      throw new InvalidInputError('ack deadline and retention must be positive');
    }
    const sub: Sub = {
      id,
      config,
      filter: parseFilter(config.filter),
      detached: false,
      ready: new Deque(),
      delayed: new MinHeap(),
      leases: new Map(),
      leaseHeap: new MinHeap(),
      keyQueues: new Map(),
      backlog: 0,
      delivered: 0,
      acked: 0,
      expired: 0,
      deadLettered: 0,
    };
    this.subs.set(id, sub);
    topic.subscriptions.add(sub);
    return { status: 'created' };
  }

  getSubscription(id: string): SubscriptionInfo | undefined {
    const sub = this.subs.get(id);
    return sub ? { id, config: sub.config, detached: sub.detached } : undefined;
  }

  listSubscriptions(): SubscriptionInfo[] {
    return [...this.subs.values()]
      .map((s) => ({ id: s.id, config: s.config, detached: s.detached }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  deleteSubscription(id: string): boolean {
    const sub = this.subs.get(id);
    if (!sub) return false;
    this.subs.delete(id);
    this.topics.get(sub.config.topic)?.subscriptions.delete(sub);
    this.changed.delete(id);
    return true;
  }

  // ---- delivery ----

  pull(subscription: string, max: number, options: { leaseMs?: number } = {}): Delivery[] {
    const sub = this.requireSub(subscription);
    const now = this.now();
    this.advanceSub(sub, now);
    const leaseMs = options.leaseMs ?? sub.config.ackDeadlineMs;
    const out: Delivery[] = [];
    while (out.length < max) {
      const entry = sub.ready.shift();
      if (!entry) break;
      if (entry.state !== 'ready') continue;
      if (entry.expireAt <= now) {
        this.drop(sub, entry, now);
        continue;
      }
      entry.attempts++;
      entry.state = 'leased';
      entry.gen++;
      entry.ackId = `${this.ackIdPrefix}${(this.nextAckId++).toString(36)}`;
      entry.deadline = now + leaseMs;
      sub.leases.set(entry.ackId, entry);
      sub.leaseHeap.push(Math.min(entry.deadline, entry.expireAt), { entry, gen: entry.gen });
      sub.delivered++;
      out.push({
        ackId: entry.ackId,
        message: entry.msg,
        deliveryAttempt: entry.attempts,
        previousFailures: entry.failures,
      });
    }
    if (out.length > 0) this.changed.add(sub.id);
    return out;
  }

  ack(subscription: string, ackIds: readonly string[]): void {
    const sub = this.requireSub(subscription);
    const now = this.now();
    for (const ackId of ackIds) {
      const entry = sub.leases.get(ackId);
      if (!entry) continue;
      sub.leases.delete(ackId);
      sub.acked++;
      this.finish(sub, entry, now);
    }
  }

  nack(subscription: string, ackIds: readonly string[], delayMs?: number): void {
    const sub = this.requireSub(subscription);
    const now = this.now();
    for (const ackId of ackIds) {
      const entry = sub.leases.get(ackId);
      if (!entry) continue;
      sub.leases.delete(ackId);
      entry.ackId = undefined;
      entry.failures++;
      this.requeue(sub, entry, now, delayMs ?? this.backoff(sub, entry));
    }
  }

  modifyAckDeadline(subscription: string, ackIds: readonly string[], seconds: number): void {
    if (seconds <= 0) {
      this.nack(subscription, ackIds);
      return;
    }
    const sub = this.requireSub(subscription);
    const now = this.now();
    for (const ackId of ackIds) {
      const entry = sub.leases.get(ackId);
      if (!entry) continue;
      entry.deadline = now + seconds * 1000;
      entry.gen++;
      sub.leaseHeap.push(Math.min(entry.deadline, entry.expireAt), { entry, gen: entry.gen });
    }
    this.changed.add(sub.id);
  }

  advance(subscription: string): void {
    const sub = this.subs.get(subscription);
    if (sub) this.advanceSub(sub, this.now());
  }

  nextWakeAt(subscription: string): number | undefined {
    const sub = this.subs.get(subscription);
    if (!sub) return undefined;
    const a = peekValid(sub.leaseHeap);
    const b = peekValid(sub.delayed);
    if (a === undefined) return b;
    if (b === undefined) return a;
    return Math.min(a, b);
  }

  takeChanged(): string[] {
    if (this.changed.size === 0) return [];
    const out = [...this.changed];
    this.changed.clear();
    return out;
  }

  stats(subscription: string): SubscriptionStats {
    const sub = this.requireSub(subscription);
    const now = this.now();
    let ready = 0;
    for (const e of sub.ready) if (e.state === 'ready' && e.expireAt > now) ready++;
    let delayed = 0;
    for (const item of sub.delayed) if (item.entry.gen === item.gen && item.entry.state === 'delayed') delayed++;
    let blocked = 0;
    for (const q of sub.keyQueues.values()) for (const e of q) if (e.state === 'blocked') blocked++;
    return {
      backlog: sub.backlog,
      ready,
      leased: sub.leases.size,
      delayed,
      blocked,
      delivered: sub.delivered,
      acked: sub.acked,
      expired: sub.expired,
      deadLettered: sub.deadLettered,
    };
  }

  // ---- internals ----

  private advanceSub(sub: Sub, now: number): void {
    for (let key = sub.leaseHeap.peekKey(); key !== undefined && key <= now; key = sub.leaseHeap.peekKey()) {
      const item = sub.leaseHeap.pop() as HeapItem;
      const entry = item.entry;
      if (entry.gen !== item.gen || entry.state !== 'leased') continue;
      if (entry.ackId !== undefined) sub.leases.delete(entry.ackId);
      entry.ackId = undefined;
      if (entry.expireAt <= now) {
        // Retention ended while it was out: gone, whatever the consumer does with it.
        this.drop(sub, entry, now);
        continue;
      }
      entry.failures++;
      this.requeue(sub, entry, now, this.backoff(sub, entry));
    }
    for (let key = sub.delayed.peekKey(); key !== undefined && key <= now; key = sub.delayed.peekKey()) {
      const item = sub.delayed.pop() as HeapItem;
      const entry = item.entry;
      if (entry.gen !== item.gen || entry.state !== 'delayed') continue;
      this.makeReady(sub, entry);
    }
    for (let head = sub.ready.peek(); head && (head.state !== 'ready' || head.expireAt <= now); head = sub.ready.peek()) {
      sub.ready.shift();
      if (head.state === 'ready') this.drop(sub, head, now);
    }
  }

  private backoff(sub: Sub, entry: Entry): number {
    return retryBackoffMs(sub.config.retry, entry.failures, 0, this.defaultMaxBackoffMs);
  }

  /** A delivery failed (nack or deadline): redeliver, dead-letter or drop it. */
  private requeue(sub: Sub, entry: Entry, now: number, delayMs: number): void {
    entry.gen++;
    if (entry.expireAt <= now) {
      this.drop(sub, entry, now);
      return;
    }
    const dl = sub.config.deadLetter;
    if (dl && entry.attempts >= dl.maxDeliveryAttempts) {
      this.deadLetter(sub, entry, dl);
      this.finish(sub, entry, now);
      return;
    }
    if (delayMs > 0) {
      entry.state = 'delayed';
      sub.delayed.push(now + delayMs, { entry, gen: entry.gen });
      this.changed.add(sub.id);
    } else {
      this.makeReady(sub, entry);
    }
  }

  private makeReady(sub: Sub, entry: Entry): void {
    entry.state = 'ready';
    entry.gen++;
    sub.ready.push(entry);
    this.changed.add(sub.id);
  }

  private drop(sub: Sub, entry: Entry, now: number): void {
    sub.expired++;
    this.finish(sub, entry, now);
  }

  /** The message is done on this subscription (acked, expired or dead-lettered). */
  private finish(sub: Sub, entry: Entry, now: number): void {
    entry.state = 'done';
    entry.gen++;
    entry.ackId = undefined;
    sub.backlog--;
    const key = entry.msg.orderingKey;
    if (!sub.config.ordering || !key) return;
    const queue = sub.keyQueues.get(key);
    if (!queue || queue.peek() !== entry) return;
    queue.shift();
    for (let next = queue.peek(); next; next = queue.peek()) {
      if (next.expireAt <= now) {
        queue.shift();
        next.state = 'done';
        sub.backlog--;
        sub.expired++;
        continue;
      }
      this.makeReady(sub, next);
      return;
    }
    sub.keyQueues.delete(key);
  }

  private deadLetter(sub: Sub, entry: Entry, dl: DeadLetterConfig): void {
    sub.deadLettered++;
    const topic = this.topics.get(dl.topic);
    const fields = { subscription: sub.id, messageId: entry.msg.messageId, attempts: entry.attempts, deadLetterTopic: dl.topic };
    if (!topic) {
      this.log('error', 'dead-letter topic is gone; message dropped', fields);
      return;
    }
    const msg = entry.msg;
    const attributes: Record<string, string> = {
      ...msg.attributes,
      [DEAD_LETTER_ATTRIBUTES.deliveryCount]: String(entry.attempts),
      [DEAD_LETTER_ATTRIBUTES.subscription]: sub.id,
      [DEAD_LETTER_ATTRIBUTES.subscriptionProject]: this.project,
      [DEAD_LETTER_ATTRIBUTES.topicPublishTime]: msg.publishTime,
    };
    const [newId] = this.fanOut(topic, [{ data: msg.data, attributes, orderingKey: msg.orderingKey }]);
    this.log('warn', 'message dead-lettered', { ...fields, deadLetterMessageId: newId });
  }

  private requireTopic(id: string): Topic {
    const topic = this.topics.get(id);
    if (!topic) throw new NotFoundError(`topic ${resourcePath(this.project, 'topic', id)} not found`);
    return topic;
  }

  private requireSub(id: string): Sub {
    const sub = this.subs.get(id);
    if (!sub) throw new NotFoundError(`subscription ${resourcePath(this.project, 'subscription', id)} not found`);
    return sub;
  }
}

function peekValid(heap: MinHeap<HeapItem>): number | undefined {
  for (;;) {
    const item = heap.peekValue();
    if (!item) return undefined;
    if (item.entry.gen === item.gen && (item.entry.state === 'leased' || item.entry.state === 'delayed')) {
      return heap.peekKey();
    }
    heap.pop();
  }
}

/** Human-readable differences between two configurations, e.g. "ackDeadlineSeconds: 600 ≠ 10". */
export function describeConfigDifferences(existing: SubscriptionConfig, requested: SubscriptionConfig): string[] {
  const out: string[] = [];
  const s = (ms: number): string => `${ms / 1000}s`;
  const cmp = (name: string, a: string, b: string): void => {
    if (a !== b) out.push(`${name}: existing ${a}, requested ${b}`);
  };
  cmp('topic', existing.topic, requested.topic);
  cmp('ackDeadlineSeconds', String(existing.ackDeadlineMs / 1000), String(requested.ackDeadlineMs / 1000));
  cmp('messageRetentionDuration', s(existing.retentionMs), s(requested.retentionMs));
  cmp('filter', JSON.stringify(existing.filter), JSON.stringify(requested.filter));
  cmp('pushEndpoint', existing.pushEndpoint ?? '(pull)', requested.pushEndpoint ?? '(pull)');
  const retry = (r: RetryConfig | undefined): string =>
    r ? `${s(r.minimumBackoffMs)}..${s(r.maximumBackoffMs)}` : '(retry immediately)';
  cmp('retryPolicy', retry(existing.retry), retry(requested.retry));
  const dl = (d: DeadLetterConfig | undefined): string => (d ? `${d.topic} after ${d.maxDeliveryAttempts}` : '(none)');
  cmp('deadLetterPolicy', dl(existing.deadLetter), dl(requested.deadLetter));
  cmp('enableMessageOrdering', String(existing.ordering), String(requested.ordering));
  return out;
}
