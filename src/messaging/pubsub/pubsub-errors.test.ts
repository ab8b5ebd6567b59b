import { describe, expect, it } from 'vitest';
import { ConfigError, InvalidInputError, NotFoundError, TransientError } from '../../core/errors.ts';
import { AttemptCounter, subscriptionDifferences, toRfc3339, type WantedSubscription } from './pubsub-broker.ts';
import { GrpcStatus, grpcStatusOf, mapPubSubError } from './pubsub-errors.ts';

function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details });
}

describe('mapPubSubError', () => {
  it.each([
    [GrpcStatus.INVALID_ARGUMENT, InvalidInputError],
    [GrpcStatus.OUT_OF_RANGE, InvalidInputError],
    [GrpcStatus.NOT_FOUND, NotFoundError],
    [GrpcStatus.ALREADY_EXISTS, ConfigError],
    [GrpcStatus.PERMISSION_DENIED, ConfigError],
    [GrpcStatus.UNAUTHENTICATED, ConfigError],
    [GrpcStatus.FAILED_PRECONDITION, ConfigError],
    [GrpcStatus.UNIMPLEMENTED, ConfigError],
    [GrpcStatus.UNAVAILABLE, TransientError],
    [GrpcStatus.DEADLINE_EXCEEDED, TransientError],
    [GrpcStatus.RESOURCE_EXHAUSTED, TransientError],
    [GrpcStatus.ABORTED, TransientError],
    [GrpcStatus.INTERNAL, TransientError],
    [GrpcStatus.UNKNOWN, TransientError],
    [GrpcStatus.CANCELLED, TransientError],
  ])('gRPC status %i → %o', (code, cls) => {
    const mapped = mapPubSubError(grpcError(code, 'server says no'), 'publish to topic t1', 'localhost:8085');
    expect(mapped).toBeInstanceOf(cls);
    expect(mapped.message).toContain('publish to topic t1');
    expect(mapped.message).toContain('server says no');
    expect(mapped.cause).toBeDefined();
  });

  it.each([
    [400, InvalidInputError],
    [401, ConfigError],
    [403, ConfigError],
    [404, NotFoundError],
    [409, ConfigError],
    [413, InvalidInputError],
    [429, TransientError],
    [500, TransientError],
    [503, TransientError],
    [504, TransientError],
  ])('HTTP status %i → %o', (status, cls) => {
    expect(mapPubSubError(Object.assign(new Error('x'), { code: status }), 'w', 'e')).toBeInstanceOf(cls);
  });

  it('strips the "5 NOT_FOUND: " prefix when there are no details', () => {
    const err = Object.assign(new Error('5 NOT_FOUND: Resource not found (resource=t1).'), { code: 5 });
    expect(mapPubSubError(err, 'publish to topic t1', 'e').message).toBe('publish to topic t1: Resource not found (resource=t1).');
  });

  it('network failures without a status are TransientError naming the endpoint', () => {
    const refused = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    const mapped = mapPubSubError(refused, 'create topic t1', '127.0.0.1:8085');
    expect(mapped).toBeInstanceOf(TransientError);
    expect(mapped.message).toBe('create topic t1: cannot reach Pub/Sub at 127.0.0.1:8085: ECONNREFUSED');
  });

  it('missing credentials are a ConfigError', () => {
    const err = new Error('Could not load the default credentials. Browse to https://cloud.google.com/docs/authentication');
    expect(mapPubSubError(err, 'create topic t1', 'e')).toBeInstanceOf(ConfigError);
  });

  it('passes our own errors through', () => {
    const own = new NotFoundError('already mapped');
    expect(mapPubSubError(own, 'w', 'e')).toBe(own);
  });

  it('grpcStatusOf reads gRPC and HTTP codes and ignores others', () => {
    expect(grpcStatusOf({ code: 14 })).toBe(14);
    expect(grpcStatusOf({ code: 404 })).toBe(GrpcStatus.NOT_FOUND);
    expect(grpcStatusOf({ code: 'ECONNRESET' })).toBeUndefined();
    expect(grpcStatusOf('text')).toBeUndefined();
  });
});

describe('AttemptCounter', () => {
  it('counts deliveries per subscription and message, forgets on ack, keeps on nack', () => {
    const c = new AttemptCounter(10);
    expect(c.delivered('s1', 'm1', 'a1')).toBe(1);
    c.released('a1'); // nacked
    expect(c.delivered('s1', 'm1', 'a2')).toBe(2);
    expect(c.delivered('s2', 'm1', 'b1')).toBe(1); // another subscription
    c.acked('a2');
    expect(c.delivered('s1', 'm1', 'a3')).toBe(1); // acked: done, a redelivery starts over
    c.acked('unknown'); // ignored
  });

  it('keeps only the most recent messages', () => {
    const c = new AttemptCounter(3);
    for (let i = 0; i < 5; i++) c.delivered('s', `m${i}`, `a${i}`);
    expect(c.size).toBe(3);
    expect(c.delivered('s', 'm0', 'x')).toBe(1); // forgotten
    expect(c.delivered('s', 'm4', 'y')).toBe(2); // remembered
  });
});

describe('toRfc3339', () => {
  it('formats protobuf timestamps with their precision', () => {
    expect(toRfc3339({ seconds: '1700000000', nanos: 0 })).toBe('2023-11-14T22:13:20Z');
    expect(toRfc3339({ seconds: 1700000000, nanos: 123000000 })).toBe('2023-11-14T22:13:20.123Z');
    expect(toRfc3339({ seconds: '1700000000', nanos: 123456000 })).toBe('2023-11-14T22:13:20.123456Z');
    expect(toRfc3339({ seconds: '1700000000', nanos: 5 })).toBe('2023-11-14T22:13:20.000000005Z');
    expect(Date.parse(toRfc3339({ seconds: '1700000000', nanos: 123456789 }))).toBe(1700000000123);
  });
});

describe('subscriptionDifferences', () => {
  const wanted: WantedSubscription = {
    topic: 'projects/p/topics/t',
    ackDeadlineSeconds: 10,
    retentionSeconds: 600,
    filter: '',
    pushEndpoint: '',
    ordering: true,
  };

  it('accepts what Pub/Sub returns for the same settings (including fields we do not set)', () => {
    expect(
      subscriptionDifferences(wanted, {
        topic: 'projects/p/topics/t',
        ackDeadlineSeconds: 10,
        messageRetentionDuration: { seconds: '600', nanos: 0 },
        filter: '',
        pushConfig: { pushEndpoint: '', attributes: {} },
        enableMessageOrdering: true,
        expirationPolicy: { ttl: { seconds: '2678400' } },
        retryPolicy: null,
        deadLetterPolicy: null,
      }),
    ).toEqual([]);
  });

  it('names each field that differs', () => {
    const diffs = subscriptionDifferences(
      {
        ...wanted,
        pushEndpoint: 'https://a/push',
        retry: { minimumBackoffS: 1, maximumBackoffS: 60 },
        deadLetter: { topic: 'projects/p/topics/dl', maxDeliveryAttempts: 5 },
      },
      {
        topic: '_deleted-topic_',
        ackDeadlineSeconds: 20,
        messageRetentionDuration: { seconds: '604800' },
        filter: 'attributes:x',
        pushConfig: { pushEndpoint: 'https://b/push' },
        retryPolicy: { minimumBackoff: { seconds: 10 }, maximumBackoff: { seconds: 60 } },
        deadLetterPolicy: { deadLetterTopic: 'projects/p/topics/dl', maxDeliveryAttempts: 10 },
      },
    );
    expect(diffs).toEqual([
      'topic is "_deleted-topic_", not "projects/p/topics/t"',
      'ackDeadlineSeconds is 20, not 10',
      'messageRetentionDuration is 604800s, not 600s',
      'filter is "attributes:x", not ""',
      'pushConfig.pushEndpoint is "https://b/push", not "https://a/push"',
      'retryPolicy.minimumBackoff is 10s, not 1s',
      'deadLetterPolicy.maxDeliveryAttempts is 10, not 5',
      'enableMessageOrdering is false, not true',
    ]);
  });
});
