import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, TransientError } from '../core/errors.ts';
import type { Broker, ReceivedMessage } from './broker.ts';
import { createBroker } from './backends.ts';
import { consume } from './consume.ts';
import { startEmbeddedBroker, type EmbeddedBrokerServer } from './embedded/embedded-server.ts';
import { text, utf8, waitFor } from './testing.ts';

let server: EmbeddedBrokerServer;
let broker: Broker;

beforeAll(async () => {
  server = await startEmbeddedBroker({ port: 0 });
  broker = createBroker(server.url);
});
afterAll(async () => {
  await broker.close();
  await server.close();
});

describe('consume', () => {
  it('handles and acks every message, in order, until aborted', async () => {
    await broker.ensureTopic('consume-t');
    await broker.ensureSubscription('consume-s', 'consume-t');
    await broker.publish('consume-t', Array.from({ length: 25 }, (_, i) => ({ data: utf8(`m${i}`), orderingKey: 'k' })));
    const seen: string[] = [];
    const controller = new AbortController();
    const done = consume(broker, 'consume-s', (m) => void seen.push(text(m.data)), { signal: controller.signal, waitMs: 200 });
    await waitFor(() => seen.length === 25);
    controller.abort();
    await done;
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `m${i}`));
    expect(await broker.pull('consume-s', { waitMs: 100 })).toEqual([]);
  });

  it('nacks when the handler throws, so the message comes back', async () => {
    await broker.ensureTopic('consume-fail');
    await broker.ensureSubscription('consume-fail-s', 'consume-fail');
    await broker.publish('consume-fail', [{ data: utf8('flaky') }]);
    const attempts: number[] = [];
    const errors: unknown[] = [];
    const controller = new AbortController();
    const done = consume(
      broker,
      'consume-fail-s',
      (m) => {
        attempts.push(m.deliveryAttempt);
        if (m.deliveryAttempt < 3) throw new Error(`failure ${m.deliveryAttempt}`);
      },
      { signal: controller.signal, waitMs: 200, onError: (e) => errors.push(e) },
    );
    await waitFor(() => attempts.length === 3);
    controller.abort();
    await done;
    expect(attempts).toEqual([1, 2, 3]);
    expect(errors.map((e) => (e as Error).message)).toEqual(['failure 1', 'failure 2']);
    expect(await broker.pull('consume-fail-s', { waitMs: 100 })).toEqual([]);
  });

  it('aborting stops a waiting pull at once', async () => {
    await broker.ensureTopic('consume-idle');
    await broker.ensureSubscription('consume-idle-s', 'consume-idle');
    const controller = new AbortController();
    const t0 = Date.now();
    const done = consume(broker, 'consume-idle-s', () => {}, { signal: controller.signal, waitMs: 10_000 });
    setTimeout(() => controller.abort(), 50);
    await done;
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('retries transient broker failures and rejects on others', async () => {
    let calls = 0;
    const flaky: Broker = {
      ...broker,
      capabilities: broker.capabilities,
      pull: async (): Promise<ReceivedMessage[]> => {
        calls++;
        if (calls <= 2) throw new TransientError('broker down');
        throw new NotFoundError('subscription gone');
      },
    };
    const errors: unknown[] = [];
    await expect(
      consume(flaky, 'x-sub', () => {}, { signal: new AbortController().signal, retryDelayMs: 5, onError: (e) => errors.push(e) }),
    ).rejects.toBeInstanceOf(NotFoundError);
    expect(calls).toBe(3);
    expect(errors).toHaveLength(2);
  });
});
