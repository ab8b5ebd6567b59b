/**
 * Messaging URL → Broker. One line per backend; each factory only translates the URL into its
 * backend's options.
 *
 *   http://HOST:PORT[?project=P]            the embedded broker (Pub/Sub REST v1 JSON)
 *   embedded+http://HOST:PORT[?project=P]   the same, named explicitly
 *   redis://[user:pass@]HOST[:PORT][/db][?prefix=P]   Redis Streams with consumer groups (rediss:// for TLS)
 */
import { ConfigError } from '../core/errors.ts';
import type { Broker } from './broker.ts';
import { createEmbeddedBroker } from './embedded/embedded-broker.ts';
import { DEFAULT_PROJECT } from './names.ts';
import { redisBrokerFromUrl } from './redis/redis-broker.ts';

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
]);

/** The URL forms createBroker accepts, for help texts and errors. */
export function supportedMessagingUrls(): string[] {
  return [...FACTORIES.values()].map((f) => f.example);
}

export function createBroker(url: string): Broker {
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
