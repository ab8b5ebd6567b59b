/** The embedded broker's REST wire, spoken with plain fetch like any Pub/Sub REST client. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.ts';
import { startEmbeddedBroker, type EmbeddedBrokerServer } from './embedded-server.ts';

let server: EmbeddedBrokerServer;
let v1: string;
const logs: { level: string; msg: string }[] = [];

beforeAll(async () => {
  server = await startEmbeddedBroker({ port: 0, project: 'p', logger: (level, msg) => logs.push({ level, msg }) });
  v1 = `${server.url}/v1/projects/p`;
});
afterAll(async () => {
  await server.close();
});

async function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(path.startsWith('http') ? path : `${v1}/${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}

async function expectError(
  p: Promise<{ status: number; json: Record<string, unknown> }>,
  code: number,
  status: string,
  message: RegExp,
): Promise<void> {
  const r = await p;
  expect(r.status).toBe(code);
  const err = r.json.error as { code: number; status: string; message: string };
  expect(err.code).toBe(code);
  expect(err.status).toBe(status);
  expect(err.message).toMatch(message);
}

describe('topics', () => {
  it('PUT creates idempotently; GET, list and DELETE', async () => {
    expect(await call('PUT', 'topics/nextVisit')).toEqual({ status: 200, json: { name: 'projects/p/topics/nextVisit' } });
    expect((await call('PUT', 'topics/nextVisit', {})).status).toBe(200);
    expect((await call('GET', 'topics/nextVisit')).json).toEqual({ name: 'projects/p/topics/nextVisit' });
    expect((await call('GET', 'topics')).json.topics).toContainEqual({ name: 'projects/p/topics/nextVisit' });
    await call('PUT', 'topics/doomed');
    expect((await call('DELETE', 'topics/doomed')).status).toBe(200);
    await expectError(call('GET', 'topics/doomed'), 404, 'NOT_FOUND', /topic projects\/p\/topics\/doomed not found/);
  });

  it('refuses invalid names and other projects', async () => {
    await expectError(call('PUT', 'topics/9lives'), 400, 'INVALID_ARGUMENT', /invalid topic name "9lives"/);
    await expectError(call('PUT', `${server.url}/v1/projects/other/topics/x1x`), 404, 'NOT_FOUND', /project "other" is not served/);
    await expectError(call('PATCH', 'topics/nextVisit'), 404, 'NOT_FOUND', /no such resource/);
    await expectError(call('POST', 'topics/nextVisit:frobnicate', {}), 501, 'UNIMPLEMENTED', /not supported/);
  });
});

describe('publish', () => {
  beforeAll(async () => {
    await call('PUT', 'topics/pub');
  });

  it('answers the message IDs', async () => {
    const r = await call('POST', 'topics/pub:publish', {
      messages: [{ data: b64('a') }, { attributes: { k: 'v' } }, { data: b64('c'), orderingKey: 'g' }],
    });
    expect(r.status).toBe(200);
    expect(r.json.messageIds).toHaveLength(3);
  });

  const bad: [string, unknown, RegExp][] = [
    ['data that is not base64', { messages: [{ data: b64('ok') }, { data: 'no base64!' }] }, /messages\[1\]\.data is not base64/],
    ['a non-string attribute', { messages: [{ data: b64('x'), attributes: { detector: 94 } }] }, /messages\[0\]\.attributes\.detector must be a string, not number/],
    ['an empty message', { messages: [{ data: '' }] }, /messages\[0\] has neither data nor attributes/],
    ['no messages', { messages: [] }, /messages must not be empty/],
    ['no messages field', {}, /messages is missing/],
    ['a reserved attribute key', { messages: [{ attributes: { googFoo: 'x' } }] }, /must not start with "goog"/],
    ['an oversized attribute value', { messages: [{ attributes: { k: 'x'.repeat(1025) } }] }, /attributes\.k is longer than 1024 bytes/],
    ['too many messages', { messages: Array.from({ length: 1001 }, () => ({ data: 'eA==' })) }, /1001 messages in one request; the maximum is 1000/],
  ];
  for (const [name, body, message] of bad) {
    it(`refuses ${name} with 400 INVALID_ARGUMENT naming the field`, async () => {
      await expectError(call('POST', 'topics/pub:publish', body), 400, 'INVALID_ARGUMENT', message);
    });
  }

  it('refuses bodies that are not JSON objects', async () => {
    await expectError(call('POST', 'topics/pub:publish', '{"messages":'), 400, 'INVALID_ARGUMENT', /not valid JSON/);
    await expectError(call('POST', 'topics/pub:publish', '[1]'), 400, 'INVALID_ARGUMENT', /must be a JSON object/);
    await expectError(call('POST', 'topics/pub:publish', ''), 400, 'INVALID_ARGUMENT', /body is empty/);
  });

  it('answers 404 NOT_FOUND for an unknown topic', async () => {
    await expectError(call('POST', 'topics/nope:publish', { messages: [{ data: 'eA==' }] }), 404, 'NOT_FOUND', /topic projects\/p\/topics\/nope not found/);
  });
});

describe('subscriptions', () => {
  const full = {
    topic: 'projects/p/topics/subs-t',
    pushConfig: { pushEndpoint: 'http://127.0.0.1:9/next-visit?token=abc' },
    ackDeadlineSeconds: 600,
    filter: 'attributes.instrument = "LATISS"',
    messageRetentionDuration: '600s',
    retainAckedMessages: false,
    retryPolicy: { minimumBackoff: '0s', maximumBackoff: '10s' },
    deadLetterPolicy: { deadLetterTopic: 'projects/p/topics/subs-dl', maxDeliveryAttempts: 5 },
  };
  beforeAll(async () => {
    await call('PUT', 'topics/subs-t');
    await call('PUT', 'topics/subs-dl');
  });

  it('creates the playbook subscription, idempotently, and shows it', async () => {
    const r = await call('PUT', 'subscriptions/nextVisit-sub', full);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      name: 'projects/p/subscriptions/nextVisit-sub',
      topic: 'projects/p/topics/subs-t',
      pushConfig: { pushEndpoint: 'http://127.0.0.1:9/next-visit?token=abc' },
      ackDeadlineSeconds: 600,
      filter: 'attributes.instrument = "LATISS"',
      messageRetentionDuration: '600s',
      retainAckedMessages: false,
      retryPolicy: { minimumBackoff: '0s', maximumBackoff: '10s' },
      deadLetterPolicy: { deadLetterTopic: 'projects/p/topics/subs-dl', maxDeliveryAttempts: 5 },
      state: 'ACTIVE',
    });
    expect((await call('PUT', 'subscriptions/nextVisit-sub', full)).status).toBe(200);
    expect((await call('GET', 'subscriptions/nextVisit-sub')).json).toEqual(r.json);
    const list = (await call('GET', 'subscriptions')).json.subscriptions as { name: string }[];
    expect(list.map((s) => s.name)).toContain('projects/p/subscriptions/nextVisit-sub');
    expect((await call('GET', 'topics/subs-t/subscriptions')).json).toEqual({
      subscriptions: ['projects/p/subscriptions/nextVisit-sub'],
    });
    await call('DELETE', 'subscriptions/nextVisit-sub');
  });

  it('applies the defaults: 10 s ack deadline, 600 s retention, pull, retry immediately', async () => {
    const r = await call('PUT', 'subscriptions/defaults', { topic: 'projects/p/topics/subs-t' });
    expect(r.json).toEqual({
      name: 'projects/p/subscriptions/defaults',
      topic: 'projects/p/topics/subs-t',
      pushConfig: {},
      ackDeadlineSeconds: 10,
      messageRetentionDuration: '600s',
      retainAckedMessages: false,
      state: 'ACTIVE',
    });
  });

  it('answers 409 ALREADY_EXISTS naming what differs', async () => {
    await call('PUT', 'subscriptions/conflict', { topic: 'projects/p/topics/subs-t', ackDeadlineSeconds: 600 });
    await expectError(
      call('PUT', 'subscriptions/conflict', { topic: 'projects/p/topics/subs-t', ackDeadlineSeconds: 60 }),
      409,
      'ALREADY_EXISTS',
      /already exists with different settings: ackDeadlineSeconds: existing 600, requested 60/,
    );
  });

  const bad: [string, Record<string, unknown>, number, RegExp][] = [
    ['an invalid filter', { filter: 'attributes.instrument = LATISS' }, 400, /invalid filter .* string literal/],
    ['a malformed topic', { topic: 'subs-t' }, 400, /topic "subs-t" is not projects\/\{project\}\/topics\/\{topic\}/],
    ['an unknown topic', { topic: 'projects/p/topics/absent' }, 404, /topic projects\/p\/topics\/absent not found/],
    ['an unknown dead-letter topic', { deadLetterPolicy: { deadLetterTopic: 'projects/p/topics/absent' } }, 404, /dead-letter topic .*absent not found/],
    ['a bad push endpoint', { pushConfig: { pushEndpoint: 'ftp://x' } }, 400, /pushConfig\.pushEndpoint "ftp:\/\/x" is not an http\(s\) URL/],
    ['a bad duration', { messageRetentionDuration: '10m' }, 400, /messageRetentionDuration "10m" is not a duration/],
    ['a too long ack deadline', { ackDeadlineSeconds: 601 }, 400, /ackDeadlineSeconds 601 is out of range/],
    ['retained acked messages', { retainAckedMessages: true }, 400, /retainAckedMessages=true is not supported/],
    ['inverted backoff bounds', { retryPolicy: { minimumBackoff: '10s', maximumBackoff: '1s' } }, 400, /maximumBackoff is smaller/],
    ['OIDC push auth', { pushConfig: { pushEndpoint: 'http://x', oidcToken: {} } }, 400, /oidcToken is not supported/],
    ['a wrong type', { ackDeadlineSeconds: '600' }, 400, /ackDeadlineSeconds must be a number, not string/],
  ];
  for (const [name, patch, code, message] of bad) {
    it(`refuses ${name}`, async () => {
      await expectError(
        call('PUT', 'subscriptions/badsub', { topic: 'projects/p/topics/subs-t', ...patch }),
        code,
        code === 400 ? 'INVALID_ARGUMENT' : 'NOT_FOUND',
        message,
      );
    });
  }

  it('DELETE removes it; a deleted topic leaves it detached', async () => {
    await call('PUT', 'topics/temp');
    await call('PUT', 'subscriptions/on-temp', { topic: 'projects/p/topics/temp' });
    await call('DELETE', 'topics/temp');
    const detached = await call('GET', 'subscriptions/on-temp');
    expect(detached.json).toMatchObject({ topic: '_deleted-topic_', detached: true });
    expect((await call('DELETE', 'subscriptions/on-temp')).status).toBe(200);
    await expectError(call('DELETE', 'subscriptions/on-temp'), 404, 'NOT_FOUND', /not found/);
  });
});

describe('pull, acknowledge, modifyAckDeadline', () => {
  beforeAll(async () => {
    await call('PUT', 'topics/pull-t');
  });

  it('answers receivedMessages with both spellings and no empty attributes', async () => {
    await call('PUT', 'subscriptions/pull-s', { topic: 'projects/p/topics/pull-t', ackDeadlineSeconds: 60 });
    const { json } = await call('POST', 'topics/pull-t:publish', {
      messages: [{ data: b64('one') }, { data: b64('two'), attributes: { a: 'b' }, orderingKey: 'k' }],
    });
    const ids = json.messageIds as string[];
    const r = await call('POST', 'subscriptions/pull-s:pull', { maxMessages: 10, returnImmediately: true });
    const received = r.json.receivedMessages as { ackId: string; message: Record<string, unknown>; deliveryAttempt: number }[];
    expect(received).toHaveLength(2);
    const [one, two] = received;
    expect(Object.keys(one.message)).toEqual(['data', 'messageId', 'message_id', 'publishTime', 'publish_time']);
    expect(one.message.messageId).toBe(ids[0]);
    expect(one.message.message_id).toBe(ids[0]);
    expect(one.message.publishTime).toBe(one.message.publish_time);
    expect(one.deliveryAttempt).toBe(1);
    expect(two.message).toMatchObject({ data: b64('two'), attributes: { a: 'b' }, orderingKey: 'k' });
    expect(await call('POST', 'subscriptions/pull-s:acknowledge', { ackIds: received.map((m) => m.ackId) })).toEqual({ status: 200, json: {} });
    expect((await call('POST', 'subscriptions/pull-s:pull', { returnImmediately: true })).json).toEqual({});
  });

  it('modifyAckDeadline 0 redelivers now; a longer deadline keeps the lease', async () => {
    await call('PUT', 'subscriptions/mod', { topic: 'projects/p/topics/pull-t', ackDeadlineSeconds: 0.2 });
    await call('POST', 'topics/pull-t:publish', { messages: [{ data: b64('m') }] });
    const first = (await call('POST', 'subscriptions/mod:pull', { returnImmediately: true })).json.receivedMessages as { ackId: string }[];
    await call('POST', 'subscriptions/mod:modifyAckDeadline', { ackIds: [first[0].ackId], ackDeadlineSeconds: 0 });
    const second = (await call('POST', 'subscriptions/mod:pull', { returnImmediately: true })).json.receivedMessages as { ackId: string; deliveryAttempt: number }[];
    expect(second[0].deliveryAttempt).toBe(2);
    await call('POST', 'subscriptions/mod:modifyAckDeadline', { ackIds: [second[0].ackId], ackDeadlineSeconds: 60 });
    const t0 = Date.now();
    const waited = await call('POST', 'subscriptions/mod:pull', { maxMessages: 1 }, { 'x-wait-ms': '500' });
    expect(waited.json).toEqual({}); // still leased after 2.5 original deadlines
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    await expectError(
      call('POST', 'subscriptions/mod:modifyAckDeadline', { ackIds: [], ackDeadlineSeconds: 700 }),
      400,
      'INVALID_ARGUMENT',
      /ackDeadlineSeconds 700 is out of range/,
    );
  });

  it('a long poll (x-wait-ms) answers as soon as a message arrives', async () => {
    await call('PUT', 'subscriptions/long-poll', { topic: 'projects/p/topics/pull-t' });
    const t0 = Date.now();
    const pulling = call('POST', 'subscriptions/long-poll:pull', { maxMessages: 5 }, { 'x-wait-ms': '8000' });
    setTimeout(() => void call('POST', 'topics/pull-t:publish', { messages: [{ data: b64('wake') }] }), 50);
    const r = await pulling;
    expect((r.json.receivedMessages as unknown[]).length).toBe(1);
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('the waitMs body field works too, and the wait is capped', async () => {
    const capped = await startEmbeddedBroker({ port: 0, maxPullWaitMs: 150 });
    await fetch(`${capped.url}/v1/projects/local/topics/t-cap`, { method: 'PUT' });
    await fetch(`${capped.url}/v1/projects/local/subscriptions/s-cap`, { method: 'PUT', body: JSON.stringify({ topic: 'projects/local/topics/t-cap' }) });
    const t0 = Date.now();
    const res = await fetch(`${capped.url}/v1/projects/local/subscriptions/s-cap:pull`, { method: 'POST', body: JSON.stringify({ waitMs: 60_000 }) });
    expect(await res.json()).toEqual({});
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(100);
    expect(took).toBeLessThan(3000);
    await capped.close();
  });

  it('a pull abandoned by its client does not swallow the next message', async () => {
    await call('PUT', 'subscriptions/abandon', { topic: 'projects/p/topics/pull-t', ackDeadlineSeconds: 600 });
    const controller = new AbortController();
    const abandoned = fetch(`${v1}/subscriptions/abandon:pull`, {
      method: 'POST',
      headers: { 'x-wait-ms': '8000' },
      body: '{}',
      signal: controller.signal,
    }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    controller.abort();
    await abandoned;
    await new Promise((r) => setTimeout(r, 50));
    await call('POST', 'topics/pull-t:publish', { messages: [{ data: b64('for the living') }] });
    const r = await call('POST', 'subscriptions/abandon:pull', {}, { 'x-wait-ms': '2000' });
    expect((r.json.receivedMessages as unknown[]).length).toBe(1);
  });

  it('a waiting pull on a subscription being deleted answers 404', async () => {
    await call('PUT', 'subscriptions/vanish', { topic: 'projects/p/topics/pull-t' });
    const pulling = call('POST', 'subscriptions/vanish:pull', {}, { 'x-wait-ms': '8000' });
    await new Promise((r) => setTimeout(r, 50));
    await call('DELETE', 'subscriptions/vanish');
    await expectError(pulling, 404, 'NOT_FOUND', /was deleted/);
  });

  it('reports statistics (extension)', async () => {
    await call('PUT', 'subscriptions/stats-s', { topic: 'projects/p/topics/pull-t' });
    await call('POST', 'topics/pull-t:publish', { messages: [{ data: b64('a') }, { data: b64('b') }] });
    await call('POST', 'subscriptions/stats-s:pull', { maxMessages: 1, returnImmediately: true });
    expect((await call('GET', 'subscriptions/stats-s:stats')).json).toMatchObject({ backlog: 2, ready: 1, leased: 1, waitingPulls: 0 });
  });
});

describe('server', () => {
  it('answers /healthz', async () => {
    const r = await call('GET', `${server.url}/healthz`);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ status: 'ok', project: 'p' });
  });

  it('logs what it does', () => {
    expect(logs.some((l) => l.msg === 'embedded broker listening')).toBe(true);
    expect(logs.some((l) => l.msg === 'subscription created')).toBe(true);
  });

  it('refuses a port in use, a bad port and a bad project with ConfigError', async () => {
    const port = Number(new URL(server.url).port);
    await expect(startEmbeddedBroker({ port })).rejects.toThrow(/cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    await expect(startEmbeddedBroker({ port: 70_000 })).rejects.toBeInstanceOf(ConfigError);
    await expect(startEmbeddedBroker({ project: 'a/b' })).rejects.toBeInstanceOf(ConfigError);
  });
});
