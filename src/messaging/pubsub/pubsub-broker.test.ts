/**
 * The Google Pub/Sub backend against the broker contract:
 * - always: over the REST transport, with the embedded broker (started here) as the emulator;
 * - with PUBSUB_EMULATOR_HOST set: against that emulator (e.g. `gcloud beta emulators pubsub
 *   start`), over gRPC unless PUBSUB_EMULATOR_TRANSPORT=rest, in project PUBSUB_PROJECT_ID
 *   (default "contract-test").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, InvalidInputError, NotFoundError, TransientError } from '../../core/errors.ts';
import { brokerContract } from '../broker.contract.ts';
import { startEmbeddedBroker, type EmbeddedBrokerServer } from '../embedded/embedded-server.ts';
import { text, utf8 } from '../testing.ts';
import { createPubSubBroker, pubsubBrokerFromUrl, type PubSubBroker } from './pubsub-broker.ts';

function hostOf(url: string): string {
  return new URL(url).host;
}

brokerContract(
  'Google Pub/Sub client (REST transport) against the embedded broker',
  async () => {
    const server = await startEmbeddedBroker({ port: 0 });
    const broker = createPubSubBroker({
      projectId: server.project,
      emulatorHost: hostOf(server.url),
      transport: 'rest',
      // The embedded broker accepts ack deadlines from 1 s; Pub/Sub's minimum is 10 s.
      minAckDeadlineSeconds: 1,
    });
    return {
      broker,
      teardown: async () => {
        await broker.close();
        await server.close();
      },
    };
  },
  { shortAckDeadlineSeconds: 1 },
);

const emulatorHost = process.env.PUBSUB_EMULATOR_HOST;
if (emulatorHost) {
  const transport = process.env.PUBSUB_EMULATOR_TRANSPORT === 'rest' ? 'rest' : 'grpc';
  brokerContract(
    `Google Pub/Sub client (${transport}) against the emulator at ${emulatorHost}`,
    async () => {
      // Nothing endpoint-related is passed: the official client finds PUBSUB_EMULATOR_HOST itself.
      const broker = createPubSubBroker({ projectId: process.env.PUBSUB_PROJECT_ID ?? 'contract-test', transport });
      return { broker, teardown: () => broker.close() };
    },
    { shortAckDeadlineSeconds: 10 },
  );
} else {
  describe('Broker contract: Google Pub/Sub client against a real emulator', () => {
    const reason =
      'PUBSUB_EMULATOR_HOST is not set; start an emulator (gcloud beta emulators pubsub start) and set it to run this suite';
    it.skip(`skipped: ${reason}`, () => {});
    console.info(`[pubsub] emulator contract skipped: ${reason}`);
  });
}

describe('Google Pub/Sub client (REST) with the embedded broker', () => {
  let server: EmbeddedBrokerServer;
  let broker: PubSubBroker;
  beforeAll(async () => {
    server = await startEmbeddedBroker({ port: 0, project: 'prompt-proto' });
    broker = createPubSubBroker({
      projectId: 'prompt-proto',
      emulatorHost: hostOf(server.url),
      transport: 'rest',
      minAckDeadlineSeconds: 1,
    }) as PubSubBroker;
  });
  afterAll(async () => {
    await broker.close();
    await server.close();
  });

  it('is created from a pubsub:// URL', async () => {
    const fromUrl = pubsubBrokerFromUrl(new URL(`pubsub://prompt-proto?transport=rest&emulator=${hostOf(server.url)}`));
    await fromUrl.ensureTopic('from-url');
    await fromUrl.ensureSubscription('from-url-sub', 'from-url');
    await fromUrl.publish('from-url', [{ data: utf8('via URL') }]);
    const [m] = await fromUrl.pull('from-url-sub', { waitMs: 2000 });
    expect(text(m.data)).toBe('via URL');
    await fromUrl.ack('from-url-sub', [m.ackId]);
    await fromUrl.close();
  });

  it('names the differences when a subscription exists with other settings', async () => {
    await broker.ensureTopic('diff-topic');
    await broker.ensureTopic('diff-dl');
    await broker.ensureSubscription('diff-sub', 'diff-topic', {
      ackDeadlineSeconds: 20,
      filter: 'attributes:instrument',
      retry: { minimumBackoffS: 1, maximumBackoffS: 5 },
      deadLetter: { topic: 'diff-dl', maxDeliveryAttempts: 5 },
    });
    // The same settings again: accepted.
    await broker.ensureSubscription('diff-sub', 'diff-topic', {
      ackDeadlineSeconds: 20,
      filter: 'attributes:instrument',
      retry: { minimumBackoffS: 1, maximumBackoffS: 5 },
      deadLetter: { topic: 'diff-dl', maxDeliveryAttempts: 5 },
    });
    const err = await broker
      .ensureSubscription('diff-sub', 'diff-topic', { ackDeadlineSeconds: 30, push: { endpoint: 'http://127.0.0.1:9/x' } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).toContain('diff-sub');
    expect(message).toContain('ackDeadlineSeconds is 20, not 30');
    expect(message).toContain('pushConfig.pushEndpoint is "", not "http://127.0.0.1:9/x"');
    expect(message).toContain('filter is "attributes:instrument", not ""');
    expect(message).toContain('it has a retryPolicy');
    expect(message).toContain('it has a deadLetterPolicy');
  });

  it('refuses ack deadlines below the minimum or fractional, before asking the server', async () => {
    const strict = createPubSubBroker({ projectId: 'prompt-proto', emulatorHost: hostOf(server.url), transport: 'rest' });
    await strict.ensureTopic('deadline-topic');
    await expect(strict.ensureSubscription('deadline-sub', 'deadline-topic', { ackDeadlineSeconds: 5 })).rejects.toThrow(
      /ackDeadlineSeconds 5 must be a whole number of seconds from 10 to 600/,
    );
    await expect(strict.ensureSubscription('deadline-sub', 'deadline-topic', { ackDeadlineSeconds: 10.5 })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    await expect(strict.ensureSubscription('deadline-sub', 'deadline-topic', { ackDeadlineSeconds: 601 })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    await strict.close();
  });

  it('splits a publish into requests of at most 1000 messages', async () => {
    await broker.ensureTopic('many-topic');
    await broker.ensureSubscription('many-sub', 'many-topic', { ackDeadlineSeconds: 60 });
    const ids = await broker.publish(
      'many-topic',
      Array.from({ length: 2500 }, (_, i) => ({ data: utf8(`n${i}`) })),
    );
    expect(new Set(ids).size).toBe(2500);
    let got = 0;
    while (got < 2500) {
      const batch = await broker.pull('many-sub', { maxMessages: 1000, waitMs: 2000 });
      expect(batch.length).toBeGreaterThan(0);
      got += batch.length;
      await broker.ack('many-sub', batch.map((m) => m.ackId));
    }
    expect(got).toBe(2500);
  });

  it('accepts a full resource path in its project only', async () => {
    await broker.ensureTopic('projects/prompt-proto/topics/path-topic');
    await expect(broker.ensureTopic('projects/other/topics/path-topic')).rejects.toThrow(/project "other"/);
  });

  it('reports a wrong project as NotFoundError', async () => {
    const wrong = createPubSubBroker({ projectId: 'other', emulatorHost: hostOf(server.url), transport: 'rest' });
    const err = await wrong.ensureTopic('nextVisit').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toContain('create topic nextVisit');
    await wrong.close();
  });

  it('maps an unreachable emulator to TransientError', async () => {
    const dead = await startEmbeddedBroker({ port: 0 });
    const host = hostOf(dead.url);
    await dead.close();
    const unreachable = createPubSubBroker({ projectId: 'local', emulatorHost: host, transport: 'rest' });
    const err = await unreachable.ensureTopic('nextVisit').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toContain(host);
    await expect(unreachable.pull('some-sub')).rejects.toBeInstanceOf(TransientError);
    await unreachable.close();
  });

  it('after close, calls throw ConfigError and a waiting pull ends', async () => {
    const closing = createPubSubBroker({ projectId: 'prompt-proto', emulatorHost: hostOf(server.url), transport: 'rest' });
    await closing.ensureTopic('close-topic');
    await closing.ensureSubscription('close-sub', 'close-topic');
    const pulling = closing.pull('close-sub', { waitMs: 8000 }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    await closing.close();
    expect(await pulling).toBeInstanceOf(ConfigError);
    await expect(closing.ensureTopic('close-topic')).rejects.toBeInstanceOf(ConfigError);
    await expect(closing.publish('close-topic', [{ data: utf8('x') }])).rejects.toBeInstanceOf(ConfigError);
  });
});
