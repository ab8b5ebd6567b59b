/**
 * The messaging interface every backend implements (embedded now; Google Pub/Sub, NATS
 * JetStream, Redis Streams, Kafka later). Bytes in and out, capability flags, no SDK types.
 *
 * Names are bare IDs (`nextVisit`, `LATISS-image`) following the Pub/Sub rules (see names.ts);
 * a backend may also accept its full resource path. Errors are the classes of core/errors.ts:
 * InvalidInputError (bad name, bad message, bad filter), NotFoundError (unknown topic or
 * subscription), ConfigError (a subscription exists with other options; client closed),
 * TransientError (broker unreachable, timeout, 5xx: retry later).
 */

export interface OutgoingMessage {
  data: Uint8Array;
  attributes?: Record<string, string>;
  /** Messages with the same key are delivered one at a time, in publish order. */
  orderingKey?: string;
}

export interface ReceivedMessage {
  data: Uint8Array;
  attributes: Record<string, string>;
  messageId: string;
  /** RFC 3339. */
  publishTime: string;
  /** 1 on the first delivery, +1 on each redelivery (nack or ack deadline passed). */
  deliveryAttempt: number;
  /** Opaque; valid for this delivery only. */
  ackId: string;
  orderingKey?: string;
}

export interface SubscriptionOptions {
  /** Pub/Sub filter syntax (see filter.ts); non-matching messages are never delivered. */
  filter?: string;
  /** Time to ack a delivery before it is redelivered (default 10; fractions allowed). */
  ackDeadlineSeconds?: number;
  /** Unacked messages are dropped this long after publication (default 600). */
  retentionSeconds?: number;
  /** Push subscription: the broker POSTs each message (push envelope) to this URL. */
  push?: { endpoint: string };
  /** Backoff after a nack; absent = retry immediately. */
  retry?: { minimumBackoffS: number; maximumBackoffS: number };
  /** After maxDeliveryAttempts deliveries, the message is republished on `topic`. */
  deadLetter?: { topic: string; maxDeliveryAttempts: number };
}

export interface BrokerCapabilities {
  push: boolean;
  filters: boolean;
  orderingKeys: boolean;
  deadLetter: boolean;
}

export interface PullOptions {
  /** At most this many messages (default 100, at most 1000). */
  maxMessages?: number;
  /** When none is available, wait up to this long for one (default 0: return at once). */
  waitMs?: number;
  /** Aborting rejects the pull with the signal's reason. */
  signal?: AbortSignal;
}

export interface Broker {
  readonly capabilities: BrokerCapabilities;
  /** Creates the topic if it does not exist. */
  ensureTopic(topic: string): Promise<void>;
  /** Returns the message IDs, in order. */
  publish(topic: string, messages: readonly OutgoingMessage[]): Promise<string[]>;
  /**
   * Creates the subscription if it does not exist; a no-op when it exists with the same options;
   * ConfigError when it exists with other ones. It receives messages published after this call.
   */
  ensureSubscription(name: string, topic: string, options?: SubscriptionOptions): Promise<void>;
  /** Idempotent. Stops push delivery. */
  deleteSubscription(name: string): Promise<void>;
  pull(subscription: string, options?: PullOptions): Promise<ReceivedMessage[]>;
  /** Unknown or expired ack IDs are ignored. */
  ack(subscription: string, ackIds: readonly string[]): Promise<void>;
  /** Redeliver now (or after the retry backoff). Unknown or expired ack IDs are ignored. */
  nack(subscription: string, ackIds: readonly string[]): Promise<void>;
  /**
   * Work in progress (optional): restarts the ack deadline of these deliveries, so that a message
   * worked on longer than the deadline is not redelivered meanwhile. Unknown IDs are ignored.
   */
  extendAckDeadline?(subscription: string, ackIds: readonly string[]): Promise<void>;
  /** Aborts requests under way; later calls throw ConfigError. */
  close(): Promise<void>;
}
