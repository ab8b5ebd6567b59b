import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/errors.ts';
import { buildPushEnvelope, parsePushEnvelope } from './push-envelope.ts';
import { utf8, text } from './testing.ts';

const base = {
  subscription: 'projects/p/subscriptions/s',
  messageId: '123',
  publishTime: '2025-05-01T03:04:05.678Z',
};

describe('buildPushEnvelope', () => {
  it('matches FORMATS.md C1 field for field, in order', () => {
    const env = buildPushEnvelope({
      ...base,
      data: utf8('{"foo":1}'),
      attributes: { k: 'v' },
      orderingKey: 'g1',
      deliveryAttempt: 1,
    });
    expect(JSON.stringify(env)).toBe(
      '{"message":{"data":"eyJmb28iOjF9","attributes":{"k":"v"},"messageId":"123","message_id":"123",' +
        '"publishTime":"2025-05-01T03:04:05.678Z","publish_time":"2025-05-01T03:04:05.678Z","orderingKey":"g1"},' +
        '"subscription":"projects/p/subscriptions/s","deliveryAttempt":1}',
    );
  });

  it('leaves out empty attributes, empty data, no ordering key and deliveryAttempt', () => {
    const env = buildPushEnvelope({ ...base, data: new Uint8Array(0), attributes: {} });
    expect(env).toEqual({
      message: {
        messageId: '123',
        message_id: '123',
        publishTime: base.publishTime,
        publish_time: base.publishTime,
      },
      subscription: base.subscription,
    });
    expect('attributes' in env.message).toBe(false);
    expect('deliveryAttempt' in env).toBe(false);
  });

  it('takes data already in base64', () => {
    expect(buildPushEnvelope({ ...base, dataBase64: 'eyJmb28iOjF9' }).message.data).toBe('eyJmb28iOjF9');
  });
});

describe('parsePushEnvelope', () => {
  it('reads back what build wrote', () => {
    const env = buildPushEnvelope({ ...base, data: utf8('hello'), attributes: { a: 'b' }, orderingKey: 'k', deliveryAttempt: 3 });
    const parsed = parsePushEnvelope(JSON.parse(JSON.stringify(env)));
    expect(text(parsed.data)).toBe('hello');
    expect(parsed).toMatchObject({
      attributes: { a: 'b' },
      messageId: '123',
      publishTime: base.publishTime,
      subscription: base.subscription,
      deliveryAttempt: 3,
      orderingKey: 'k',
    });
  });

  it('accepts either id/time spelling, and no data when attributes exist', () => {
    const parsed = parsePushEnvelope({
      message: { attributes: { x: '1' }, message_id: '9', publish_time: '2025-05-01T03:04:05Z' },
      subscription: 'projects/p/subscriptions/s',
    });
    expect(parsed.messageId).toBe('9');
    expect(parsed.publishTime).toBe('2025-05-01T03:04:05Z');
    expect(parsed.data.byteLength).toBe(0);
    expect(parsed.attributes).toEqual({ x: '1' });
    expect(parsed.deliveryAttempt).toBeUndefined();
  });

  it('accepts URL-safe and unpadded base64', () => {
    const parsed = parsePushEnvelope({ message: { data: '-_8', messageId: '1', publishTime: base.publishTime }, subscription: base.subscription });
    expect([...parsed.data]).toEqual([0xfb, 0xff]);
  });

  const cases: [string, unknown, RegExp][] = [
    ['a non-object body', 'text', /the body is not a JSON object/],
    ['null', null, /the body is not a JSON object/],
    ['no message', { subscription: base.subscription }, /message is missing/],
    ['bad base64', { message: { data: 'not base64!', messageId: '1', publishTime: base.publishTime }, subscription: base.subscription }, /message\.data is not base64/],
    ['bad base64 length', { message: { data: 'abcde', messageId: '1', publishTime: base.publishTime }, subscription: base.subscription }, /message\.data is not base64/],
    ['attribute not a string', { message: { attributes: { k: 1 }, messageId: '1', publishTime: base.publishTime }, subscription: base.subscription }, /message\.attributes\.k must be a string, not number/],
    ['no message id', { message: { publishTime: base.publishTime }, subscription: base.subscription }, /message\.messageId is missing/],
    ['no publish time', { message: { messageId: '1' }, subscription: base.subscription }, /message\.publishTime is missing/],
    ['bad publish time', { message: { messageId: '1', publishTime: 'yesterday' }, subscription: base.subscription }, /message\.publishTime "yesterday" is not an RFC 3339 timestamp/],
    ['bad subscription', { message: { messageId: '1', publishTime: base.publishTime }, subscription: 'nextVisit-sub' }, /subscription is not projects\/\{project\}\/subscriptions\/\{id\}/],
    ['bad deliveryAttempt', { message: { messageId: '1', publishTime: base.publishTime }, subscription: base.subscription, deliveryAttempt: 0 }, /deliveryAttempt is invalid/],
  ];
  for (const [name, body, pattern] of cases) {
    it(`refuses ${name} with InvalidInputError`, () => {
      let err: unknown;
      try {
        parsePushEnvelope(body);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidInputError);
      expect((err as Error).message).toMatch(/^push envelope: /);
      expect((err as Error).message).toMatch(pattern);
    });
  }
});
