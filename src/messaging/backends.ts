/**
 * Messaging URL → Broker. One line per backend; each factory only translates the URL into its
 * backend's options.
 *
 *   http://HOST:PORT[?project=P]            the embedded broker (Pub/Sub REST v1 JSON)
 *   embedded+http://HOST:PORT[?project=P]   the same, named explicitly
 *   redis://[user:pass@]HOST[:PORT][/db][?prefix=P]   Redis Streams with consumer groups (rediss:// for TLS)
 *   nats://[user:pass@]HOST[:PORT][?prefix=P]          NATS JetStream: streams and durable pull consumers
 *   pubsub://PROJECT[?transport=grpc|rest]            Google Pub/Sub, official client (PUBSUB_EMULATOR_HOST honoured)
 *   kafka://HOST:PORT[,HOST:PORT…][?prefix=P]          Kafka (kafkajs): consumer groups, acks as committed offsets
 */
import { ConfigError } from '../core/errors.ts';
import type { Broker } from './broker.ts';
import { createEmbeddedBroker } from './embedded/embedded-broker.ts';
import { DEFAULT_PROJECT } from './names.ts';
import { redisBrokerFromUrl } from './redis/redis-broker.ts';
import { natsBrokerFromUrl } from './nats/nats-broker.ts';
import type { BrokerCapabilities } from './broker.ts';

/**
 * A broker whose module is loaded on first use (the Google client takes ~0.6 s to load, which
 * every command would otherwise pay). Its capabilities are known without loading it.
 */
function lazyBroker(capabilities: BrokerCapabilities, load: () => Promise<Broker>): Broker {
  let loaded: Promise<Broker> | null = null;
  const get = (): Promise<Broker> => (loaded ??= load());
  return {
    capabilities,
    ensureTopic: async (t) => (await get()).ensureTopic(t),
    publish: async (t, m) => (await get()).publish(t, m),
    ensureSubscription: async (n, t, o) => (await get()).ensureSubscription(n, t, o),
    deleteSubscription: async (n) => (await get()).deleteSubscription(n),
    pull: async (s, o) => (await get()).pull(s, o),
    ack: async (s, ids) => (await get()).ack(s, ids),
    nack: async (s, ids) => (await get()).nack(s, ids),
    extendAckDeadline: async (s, ids) => {
      const b = await get();
      await b.extendAckDeadline?.(s, ids);
    },
    close: async () => {
      if (loaded) await (await loaded).close();
    },
  };
}

/** Kafka URLs may list several brokers with different ports, which WHATWG URLs refuse: the factory takes the text. */
function kafka(text: string): Broker {
  return lazyBroker({ push: false, filters: true, orderingKeys: true, deadLetter: true }, async () =>
    (await import('./kafka/kafka-broker.ts')).kafkaBrokerFromUrl(text),
  );
}

function pubsub(url: URL): Broker {
  return lazyBroker({ push: true, filters: true, orderingKeys: true, deadLetter: true }, async () =>
    (await import('./pubsub/pubsub-broker.ts')).pubsubBrokerFromUrl(url),
  );
}

export type BrokerFactory = (url: URL) => Broker;

function embedded(url: URL): Broker {
  const path = url.pathname.replace(/\/+$/, '');
  return createEmbeddedBroker({
    url: `http://${url.host}${path}`,
    project: url.searchParams.get('project') ?? DEFAULT_PROJECT,
  });
}

const FACTORIES: ReadonlyMap<string, { factory: BrokerFactory; example: string }> = new Map([
  ['http:', { factory: embedded, example: 'http://HOST:PORT' }],
  ['embedded+http:', { factory: embedded, example: 'embedded+http://HOST:PORT' }],
  ['redis:', { factory: redisBrokerFromUrl, example: 'redis://HOST:PORT[/db][?prefix=P]' }],
  ['rediss:', { factory: redisBrokerFromUrl, example: 'rediss://HOST:PORT[/db][?prefix=P]' }],
  ['nats:', { factory: natsBrokerFromUrl, example: 'nats://HOST:PORT[?prefix=P]' }],
  ['pubsub:', { factory: pubsub, example: 'pubsub://PROJECT' }],
]);

/** The URL forms createBroker accepts, for help texts and errors. */
export function supportedMessagingUrls(): string[] {
  return [...[...FACTORIES.values()].map((f) => f.example), 'kafka://HOST:PORT[,HOST:PORT…][?prefix=P]'];
}

export function createBroker(url: string): Broker {
  if (/^kafka(\+ssl)?:\/\//i.test(url)) return kafka(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(
      `messaging URL ${JSON.stringify(redact(url))} is not a URL (supported: ${supportedMessagingUrls().join(', ')})`,
    );
  }
  const entry = FACTORIES.get(parsed.protocol);
  if (!entry) {
    throw new ConfigError(
      `unsupported messaging URL ${JSON.stringify(redact(url))} (supported: ${supportedMessagingUrls().join(', ')})`,
    );
  }
  if (!parsed.host) throw new ConfigError(`messaging URL ${JSON.stringify(redact(url))} has no host:port`);
  return entry.factory(parsed);
}

/** Hides a password in a URL before it goes into a message. */
function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}
