import { randomBytes } from 'node:crypto';
import { connect } from 'nats';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, NotFoundError, TransientError } from '../../core/errors.ts';
import { brokerContract } from '../broker.contract.ts';
import type { Broker } from '../broker.ts';
import { text, utf8 } from '../testing.ts';
import { createNatsBroker, natsBrokerFromUrl, natsOptionsFromUrl } from './nats-broker.ts';
import { payloadBucket, prefixSubjects } from './nats-names.ts';

const SERVER = '127.0.0.1:4222';

/** Whether a NATS server with JetStream answers at SERVER; the reason when not. */
async function probe(): Promise<string | undefined> {
  try {
    const nc = await connect({ servers: SERVER, timeout: 2000, maxReconnectAttempts: 0 });
    try {
      await nc.jetstreamManager({ timeout: 2000 });
    } finally {
      await nc.close();
    }
    return undefined;
  } catch (err) {
    return `no NATS server with JetStream at ${SERVER}: ${(err as Error).message}`;
  }
}

const unavailable = await probe();
const mustRun = process.env.CI === 'true';
if (unavailable && !mustRun) console.warn(`Skipping the NATS JetStream tests: ${unavailable}`);
const runServerTests = !unavailable || mustRun;

/** A stream prefix of its own per test run; the streams it made are deleted afterwards. */
function runPrefix(): string {
  return `t${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

async function deleteStreams(prefix: string): Promise<void> {
  const nc = await connect({ servers: SERVER, timeout: 2000, maxReconnectAttempts: 0 });
  try {
    const jsm = await nc.jetstreamManager();
    const names: string[] = [];
    for await (const name of jsm.streams.names(prefixSubjects(prefix))) names.push(name);
    names.push(`OBJ_${payloadBucket(prefix)}`);
    for (const name of names) {
      await jsm.streams.delete(name).catch(() => undefined);
    }
  } finally {
    await nc.close();
  }
}

describe.runIf(mustRun && unavailable)('NATS server', () => {
  it(`answers at ${SERVER} (CI=true requires it)`, () => {
    throw new Error(unavailable);
  });
});

if (runServerTests) {
  const prefix = runPrefix();
  brokerContract('NATS JetStream (needs a server at 127.0.0.1:4222)', async () => {
    const broker = natsBrokerFromUrl(new URL(`nats://${SERVER}?prefix=${prefix}`));
    return {
      broker,
      teardown: async () => {
        await broker.close();
        await deleteStreams(prefix);
      },
    };
  });
}

describe('NATS URLs', () => {
  it('reads host, port, prefix and credentials', () => {
    expect(natsOptionsFromUrl(new URL('nats://nats.example.org:4333?prefix=usdf-prompt'))).toEqual({
      servers: 'nats.example.org:4333',
      streamPrefix: 'usdf-prompt',
    });
    expect(natsOptionsFromUrl(new URL('nats://10.0.0.5'))).toEqual({ servers: '10.0.0.5:4222' });
    expect(natsOptionsFromUrl(new URL('nats://alice:s%40cret@h:4222'))).toEqual({
      servers: 'h:4222',
      user: 'alice',
      pass: 's@cret',
    });
    expect(natsOptionsFromUrl(new URL('nats://t0ken@h:4222'))).toEqual({ servers: 'h:4222', token: 't0ken' });
    expect(natsOptionsFromUrl(new URL('nats://h:4222?token=abc&maxAgeS=3600&replicas=3'))).toEqual({
      servers: 'h:4222',
      token: 'abc',
      maxAgeSeconds: 3600,
      replicas: 3,
    });
  });

  it('refuses bad URLs with ConfigError, without showing secrets', () => {
    const cases: [string, RegExp][] = [
      ['http://h:4222', /nats:\/\//],
      ['nats://h:4222?prefix=has_underscore', /prefix/],
      ['nats://h:4222?prefix=', /prefix/],
      ['nats://h:4222?unknown=1', /unknown parameter "unknown"/],
      ['nats://h:4222?maxAgeS=-1', /maxAgeS/],
      ['nats://h:4222?replicas=1.5', /replicas/],
      ['nats://h:4222/some/path', /path/],
      ['nats://alice:pw@h:4222?token=secret-token', /both a user and a token/],
    ];
    for (const [url, message] of cases) {
      let err: unknown;
      try {
        natsOptionsFromUrl(new URL(url));
      } catch (e) {
        err = e;
      }
      expect(err, url).toBeInstanceOf(ConfigError);
      expect((err as Error).message, url).toMatch(message);
      expect((err as Error).message, url).not.toMatch(/secret-token|:pw@/);
    }
  });

  it('creates a broker without connecting, with the capabilities it honours', () => {
    const broker = natsBrokerFromUrl(new URL('nats://127.0.0.1:1?prefix=p'));
    expect(broker.capabilities).toEqual({ push: false, filters: true, orderingKeys: false, deadLetter: true });
  });
});

describe('NATS broker without a server', () => {
  it('maps an unreachable server to TransientError naming it', async () => {
    const broker = createNatsBroker({ servers: '127.0.0.1:1', streamPrefix: 'p' });
    const err = await broker.ensureTopic('nextVisit').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toContain('127.0.0.1:1');
    await broker.close();
  });

  it('refuses calls after close with ConfigError', async () => {
    const broker = createNatsBroker({ servers: '127.0.0.1:1' });
    await broker.close();
    await expect(broker.ensureTopic('nextVisit')).rejects.toBeInstanceOf(ConfigError);
    await expect(broker.pull('nextVisit-sub')).rejects.toBeInstanceOf(ConfigError);
    await expect(broker.ack('nextVisit-sub', ['x'])).rejects.toBeInstanceOf(ConfigError);
  });
});

describe.runIf(runServerTests)('NATS JetStream broker (needs a server at 127.0.0.1:4222)', () => {
  const prefix = runPrefix();
  const brokers: Broker[] = [];
  let counter = 0;
  const unique = (p: string): string => `${p}-${process.pid}-${++counter}`;
  const open = (): Broker => {
    const b = createNatsBroker({ servers: SERVER, streamPrefix: prefix });
    brokers.push(b);
    return b;
  };

  afterAll(async () => {
    await Promise.all(brokers.map((b) => b.close()));
    await deleteStreams(prefix);
  });

  it('a second client gets an unacked message again after the ack deadline', async () => {
    const first = open();
    const topic = unique('t');
    const sub = unique('s');
    await first.ensureTopic(topic);
    await first.ensureSubscription(sub, topic, { ackDeadlineSeconds: 1 });
    const [id] = await first.publish(topic, [{ data: utf8('survivor'), attributes: { detector: '94' } }]);
    const [taken] = await first.pull(sub, { waitMs: 5000 });
    expect(taken.messageId).toBe(id);
    expect(taken.deliveryAttempt).toBe(1);
    await first.close(); // gone without acking, like a crashed worker

    const second = open(); // knows nothing of the subscription yet
    const [again] = await second.pull(sub, { waitMs: 10_000 });
    expect(again.messageId).toBe(id);
    expect(again.deliveryAttempt).toBe(2);
    expect(text(again.data)).toBe('survivor');
    expect(again.attributes).toEqual({ detector: '94' });
    await second.ack(sub, [again.ackId]);
    // Acked: not delivered again, even after another ack deadline.
    expect(await second.pull(sub, { waitMs: 1500 })).toEqual([]);
  });

  it('a subscription set up by another client is a no-op with the same settings', async () => {
    const a = open();
    const b = open();
    const topic = unique('t');
    const sub = unique('s');
    await a.ensureTopic(topic);
    await a.ensureSubscription(sub, topic, { filter: 'attributes.kind = "raw"', ackDeadlineSeconds: 20 });
    await b.ensureTopic(topic);
    await b.ensureSubscription(sub, topic, { filter: 'attributes.kind = "raw"', ackDeadlineSeconds: 20 });
    const err = await b.ensureSubscription(sub, topic, { ackDeadlineSeconds: 20 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/filter/);
    await a.publish(topic, [{ data: utf8('skip'), attributes: { kind: 'calib' } }, { data: utf8('take'), attributes: { kind: 'raw' } }]);
    const got = await b.pull(sub, { waitMs: 5000 });
    expect(got.map((m) => text(m.data))).toEqual(['take']);
    await b.ack(sub, got.map((m) => m.ackId));
  });

  it('a subscription ID is unique across topics', async () => {
    const broker = open();
    const t1 = unique('t');
    const t2 = unique('t');
    const sub = unique('s');
    await broker.ensureTopic(t1);
    await broker.ensureTopic(t2);
    await broker.ensureSubscription(sub, t1);
    const err = await broker.ensureSubscription(sub, t2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(t1);
  });

  it('refuses push subscriptions with ConfigError', async () => {
    const broker = open();
    const topic = unique('t');
    await broker.ensureTopic(topic);
    const err = await broker
      .ensureSubscription(unique('s'), topic, { push: { endpoint: 'http://127.0.0.1:9/push' } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/push/);
  });

  it('keeps any attribute key and value, ordering keys, and names with . ~ + %', async () => {
    const broker = open();
    const topic = unique('odd.t~x+y%41');
    const sub = unique('odd.s~x+y%2F');
    await broker.ensureTopic(topic);
    await broker.ensureSubscription(sub, topic);
    const attributes = {
      'with space': '  padded  ',
      'colon:key': 'a:b',
      Mixed_Case: 'Ünïcødé ✓',
      lines: 'one\r\ntwo',
      '%41': '%zz',
      empty: '',
    };
    await broker.publish(topic, [{ data: utf8('odd'), attributes, orderingKey: 'visit 1' }]);
    const [m] = await broker.pull(sub, { waitMs: 5000 });
    expect(m.attributes).toEqual(attributes);
    expect(m.orderingKey).toBe('visit 1');
    await broker.ack(sub, [m.ackId]);
  });

  it('holds a nacked message back for the retry backoff', async () => {
    const broker = open();
    const topic = unique('t');
    const sub = unique('s');
    await broker.ensureTopic(topic);
    await broker.ensureSubscription(sub, topic, { ackDeadlineSeconds: 60, retry: { minimumBackoffS: 120, maximumBackoffS: 600 } });
    await broker.publish(topic, [{ data: utf8('later') }]);
    const [m] = await broker.pull(sub, { waitMs: 5000 });
    await broker.nack(sub, [m.ackId]);
    expect(await broker.pull(sub)).toEqual([]);
  });

  it('close() withdraws a waiting pull with ConfigError', async () => {
    const broker = open();
    const topic = unique('t');
    const sub = unique('s');
    await broker.ensureTopic(topic);
    await broker.ensureSubscription(sub, topic);
    const pulling = broker.pull(sub, { waitMs: 8000 });
    setTimeout(() => void broker.close(), 50);
    await expect(pulling).rejects.toBeInstanceOf(ConfigError);
  });

  it('a subscription deleted by another client is NotFoundError', async () => {
    const a = open();
    const b = open();
    const topic = unique('t');
    const sub = unique('s');
    await a.ensureTopic(topic);
    await a.ensureSubscription(sub, topic);
    expect(await a.pull(sub)).toEqual([]);
    await b.deleteSubscription(sub);
    await expect(a.pull(sub, { waitMs: 100 })).rejects.toBeInstanceOf(NotFoundError);
  });
});
