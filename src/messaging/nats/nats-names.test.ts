import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.ts';
import {
  checkStreamPrefix,
  consumerName,
  decodeMessageHeaders,
  encodeMessageHeaders,
  nameToken,
  parseAckSubject,
  streamName,
  topicSubject,
} from './nats-names.ts';

describe('NATS names', () => {
  it('keeps plain IDs readable and escapes the rest injectively', () => {
    expect(streamName('prompt', 'LATISS-image')).toBe('prompt_LATISS-image');
    expect(streamName('prompt', 'next_visit')).toBe('prompt_next_5Fvisit');
    expect(consumerName('a.b~c+d%e')).toBe('a_2Eb_7Ec_2Bd_25e');
    const ids = ['a.b', 'a_2Eb', 'a_b', 'a-b', 'a%2Eb', 'a+b', 'a~b'];
    expect(new Set(ids.map((id) => nameToken(id))).size).toBe(ids.length);
    for (const id of ids) expect(nameToken(id)).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('cuts long names with a hash that keeps them apart', () => {
    const long = `x${'.'.repeat(200)}`;
    const other = `x${'.'.repeat(199)}y`;
    expect(streamName('p', long).length).toBeLessThanOrEqual(2 + 96);
    expect(consumerName(long).length).toBeLessThanOrEqual(128);
    expect(consumerName(long)).toMatch(/__[0-9a-f]{16}$/);
    expect(consumerName(long)).not.toBe(consumerName(other));
  });

  it('spells subjects without extra tokens', () => {
    expect(topicSubject('prompt', 'nextVisit')).toBe('prompt.nextVisit');
    expect(topicSubject('prompt', 'a.b%2E')).toBe('prompt.a%2Eb%252E');
  });

  it('checks the stream prefix', () => {
    expect(checkStreamPrefix('usdf-prompt')).toBe('usdf-prompt');
    for (const bad of ['', '1x', 'a_b', 'a.b', 'x'.repeat(33)]) {
      expect(() => checkStreamPrefix(bad), bad).toThrow(ConfigError);
    }
  });

  it('round-trips attributes and ordering keys through headers', () => {
    const attributes = { 'a b': ' x ', 'k:v': 'line\r\nbreak', 'ü': '(*)!' };
    const pairs = encodeMessageHeaders(attributes, 'key 1');
    for (const [k, v] of pairs) {
      expect(k).toMatch(/^[\x21-\x39\x3b-\x7e]+$/);
      expect(v).toMatch(/^[A-Za-z0-9\-_.~%]*$/);
    }
    expect(decodeMessageHeaders(pairs.map(([k, v]) => [k, [v]]))).toEqual({
      attributes,
      orderingKey: 'key 1',
      payloadObject: undefined,
    });
  });

  it('parses both forms of JetStream ack subjects', () => {
    expect(parseAckSubject('$JS.ACK.S.C.2.17.40.1795824684447111359.0')).toEqual({
      stream: 'S',
      consumer: 'C',
      deliveryCount: 2,
      streamSequence: 17,
      timestampNanos: 1795824684447111359n,
    });
    expect(parseAckSubject('$JS.ACK.hub.ACC.S.C.1.5.5.1795824684447111359.3.xyz')?.streamSequence).toBe(5);
    expect(parseAckSubject('_INBOX.abc')).toBeUndefined();
    expect(parseAckSubject(undefined)).toBeUndefined();
  });
});
