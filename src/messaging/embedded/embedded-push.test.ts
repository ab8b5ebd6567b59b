/** Push delivery to a real local HTTP endpoint. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../broker.ts';
import { createBroker } from '../backends.ts';
import { parsePushEnvelope } from '../push-envelope.ts';
import { startPushEndpoint, text, utf8, waitFor, type PushAnswer, type PushEndpoint, type ReceivedPush } from '../testing.ts';
import { startEmbeddedBroker, type EmbeddedBrokerServer } from './embedded-server.ts';

let server: EmbeddedBrokerServer;
let broker: Broker;
let endpoints: PushEndpoint[] = [];
let n = 0;

beforeAll(async () => {
  server = await startEmbeddedBroker({ port: 0, push: { maxOutstanding: 8 } });
  broker = createBroker(server.url);
});
afterAll(async () => {
  await broker.close();
  await server.close();
});
afterEach(async () => {
  await Promise.all(endpoints.map((e) => e.close()));
  endpoints = [];
});

async function endpoint(answer: (push: ReceivedPush) => PushAnswer | Promise<PushAnswer>): Promise<PushEndpoint> {
  const e = await startPushEndpoint(answer);
  endpoints.push(e);
  return e;
}

async function pushSub(
  ep: PushEndpoint,
  options: Omit<NonNullable<Parameters<Broker['ensureSubscription']>[2]>, 'push'> = {},
): Promise<{ topic: string; sub: string }> {
  n++;
  const topic = `push-topic-${n}`;
  const sub = `push-sub-${n}`;
  await broker.ensureTopic(topic);
  await broker.ensureSubscription(sub, topic, { ...options, push: { endpoint: `${ep.url}/next-visit?token=tok${n}` } });
  return { topic, sub };
}

async function stats(sub: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${server.url}/v1/projects/local/subscriptions/${sub}:stats`);
  return (await res.json()) as Record<string, unknown>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('push delivery', () => {
  it('sends the C1 envelope as application/json to the endpoint URL exactly as configured', async () => {
    const ep = await endpoint(() => 200);
    const { topic, sub } = await pushSub(ep);
    const [id] = await broker.publish(topic, [{ data: utf8('{"foo":1}'), attributes: { k: 'v' }, orderingKey: 'g1' }]);
    const push = await waitFor(() => ep.requests[0]);
    expect(push.url).toBe(`/next-visit?token=tok${n}`);
    expect(push.headers['content-type']).toBe('application/json');
    const body = push.body as { message: Record<string, unknown> };
    expect(Object.keys(body)).toEqual(['message', 'subscription']); // no deliveryAttempt without dead-letter policy
    expect(Object.keys(body.message)).toEqual([
      'data', 'attributes', 'messageId', 'message_id', 'publishTime', 'publish_time', 'orderingKey',
    ]);
    expect(body).toEqual({
      message: {
        data: 'eyJmb28iOjF9',
        attributes: { k: 'v' },
        messageId: id,
        message_id: id,
        publishTime: body.message.publishTime,
        publish_time: body.message.publishTime,
        orderingKey: 'g1',
      },
      subscription: `projects/local/subscriptions/${sub}`,
    });
    expect(new Date(body.message.publishTime as string).toISOString()).toBe(body.message.publishTime);
  });

  it('leaves out empty attributes, and adds deliveryAttempt with a dead-letter policy', async () => {
    const ep = await endpoint(() => 204);
    await broker.ensureTopic('push-dl-unused');
    const { topic } = await pushSub(ep, { deadLetter: { topic: 'push-dl-unused', maxDeliveryAttempts: 5 } });
    await broker.publish(topic, [{ data: utf8('x') }]);
    const push = await waitFor(() => ep.requests[0]);
    const body = push.body as { message: Record<string, unknown>; deliveryAttempt: number };
    expect('attributes' in body.message).toBe(false);
    expect('orderingKey' in body.message).toBe(false);
    expect(body.deliveryAttempt).toBe(1);
  });

  it('a 500 then a 200: delivered twice, acked once', async () => {
    const ep = await endpoint((p) => (p.index === 0 ? 500 : 200));
    const { topic, sub } = await pushSub(ep, { ackDeadlineSeconds: 0.3 });
    const [id] = await broker.publish(topic, [{ data: utf8('retry me') }]);
    await waitFor(() => ep.requests.length >= 2);
    await waitFor(async () => (await stats(sub)).acked === 1);
    const ids = ep.requests.map((r) => parsePushEnvelope(r.body).messageId);
    expect(ids).toEqual([id, id]);
    await sleep(700); // more than two ack deadlines: no third delivery
    expect(ep.requests).toHaveLength(2);
    expect(await stats(sub)).toMatchObject({ backlog: 0, acked: 1 });
  });

  it('acks on 200, 201, 202 and 204', async () => {
    const codes = [200, 201, 202, 204];
    const ep = await endpoint((p) => codes[p.index % 4]);
    const { topic, sub } = await pushSub(ep);
    await broker.publish(topic, codes.map((c) => ({ data: utf8(String(c)) })));
    await waitFor(async () => (await stats(sub)).acked === 4);
    expect(ep.requests).toHaveLength(4);
  });

  it('no answer within the ack deadline is a nack: the message is pushed again', async () => {
    const ep = await endpoint((p) => (p.index === 0 ? 'hang' : 200));
    const { topic, sub } = await pushSub(ep, { ackDeadlineSeconds: 0.2 });
    const [id] = await broker.publish(topic, [{ data: utf8('slow') }]);
    await waitFor(() => ep.requests.length >= 2);
    const [first, second] = ep.requests;
    expect(second.receivedAt - first.receivedAt).toBeGreaterThanOrEqual(150);
    expect(parsePushEnvelope(second.body).messageId).toBe(id);
    await waitFor(async () => (await stats(sub)).acked === 1);
  });

  it('a 429 is retried after a delay, not at once', async () => {
    const ep = await endpoint((p) => (p.index === 0 ? 429 : 200));
    const { topic, sub } = await pushSub(ep);
    await broker.publish(topic, [{ data: utf8('busy') }]);
    await waitFor(() => ep.requests.length >= 2);
    const [first, second] = ep.requests;
    expect(second.receivedAt - first.receivedAt).toBeGreaterThanOrEqual(90);
    await waitFor(async () => (await stats(sub)).acked === 1);
  });

  it('a busy endpoint (503 to everything) is probed a few times a second, not hammered', async () => {
    const ep = await endpoint(() => 503);
    const { topic, sub } = await pushSub(ep);
    await broker.publish(topic, Array.from({ length: 50 }, (_, i) => ({ data: utf8(`m${i}`) })));
    await sleep(1000);
    const count = ep.requests.length;
    // 8 at first (the window), then paused 100, 200, 400, 800 ms with a window of 1.
    expect(count).toBeGreaterThanOrEqual(2);
    expect(count).toBeLessThan(20);
    const s = (await stats(sub)) as { push: { window: number } };
    expect(s.push.window).toBe(1);
    await broker.deleteSubscription(sub);
  });

  it('recovers from overload: once the endpoint accepts, everything is delivered', async () => {
    let busy = true;
    const ep = await endpoint(() => (busy ? 503 : 200));
    const { topic, sub } = await pushSub(ep);
    await broker.publish(topic, Array.from({ length: 30 }, (_, i) => ({ data: utf8(`m${i}`) })));
    await waitFor(() => ep.requests.length >= 3);
    busy = false;
    await waitFor(async () => (await stats(sub)).acked === 30, { timeoutMs: 10_000 });
  });

  it('an unreachable endpoint is retried with backoff', async () => {
    const ep = await endpoint(() => 200);
    const url = ep.url;
    await ep.close();
    endpoints = [];
    n++;
    await broker.ensureTopic(`push-topic-${n}`);
    await broker.ensureSubscription(`push-sub-${n}`, `push-topic-${n}`, { push: { endpoint: `${url}/x` } });
    await broker.publish(`push-topic-${n}`, [{ data: utf8('nobody home') }]);
    await sleep(500);
    const s = (await stats(`push-sub-${n}`)) as { push: { pushed: number; failed: number } };
    expect(s.push.failed).toBeGreaterThanOrEqual(1);
    expect(s.push.pushed).toBeLessThan(10);
    await broker.deleteSubscription(`push-sub-${n}`);
  });

  it('keeps at most maxOutstanding pushes in flight', async () => {
    const ep = await endpoint(() => ({ status: 200, delayMs: 30 }));
    const { topic, sub } = await pushSub(ep);
    await broker.publish(topic, Array.from({ length: 40 }, (_, i) => ({ data: utf8(`m${i}`) })));
    await waitFor(async () => (await stats(sub)).acked === 40);
    expect(ep.maxInflight).toBe(8);
  });

  it('pushes messages of one ordering key one at a time, in order', async () => {
    const ep = await endpoint(() => ({ status: 200, delayMs: 10 }));
    const { topic, sub } = await pushSub(ep);
    await broker.publish(topic, Array.from({ length: 5 }, (_, i) => ({ data: utf8(`k${i}`), orderingKey: 'visit-1' })));
    await waitFor(async () => (await stats(sub)).acked === 5);
    expect(ep.maxInflight).toBe(1);
    expect(ep.requests.map((r) => text(parsePushEnvelope(r.body).data))).toEqual(['k0', 'k1', 'k2', 'k3', 'k4']);
  });

  it('dead-letters after maxDeliveryAttempts failed pushes, counting attempts in the envelope', async () => {
    const ep = await endpoint(() => 500);
    await broker.ensureTopic('push-dead');
    await broker.ensureSubscription('push-dead-sub', 'push-dead');
    const { topic, sub } = await pushSub(ep, {
      deadLetter: { topic: 'push-dead', maxDeliveryAttempts: 3 },
      retry: { minimumBackoffS: 0, maximumBackoffS: 0.05 },
    });
    await broker.publish(topic, [{ data: utf8('poison'), attributes: { visit: '7' } }]);
    const [dead] = await waitFor(() => broker.pull('push-dead-sub', { waitMs: 200 }).then((m) => (m.length ? m : undefined)));
    expect(text(dead.data)).toBe('poison');
    expect(dead.attributes).toMatchObject({
      visit: '7',
      CloudPubSubDeadLetterSourceDeliveryCount: '3',
      CloudPubSubDeadLetterSourceSubscription: sub,
      CloudPubSubDeadLetterSourceSubscriptionProject: 'local',
    });
    expect(ep.requests.map((r) => (r.body as { deliveryAttempt: number }).deliveryAttempt)).toEqual([1, 2, 3]);
    expect(await stats(sub)).toMatchObject({ backlog: 0, deadLettered: 1 });
  });

  it('filters apply to push subscriptions', async () => {
    const ep = await endpoint(() => 200);
    const { topic, sub } = await pushSub(ep, { filter: 'attributes.instrument = "LATISS"' });
    await broker.publish(topic, [
      { data: utf8('no'), attributes: { instrument: 'LSSTCam' } },
      { data: utf8('yes'), attributes: { instrument: 'LATISS' } },
    ]);
    await waitFor(async () => (await stats(sub)).acked === 1);
    await sleep(100);
    expect(ep.requests.map((r) => text(parsePushEnvelope(r.body).data))).toEqual(['yes']);
  });

  it('deleting the subscription stops push delivery', async () => {
    const ep = await endpoint(() => 500);
    const { topic, sub } = await pushSub(ep, { retry: { minimumBackoffS: 0.05, maximumBackoffS: 0.05 } });
    await broker.publish(topic, [{ data: utf8('stop') }]);
    await waitFor(() => ep.requests.length >= 2);
    await broker.deleteSubscription(sub);
    await sleep(50);
    const count = ep.requests.length;
    await sleep(300);
    expect(ep.requests.length).toBe(count);
  });
});
