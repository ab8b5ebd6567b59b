import type { NextVisitCarrier } from '../messages/next-visit-event.ts';

/**
 * How the activator answers the carrier that delivered a nextVisit. Each carrier has its own
 * retry rule (FORMATS.md C1, C4):
 *
 * - Pub/Sub push acknowledges 102, 200, 201, 202 and 204 and redelivers after any other status.
 * - Knative (KafkaSource, Broker/Trigger, Channel/Subscription) — the CloudEvents carriers —
 *   is done on any 2xx; it retries 404, 409, 429 and 5xx (with backoff, then the dead-letter
 *   sink) and does not retry 400 and the other 4xx. A 200 may carry a reply event; a 202 is
 *   never read as one, so every success is answered 202 there.
 *
 * The status is chosen so that the carrier retries exactly when a retry can help:
 *
 * | disposition | Pub/Sub push        | Knative (binary or structured CloudEvent) |
 * |-------------|---------------------|-------------------------------------------|
 * | done        | 200 (ack)           | 202 (done)                                |
 * | no-work     | 200 (ack)           | 202 (done)                                |
 * | invalid     | 200 (ack; logged)   | 400 (failed, not retried → dead letter)   |
 * | forbidden   | 403 (redelivered)   | 403 (failed, not retried → dead letter)   |
 * | busy        | 429 + Retry-After 1 | 429 + Retry-After 1 (retried)             |
 * | retry       | 503 + Retry-After 5 | 503 + Retry-After 5 (retried)             |
 *
 * `invalid` can never succeed: Pub/Sub push has no non-retried error status, so it gets 2xx with
 * the reason logged; Knative has one (400), which also sends the event to the dead-letter sink.
 * `forbidden` (bad token) is refused on both: a forged request has nobody to redeliver it, and a
 * real message behind a misconfigured token is kept by Pub/Sub until the token is fixed, or goes
 * to Knative's dead-letter sink (Knative's retries are bounded, so retrying cannot help there).
 */
export const DISPOSITIONS = ['done', 'no-work', 'invalid', 'forbidden', 'busy', 'retry'] as const;

export type Disposition =
  /** Processed, or failed in a way a retry cannot fix, or timed out waiting for images. */
  | 'done'
  /** Not for us (another instrument, not an observation) or already done: nothing to do. */
  | 'no-work'
  /** The message can never succeed: malformed carrier, event or nextVisit. */
  | 'invalid'
  /** The request is not from our subscription (bad token). */
  | 'forbidden'
  /** This instance is already handling a request; another instance should take it. */
  | 'busy'
  /** Failed in a way a retry can fix (a service was unreachable). */
  | 'retry';

export interface Answer {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
}

const BUSY: Answer = Object.freeze({ status: 429, headers: Object.freeze({ 'Retry-After': '1' }) });
const RETRY: Answer = Object.freeze({ status: 503, headers: Object.freeze({ 'Retry-After': '5' }) });
const FORBIDDEN: Answer = Object.freeze({ status: 403 });

const PUBSUB_PUSH: Readonly<Record<Disposition, Answer>> = Object.freeze({
  done: Object.freeze({ status: 200 }),
  'no-work': Object.freeze({ status: 200 }),
  invalid: Object.freeze({ status: 200 }),
  forbidden: FORBIDDEN,
  busy: BUSY,
  retry: RETRY,
});

const KNATIVE: Readonly<Record<Disposition, Answer>> = Object.freeze({
  done: Object.freeze({ status: 202 }),
  'no-work': Object.freeze({ status: 202 }),
  invalid: Object.freeze({ status: 400 }),
  forbidden: FORBIDDEN,
  busy: BUSY,
  retry: RETRY,
});

/** The answer table: carrier → disposition → status (and headers). */
export const ANSWERS: Readonly<Record<NextVisitCarrier, Readonly<Record<Disposition, Answer>>>> = Object.freeze({
  'pubsub-push': PUBSUB_PUSH,
  'cloudevent-binary': KNATIVE,
  'cloudevent-structured': KNATIVE,
});

export function answerFor(carrier: NextVisitCarrier, d: Disposition): Answer {
  return ANSWERS[carrier][d];
}

export function pubsubPushAnswer(d: Disposition): Answer {
  return answerFor('pubsub-push', d);
}

const PUBSUB_ACK = new Set([102, 200, 201, 202, 204]);
const KNATIVE_RETRIED_4XX = new Set([404, 409, 429]);

/** Whether the carrier delivers the message again after this status (its documented rule). */
export function carrierRetries(carrier: NextVisitCarrier, status: number): boolean {
  if (carrier === 'pubsub-push') return !PUBSUB_ACK.has(status);
  if (status >= 200 && status < 300) return false;
  if (status >= 500) return true;
  if (status >= 400) return KNATIVE_RETRIED_4XX.has(status);
  // 1xx and 3xx are reserved in Knative's data-plane contract: errors, not retried.
  return false;
}
