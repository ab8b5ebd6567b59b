import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.ts';
import { createBroker, supportedMessagingUrls } from './backends.ts';
import { startEmbeddedBroker, type EmbeddedBrokerServer } from './embedded/embedded-server.ts';

let server: EmbeddedBrokerServer;
beforeAll(async () => {
  server = await startEmbeddedBroker({ port: 0, project: 'night' });
});
afterAll(async () => {
  await server.close();
});

describe('createBroker', () => {
  it('maps http:// and embedded+http:// to the embedded broker, with ?project=', async () => {
    const port = new URL(server.url).port;
    for (const url of [`http://127.0.0.1:${port}?project=night`, `embedded+http://127.0.0.1:${port}/?project=night`]) {
      const broker = createBroker(url);
      expect(broker.capabilities).toEqual({ push: true, filters: true, orderingKeys: true, deadLetter: true });
      await broker.ensureTopic('nextVisit');
      await broker.close();
    }
  });

  it('refuses other schemes, listing the supported ones', () => {
    expect(supportedMessagingUrls()).toEqual(['http://HOST:PORT', 'embedded+http://HOST:PORT', 'redis://HOST:PORT[/db][?prefix=P]', 'rediss://HOST:PORT[/db][?prefix=P]', 'nats://HOST:PORT[?prefix=P]', 'pubsub://PROJECT', 'kafka://HOST:PORT[,HOST:PORT…][?prefix=P]']);
    let err: unknown;
    try {
      createBroker('amqp://user:secret@localhost:5672');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe(
      `unsupported messaging URL "amqp://user:***@localhost:5672" (supported: ${supportedMessagingUrls().join(', ')})`,
    );
  });

  it('refuses text that is not a URL, and bad projects', () => {
    expect(() => createBroker('localhost')).toThrow(/messaging URL "localhost" is not a URL/);
    expect(() => createBroker('http://localhost:1?project=no/slash')).toThrow(ConfigError);
  });
});
