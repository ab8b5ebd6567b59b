import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, NotFoundError, TransientError } from '../../core/errors.ts';
import { brokerContract } from '../broker.contract.ts';
import { createBroker } from '../backends.ts';
import { text, utf8 } from '../testing.ts';
import { createEmbeddedBroker } from './embedded-broker.ts';
import { startEmbeddedBroker, type EmbeddedBrokerServer } from './embedded-server.ts';

brokerContract('embedded', async () => {
  const server = await startEmbeddedBroker({ port: 0 });
  const broker = createBroker(server.url);
  return {
    broker,
    teardown: async () => {
      await broker.close();
      await server.close();
    },
  };
});

describe('embedded broker client', () => {
  let server: EmbeddedBrokerServer;
  beforeAll(async () => {
    server = await startEmbeddedBroker({ port: 0, project: 'prompt-proto' });
  });
  afterAll(async () => {
    await server.close();
  });

  it('talks to the project given in the URL, and names a wrong one', async () => {
    const right = createBroker(`${server.url}?project=prompt-proto`);
    await right.ensureTopic('nextVisit');
    const wrong = createBroker(server.url); // project "local"
    const err = await wrong.ensureTopic('nextVisit').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toContain('"local" is not served by this broker');
    await right.close();
    await wrong.close();
  });

  it('accepts full resource paths in its own project only', async () => {
    const broker = createEmbeddedBroker({ url: server.url, project: 'prompt-proto' });
    await broker.ensureTopic('projects/prompt-proto/topics/LATISS-image');
    await broker.ensureSubscription('projects/prompt-proto/subscriptions/img', 'LATISS-image');
    await broker.publish('LATISS-image', [{ data: utf8('x') }]);
    const [m] = await broker.pull('img', { waitMs: 2000 });
    expect(text(m.data)).toBe('x');
    await expect(broker.ensureTopic('projects/other/topics/LATISS-image')).rejects.toThrow(/project "other"/);
    await broker.close();
  });

  it('maps an unreachable broker to TransientError', async () => {
    const dead = await startEmbeddedBroker({ port: 0 });
    const url = dead.url;
    await dead.close();
    const broker = createBroker(url);
    const err = await broker.ensureTopic('nextVisit').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toContain(url);
  });

  it('refuses calls after close with ConfigError', async () => {
    const broker = createBroker(`${server.url}?project=prompt-proto`);
    await broker.close();
    await expect(broker.ensureTopic('nextVisit')).rejects.toBeInstanceOf(ConfigError);
  });

  it('close() aborts a waiting pull', async () => {
    const broker = createBroker(`${server.url}?project=prompt-proto`);
    await broker.ensureTopic('closing');
    await broker.ensureSubscription('closing-sub', 'closing');
    const t0 = Date.now();
    const pulling = broker.pull('closing-sub', { waitMs: 8000 });
    setTimeout(() => void broker.close(), 50);
    await expect(pulling).rejects.toBeInstanceOf(ConfigError);
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('splits long waits into several long polls', async () => {
    const small = await startEmbeddedBroker({ port: 0, maxPullWaitMs: 100 });
    const broker = createEmbeddedBroker({ url: small.url, maxPollMs: 100 });
    await broker.ensureTopic('slow');
    await broker.ensureSubscription('slow-sub', 'slow');
    setTimeout(() => void broker.publish('slow', [{ data: utf8('late') }]), 350);
    const got = await broker.pull('slow-sub', { waitMs: 5000 });
    expect(got.map((m) => text(m.data))).toEqual(['late']);
    await broker.close();
    await small.close();
  });

  it('names with %, +, ~ and . survive the URL path', async () => {
    const broker = createBroker(`${server.url}?project=prompt-proto`);
    await broker.ensureTopic('odd.name~x+y%41');
    await broker.ensureSubscription('odd.sub~x+y%2F', 'odd.name~x+y%41');
    await broker.publish('odd.name~x+y%41', [{ data: utf8('odd') }]);
    const [m] = await broker.pull('odd.sub~x+y%2F', { waitMs: 2000 });
    expect(text(m.data)).toBe('odd');
    await broker.close();
  });

  it('splits a publish of more than 1000 messages into several requests', async () => {
    const broker = createBroker(`${server.url}?project=prompt-proto`);
    await broker.ensureTopic('many');
    await broker.ensureSubscription('many-sub', 'many', { ackDeadlineSeconds: 60 });
    const ids = await broker.publish('many', Array.from({ length: 2500 }, (_, i) => ({ data: utf8(String(i)) })));
    expect(new Set(ids).size).toBe(2500);
    let n = 0;
    for (let got = await broker.pull('many-sub', { maxMessages: 1000 }); got.length > 0; got = await broker.pull('many-sub', { maxMessages: 1000 })) {
      n += got.length;
      await broker.ack('many-sub', got.map((m) => m.ackId));
    }
    expect(n).toBe(2500);
    await broker.close();
  });

  it('publishes, pulls and acknowledges 1000 small messages in one batch', async () => {
    const broker = createBroker(`${server.url}?project=prompt-proto`);
    await broker.ensureTopic('speed');
    await broker.ensureSubscription('speed-sub', 'speed', { ackDeadlineSeconds: 60 });
    await broker.publish('speed', Array.from({ length: 1000 }, (_, i) => ({ data: utf8(`m${i}`) })));
    let n = 0;
    while (n < 1000) {
      const got = await broker.pull('speed-sub', { maxMessages: 1000, waitMs: 1000 });
      n += got.length;
      await broker.ack('speed-sub', got.map((m) => m.ackId));
    }
    expect(n).toBe(1000);
    await broker.close();
  });
});
