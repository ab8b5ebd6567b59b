/**
 * The embedded broker's HTTP server: a subset of the Google Pub/Sub REST v1 JSON API (so the
 * wire is real, and any Pub/Sub REST client can talk to it), served by Hono on Node's HTTP
 * server. Meant to run in its own process for the whole night; publishers and subscribers in
 * other processes use embedded-broker.ts.
 *
 *   PUT|GET|DELETE /v1/projects/{p}/topics/{t}         GET /v1/projects/{p}/topics
 *   POST /v1/projects/{p}/topics/{t}:publish           GET /v1/projects/{p}/topics/{t}/subscriptions
 *   PUT|GET|DELETE /v1/projects/{p}/subscriptions/{s}  GET /v1/projects/{p}/subscriptions
 *   POST /v1/projects/{p}/subscriptions/{s}:pull | :acknowledge | :modifyAckDeadline
 *   GET /v1/projects/{p}/subscriptions/{s}:stats       (extension: backlog and push state)
 *   GET /healthz
 *
 * Differences from Pub/Sub: creating an existing topic, or a subscription with identical
 * settings, answers 200 (idempotent); a pull may wait `x-wait-ms` (header or `waitMs` field,
 * capped at `maxPullWaitMs`); deadlines, retention and backoffs accept fractions of a second and
 * small values (for tests); `retainAckedMessages`, exactly-once, OIDC push auth and unwrapped
 * push are refused with 400.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer, type HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ConfigError, InvalidInputError, NotFoundError, errorMessage } from '../../core/errors.ts';
import { DEFAULT_PROJECT, checkProjectId, checkResourceId, resourcePath } from '../names.ts';
import {
  LIMITS,
  WAIT_HEADER,
  errorJson,
  parseAckRequest,
  parseModifyAckDeadlineRequest,
  parsePublishRequest,
  parsePullRequest,
  parseSubscriptionRequest,
  receivedMessageJson,
  subscriptionJson,
  type PublishResponseJson,
  type PullResponseJson,
} from './embedded-api.ts';
import { DEFAULT_PUSH_SETTINGS, type PushSettings } from './embedded-push.ts';
import { BrokerRuntime, type BrokerLogger } from './embedded-runtime.ts';
import { MemoryStore, type BrokerStore } from './store.ts';

export type { BrokerLogger, LogLevel } from './embedded-runtime.ts';

export interface EmbeddedBrokerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: an ephemeral port (read it from `url`). */
  port?: number;
  /** The one project this broker serves (default "local"). */
  project?: string;
  logger?: BrokerLogger;
  /** Longest a pull waits for messages (default 10 000 ms). */
  maxPullWaitMs?: number;
  /** Push flow control and backoff (see embedded-push.ts). */
  push?: Partial<PushSettings>;
  /** Replaces the in-memory store (it must serve the same project). */
  store?: BrokerStore;
  /** Replaces global fetch for push delivery. */
  fetch?: typeof fetch;
}

export interface EmbeddedBrokerServer {
  /** `http://host:port`, for createBroker() and pushEndpoint-style clients. */
  readonly url: string;
  readonly project: string;
  close(): Promise<void>;
}

const DEFAULT_MAX_PULL_WAIT_MS = 10_000;

class HttpError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** Starts the broker; resolves once it listens. */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBrokerServer> {
  let project: string;
  try {
    project = checkProjectId(options.project ?? DEFAULT_PROJECT);
  } catch (err) {
    throw new ConfigError(`embedded broker: ${errorMessage(err)}`);
  }
  const log: BrokerLogger = options.logger ?? (() => {});
  const push: PushSettings = { ...DEFAULT_PUSH_SETTINGS, ...options.push };
  if (!(push.maxOutstanding >= 1)) throw new ConfigError(`push.maxOutstanding must be at least 1, not ${push.maxOutstanding}`);
  const store = options.store ?? new MemoryStore({ project, log, defaultMaxBackoffMs: push.defaultMaxBackoffMs });
  if (store.project !== project) {
    throw new ConfigError(`the store serves project ${store.project}, but the broker was asked to serve ${project}`);
  }
  const runtime = new BrokerRuntime({ store, log, push, fetch: options.fetch });
  runtime.resume();
  const app = createApp(runtime, project, options.maxPullWaitMs ?? DEFAULT_MAX_PULL_WAIT_MS, log);

  const host = options.host ?? '127.0.0.1';
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  server.keepAliveTimeout = 30_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    runtime.close();
    throw new ConfigError(`embedded broker cannot listen on ${host}:${options.port ?? 0}: ${errorMessage(err)}`, { cause: err });
  }
  server.on('error', (err) => log('error', 'embedded broker server error', { error: err.message }));
  const port = (server.address() as AddressInfo).port;
  const url = `http://${urlHost(host)}:${port}`;
  log('info', 'embedded broker listening', { url, project });

  let closing: Promise<void> | undefined;
  return {
    url,
    project,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        runtime.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => log('info', 'embedded broker stopped', { url }));
      return closing;
    },
  };
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

function createApp(runtime: BrokerRuntime, project: string, maxPullWaitMs: number, log: BrokerLogger): Hono {
  const app = new Hono();
  const store = runtime.store;

  app.onError((err, c) => {
    if (err instanceof HttpError) return c.json(errorJson(err.code, err.message), err.code as ContentfulStatusCode);
    if (err instanceof InvalidInputError) return c.json(errorJson(400, err.message), 400);
    if (err instanceof NotFoundError) return c.json(errorJson(404, err.message), 404);
    if (err instanceof HTTPException) return c.json(errorJson(err.status, err.message), err.status);
    log('error', 'embedded broker request failed', { method: c.req.method, path: c.req.path, error: errorMessage(err) });
    return c.json(errorJson(500, `internal error: ${errorMessage(err)}`), 500);
  });
  app.notFound((c) => c.json(errorJson(404, `no such resource: ${c.req.method} ${c.req.path}`), 404));

  app.get('/healthz', (c) =>
    c.json({ status: 'ok', project, topics: store.listTopics().length, subscriptions: store.listSubscriptions().length }),
  );

  app.use('/v1/projects/:project/*', async (c, next) => {
    const p = c.req.param('project');
    if (p !== project) {
      throw new HttpError(404, `project ${JSON.stringify(p)} is not served by this broker (it serves ${JSON.stringify(project)})`);
    }
    await next();
  });

  // ---- topics ----

  app.get('/v1/projects/:project/topics', (c) =>
    c.json({ topics: store.listTopics().map((id) => ({ name: resourcePath(project, 'topic', id) })) }),
  );

  app.get('/v1/projects/:project/topics/:name/subscriptions', (c) => {
    const id = checkResourceId('topic', c.req.param('name'));
    return c.json({
      subscriptions: store.listTopicSubscriptions(id).map((s) => resourcePath(project, 'subscription', s)),
    });
  });

  app.on(['GET', 'PUT', 'POST', 'DELETE'], '/v1/projects/:project/topics/:name', async (c) => {
    const { id, verb } = splitVerb(c.req.param('name'), 'topic');
    const method = c.req.method;
    const name = resourcePath(project, 'topic', id);
    if (verb === undefined && method === 'PUT') {
      await readJson(c, true); // body (labels, ...) is accepted and ignored
      if (store.createTopic(id).created) log('info', 'topic created', { topic: id });
      return c.json({ name });
    }
    if (verb === undefined && method === 'GET') {
      if (!store.hasTopic(id)) throw new NotFoundError(`topic ${name} not found`);
      return c.json({ name });
    }
    if (verb === undefined && method === 'DELETE') {
      if (!runtime.deleteTopic(id)) throw new NotFoundError(`topic ${name} not found`);
      return c.json({});
    }
    if (verb === 'publish' && method === 'POST') {
      const messages = parsePublishRequest(await readJson(c, false));
      const body: PublishResponseJson = { messageIds: runtime.publish(id, messages) };
      return c.json(body);
    }
    throw new HttpError(501, `${method} ${c.req.path} is not supported by the embedded broker`);
  });

  // ---- subscriptions ----

  app.get('/v1/projects/:project/subscriptions', (c) =>
    c.json({ subscriptions: store.listSubscriptions().map((s) => subscriptionJson(project, s)) }),
  );

  app.on(['GET', 'PUT', 'POST', 'DELETE'], '/v1/projects/:project/subscriptions/:name', async (c) => {
    const { id, verb } = splitVerb(c.req.param('name'), 'subscription');
    const method = c.req.method;
    const name = resourcePath(project, 'subscription', id);
    if (verb === undefined && method === 'PUT') {
      const config = parseSubscriptionRequest(project, await readJson(c, false));
      const result = runtime.createSubscription(id, config);
      if (result.status === 'conflict') {
        throw new HttpError(
          409,
          `subscription ${name} already exists with different settings: ${result.differences.join('; ')}`,
        );
      }
      return c.json(subscriptionJson(project, store.getSubscription(id)!));
    }
    if (verb === undefined && method === 'GET') {
      const info = store.getSubscription(id);
      if (!info) throw new NotFoundError(`subscription ${name} not found`);
      return c.json(subscriptionJson(project, info));
    }
    if (verb === undefined && method === 'DELETE') {
      if (!runtime.deleteSubscription(id)) throw new NotFoundError(`subscription ${name} not found`);
      return c.json({});
    }
    if (verb === 'pull' && method === 'POST') return pull(c, id);
    if (verb === 'acknowledge' && method === 'POST') {
      runtime.ack(id, parseAckRequest(await readJson(c, false)));
      return c.json({});
    }
    if (verb === 'modifyAckDeadline' && method === 'POST') {
      const { ackIds, ackDeadlineSeconds } = parseModifyAckDeadlineRequest(await readJson(c, false));
      runtime.modifyAckDeadline(id, ackIds, ackDeadlineSeconds);
      return c.json({});
    }
    if (verb === 'stats' && method === 'GET') return c.json(runtime.stats(id));
    throw new HttpError(501, `${method} ${c.req.path} is not supported by the embedded broker`);
  });

  async function pull(c: Context, id: string): Promise<Response> {
    const req = parsePullRequest(await readJson(c, true));
    let waitMs = 0;
    if (!req.returnImmediately) {
      const header = c.req.header(WAIT_HEADER);
      let requested = req.waitMs;
      if (header !== undefined) {
        requested = Number(header);
        if (!Number.isFinite(requested) || requested < 0) {
          throw new InvalidInputError(`pull: header ${WAIT_HEADER} ${JSON.stringify(header)} is not a number of milliseconds`);
        }
      }
      waitMs = Math.min(requested ?? maxPullWaitMs, maxPullWaitMs);
    }
    const signal = c.req.raw.signal;
    const deliveries = await runtime.pull(id, req.maxMessages, waitMs, signal);
    if (signal.aborted && deliveries.length > 0) {
      // The client went away while we waited: hand the messages straight back.
      runtime.nack(id, deliveries.map((d) => d.ackId), 0);
      return c.json({});
    }
    const body: PullResponseJson = deliveries.length > 0 ? { receivedMessages: deliveries.map(receivedMessageJson) } : {};
    return c.json(body);
  }

  return app;
}

function splitVerb(raw: string, kind: 'topic' | 'subscription'): { id: string; verb: string | undefined } {
  const i = raw.lastIndexOf(':');
  const id = i < 0 ? raw : raw.slice(0, i);
  const verb = i < 0 ? undefined : raw.slice(i + 1);
  checkResourceId(kind, id);
  return { id, verb };
}

async function readJson(c: Context, emptyOk: boolean): Promise<unknown> {
  const declared = Number(c.req.header('content-length') ?? 0);
  if (declared > LIMITS.requestBodyBytes) throw tooLarge();
  const text = await readBody(c);
  if (text.trim() === '') {
    if (emptyOk) return {};
    throw new InvalidInputError('the request body is empty; a JSON object is required');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new InvalidInputError(`the request body is not valid JSON: ${errorMessage(err)}`);
  }
}

function tooLarge(): HttpError {
  return new HttpError(400, `the request body is larger than ${LIMITS.requestBodyBytes} bytes`);
}

/** Reads the body straight from Node's request when there is one (no web-stream detour). */
async function readBody(c: Context): Promise<string> {
  const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
  if (!incoming || incoming.readableEnded) {
    const text = await c.req.text();
    if (text.length > LIMITS.requestBodyBytes) throw tooLarge();
    return text;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of incoming as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > LIMITS.requestBodyBytes) throw tooLarge();
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
}
