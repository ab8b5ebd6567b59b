import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, InvalidInputError, NotFoundError, TransientError } from '../../core/errors.ts';
import type { Broker, ReceivedMessage } from '../broker.ts';
import { brokerContract } from '../broker.contract.ts';
import { text, utf8 } from '../testing.ts';
import { createRedisBroker, parseRedisUrl, redisBrokerFromUrl, type RedisBrokerOptions } from './redis-broker.ts';

const HOST = '127.0.0.1';
const PORT = 6379;

/** True when something at HOST:PORT answers PING with PONG. */
function redisAnswers(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port: PORT });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

const available = await redisAnswers();
const runPrefix = `pp-test-${process.pid}-${randomBytes(4).toString('hex')}`;
const options = (extra: RedisBrokerOptions = {}): RedisBrokerOptions => ({ host: HOST, port: PORT, prefix: runPrefix, ...extra });

/** Deletes every key of this run. */
async function deleteRunKeys(): Promise<void> {
  const r = new Redis({ host: HOST, port: PORT, lazyConnect: true });
  try {
    await r.connect();
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${runPrefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

describe('redis:// URLs', () => {
  it('parses host, port, credentials, database and prefix', () => {
    expect(parseRedisUrl(new URL('redis://user:p%40ss@redis.example:6380/2?prefix=%7Bpp%7D'))).toEqual({
      host: 'redis.example',
      port: 6380,
      username: 'user',
      password: 'p@ss',
      db: 2,
      prefix: '{pp}',
    });
    expect(parseRedisUrl(new URL('redis://10.0.0.5'))).toEqual({ host: '10.0.0.5' });
    expect(parseRedisUrl(new URL('redis://:secret@[::1]:7000/'))).toEqual({ host: '::1', port: 7000, password: 'secret' });
    expect(parseRedisUrl(new URL('rediss://cache:6380'))).toEqual({ host: 'cache', port: 6380, tls: true });
  });

  it('refuses what it cannot use, naming it and hiding the password', () => {
    const refuse = (url: string, pattern: RegExp): void => {
      let err: unknown;
      try {
        parseRedisUrl(new URL(url));
      } catch (e) {
        err = e;
      }
      expect(err, url).toBeInstanceOf(ConfigError);
      expect((err as Error).message, url).toMatch(pattern);
      expect((err as Error).message, url).not.toContain('hunter2');
    };
    refuse('redis://u:hunter2@host:6379/abc', /database number/);
    refuse('redis://u:hunter2@host:6379/0?prefix=has%20space', /prefix/);
    refuse('redis://u:hunter2@host:6379/0?prefx=x', /unknown parameter "prefx"/);
    refuse('http://u:hunter2@host:6379', /redis:\/\//);
  });

  it('builds a pull-only broker with filters and dead letters', async () => {
    const broker = redisBrokerFromUrl(new URL('redis://127.0.0.1:1/0?prefix=unused'));
    expect(broker.capabilities).toEqual({ push: false, filters: true, orderingKeys: false, deadLetter: true });
    await broker.close();
  });
});

describe('Redis broker without a server', () => {
  it('maps an unreachable server to TransientError naming the address', async () => {
    const broker = createRedisBroker({ host: '127.0.0.1', port: 1, connectTimeoutMs: 500 });
    const err = await broker.ensureTopic('nextVisit').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toContain('127.0.0.1:1');
    const again = await broker.pull('nextVisit-sub').catch((e: unknown) => e);
    expect(again).toBeInstanceOf(TransientError);
    await broker.close();
  });

  it('checks names before any I/O and refuses calls after close', async () => {
    const broker = createRedisBroker({ host: '127.0.0.1', port: 1 });
    await expect(broker.ensureTopic('has space')).rejects.toBeInstanceOf(InvalidInputError);
    await broker.close();
    await expect(broker.ensureTopic('nextVisit')).rejects.toBeInstanceOf(ConfigError);
  });
});

if (!available) {
  const reason = `no Redis answers at ${HOST}:${PORT}`;
  if (process.env.CI === 'true') {
    describe('Redis Streams backend', () => {
      it('needs a Redis server in CI', () => {
        throw new Error(`${reason}; CI=true requires one`);
      });
    });
  } else {
    console.warn(`skipping the Redis Streams broker tests: ${reason}`);
    describe.skip(`Redis Streams backend (${reason})`, () => {
      it('needs a server', () => {});
    });
  }
} else {
  brokerContract('Redis Streams (needs a server at 127.0.0.1:6379)', async () => {
    const broker = createRedisBroker(options());
    return {
      broker,
      teardown: async () => {
        await broker.close();
      },
    };
  });

  describe('Redis Streams backend', () => {
    const brokers: Broker[] = [];
    let raw: Redis;
    let counter = 0;
    const unique = (p: string): string => `${p}-${process.pid}-${++counter}`;
    const client = (extra: RedisBrokerOptions = {}): Broker => {
      const b = createRedisBroker(options(extra));
      brokers.push(b);
      return b;
    };

    beforeAll(async () => {
      raw = new Redis({ host: HOST, port: PORT });
    });
    afterAll(async () => {
      for (const b of brokers) await b.close();
      raw.disconnect();
      await deleteRunKeys();
    });

    async function pullN(broker: Broker, sub: string, count: number, timeoutMs = 5000): Promise<ReceivedMessage[]> {
      const got: ReceivedMessage[] = [];
      const deadline = Date.now() + timeoutMs;
      while (got.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`pulled ${got.length} of ${count} messages from ${sub}`);
        got.push(...(await broker.pull(sub, { maxMessages: count - got.length, waitMs: left })));
      }
      return got;
    }

    it('lays out the documented keys: a topic registry, one stream per topic, a hash and a group per subscription', async () => {
      const broker = client();
      const topic = unique('nextVisit');
      const sub = unique('nextVisit-fanout');
      await broker.ensureTopic(topic);
      await broker.ensureSubscription(sub, topic, { ackDeadlineSeconds: 30, filter: 'attributes:instrument' });
      expect(await raw.sismember(`${runPrefix}:topics`, topic)).toBe(1);
      expect(await raw.type(`${runPrefix}:topic:${topic}`)).toBe('stream');
      const hash = await raw.hgetall(`${runPrefix}:sub:${sub}`);
      expect(hash).toMatchObject({ topic, ackDeadlineMs: '30000', filter: 'attributes:instrument' });
      const groups = (await raw.xinfo('GROUPS', `${runPrefix}:topic:${topic}`)) as unknown[][];
      expect(groups.map((g) => g[1])).toEqual([sub]);

      const [id] = await broker.publish(topic, [{ data: utf8('{"detector":94}'), attributes: { instrument: 'LSSTCam' }, orderingKey: 'visit-1' }]);
      const [entry] = await raw.xrange(`${runPrefix}:topic:${topic}`, id, id);
      expect(entry[1]).toEqual(['data', '{"detector":94}', 'attributes', '{"instrument":"LSSTCam"}', 'orderingKey', 'visit-1']);
      const [m] = await pullN(broker, sub, 1);
      expect(m.orderingKey).toBe('visit-1');
      await broker.ack(sub, [m.ackId]);

      await broker.deleteSubscription(sub);
      expect(await raw.exists(`${runPrefix}:sub:${sub}`)).toBe(0);
      expect(await raw.xinfo('GROUPS', `${runPrefix}:topic:${topic}`)).toEqual([]);
    });

    it('another client of the group gets an entry the first one never acked once its deadline passes', async () => {
      const first = client();
      const second = client();
      const topic = unique('nextVisit');
      const sub = unique('worker');
      await first.ensureTopic(topic);
      await first.ensureSubscription(sub, topic, { ackDeadlineSeconds: 0.3 });
      const [id] = await first.publish(topic, [{ data: utf8('detector 42') }]);
      const [lost] = await pullN(first, sub, 1);
      expect(lost.deliveryAttempt).toBe(1);
      // The first worker dies without acking: the second one takes the message over.
      const [taken] = await pullN(second, sub, 1);
      expect(taken.messageId).toBe(id);
      expect(text(taken.data)).toBe('detector 42');
      expect(taken.deliveryAttempt).toBe(2);
      // A late ack from the first worker does not ack the second delivery.
      await first.ack(sub, [lost.ackId]);
      await second.nack(sub, [taken.ackId]);
      const [third] = await pullN(second, sub, 1);
      expect(third.messageId).toBe(id);
      expect(third.deliveryAttempt).toBe(3);
      await second.ack(sub, [third.ackId]);
      expect(await raw.xpending(`${runPrefix}:topic:${topic}`, sub)).toEqual([0, null, null, null]);
    });

    it('fans out: the consumers of one group each get distinct entries', async () => {
      const workers = [client(), client(), client()];
      const topic = unique('nextVisit');
      const sub = unique('prompt-processing');
      await workers[0].ensureTopic(topic);
      await workers[0].ensureSubscription(sub, topic, { ackDeadlineSeconds: 60 });
      const perWorker = 20;
      const ids = await workers[0].publish(
        topic,
        Array.from({ length: perWorker * workers.length }, (_, d) => ({ data: utf8(`detector ${d}`), attributes: { detector: String(d) } })),
      );
      const got = await Promise.all(workers.map((w) => pullN(w, sub, perWorker)));
      for (const batch of got) expect(batch).toHaveLength(perWorker);
      const all = got.flat().map((m) => m.messageId);
      expect(new Set(all).size).toBe(ids.length);
      expect(new Set(all)).toEqual(new Set(ids));
      await Promise.all(workers.map((w, i) => w.ack(sub, got[i].map((m) => m.ackId))));
      expect(await raw.xpending(`${runPrefix}:topic:${topic}`, sub)).toEqual([0, null, null, null]);
    });

    it('delivers entries other producers XADD with just a data field, and drops those past retention', async () => {
      const broker = client();
      const topic = unique('nextVisit');
      const sub = unique('sub');
      await broker.ensureTopic(topic);
      await broker.ensureSubscription(sub, topic, { retentionSeconds: 600 });
      const stream = `${runPrefix}:topic:${topic}`;
      await raw.xadd(stream, '1000-0', 'data', 'from 1970'); // published long before the retention window
      const recent = await raw.xadd(stream, '*', 'data', 'fresh', 'other', 'ignored');
      const got = await broker.pull(sub, { waitMs: 1000 });
      expect(got.map((m) => [m.messageId, text(m.data), m.attributes])).toEqual([[recent, 'fresh', {}]]);
      await broker.ack(sub, got.map((m) => m.ackId));
      expect(await raw.xpending(stream, sub)).toEqual([0, null, null, null]);
    });

    it('dead-letters an entry whose deadline expired maxDeliveryAttempts times, on the next pull', async () => {
      const broker = client();
      const dl = unique('dead');
      const dlSub = unique('dead-sub');
      const topic = unique('nextVisit');
      const sub = unique('sub');
      await broker.ensureTopic(dl);
      await broker.ensureSubscription(dlSub, dl);
      await broker.ensureTopic(topic);
      await broker.ensureSubscription(sub, topic, { ackDeadlineSeconds: 0.2, deadLetter: { topic: dl, maxDeliveryAttempts: 1 } });
      const [id] = await broker.publish(topic, [{ data: utf8('poison'), attributes: { visit: '7' } }]);
      const [m] = await pullN(broker, sub, 1);
      expect(m.messageId).toBe(id);
      // Not acked; once the deadline passes the next pull moves it instead of redelivering it.
      expect(await broker.pull(sub, { waitMs: 600 })).toEqual([]);
      const [dead] = await pullN(broker, dlSub, 1);
      expect(text(dead.data)).toBe('poison');
      expect(dead.attributes).toMatchObject({
        visit: '7',
        CloudPubSubDeadLetterSourceDeliveryCount: '1',
        CloudPubSubDeadLetterSourceSubscription: sub,
      });
      await broker.ack(dlSub, [dead.ackId]);
    });

    it('refuses push subscriptions and a missing dead-letter topic', async () => {
      const broker = client();
      const topic = unique('t');
      await broker.ensureTopic(topic);
      await expect(broker.ensureSubscription(unique('s'), topic, { push: { endpoint: 'http://localhost:1/x' } })).rejects.toBeInstanceOf(
        ConfigError,
      );
      const err = await broker
        .ensureSubscription(unique('s'), topic, { deadLetter: { topic: unique('nowhere'), maxDeliveryAttempts: 5 } })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotFoundError);
      expect((err as Error).message).toMatch(/dead-letter topic nowhere-/);
    });

    it('close() ends a waiting pull with ConfigError and removes its idle consumer', async () => {
      const broker = createRedisBroker(options({ consumerName: unique('leaving') }));
      const topic = unique('t');
      const sub = unique('s');
      await broker.ensureTopic(topic);
      await broker.ensureSubscription(sub, topic);
      expect(await broker.pull(sub)).toEqual([]);
      const pulling = broker.pull(sub, { waitMs: 8000 }).catch((e: unknown) => e);
      await broker.close();
      expect(await pulling).toBeInstanceOf(ConfigError);
      const consumers = (await raw.xinfo('CONSUMERS', `${runPrefix}:topic:${topic}`, sub)) as unknown[][];
      expect(consumers).toEqual([]);
    });
  });

  afterAll(async () => {
    await deleteRunKeys();
  });
}
