/**
 * The settings of a subscription on a broker that does not push (Redis Streams, Kafka): what
 * SubscriptionOptions asks for, checked against the Pub/Sub limits and turned into milliseconds.
 * Stored as is next to the subscription, so that every client of it applies the same rules.
 */
import { ConfigError, InvalidInputError } from '../core/errors.ts';
import type { SubscriptionOptions } from './broker.ts';
import { DEFAULTS, LIMITS } from './embedded/embedded-api.ts';
import { parseFilter } from './filter.ts';

export interface PullSubscriptionConfig {
  topic: string;
  ackDeadlineMs: number;
  retentionMs: number;
  filter: string;
  retryMinMs: number | undefined;
  retryMaxMs: number | undefined;
  deadLetterTopic: string | undefined;
  maxDeliveryAttempts: number | undefined;
}

/**
 * Checks and converts a subscription's options; errors name `what` and the option. `backend`
 * names the broker in the refusal of push delivery; `maxRetentionSeconds` caps the retention
 * where the broker keeps messages for less than Pub/Sub's maximum; `topicId` checks a topic name.
 */
export function normalizePullSubscription(
  options: SubscriptionOptions,
  topic: string,
  what: string,
  o: { backend: string; maxRetentionSeconds?: number; topicId: (name: string) => string },
): PullSubscriptionConfig {
  if (typeof options !== 'object') throw new InvalidInputError(`${what}: options must be an object`);
  if (options.push !== undefined) {
    throw new ConfigError(`${what}: push delivery is not supported by the ${o.backend} backend (capabilities.push is false); pull instead`);
  }
  const ackDeadlineS = options.ackDeadlineSeconds ?? DEFAULTS.ackDeadlineSeconds;
  if (typeof ackDeadlineS !== 'number' || !(ackDeadlineS > 0) || ackDeadlineS > LIMITS.maxAckDeadlineSeconds) {
    throw new InvalidInputError(`${what}: ackDeadlineSeconds ${ackDeadlineS} is out of range (0, ${LIMITS.maxAckDeadlineSeconds}]`);
  }
  const retentionS = options.retentionSeconds ?? DEFAULTS.retentionSeconds;
  const maxRetentionS = Math.min(LIMITS.maxRetentionSeconds, o.maxRetentionSeconds ?? Infinity);
  if (typeof retentionS !== 'number' || !(retentionS > 0) || retentionS > maxRetentionS) {
    throw new InvalidInputError(`${what}: retentionSeconds ${retentionS} is out of range (0, ${maxRetentionS}]`);
  }
  const filter = options.filter ?? '';
  parseFilter(filter); // InvalidInputError naming the problem
  let retryMinMs: number | undefined;
  let retryMaxMs: number | undefined;
  if (options.retry) {
    const { minimumBackoffS: min, maximumBackoffS: max } = options.retry;
    if (!(min >= 0) || !(max >= min) || max > LIMITS.maxBackoffSeconds) {
      throw new InvalidInputError(`${what}: retry backoff ${min}..${max} s is invalid (0 <= minimum <= maximum <= ${LIMITS.maxBackoffSeconds})`);
    }
    retryMinMs = Math.round(min * 1000);
    retryMaxMs = Math.round(max * 1000);
  }
  let deadLetterTopic: string | undefined;
  let maxDeliveryAttempts: number | undefined;
  if (options.deadLetter) {
    deadLetterTopic = o.topicId(options.deadLetter.topic);
    maxDeliveryAttempts = options.deadLetter.maxDeliveryAttempts;
    if (!Number.isInteger(maxDeliveryAttempts) || maxDeliveryAttempts < 1 || maxDeliveryAttempts > LIMITS.maxDeliveryAttempts) {
      throw new InvalidInputError(`${what}: deadLetter.maxDeliveryAttempts ${maxDeliveryAttempts} is not an integer in [1, ${LIMITS.maxDeliveryAttempts}]`);
    }
  }
  return {
    topic,
    ackDeadlineMs: Math.round(ackDeadlineS * 1000),
    retentionMs: Math.round(retentionS * 1000),
    filter,
    retryMinMs,
    retryMaxMs,
    deadLetterTopic,
    maxDeliveryAttempts,
  };
}

/** How an existing subscription's settings differ from requested ones, one phrase per setting. */
export function describeDifferences(existing: PullSubscriptionConfig, requested: PullSubscriptionConfig): string[] {
  const out: string[] = [];
  const cmp = (name: string, a: string, b: string): void => {
    if (a !== b) out.push(`${name}: existing ${a}, requested ${b}`);
  };
  const s = (ms: number | undefined): string => (ms === undefined ? '(none)' : `${ms / 1000}s`);
  cmp('topic', existing.topic, requested.topic);
  cmp('ackDeadlineSeconds', String(existing.ackDeadlineMs / 1000), String(requested.ackDeadlineMs / 1000));
  cmp('retentionSeconds', String(existing.retentionMs / 1000), String(requested.retentionMs / 1000));
  cmp('filter', JSON.stringify(existing.filter), JSON.stringify(requested.filter));
  const retry = (c: PullSubscriptionConfig): string =>
    c.retryMinMs === undefined ? '(retry immediately)' : `${s(c.retryMinMs)}..${s(c.retryMaxMs)}`;
  cmp('retry', retry(existing), retry(requested));
  const dl = (c: PullSubscriptionConfig): string =>
    c.deadLetterTopic === undefined ? '(none)' : `${c.deadLetterTopic} after ${c.maxDeliveryAttempts}`;
  cmp('deadLetter', dl(existing), dl(requested));
  return out;
}
