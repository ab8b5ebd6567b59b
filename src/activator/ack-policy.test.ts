import { describe, expect, it } from 'vitest';
import { NEXT_VISIT_CARRIERS, type NextVisitCarrier } from '../messages/next-visit-event.ts';
import { ANSWERS, answerFor, carrierRetries, DISPOSITIONS, pubsubPushAnswer, type Disposition } from './ack-policy.ts';

/**
 * Whether the carrier should deliver the message again: exactly when a redelivery can succeed
 * where this delivery did not. A bad token is refused on both carriers: Pub/Sub push keeps
 * redelivering our own messages until the token is fixed (a forged request has nobody to
 * redeliver it); Knative's retries are bounded, so its dead-letter sink keeps them instead.
 */
const KNATIVE_RETRIED: Record<Disposition, boolean> = {
  done: false,
  'no-work': false,
  invalid: false,
  forbidden: false,
  busy: true,
  retry: true,
};
const EXPECTED_RETRIED: Record<NextVisitCarrier, Record<Disposition, boolean>> = {
  'pubsub-push': { ...KNATIVE_RETRIED, forbidden: true },
  'cloudevent-binary': KNATIVE_RETRIED,
  'cloudevent-structured': KNATIVE_RETRIED,
};

const isSuccess = (status: number): boolean => status >= 200 && status < 300;

describe('answerFor', () => {
  it('has an answer for every carrier and disposition', () => {
    for (const carrier of NEXT_VISIT_CARRIERS) {
      for (const d of DISPOSITIONS) expect(ANSWERS[carrier][d].status, `${carrier}/${d}`).toBeGreaterThan(0);
    }
  });

  it.each(NEXT_VISIT_CARRIERS.flatMap((c) => DISPOSITIONS.map((d) => [c, d] as const)))(
    '%s / %s: retried exactly when a retry can help',
    (carrier, d) => {
      const { status } = answerFor(carrier, d);
      expect(carrierRetries(carrier, status)).toBe(EXPECTED_RETRIED[carrier][d]);
    },
  );

  it('never answers success to a bad token or a request that should be redelivered', () => {
    for (const carrier of NEXT_VISIT_CARRIERS) {
      for (const d of ['forbidden', 'busy', 'retry'] as const) expect(isSuccess(answerFor(carrier, d).status)).toBe(false);
    }
  });

  it('answers an invalid message 2xx on Pub/Sub push (no other status stops redelivery) and 400 on Knative', () => {
    expect(answerFor('pubsub-push', 'invalid').status).toBe(200);
    expect(answerFor('cloudevent-binary', 'invalid').status).toBe(400);
    expect(answerFor('cloudevent-structured', 'invalid').status).toBe(400);
  });

  it('answers success 202 to Knative, which never reads a 202 as a reply event', () => {
    for (const carrier of ['cloudevent-binary', 'cloudevent-structured'] as NextVisitCarrier[]) {
      expect(answerFor(carrier, 'done').status).toBe(202);
      expect(answerFor(carrier, 'no-work').status).toBe(202);
    }
  });

  it('asks for a later retry with Retry-After', () => {
    for (const carrier of NEXT_VISIT_CARRIERS) {
      expect(answerFor(carrier, 'busy')).toEqual({ status: 429, headers: { 'Retry-After': '1' } });
      expect(answerFor(carrier, 'retry')).toEqual({ status: 503, headers: { 'Retry-After': '5' } });
    }
  });

  it('keeps pubsubPushAnswer as before', () => {
    expect(DISPOSITIONS.map((d) => [d, pubsubPushAnswer(d).status])).toEqual([
      ['done', 200],
      ['no-work', 200],
      ['invalid', 200],
      ['forbidden', 403],
      ['busy', 429],
      ['retry', 503],
    ]);
  });
});

describe('carrierRetries (FORMATS.md C1, C4)', () => {
  it('Pub/Sub push acks 102, 200, 201, 202, 204 and redelivers everything else', () => {
    for (const s of [102, 200, 201, 202, 204]) expect(carrierRetries('pubsub-push', s)).toBe(false);
    for (const s of [203, 400, 403, 404, 422, 429, 500, 503]) expect(carrierRetries('pubsub-push', s)).toBe(true);
  });

  it('Knative retries 404, 409, 429 and 5xx, not other 4xx nor 2xx', () => {
    for (const carrier of ['cloudevent-binary', 'cloudevent-structured'] as NextVisitCarrier[]) {
      for (const s of [404, 409, 429, 500, 502, 503]) expect(carrierRetries(carrier, s)).toBe(true);
      for (const s of [200, 202, 204, 400, 401, 403, 410, 422]) expect(carrierRetries(carrier, s)).toBe(false);
    }
  });
});
