import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConfigError, InvalidInputError, NotFoundError, TransientError } from '../../core/errors.ts';
import type { Broker, ReceivedMessage } from '../broker.ts';
import { brokerContract } from '../broker.contract.ts';
import { text, utf8, waitFor } from '../testing.ts';
import {
  ORDERING_KEY_HEADER,
  createKafkaBroker,
  kafkaBrokerFromUrl,
  kafkaTopicName,
  mapKafkaError,
  parseKafkaUrl,
  recordAttributes,
  type KafkaBrokerOptions,
} from './kafka-broker.ts';
import { KafkaModel, type ModelConsumer } from './kafka-model.ts';

async function pullN(broker: Broker, sub: string, count: number, timeoutMs = 5000): Promise<ReceivedMessage[]> {
  const got: ReceivedMessage[] = [];
  const deadline = Date.now() + timeoutMs;
  while (got.length < count) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`pulled ${got.length} of ${count} messages from ${sub}`);
    got.push(...(await broker.pull(sub, { maxMessages: Math.min(1000, count - got.length), waitMs: left })));
  }
  return got;
}

describe('kafka:// URLs', () => {
  it('parses brokers, prefix, client ID, partitions and replication', () => {
    expect(parseKafkaUrl(new URL('kafka://kafka.example:9093?prefix=pp.&clientId=activator&partitions=4&replication=3'))).toEqual({
      brokers: ['kafka.example:9093'],
      prefix: 'pp.',
      clientId: 'activator',
      partitions: 4,
      replicationFactor: 3,
    });
    expect(parseKafkaUrl(new URL('kafka://10.0.0.5'))).toEqual({ brokers: ['10.0.0.5:9092'] });
    expect(parseKafkaUrl(new URL('kafka://[::1]:9094/'))).toEqual({ brokers: ['[::1]:9094'] });
    // Several HOST:PORT: `new URL()` refuses different ports, so the string form is accepted.
    expect(parseKafkaUrl('kafka://k1:9092,k2:9093,k3?prefix=x')).toEqual({ brokers: ['k1:9092', 'k2:9093', 'k3:9092'], prefix: 'x' });
    expect(parseKafkaUrl(new URL('kafka://k1,k2:9092'))).toEqual({ brokers: ['k1:9092', 'k2:9092'] });
  });

  it('turns TLS on with kafka+ssl:// and SASL on with user:pass, PLAIN unless mechanism says otherwise', () => {
    expect(parseKafkaUrl(new URL('kafka+ssl://broker:9093'))).toEqual({ brokers: ['broker:9093'], ssl: true });
    expect(parseKafkaUrl(new URL('kafka+ssl://alice:p%40ss@broker:9093'))).toEqual({
      brokers: ['broker:9093'],
      ssl: true,
      sasl: { mechanism: 'plain', username: 'alice', password: 'p@ss' },
    });
    expect(parseKafkaUrl('kafka://bob:s3cret@b1:9092,b2:9092?mechanism=SCRAM-SHA-512')).toEqual({
      brokers: ['b1:9092', 'b2:9092'],
      sasl: { mechanism: 'scram-sha-512', username: 'bob', password: 's3cret' },
    });
  });

  it('refuses what it cannot use, naming it and hiding the password', () => {
    const refuse = (url: string, pattern: RegExp): void => {
      let err: unknown;
      try {
        parseKafkaUrl(url);
      } catch (e) {
        err = e;
      }
      expect(err, url).toBeInstanceOf(ConfigError);
      expect((err as Error).message, url).toMatch(pattern);
      expect((err as Error).message, url).not.toContain('hunter2');
    };
    refuse('kafka://u:hunter2@host:9092?prefix=has%20space', /prefix/);
    refuse('kafka://u:hunter2@host:9092?prefx=x', /unknown parameter "prefx"/);
    refuse('kafka://u:hunter2@host:9092?mechanism=gssapi', /unknown SASL mechanism "gssapi"/);
    refuse('kafka://host:9092?mechanism=plain', /needs a user/);
    refuse('kafka://u:hunter2@host:9092/topic', /no path/);
    refuse('kafka://u:hunter2@host:99999', /invalid port/);
    refuse('kafka://u:hunter2@host:9092?partitions=0', /partitions/);
    refuse('kafka://u:hunter2@host:9092?clientId=a%20b', /clientId/);
    refuse('redis://u:hunter2@host:9092', /kafka:\/\//);
    refuse('kafka://u:hunter2@', /not HOST|no host/);
  });

  it('builds a pull-only broker with filters, ordering keys and dead letters', async () => {
    const broker = kafkaBrokerFromUrl(new URL('kafka://127.0.0.1:1?prefix=unused.'));
    expect(broker.capabilities).toEqual({ push: false, filters: true, orderingKeys: true, deadLetter: true });
    expect(typeof broker.extendAckDeadline).toBe('function');
    await broker.close();
  });
});

describe('Kafka names, headers and errors', () => {
  it('keeps names made of Kafka characters, and rewrites the others injectively', () => {
    expect(kafkaTopicName('', 'lsst.sal.ScriptQueue.logevent_nextVisit')).toBe('lsst.sal.ScriptQueue.logevent_nextVisit');
    expect(kafkaTopicName('pp.', 'nextVisit')).toBe('pp.nextVisit');
    const tilde = kafkaTopicName('', 'a~b+c%d');
    expect(tilde).toMatch(/^a_b_c_d__[0-9a-f]{16}$/);
    expect(kafkaTopicName('', 'a+b~c%d')).not.toBe(tilde);
    expect(kafkaTopicName('', 'a_b_c_d')).toBe('a_b_c_d');
    const long = kafkaTopicName('prefix.', 'x'.repeat(255));
    expect(long).toHaveLength(249);
    expect(long).toMatch(/^[A-Za-z0-9._-]+$/);
    expect(kafkaTopicName('prefix.', 'x'.repeat(254) + 'y')).not.toBe(long);
  });

  it('reads attributes from headers: strings or bytes, the last of repeated ones, the ordering key apart', () => {
    expect(
      recordAttributes({
        instrument: Buffer.from('LSSTCam'),
        detector: '94',
        repeated: [Buffer.from('a'), Buffer.from('b')],
        gone: undefined,
        [ORDERING_KEY_HEADER]: Buffer.from('visit-1'),
      }),
    ).toEqual({ attributes: { instrument: 'LSSTCam', detector: '94', repeated: 'b' }, orderingKey: 'visit-1' });
    expect(recordAttributes(undefined)).toEqual({ attributes: {}, orderingKey: undefined });
  });

  it('maps kafkajs failures to the error classes', () => {
    const protocol = (type: string): Error => Object.assign(new Error(type.toLowerCase()), { name: 'KafkaJSProtocolError', type });
    const wrapped = (cause: Error): Error => Object.assign(new Error(cause.message), { name: 'KafkaJSNumberOfRetriesExceeded', cause });
    const map = (e: unknown): Error => mapKafkaError(e, 'op', 'k:9092');
    expect(map(wrapped(protocol('UNKNOWN_TOPIC_OR_PARTITION')))).toBeInstanceOf(NotFoundError);
    expect(map(Object.assign(new Error('SASL PLAIN authentication failed'), { name: 'KafkaJSSASLAuthenticationError' }))).toBeInstanceOf(ConfigError);
    expect(map(protocol('TOPIC_AUTHORIZATION_FAILED'))).toBeInstanceOf(ConfigError);
    expect(map(Object.assign(new Error('agg'), { name: 'KafkaJSAggregateError', errors: [protocol('INVALID_REPLICATION_FACTOR')] }))).toBeInstanceOf(ConfigError);
    expect(map(protocol('INVALID_TOPIC_EXCEPTION'))).toBeInstanceOf(InvalidInputError);
    expect(map(protocol('MESSAGE_TOO_LARGE'))).toBeInstanceOf(InvalidInputError);
    const transient = map(wrapped(Object.assign(new Error('Connection error: connect ECONNREFUSED'), { name: 'KafkaJSConnectionError' })));
    expect(transient).toBeInstanceOf(TransientError);
    expect(transient.message).toContain('k:9092');
    expect(map(protocol('REBALANCE_IN_PROGRESS'))).toBeInstanceOf(TransientError);
    const mine = new NotFoundError('x');
    expect(map(mine)).toBe(mine);
  });
});

describe('Kafka broker without a server', () => {
  it('maps an unreachable cluster to TransientError naming the address', async () => {
    const broker = createKafkaBroker({ brokers: ['127.0.0.1:1'], connectTimeoutMs: 500, retries: 1 });
    const err = await broker.ensureTopic('nextVisit').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toContain('127.0.0.1:1');
    expect(await broker.publish('nextVisit', [{ data: utf8('x') }]).catch((e: unknown) => e)).toBeInstanceOf(TransientError);
    expect(await broker.pull('nextVisit-sub').catch((e: unknown) => e)).toBeInstanceOf(TransientError);
    await broker.close();
  });

  it('checks names and messages before any I/O and refuses calls after close', async () => {
    const broker = createKafkaBroker({ brokers: ['127.0.0.1:1'] });
    await expect(broker.ensureTopic('has space')).rejects.toBeInstanceOf(InvalidInputError);
    await expect(broker.publish('nextVisit', [{ data: new Uint8Array(0) }])).rejects.toThrow(/messages\[0\]/);
    await expect(broker.publish('nextVisit', [{ data: utf8('x'), attributes: { [ORDERING_KEY_HEADER]: 'k' } }])).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    await expect(broker.ensureSubscription('sub-1', 'nextVisit', { filter: 'attributes.x = y' })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(broker.ensureSubscription('sub-1', 'nextVisit', { push: { endpoint: 'http://localhost:1/x' } })).rejects.toBeInstanceOf(ConfigError);
    await broker.close();
    await expect(broker.ensureTopic('nextVisit')).rejects.toBeInstanceOf(ConfigError);
    await expect(broker.pull('nextVisit-sub')).rejects.toBeInstanceOf(ConfigError);
  });

  it('refuses options it cannot use', () => {
    const bad: KafkaBrokerOptions[] = [
      { brokers: [] },
      { brokers: ['no-port'] },
      { prefix: 'a b' },
      { partitions: 0 },
      { replicationFactor: 1.5 },
      { clientId: '' },
      { sasl: { mechanism: 'plain', username: '', password: 'x' } },
      { registryTopic: 'has/slash' },
    ];
    for (const options of bad) expect(() => createKafkaBroker(options), JSON.stringify(options)).toThrow(ConfigError);
  });
});

describe('Kafka backend on an in-memory model of kafkajs', () => {
  const brokers: Broker[] = [];
  let counter = 0;
  const unique = (p: string): string => `${p}-${++counter}`;
  const client = (model: KafkaModel, extra: KafkaBrokerOptions = {}): Broker => {
    const b = createKafkaBroker({ client: model.client(), prefix: 'pp.', ...extra });
    brokers.push(b);
    return b;
  };
  /** The model's consumers of a subscription's group. */
  const members = (model: KafkaModel, sub: string): ModelConsumer[] => model.groups.get(`pp.${sub}`)?.members ?? [];

  afterEach(async () => {
    for (const b of brokers.splice(0)) await b.close();
  });

  it('lays out the documented topics, registry record and group', async () => {
    const model = new KafkaModel();
    const broker = client(model);
    await broker.ensureTopic('nextVisit');
    expect(model.topics.get('pp.nextVisit')?.partitions).toHaveLength(1);
    expect(model.topics.get('pp.nextVisit')?.configs['max.message.bytes']).toBe(String(10_000_000 + 100 * 1024));
    await broker.publish('nextVisit', [{ data: utf8('before') }]);
    await broker.ensureSubscription('nextVisit-fanout', 'nextVisit', { ackDeadlineSeconds: 30, filter: 'attributes:instrument' });
    const registry = model.topics.get('pp.__subscriptions')!;
    expect(registry.configs['cleanup.policy']).toBe('compact');
    const [entry] = registry.partitions[0];
    expect(entry.key?.toString()).toBe('nextVisit-fanout');
    expect(JSON.parse(entry.value!.toString())).toMatchObject({
      v: 1,
      topic: 'nextVisit',
      kafkaTopic: 'pp.nextVisit',
      ackDeadlineMs: 30_000,
      retentionMs: 600_000,
      filter: 'attributes:instrument',
      startOffsets: { '0': '1' },
    });

    const ids = await broker.publish('nextVisit', [
      { data: utf8('{"detector":94}'), attributes: { instrument: 'LSSTCam' }, orderingKey: 'visit-1' },
      { data: utf8('second'), attributes: { instrument: 'LATISS' } },
    ]);
    expect(ids).toEqual(['0:1', '0:2']);
    const record = model.topics.get('pp.nextVisit')!.partitions[0][1];
    expect(record.key?.toString()).toBe('visit-1');
    expect(record.headers).toEqual({ instrument: 'LSSTCam', [ORDERING_KEY_HEADER]: 'visit-1' });

    const got = await pullN(broker, 'nextVisit-fanout', 2);
    expect(got.map((m) => [m.messageId, text(m.data), m.attributes, m.orderingKey, m.deliveryAttempt])).toEqual([
      ['0:1', '{"detector":94}', { instrument: 'LSSTCam' }, 'visit-1', 1],
      ['0:2', 'second', { instrument: 'LATISS' }, undefined, 1],
    ]);
    expect(Date.parse(got[0].publishTime)).toBeGreaterThan(0);
    await broker.ack('nextVisit-fanout', got.map((m) => m.ackId));
    expect(model.committed('pp.nextVisit-fanout', 'pp.nextVisit', 0)).toBe(3);

    await broker.deleteSubscription('nextVisit-fanout');
    const last = registry.partitions[0][registry.partitions[0].length - 1];
    expect([last.key?.toString(), last.value]).toEqual(['nextVisit-fanout', null]);
    expect(model.groups.has('pp.nextVisit-fanout')).toBe(false);
    await expect(broker.pull('nextVisit-fanout')).rejects.toBeInstanceOf(NotFoundError);
    await broker.deleteSubscription('nextVisit-fanout');
  });

  it('starts a subscription at the end offsets of its creation, also over offsets an older group left', async () => {
    const model = new KafkaModel();
    const broker = client(model, { partitions: 2 });
    const topic = unique('t');
    const sub = unique('s');
    await broker.ensureTopic(topic);
    await broker.publish(topic, Array.from({ length: 6 }, (_, i) => ({ data: utf8(`old ${i}`) })));
    // An older subscription of the same name left committed offsets at the start of the log.
    model.group(`pp.${sub}`).committed.set(`pp.${topic}:0`, 0);
    await broker.ensureSubscription(sub, topic);
    const ids = await broker.publish(topic, Array.from({ length: 4 }, (_, i) => ({ data: utf8(`new ${i}`) })));
    const got = await pullN(broker, sub, 4);
    expect(got.map((m) => text(m.data)).sort()).toEqual(['new 0', 'new 1', 'new 2', 'new 3']);
    expect(new Set(got.map((m) => m.messageId))).toEqual(new Set(ids));
    expect(await broker.pull(sub, { waitMs: 50 })).toEqual([]);
  });

  it('commits per partition the lowest offset not acked', async () => {
    const model = new KafkaModel();
    const broker = client(model);
    const topic = unique('t');
    const sub = unique('s');
    await broker.ensureTopic(topic);
    await broker.ensureSubscription(sub, topic, { ackDeadlineSeconds: 60 });
    await broker.publish(topic, [{ data: utf8('a') }, { data: utf8('b') }, { data: utf8('c') }]);
    const [a, b, c] = await pullN(broker, sub, 3);
    const committed = (): number | undefined => model.committed(`pp.${sub}`, `pp.${topic}`, 0);
    await broker.ack(sub, [b.ackId, c.ackId]);
    expect(committed()).toBe(0);
    await broker.ack(sub, [a.ackId]);
    expect(committed()).toBe(3);
    expect(model.commits.filter((x) => x.group === `pp.${sub}`).map((x) => x.offset)).toEqual([0, 3]);
  });

  it('another client sees the subscription: same options are a no-op, others a ConfigError naming it', async () => {
    const model = new KafkaModel();
    const first = client(model);
    const second = client(model);
    const topic = unique('t');
    const sub = unique('s');
    await first.ensureTopic(topic);
    await first.ensureSubscription(sub, topic, { ackDeadlineSeconds: 30, filter: 'attributes:x' });
    await second.ensureSubscription(sub, topic, { ackDeadlineSeconds: 30, filter: 'attributes:x' });
    const err = await second.ensureSubscription(sub, topic, { ackDeadlineSeconds: 60, filter: 'attributes:x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(sub);
    expect((err as Error).message).toContain('ackDeadlineSeconds: existing 30, requested 60');
    expect(model.topics.get('pp.__subscriptions')!.partitions[0]).toHaveLength(1);
  });

  it('two clients creating one subscription at once agree on the first record written', async () => {
    const model = new KafkaModel();
    const a = client(model);
    const b = client(model);
    const topic = unique('t');
    const sub = unique('s');
    await a.ensureTopic(topic);
    await b.ensureSubscription(unique('warm-up'), topic); // both registry readers are running
    await a.ensureSubscription(unique('warm-up'), topic);
    const results = await Promise.allSettled([
      a.ensureSubscription(sub, topic, { ackDeadlineSeconds: 30 }),
      b.ensureSubscription(sub, topic, { ackDeadlineSeconds: 60 }),
    ]);
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected).toHaveLength(1);
    expect((rejected[0] as PromiseRejectedResult).reason).toBeInstanceOf(ConfigError);
    // The last record of the key (the one compaction keeps) is the winner's.
    const log = model.topics.get('pp.__subscriptions')!.partitions[0].filter((r) => r.key?.toString() === sub);
    const first = JSON.parse(log[0].value!.toString()) as { nonce: string; ackDeadlineMs: number };
    const lastRecord = JSON.parse(log[log.length - 1].value!.toString()) as { nonce: string };
    expect(lastRecord.nonce).toBe(first.nonce);
    const winnerMs = first.ackDeadlineMs;
    await a.ensureSubscription(sub, topic, { ackDeadlineSeconds: winnerMs / 1000 });
    await b.ensureSubscription(sub, topic, { ackDeadlineSeconds: winnerMs / 1000 });
  });

  it('what a client leaves unacked when it goes is delivered by the member that takes its partition', async () => {
    const model = new KafkaModel();
    const first = client(model);
    const second = client(model);
    const topic = unique('t');
    const sub = unique('worker');
    await first.ensureTopic(topic);
    await first.ensureSubscription(sub, topic, { ackDeadlineSeconds: 60 });
    const ids = await first.publish(topic, [{ data: utf8('detector 1') }, { data: utf8('detector 2') }]);
    const [done, lost] = await pullN(first, sub, 2);
    await first.ack(sub, [done.ackId]);
    expect(await second.pull(sub)).toEqual([]); // joins; the only partition stays with the first member
    await waitFor(() => members(model, sub).length === 2, { what: 'two members' });
    expect(await second.pull(sub, { waitMs: 50 })).toEqual([]);
    await first.close(); // dies without acking `lost`
    const [taken] = await pullN(second, sub, 1);
    expect(taken.messageId).toBe(lost.messageId);
    expect(taken.messageId).toBe(ids[1]);
    expect(text(taken.data)).toBe('detector 2');
    await second.ack(sub, [taken.ackId]);
    expect(model.committed(`pp.${sub}`, `pp.${topic}`, 0)).toBe(2);
    expect(await second.pull(sub, { waitMs: 50 })).toEqual([]);
  });

  it('members of a group split the partitions and each gets distinct messages', async () => {
    const model = new KafkaModel();
    const workers = [client(model, { partitions: 4 }), client(model, { partitions: 4 })];
    const topic = unique('t');
    const sub = unique('fanout');
    await workers[0].ensureTopic(topic);
    await workers[0].ensureSubscription(sub, topic, { ackDeadlineSeconds: 60 });
    await Promise.all(workers.map((w) => w.pull(sub)));
    await waitFor(() => members(model, sub).length === 2, { what: 'two members' });
    const ids = await workers[0].publish(topic, Array.from({ length: 40 }, (_, d) => ({ data: utf8(`detector ${d}`) })));
    const seen = new Map<string, number>();
    await waitFor(
      async () => {
        for (let w = 0; w < workers.length; w++) {
          const got = await workers[w].pull(sub, { maxMessages: 100 });
          for (const m of got) seen.set(m.messageId, w);
          await workers[w].ack(sub, got.map((m) => m.ackId));
        }
        return seen.size === ids.length;
      },
      { what: 'all 40 messages' },
    );
    expect(new Set(seen.keys())).toEqual(new Set(ids));
    expect(new Set(seen.values())).toEqual(new Set([0, 1]));
  });

  it('a deletion elsewhere ends this client\'s pulls with NotFoundError', async () => {
    const model = new KafkaModel();
    const first = client(model);
    const second = client(model);
    const topic = unique('t');
    const sub = unique('s');
    await first.ensureTopic(topic);
    await first.ensureSubscription(sub, topic);
    const pulling = first.pull(sub, { waitMs: 10_000 }).catch((e: unknown) => e);
    await waitFor(() => members(model, sub).length === 1, { what: 'a member' });
    await second.deleteSubscription(sub);
    expect(await pulling).toBeInstanceOf(NotFoundError);
    await expect(first.pull(sub)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('delivers records other producers wrote (no headers of ours), with headers as attributes', async () => {
    const model = new KafkaModel();
    const broker = client(model, { prefix: '' });
    model.createTopic('lsst.sal.ScriptQueue.logevent_nextVisit');
    await broker.ensureSubscription('nextVisit-sub', 'lsst.sal.ScriptQueue.logevent_nextVisit');
    const sent = Date.now() - 1500;
    model.append('lsst.sal.ScriptQueue.logevent_nextVisit', 0, [
      // Published before the subscription's retention (600 s by default): dropped, not delivered.
      { key: null, value: Buffer.from('stale'), headers: {}, timestamp: String(sent - 601_000) },
      { key: Buffer.from('salIndex-1'), value: Buffer.from([0, 0, 0, 4, 76, 1]), headers: { producer_timestamp: String(sent) }, timestamp: String(sent) },
      { key: null, value: null, headers: { only: 'headers' } },
    ]);
    const got = await pullN(broker, 'nextVisit-sub', 2);
    expect(got.map((m) => m.messageId)).toEqual(['0:1', '0:2']);
    expect(got[0].data).toEqual(new Uint8Array([0, 0, 0, 4, 76, 1]));
    expect(got[0].attributes).toEqual({ producer_timestamp: String(sent) });
    expect(got[0].orderingKey).toBeUndefined(); // a record key alone is not an ordering key
    expect(got[0].publishTime).toBe(new Date(sent).toISOString());
    expect(got[1].data.byteLength).toBe(0);
    expect(got[1].attributes).toEqual({ only: 'headers' });
    await broker.ack('nextVisit-sub', got.map((m) => m.ackId));
    expect(model.committed('nextVisit-sub', 'lsst.sal.ScriptQueue.logevent_nextVisit', 0)).toBe(3);
  });

  it('filters on the headers; non-matching records are never delivered and committed past', async () => {
    const model = new KafkaModel();
    const broker = client(model);
    const topic = unique('t');
    const sub = unique('s');
    await broker.ensureTopic(topic);
    await broker.ensureSubscription(sub, topic, { filter: 'attributes.instrument = "LATISS"' });
    await broker.publish(topic, [
      { data: utf8('a'), attributes: { instrument: 'LSSTCam' } },
      { data: utf8('b'), attributes: { instrument: 'LATISS' } },
      { data: utf8('c') },
    ]);
    const [b] = await pullN(broker, sub, 1);
    expect(text(b.data)).toBe('b');
    await broker.ack(sub, [b.ackId]);
    expect(model.committed(`pp.${sub}`, `pp.${topic}`, 0)).toBe(3);
    expect(await broker.pull(sub, { waitMs: 50 })).toEqual([]);
  });

  it('after a consumer crash and restart, what was not acked is fetched and delivered again; old ack IDs are stale', async () => {
    const model = new KafkaModel();
    const broker = client(model);
    const topic = unique('t');
    const sub = unique('s');
    await broker.ensureTopic(topic);
    await broker.ensureSubscription(sub, topic, { ackDeadlineSeconds: 60 });
    await broker.publish(topic, [{ data: utf8('x') }, { data: utf8('y') }]);
    const [x, y] = await pullN(broker, sub, 2);
    await broker.ack(sub, [x.ackId]);
    let rejoin = (): void => {};
    const crashed = members(model, sub)[0].crash(
      Object.assign(new Error('connection lost'), { name: 'KafkaJSConnectionError' }),
      true,
      new Promise<void>((resolve) => (rejoin = resolve)),
    );
    await waitFor(() => members(model, sub).length === 0, { what: 'the crash' });
    // Until kafkajs has joined again, pulls report the outage.
    await expect(broker.pull(sub)).rejects.toBeInstanceOf(TransientError);
    rejoin();
    await crashed;
    const [again] = await pullN(broker, sub, 1);
    expect(again.messageId).toBe(y.messageId);
    expect(again.ackId).not.toBe(y.ackId);
    await broker.ack(sub, [y.ackId]); // stale: ignored
    expect(model.committed(`pp.${sub}`, `pp.${topic}`, 0)).toBe(1);
    await broker.ack(sub, [again.ackId]);
    expect(model.committed(`pp.${sub}`, `pp.${topic}`, 0)).toBe(2);
  });

  it('a crash without restart fails pulls with the mapped error; the next pull starts a new consumer', async () => {
    const model = new KafkaModel();
    const broker = client(model);
    const topic = unique('t');
    const sub = unique('s');
    await broker.ensureTopic(topic);
    await broker.ensureSubscription(sub, topic);
    const pulling = broker.pull(sub, { waitMs: 10_000 }).catch((e: unknown) => e);
    await waitFor(() => members(model, sub).length === 1, { what: 'a member' });
    await members(model, sub)[0].crash(Object.assign(new Error('denied'), { name: 'KafkaJSProtocolError', type: 'GROUP_AUTHORIZATION_FAILED' }), false);
    expect(await pulling).toBeInstanceOf(ConfigError);
    await broker.publish(topic, [{ data: utf8('after') }]);
    const [m] = await pullN(broker, sub, 1);
    expect(text(m.data)).toBe('after');
  });

  it('forwards a message nacked maxDeliveryAttempts times to the dead-letter topic', async () => {
    const model = new KafkaModel();
    const broker = client(model);
    const dl = unique('dead');
    const dlSub = unique('dead-sub');
    const topic = unique('t');
    const sub = unique('s');
    await broker.ensureTopic(dl);
    await broker.ensureSubscription(dlSub, dl);
    await broker.ensureTopic(topic);
    await expect(broker.ensureSubscription(unique('s'), topic, { deadLetter: { topic: unique('nowhere'), maxDeliveryAttempts: 5 } })).rejects.toThrow(
      /dead-letter topic nowhere-/,
    );
    await broker.ensureSubscription(sub, topic, { ackDeadlineSeconds: 60, deadLetter: { topic: dl, maxDeliveryAttempts: 2 } });
    await broker.publish(topic, [{ data: utf8('poison'), attributes: { visit: '7' }, orderingKey: 'k' }]);
    for (let attempt = 1; attempt <= 2; attempt++) {
      const [m] = await pullN(broker, sub, 1);
      expect(m.deliveryAttempt).toBe(attempt);
      await broker.nack(sub, [m.ackId]);
    }
    const [dead] = await pullN(broker, dlSub, 1);
    expect(text(dead.data)).toBe('poison');
    expect(dead.orderingKey).toBe('k');
    expect(dead.attributes).toMatchObject({
      visit: '7',
      CloudPubSubDeadLetterSourceDeliveryCount: '2',
      CloudPubSubDeadLetterSourceSubscription: sub,
      CloudPubSubDeadLetterSourceSubscriptionProject: 'local',
    });
    expect(await broker.pull(sub, { waitMs: 50 })).toEqual([]);
    expect(model.committed(`pp.${sub}`, `pp.${topic}`, 0)).toBe(1);
  });

  it('pauses fetching while the buffer is full and resumes as it drains', async () => {
    const model = new KafkaModel();
    const broker = client(model, { maxBufferedMessages: 10 });
    const topic = unique('t');
    const sub = unique('s');
    await broker.ensureTopic(topic);
    await broker.ensureSubscription(sub, topic, { ackDeadlineSeconds: 60 });
    expect(await broker.pull(sub)).toEqual([]);
    await waitFor(() => members(model, sub).length === 1, { what: 'a member' });
    await broker.publish(topic, Array.from({ length: 200 }, (_, i) => ({ data: utf8(`m${i}`) })));
    const member = members(model, sub)[0];
    await waitFor(() => member.isPaused(`pp.${topic}`), { what: 'a pause' });
    const seen: string[] = [];
    await waitFor(
      async () => {
        const got = await broker.pull(sub, { maxMessages: 7 });
        expect(got.length).toBeLessThanOrEqual(7);
        seen.push(...got.map((m) => text(m.data)));
        await broker.ack(sub, got.map((m) => m.ackId));
        return seen.length === 200;
      },
      { what: 'all 200 messages', timeoutMs: 10_000 },
    );
    expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
    expect(member.isPaused(`pp.${topic}`)).toBe(false);
  });

  it('unknown topics and subscriptions are NotFoundError; an unreachable cluster TransientError', async () => {
    const model = new KafkaModel();
    const broker = client(model);
    await expect(broker.publish('missing-topic', [{ data: utf8('x') }])).rejects.toThrow(/topic missing-topic not found/);
    await expect(broker.ensureSubscription('sub-x', 'missing-topic')).rejects.toBeInstanceOf(NotFoundError);
    await expect(broker.pull('missing-sub')).rejects.toBeInstanceOf(NotFoundError);
    await expect(broker.ack('missing-sub', ['0:0/1/ab.1'])).rejects.toBeInstanceOf(NotFoundError);
    const unreachable = new KafkaModel();
    unreachable.reachable = false;
    const cold = client(unreachable);
    await expect(cold.ensureTopic('nextVisit')).rejects.toBeInstanceOf(TransientError);
    await expect(cold.pull('nextVisit-sub')).rejects.toBeInstanceOf(TransientError);
  });

  it('close() ends a waiting pull with ConfigError, leaves the group and commits what was acked', async () => {
    const model = new KafkaModel();
    const broker = client(model);
    const topic = unique('t');
    const sub = unique('s');
    await broker.ensureTopic(topic);
    await broker.ensureSubscription(sub, topic);
    await broker.publish(topic, [{ data: utf8('x') }]);
    const [m] = await pullN(broker, sub, 1);
    await broker.ack(sub, [m.ackId]);
    const pulling = broker.pull(sub, { waitMs: 10_000 }).catch((e: unknown) => e);
    await broker.close();
    expect(await pulling).toBeInstanceOf(ConfigError);
    expect(members(model, sub)).toEqual([]);
    expect(model.committed(`pp.${sub}`, `pp.${topic}`, 0)).toBe(1);
  });
});

const KAFKA_BROKERS = process.env.KAFKA_BROKERS;

if (!KAFKA_BROKERS) {
  const reason = 'no Kafka server on this machine: set KAFKA_BROKERS=host:port to run the broker contract against one';
  console.warn(`skipping the Kafka broker contract: ${reason}`);
  describe.skip(`Kafka backend on a server (${reason})`, () => {
    it('needs a server', () => {});
  });
} else {
  const servers = KAFKA_BROKERS.split(',').map((s) => s.trim()).filter(Boolean);
  const prefix = `pp-test-${process.pid}-${randomBytes(4).toString('hex')}.`;

  brokerContract('Kafka (needs a server: set KAFKA_BROKERS=host:port)', async () => {
    const broker = createKafkaBroker({ brokers: servers, prefix });
    return {
      broker,
      teardown: async () => {
        await broker.close();
      },
    };
  });

  describe('Kafka backend on a server', () => {
    const brokers: Broker[] = [];
    let counter = 0;
    const unique = (p: string): string => `${p}-${process.pid}-${++counter}`;
    const client = (extra: KafkaBrokerOptions = {}): Broker => {
      const b = createKafkaBroker({ brokers: servers, prefix, ...extra });
      brokers.push(b);
      return b;
    };
    afterAll(async () => {
      for (const b of brokers) await b.close();
    });

    it('another client takes over what the first one left unacked', async () => {
      const first = client();
      const second = client();
      const topic = unique('nextVisit');
      const sub = unique('worker');
      await first.ensureTopic(topic);
      await first.ensureSubscription(sub, topic, { ackDeadlineSeconds: 60 });
      await second.ensureSubscription(sub, topic, { ackDeadlineSeconds: 60 });
      const [id] = await first.publish(topic, [{ data: utf8('detector 42') }]);
      const [lost] = await pullN(first, sub, 1, 30_000);
      expect(lost.messageId).toBe(id);
      await first.close();
      const [taken] = await pullN(second, sub, 1, 30_000);
      expect(taken.messageId).toBe(id);
      await second.ack(sub, [taken.ackId]);
    });

    it('spreads 4 partitions over 2 clients, each message to one of them', async () => {
      const workers = [client({ partitions: 4 }), client({ partitions: 4 })];
      const topic = unique('nextVisit');
      const sub = unique('fanout');
      await workers[0].ensureTopic(topic);
      await workers[0].ensureSubscription(sub, topic, { ackDeadlineSeconds: 60 });
      const ids = await workers[0].publish(topic, Array.from({ length: 40 }, (_, d) => ({ data: utf8(`d${d}`), orderingKey: `k${d % 8}` })));
      const seen = new Set<string>();
      await waitFor(
        async () => {
          for (const w of workers) {
            const got = await w.pull(sub, { maxMessages: 100, waitMs: 200 });
            for (const m of got) {
              expect(seen.has(m.messageId)).toBe(false);
              seen.add(m.messageId);
            }
            await w.ack(sub, got.map((m) => m.ackId));
          }
          return seen.size === ids.length;
        },
        { what: 'all 40 messages', timeoutMs: 60_000 },
      );
    });

    afterAll(async () => {
      // Remove this run's topics (best effort).
      const admin = new Kafka({ brokers: servers, logLevel: logLevel.NOTHING }).admin();
      try {
        await admin.connect();
        const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
        if (topics.length > 0) await admin.deleteTopics({ topics });
      } catch {
        // best effort
      } finally {
        await admin.disconnect();
      }
    });
  });
}
