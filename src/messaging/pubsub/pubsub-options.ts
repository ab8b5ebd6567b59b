/**
 * Options of the Google Pub/Sub backend, the `pubsub://` URL, and their translation into the
 * official client's options.
 *
 *   pubsub://PROJECT                         production: Application Default Credentials, gRPC
 *   pubsub://PROJECT?transport=rest          the same over HTTP/1.1 + JSON (Pub/Sub REST v1)
 *   pubsub://PROJECT?endpoint=HOST[:PORT]    another endpoint (regional, private service connect)
 *   pubsub://PROJECT?emulator=HOST:PORT      an emulator: plaintext, no credentials
 *
 * With PUBSUB_EMULATOR_HOST set (and no `endpoint`/`emulator` in the URL), the official client
 * talks to that emulator: it reads the variable itself, and we pass nothing that overrides it.
 */
import { PubSub, v1, type ClientConfig } from '@google-cloud/pubsub';
import { ConfigError, errorMessage } from '../../core/errors.ts';
import { checkProjectId } from '../names.ts';

export type PubSubTransport = 'grpc' | 'rest';

export interface PubSubBrokerOptions {
  projectId: string;
  /**
   * `host[:port]` (or `https://host[:port]`) of a Pub/Sub endpoint, e.g. a regional one
   * (`us-central1-pubsub.googleapis.com`). Overrides PUBSUB_EMULATOR_HOST. Credentials are used.
   */
  apiEndpoint?: string;
  /**
   * `host:port` of an emulator (plaintext, no credentials). Default: PUBSUB_EMULATOR_HOST, which
   * the official client reads itself.
   */
  emulatorHost?: string;
  /**
   * 'grpc' (default; what production uses) or 'rest' (HTTP/1.1 JSON, the Pub/Sub REST v1 API:
   * works through HTTP proxies, and against the embedded broker as an emulator).
   */
  transport?: PubSubTransport;
  /** Timeout of one request other than a waiting pull, retries included (default 30 000 ms). */
  requestTimeoutMs?: number;
  /** Longest single waiting pull; longer waits are split (default 10 000 ms). */
  maxPollMs?: number;
  /**
   * Smallest ackDeadlineSeconds accepted (default 10, Pub/Sub's minimum; the maximum is 600). An
   * emulator that allows shorter deadlines (the embedded broker: 1) may lower it for tests.
   */
  minAckDeadlineSeconds?: number;
  /**
   * Subscriptions are created with message ordering (default true), so messages that share an
   * ordering key are delivered one at a time, in publish order. Messages without a key are
   * unaffected.
   */
  messageOrdering?: boolean;
  /** More options for the official client (credentials, keyFilename, universeDomain...). */
  clientOptions?: Omit<ClientConfig, 'projectId' | 'apiEndpoint' | 'servicePath' | 'port'>;
}

/** What `new v1.PublisherClient(...)` and `new v1.SubscriberClient(...)` take. */
export type V1ClientOptions = NonNullable<ConstructorParameters<typeof v1.SubscriberClient>[0]>;

/** The resolved options the v1 PublisherClient and SubscriberClient are created with. */
export interface ResolvedClientOptions {
  /** Passed to `new v1.PublisherClient(...)` and `new v1.SubscriberClient(...)`. */
  clientConfig: V1ClientOptions;
  /** Plaintext, no credentials (an emulator). */
  emulator: boolean;
  transport: PubSubTransport;
  /** `host:port` the client talks to, for messages. */
  endpoint: string;
}

const DEFAULT_ENDPOINT = 'pubsub.googleapis.com:443';

/**
 * Lets the official client decide the endpoint (it reads PUBSUB_EMULATOR_HOST and
 * CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB), then adds what the chosen transport needs.
 * `emulatorAuthClient` stands in for credentials when the endpoint is an emulator.
 */
export function resolveClientOptions(options: PubSubBrokerOptions, emulatorAuthClient?: unknown): ResolvedClientOptions {
  let projectId: string;
  try {
    projectId = checkProjectId(options.projectId);
  } catch (err) {
    throw new ConfigError(`Pub/Sub: ${errorMessage(err)}`);
  }
  const transport = options.transport ?? 'grpc';
  if (transport !== 'grpc' && transport !== 'rest') {
    throw new ConfigError(`Pub/Sub: transport ${JSON.stringify(transport)} is not "grpc" or "rest"`);
  }
  if (options.apiEndpoint !== undefined && options.emulatorHost !== undefined) {
    throw new ConfigError('Pub/Sub: give apiEndpoint or emulatorHost, not both');
  }
  const config: ClientConfig = { ...options.clientOptions, projectId };
  if (options.apiEndpoint !== undefined) {
    checkEndpoint(options.apiEndpoint, 'apiEndpoint');
    config.apiEndpoint = options.apiEndpoint;
    config.emulatorMode = false;
  } else if (options.emulatorHost !== undefined) {
    checkEndpoint(options.emulatorHost, 'emulatorHost');
    config.apiEndpoint = options.emulatorHost;
    config.emulatorMode = true;
  }
  // The official client's own resolution: apiEndpoint, else PUBSUB_EMULATOR_HOST, else
  // CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB, else production.
  const pubsub = new PubSub(config);
  const { port, ...rest } = pubsub.options;
  const resolved: V1ClientOptions = { ...rest };
  if (port !== undefined) resolved.port = Number(port);
  const emulator = pubsub.isEmulator;
  const endpoint = resolved.servicePath ? `${resolved.servicePath}:${resolved.port ?? 443}` : DEFAULT_ENDPOINT;
  if (emulator && emulatorAuthClient !== undefined) {
    // No credentials: over REST every request goes through this client (it adds no token); over
    // gRPC the channel is plaintext already, and it spares the credential lookup (the GCE
    // metadata server) the client would otherwise do for nothing.
    resolved.authClient = emulatorAuthClient as V1ClientOptions['authClient'];
  }
  if (transport === 'rest') {
    resolved.fallback = true;
    if (emulator) {
      const raw = config.apiEndpoint ?? process.env.PUBSUB_EMULATOR_HOST ?? process.env.CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB ?? '';
      resolved.protocol = raw.startsWith('https://') ? 'https' : 'http';
    }
  }
  return { clientConfig: resolved, emulator, transport, endpoint };
}

function checkEndpoint(value: string, field: string): void {
  if (typeof value !== 'string' || !/^(https?:\/\/)?[A-Za-z0-9.\-_[\]:]+(:\d+)?\/?$/.test(value)) {
    throw new ConfigError(`Pub/Sub: ${field} ${JSON.stringify(value)} is not host[:port]`);
  }
}

const URL_PARAMS = new Set(['transport', 'endpoint', 'emulator']);

/**
 * `pubsub://PROJECT[?transport=grpc|rest][&endpoint=HOST[:PORT] | &emulator=HOST:PORT]` → options.
 * `env` supplies PUBSUB_EMULATOR_HOST when it is not process.env (the official client reads
 * process.env by itself; nothing is passed then, so nothing overrides it).
 */
export function pubsubOptionsFromUrl(url: URL, env: NodeJS.ProcessEnv = process.env): PubSubBrokerOptions {
  const shown = JSON.stringify(url.href);
  if (url.protocol !== 'pubsub:') throw new ConfigError(`messaging URL ${shown} is not pubsub://PROJECT`);
  if (url.username || url.password) throw new ConfigError(`messaging URL ${shown}: credentials do not go in the URL (Application Default Credentials are used)`);
  if (url.port) throw new ConfigError(`messaging URL ${shown}: pubsub://PROJECT takes no port (use ?endpoint=HOST:PORT)`);
  if (url.pathname !== '' && url.pathname !== '/') {
    throw new ConfigError(`messaging URL ${shown}: unexpected path ${JSON.stringify(url.pathname)}; the form is pubsub://PROJECT`);
  }
  const projectId = decodeURIComponent(url.hostname);
  if (!projectId) throw new ConfigError(`messaging URL ${shown} names no project (pubsub://PROJECT)`);
  try {
    checkProjectId(projectId);
  } catch (err) {
    throw new ConfigError(`messaging URL ${shown}: ${errorMessage(err)}`);
  }
  for (const key of url.searchParams.keys()) {
    if (!URL_PARAMS.has(key)) {
      throw new ConfigError(`messaging URL ${shown}: unknown parameter ${JSON.stringify(key)} (known: ${[...URL_PARAMS].join(', ')})`);
    }
  }
  const options: PubSubBrokerOptions = { projectId };
  const transport = url.searchParams.get('transport');
  if (transport !== null) {
    if (transport !== 'grpc' && transport !== 'rest') {
      throw new ConfigError(`messaging URL ${shown}: transport must be grpc or rest, not ${JSON.stringify(transport)}`);
    }
    options.transport = transport;
  }
  const endpoint = url.searchParams.get('endpoint');
  const emulator = url.searchParams.get('emulator');
  if (endpoint !== null && emulator !== null) {
    throw new ConfigError(`messaging URL ${shown}: give endpoint or emulator, not both`);
  }
  if (endpoint !== null) options.apiEndpoint = endpoint;
  else if (emulator !== null) options.emulatorHost = emulator;
  else if (env !== process.env && env.PUBSUB_EMULATOR_HOST) options.emulatorHost = env.PUBSUB_EMULATOR_HOST;
  return options;
}
