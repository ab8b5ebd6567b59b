/**
 * The contract every messaging backend passes. A backend's test file calls
 *
 *   brokerContract('nats', async () => ({ broker, teardown }));
 *
 * Features behind a capability flag (filters, ordering keys, dead letters, push) are tested only
 * when the backend claims them. Names are unique per test, so one broker serves the whole suite.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, InvalidInputError, NotFoundError } from '../core/errors.ts';
import type { Broker, ReceivedMessage } from './broker.ts';
import { parsePushEnvelope } from './push-envelope.ts';
import { startPushEndpoint, text, utf8, waitFor } from './testing.ts';

export interface BrokerContractOptions {
  /**
   * A short ack deadline the backend accepts, for the redelivery tests (default 0.3 s; a backend
   * whose minimum is larger, like Google Pub/Sub's 10 s, sets it).
   */
  shortAckDeadlineSeconds?: number;
}

export function brokerContract(
  name: string,
  setup: () => Promise<{ broker: Broker; teardown(): Promise<void> }>,
  options: BrokerContractOptions = {},
): void {
  const shortDeadlineS = options.shortAckDeadlineSeconds ?? 0.3;
  const redeliveryWaitMs = shortDeadlineS * 1000 * 3 + 5000;

  describe(`Broker contract: ${name}`, () => {
    let broker: Broker;
    let teardown: () => Promise<void>;
    let counter = 0;
    const unique = (prefix: string): string => `${prefix}-${process.pid}-${Date.now().toString(36)}-${++counter}`;

    beforeAll(async () => {
      ({ broker, teardown } = await setup());
    });
    afterAll(async () => {
      await teardown?.();
    });

    /** A fresh topic and a subscription on it. */
    async function topicWithSub(
      subOptions: Parameters<Broker['ensureSubscription']>[2] = {},
    ): Promise<{ topic: string; sub: string }> {
      const topic = unique('t');
      const sub = unique('s');
      await broker.ensureTopic(topic);
      await broker.ensureSubscription(sub, topic, subOptions);
      return { topic, sub };
    }

    /** Pulls until `count` messages arrived (or fails after the timeout). */
    async function pullN(sub: string, count: number, timeoutMs = 5000): Promise<ReceivedMessage[]> {
      const got: ReceivedMessage[] = [];
      const deadline = Date.now() + timeoutMs;
      while (got.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`pulled ${got.length} of ${count} messages from ${sub} before the timeout`);
        got.push(...(await broker.pull(sub, { maxMessages: Math.min(1000, count - got.length), waitMs: left })));
      }
      return got;
    }

    it('publishes, pulls and acks, keeping data, attributes and IDs', async () => {
      const { topic, sub } = await topicWithSub();
      const ids = await broker.publish(topic, [
        { data: utf8('one'), attributes: { instrument: 'LATISS', detector: '0' } },
        { data: utf8('two') },
        { data: new Uint8Array(0), attributes: { only: 'attributes' } },
      ]);
      expect(ids).toHaveLength(3);
      expect(new Set(ids).size).toBe(3);
      const got = await pullN(sub, 3);
      const byId = new Map(got.map((m) => [m.messageId, m]));
      expect([...byId.keys()].sort()).toEqual([...ids].sort());
      const one = byId.get(ids[0])!;
      expect(text(one.data)).toBe('one');
      expect(one.data).toBeInstanceOf(Uint8Array);
      expect(one.attributes).toEqual({ instrument: 'LATISS', detector: '0' });
      expect(one.deliveryAttempt).toBe(1);
      expect(Number.isNaN(Date.parse(one.publishTime))).toBe(false);
      expect(byId.get(ids[1])!.attributes).toEqual({});
      expect(byId.get(ids[2])!.data.byteLength).toBe(0);
      await broker.ack(sub, got.map((m) => m.ackId));
      expect(await broker.pull(sub, { waitMs: 100 })).toEqual([]);
    });

    it('redelivers a message whose ack deadline passed, with deliveryAttempt + 1', async () => {
      const { topic, sub } = await topicWithSub({ ackDeadlineSeconds: shortDeadlineS });
      const [id] = await broker.publish(topic, [{ data: utf8('late') }]);
      const [first] = await pullN(sub, 1);
      expect(first.messageId).toBe(id);
      expect(first.deliveryAttempt).toBe(1);
      const t0 = Date.now();
      const [again] = await pullN(sub, 1, redeliveryWaitMs);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(shortDeadlineS * 1000 * 0.5);
      expect(again.messageId).toBe(id);
      expect(again.deliveryAttempt).toBe(2);
      expect(again.ackId).not.toBe(first.ackId);
      await broker.ack(sub, [again.ackId]);
    });

    it('a delivery whose ack deadline is extended (where the backend can) is not redelivered meanwhile', async ({ skip }) => {
      if (!broker.extendAckDeadline) skip();
      const { topic, sub } = await topicWithSub({ ackDeadlineSeconds: shortDeadlineS });
      await broker.publish(topic, [{ data: utf8('long job') }]);
      const [m] = await pullN(sub, 1);
      const until = Date.now() + shortDeadlineS * 1000 * 3;
      while (Date.now() < until) {
        await broker.extendAckDeadline?.(sub, [m.ackId]);
        expect(await broker.pull(sub, { maxMessages: 10, waitMs: (shortDeadlineS * 1000) / 3 })).toEqual([]);
      }
      await broker.ack(sub, [m.ackId]);
      expect(await broker.pull(sub, { maxMessages: 10, waitMs: shortDeadlineS * 1000 * 2 })).toEqual([]);
    });

    it('redelivers a nacked message at once; stale ack IDs are ignored', async () => {
      const { topic, sub } = await topicWithSub({ ackDeadlineSeconds: 60 });
      await broker.publish(topic, [{ data: utf8('again') }]);
      const [first] = await pullN(sub, 1);
      await broker.nack(sub, [first.ackId]);
      const [second] = await pullN(sub, 1, 2000);
      expect(second.messageId).toBe(first.messageId);
      expect(second.deliveryAttempt).toBe(2);
      await broker.ack(sub, [first.ackId, 'no-such-ack-id']); // stale and unknown: ignored
      await broker.nack(sub, ['no-such-ack-id']);
      await broker.ack(sub, [second.ackId]);
      expect(await broker.pull(sub, { waitMs: 100 })).toEqual([]);
    });

    it('a subscription only receives messages published after it was created', async () => {
      const topic = unique('t');
      await broker.ensureTopic(topic);
      await broker.publish(topic, [{ data: utf8('before') }]);
      const sub = unique('s');
      await broker.ensureSubscription(sub, topic);
      await broker.publish(topic, [{ data: utf8('after') }]);
      const got = await pullN(sub, 1);
      expect(text(got[0].data)).toBe('after');
      await broker.ack(sub, [got[0].ackId]);
      expect(await broker.pull(sub, { waitMs: 100 })).toEqual([]);
    });

    it('ensureTopic and ensureSubscription are idempotent; other settings are refused', async () => {
      const topic = unique('t');
      await broker.ensureTopic(topic);
      await broker.ensureTopic(topic);
      const sub = unique('s');
      await broker.ensureSubscription(sub, topic, { ackDeadlineSeconds: 30 });
      await broker.ensureSubscription(sub, topic, { ackDeadlineSeconds: 30 });
      const err = await broker.ensureSubscription(sub, topic, { ackDeadlineSeconds: 60 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect(String((err as Error).message)).toContain(sub);
      // The subscription still works after both calls.
      await broker.publish(topic, [{ data: utf8('x') }]);
      const [m] = await pullN(sub, 1);
      await broker.ack(sub, [m.ackId]);
    });

    it('rejects invalid names with InvalidInputError naming the name', async () => {
      for (const bad of ['1starts-with-digit', 'ab', 'has space', 'goog-reserved', 'slash/inside', '']) {
        const err = await broker.ensureTopic(bad).catch((e: unknown) => e);
        expect(err, bad).toBeInstanceOf(InvalidInputError);
        expect((err as Error).message).toContain(JSON.stringify(bad));
      }
      const topic = unique('t');
      await broker.ensureTopic(topic);
      await expect(broker.ensureSubscription('9bad', topic)).rejects.toBeInstanceOf(InvalidInputError);
      await expect(broker.pull('x y z')).rejects.toBeInstanceOf(InvalidInputError);
    });

    it('unknown topics and subscriptions are NotFoundError; deleteSubscription is idempotent', async () => {
      const missing = unique('missing');
      const err = await broker.publish(missing, [{ data: utf8('x') }]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotFoundError);
      expect((err as Error).message).toContain(missing);
      await expect(broker.ensureSubscription(unique('s'), missing)).rejects.toBeInstanceOf(NotFoundError);
      await expect(broker.pull(unique('s'))).rejects.toBeInstanceOf(NotFoundError);

      const { topic, sub } = await topicWithSub();
      await broker.deleteSubscription(sub);
      await broker.deleteSubscription(sub);
      await broker.publish(topic, [{ data: utf8('x') }]);
      await expect(broker.pull(sub)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('rejects a message with neither data nor attributes', async () => {
      const { topic } = await topicWithSub();
      const err = await broker.publish(topic, [{ data: utf8('ok') }, { data: new Uint8Array(0) }]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidInputError);
      expect((err as Error).message).toMatch(/messages\[1\]/);
    });

    it('publishes and pulls 1000 messages', async () => {
      const { topic, sub } = await topicWithSub({ ackDeadlineSeconds: 60 });
      const messages = Array.from({ length: 1000 }, (_, i) => ({ data: utf8(`m${i}`), attributes: { i: String(i) } }));
      const ids = await broker.publish(topic, messages);
      expect(new Set(ids).size).toBe(1000);
      const got = await pullN(sub, 1000, 20_000);
      expect(new Set(got.map((m) => m.messageId))).toEqual(new Set(ids));
      for (const m of got) expect(text(m.data)).toBe(`m${m.attributes.i}`);
      await broker.ack(sub, got.map((m) => m.ackId));
      expect(await broker.pull(sub, { waitMs: 100 })).toEqual([]);
    });

    it('carries a 1 MiB payload byte for byte', async () => {
      const { topic, sub } = await topicWithSub();
      const payload = new Uint8Array(randomBytes(1024 * 1024));
      await broker.publish(topic, [{ data: payload, attributes: { kind: 'big' } }]);
      const [m] = await pullN(sub, 1);
      expect(m.data.byteLength).toBe(payload.byteLength);
      expect(Buffer.compare(Buffer.from(m.data), Buffer.from(payload))).toBe(0);
      await broker.ack(sub, [m.ackId]);
    });

    it('concurrent pullers never get the same message within its ack deadline', async () => {
      const { topic, sub } = await topicWithSub({ ackDeadlineSeconds: 60 });
      const ids = await broker.publish(topic, Array.from({ length: 200 }, (_, i) => ({ data: utf8(`c${i}`) })));
      const seen: string[] = [];
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (;;) {
            const got = await broker.pull(sub, { maxMessages: 7, waitMs: 200 });
            if (got.length === 0) return;
            seen.push(...got.map((m) => m.messageId));
          }
        }),
      );
      expect(seen).toHaveLength(200);
      expect(new Set(seen)).toEqual(new Set(ids));
    });

    it('a waiting pull answers as soon as a message is published', async () => {
      const { topic, sub } = await topicWithSub();
      const t0 = Date.now();
      const pulling = broker.pull(sub, { waitMs: 8000 });
      await new Promise((r) => setTimeout(r, 50));
      await broker.publish(topic, [{ data: utf8('wake') }]);
      const got = await pulling;
      expect(got.map((m) => text(m.data))).toEqual(['wake']);
      expect(Date.now() - t0).toBeLessThan(4000);
      await broker.ack(sub, [got[0].ackId]);
    });

    it('a waiting pull ends empty after waitMs, and at once when aborted', async () => {
      const { sub } = await topicWithSub();
      const t0 = Date.now();
      expect(await broker.pull(sub, { waitMs: 250 })).toEqual([]);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
      const controller = new AbortController();
      const t1 = Date.now();
      const pulling = broker.pull(sub, { waitMs: 8000, signal: controller.signal });
      setTimeout(() => controller.abort(new Error('stop')), 50);
      await expect(pulling).rejects.toThrow('stop');
      expect(Date.now() - t1).toBeLessThan(4000);
    });

    describe('filters', () => {
      it('delivers only the messages that match the filter', async ({ skip }) => {
        if (!broker.capabilities.filters) skip();
        const { topic, sub } = await topicWithSub({ filter: 'attributes.instrument = "LATISS"' });
        await broker.publish(topic, [
          { data: utf8('a'), attributes: { instrument: 'LSSTCam' } },
          { data: utf8('b'), attributes: { instrument: 'LATISS' } },
          { data: utf8('c') },
          { data: utf8('d'), attributes: { instrument: 'LATISS', detector: '0' } },
        ]);
        const got = await pullN(sub, 2);
        expect(got.map((m) => text(m.data)).sort()).toEqual(['b', 'd']);
        await broker.ack(sub, got.map((m) => m.ackId));
        expect(await broker.pull(sub, { waitMs: 100 })).toEqual([]);
      });

      it('rejects an invalid filter with InvalidInputError naming the problem', async ({ skip }) => {
        if (!broker.capabilities.filters) skip();
        const topic = unique('t');
        await broker.ensureTopic(topic);
        const err = await broker
          .ensureSubscription(unique('s'), topic, { filter: 'attributes.instrument = LATISS' })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InvalidInputError);
        expect((err as Error).message).toMatch(/filter/);
        expect((err as Error).message).toMatch(/string literal/);
      });
    });

    describe('ordering keys', () => {
      it('delivers messages of one key one at a time, in order', async ({ skip }) => {
        if (!broker.capabilities.orderingKeys) skip();
        const { topic, sub } = await topicWithSub({ ackDeadlineSeconds: 60 });
        await broker.publish(topic, [
          { data: utf8('k1-a'), orderingKey: 'k1' },
          { data: utf8('k1-b'), orderingKey: 'k1' },
          { data: utf8('k1-c'), orderingKey: 'k1' },
          { data: utf8('k2-a'), orderingKey: 'k2' },
        ]);
        const first = await pullN(sub, 2);
        expect(first.map((m) => text(m.data)).sort()).toEqual(['k1-a', 'k2-a']);
        expect(first.find((m) => text(m.data) === 'k1-a')?.orderingKey).toBe('k1');
        expect(await broker.pull(sub, { waitMs: 100 })).toEqual([]);
        await broker.ack(sub, first.map((m) => m.ackId));
        const [b] = await pullN(sub, 1);
        expect(text(b.data)).toBe('k1-b');
        await broker.nack(sub, [b.ackId]);
        const [bAgain] = await pullN(sub, 1);
        expect(text(bAgain.data)).toBe('k1-b');
        expect(bAgain.deliveryAttempt).toBe(2);
        await broker.ack(sub, [bAgain.ackId]);
        const [c] = await pullN(sub, 1);
        expect(text(c.data)).toBe('k1-c');
        await broker.ack(sub, [c.ackId]);
      });
    });

    describe('dead letters', () => {
      it('moves a message to the dead-letter topic after maxDeliveryAttempts', async ({ skip }) => {
        if (!broker.capabilities.deadLetter) skip();
        const dlTopic = unique('dl');
        await broker.ensureTopic(dlTopic);
        const dlSub = unique('dls');
        await broker.ensureSubscription(dlSub, dlTopic);
        const { topic, sub } = await topicWithSub({
          ackDeadlineSeconds: 60,
          deadLetter: { topic: dlTopic, maxDeliveryAttempts: 2 },
        });
        await broker.publish(topic, [{ data: utf8('poison'), attributes: { origin: 'contract' } }]);
        for (let attempt = 1; attempt <= 2; attempt++) {
          const [m] = await pullN(sub, 1);
          expect(m.deliveryAttempt).toBe(attempt);
          await broker.nack(sub, [m.ackId]);
        }
        const [dead] = await pullN(dlSub, 1);
        expect(text(dead.data)).toBe('poison');
        expect(dead.attributes.origin).toBe('contract');
        await broker.ack(dlSub, [dead.ackId]);
        expect(await broker.pull(sub, { waitMs: 100 })).toEqual([]);
      });
    });

    describe('push', () => {
      it('POSTs a push envelope to the endpoint; a 200 acks it', async ({ skip }) => {
        if (!broker.capabilities.push) skip();
        const endpoint = await startPushEndpoint(() => 200);
        try {
          const topic = unique('t');
          await broker.ensureTopic(topic);
          const sub = unique('s');
          await broker.ensureSubscription(sub, topic, {
            push: { endpoint: `${endpoint.url}/next-visit?token=s3cret` },
            ackDeadlineSeconds: shortDeadlineS,
          });
          const [id] = await broker.publish(topic, [{ data: utf8('{"detector":94}'), attributes: { instrument: 'LSSTCam' } }]);
          const push = await waitFor(() => endpoint.requests[0], { what: 'a push' });
          expect(push.url).toBe('/next-visit?token=s3cret');
          const parsed = parsePushEnvelope(push.body);
          expect(parsed.messageId).toBe(id);
          expect(text(parsed.data)).toBe('{"detector":94}');
          expect(parsed.attributes).toEqual({ instrument: 'LSSTCam' });
          expect(parsed.subscription.endsWith(`/subscriptions/${sub}`)).toBe(true);
          // Acked: no redelivery after several ack deadlines.
          await new Promise((r) => setTimeout(r, shortDeadlineS * 1000 * 3));
          expect(endpoint.requests).toHaveLength(1);
          await broker.deleteSubscription(sub);
        } finally {
          await endpoint.close();
        }
      });
    });
  });
}
