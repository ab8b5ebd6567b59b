/**
 * The Redis Streams backend of the messaging interface: any number of processes (an
 * autoscaled pool of workers, each with its own client) share the subscriptions, so a fan-out
 * that publishes one message per detector hands each one to exactly one worker at a time.
 * Needs Redis 6.2 or later (XPENDING … IDLE).
 *
 *   redis://[user:pass@]HOST[:PORT][/DB][?prefix=P]      (rediss:// for TLS; PORT 6379, DB 0, P "prompt")
 *
 * Keys (P = prefix; a prefix in braces, e.g. `{pp}`, keeps every key in one cluster slot):
 *
 *   P:topics            SET     the known topic IDs (the registry; ensureTopic adds, publish checks)
 *   P:topic:{topic}     STREAM  one entry per published message; the entry ID is the message ID and
 *                               its time part the publish time. Fields: `data` (raw bytes),
 *                               `attributes` (JSON object of strings, absent when empty),
 *                               `orderingKey` (absent when none). A producer outside this module
 *                               may XADD entries with just a `data` field.
 *                               Trimmed on publish: MINID ~ (now − streamMaxAgeSeconds, default
 *                               7 days), and MAXLEN ~ maxStreamLength when set.
 *   P:sub:{subscription} HASH   the subscription's options: topic, ackDeadlineMs, retentionMs,
 *                               filter, retryMinMs, retryMaxMs, deadLetterTopic,
 *                               maxDeliveryAttempts, createdAt.
 *
 * A subscription is a consumer group named after it on its topic's stream, created at `$` (it
 * receives what is published afterwards). Every client is one consumer of the group (name:
 * host-pid-random, or `consumerName`).
 *
 *   ensureSubscription  one Lua script: the topic must be registered; when the hash exists its
 *                       options are compared (same → no-op, other → ConfigError naming the
 *                       differences); otherwise the hash is written and XGROUP CREATE … $ MKSTREAM.
 *   deleteSubscription  DEL of the hash + XGROUP DESTROY; idempotent.
 *   pull                one Lua script: entries idle for at least the ack deadline are reclaimed
 *                       (XPENDING … IDLE deadline, then XCLAIM: delivery count + 1; unlike
 *                       XAUTOCLAIM this yields the counts in the same step), then new ones are
 *                       read (XREADGROUP … >). deliveryAttempt is the group's delivery count.
 *                       When nothing is there, a blocking XREADGROUP on a connection of its
 *                       own waits in slices (at most maxBlockMs and the ack deadline, so expired
 *                       leases are found too); aborting disconnects that connection. Then, in
 *                       this order, entries that do not match the filter, entries older than the
 *                       subscription's retention, and entries delivered more than
 *                       maxDeliveryAttempts times (dead-lettered first) are XACKed, not returned.
 *   ackId               `{entryId}/{deliveryCount}`: ack and nack act only while the entry's
 *                       delivery count in the pending list is still that one, so the stale ack ID
 *                       of an earlier delivery is ignored (checked and applied in one script).
 *   ack                 XACK.
 *   nack                XCLAIM … IDLE (ackDeadline − backoff) JUSTID: the entry becomes claimable
 *                       at once, or after the retry backoff (capped at the ack deadline), and the
 *                       next pull redelivers it with deliveryAttempt + 1.
 *   dead letters        when a nacked delivery was attempt maxDeliveryAttempts (or a reclaimed
 *                       entry is past it: deadline expiries are noticed by the next pull), the
 *                       message is XADDed to the dead-letter topic's stream with the
 *                       CloudPubSubDeadLetterSource* attributes and XACKed, in one MULTI.
 *
 *   close()             disconnects; first removes this client's consumer from the groups it
 *                       used when it holds no pending entry (workers come and go).
 *
 * Limits and defaults are the embedded broker's (LIMITS, DEFAULTS of embedded-api.ts): 1000
 * messages per pull, attributes of at most 100 entries, ack deadline (0, 600] s (default 10),
 * retention (0, min(7 days, streamMaxAgeSeconds)] (default 600 s).
 *
 * Capabilities: pull only (no push), filters (evaluated on pull), no ordering guarantee (the
 * ordering key is carried, not honoured), dead letters.
 *
 * Errors: Redis unreachable, a timeout or a dropped connection → TransientError (connection
 * attempts are bounded by connectTimeoutMs, commands are never queued offline nor resent);
 * unknown topic or subscription → NotFoundError; bad names and messages → InvalidInputError;
 * authentication failures, a key of the prefix holding another type, unsupported options and
 * calls after close() → ConfigError.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis, type RedisOptions } from 'ioredis';
import { ConfigError, InvalidInputError, NotFoundError, PromptError, TransientError } from '../../core/errors.ts';
import type {
  Broker,
  BrokerCapabilities,
  OutgoingMessage,
  PullOptions,
  ReceivedMessage,
  SubscriptionOptions,
} from '../broker.ts';
import { DEFAULTS, LIMITS } from '../embedded/embedded-api.ts';
import { DEAD_LETTER_ATTRIBUTES } from '../embedded/store.ts';
import { parseFilter, type MessageFilter } from '../filter.ts';
import { describeDifferences, normalizePullSubscription, type PullSubscriptionConfig } from '../pull-subscription.ts';
import { DEFAULT_PROJECT, checkProjectId, resourceId } from '../names.ts';

export interface RedisBrokerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 6379. */
  port?: number;
  username?: string;
  password?: string;
  /** Database number (default 0). */
  db?: number;
  /** TLS (rediss://). */
  tls?: boolean;
  /** Prefix of every key (default "prompt"). */
  prefix?: string;
  /** Project of accepted full resource paths and of dead-letter attributes (default "local"). */
  project?: string;
  /** This client's consumer name in every group (default host-pid-random). */
  consumerName?: string;
  /** Bound of one connection attempt (default 3000 ms). */
  connectTimeoutMs?: number;
  /** Bound of one non-blocking command (default 15 000 ms). */
  commandTimeoutMs?: number;
  /** Longest single blocking read of a waiting pull (default 1000 ms). */
  maxBlockMs?: number;
  /** Entries older than this are trimmed on publish (default 7 days). */
  streamMaxAgeSeconds?: number;
  /** When set, streams are also trimmed to about this many entries on publish. */
  maxStreamLength?: number;
}

export const REDIS_DEFAULTS = {
  host: '127.0.0.1',
  port: 6379,
  prefix: 'prompt',
  connectTimeoutMs: 3000,
  commandTimeoutMs: 15_000,
  maxBlockMs: 1000,
  streamMaxAgeSeconds: 7 * 24 * 3600,
} as const;

const CAPABILITIES: BrokerCapabilities = Object.freeze({
  push: false,
  filters: true,
  orderingKeys: false,
  deadLetter: true,
});

const PREFIX_PATTERN = /^[A-Za-z0-9_.:{}-]{1,100}$/;
const URL_PARAMS = ['prefix'] as const;

/** Splits a `redis://` or `rediss://` URL into options; throws ConfigError naming the problem. */
export function parseRedisUrl(url: URL): RedisBrokerOptions {
  const shown = redactUrl(url);
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ConfigError(`messaging URL ${shown}: expected redis://HOST:PORT[/DB][?prefix=P] or rediss://…`);
  }
  if (!url.hostname) throw new ConfigError(`messaging URL ${shown} has no host`);
  const options: RedisBrokerOptions = { host: url.hostname.replace(/^\[(.*)\]$/, '$1') };
  if (url.port) options.port = Number(url.port);
  if (url.username) options.username = decodeURIComponent(url.username);
  if (url.password) options.password = decodeURIComponent(url.password);
  if (url.protocol === 'rediss:') options.tls = true;
  const path = url.pathname.replace(/^\/+|\/+$/g, '');
  if (path !== '') {
    if (!/^\d{1,5}$/.test(path)) {
      throw new ConfigError(`messaging URL ${shown}: the path must be a database number (/0, /1, …), not ${JSON.stringify(url.pathname)}`);
    }
    options.db = Number(path);
  }
  for (const key of url.searchParams.keys()) {
    if (!(URL_PARAMS as readonly string[]).includes(key)) {
      throw new ConfigError(`messaging URL ${shown}: unknown parameter ${JSON.stringify(key)} (supported: ${URL_PARAMS.join(', ')})`);
    }
  }
  const prefix = url.searchParams.get('prefix');
  if (prefix !== null) options.prefix = prefix;
  checkPrefix(options.prefix ?? REDIS_DEFAULTS.prefix, `messaging URL ${shown}`);
  return options;
}

export function redisBrokerFromUrl(url: URL): Broker {
  return createRedisBroker(parseRedisUrl(url));
}

export function createRedisBroker(options: RedisBrokerOptions = {}): Broker {
  return new RedisBroker(options);
}

function checkPrefix(prefix: string, where: string): void {
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    throw new ConfigError(
      `${where}: invalid key prefix ${JSON.stringify(prefix)} (1-100 characters of letters, digits and _ . : { } -)`,
    );
  }
}

function redactUrl(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password) copy.password = '***';
  return JSON.stringify(copy.href);
}

// ---- Lua scripts (atomic server-side steps) ----

class Script {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

/**
 * KEYS: topics set, subscription hash, stream. ARGV: topic, group, then field/value pairs.
 * Returns 'notopic', 'created', or {'exists', field, value, ...}.
 */
const ENSURE_SUBSCRIPTION = new Script(`
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 'notopic' end
local existing = redis.call('HGETALL', KEYS[2])
if #existing > 0 then
  if redis.call('HGET', KEYS[2], 'topic') == ARGV[1] then
    redis.pcall('XGROUP', 'CREATE', KEYS[3], ARGV[2], '$', 'MKSTREAM')
  end
  local out = {'exists'}
  for _, v in ipairs(existing) do out[#out + 1] = v end
  return out
end
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
if redis.call('EXISTS', KEYS[3]) == 1 then redis.pcall('XGROUP', 'DESTROY', KEYS[3], ARGV[2]) end
redis.call('XGROUP', 'CREATE', KEYS[3], ARGV[2], '$', 'MKSTREAM')
return 'created'
`);

/** KEYS: subscription hash, stream. ARGV: group. */
const DELETE_SUBSCRIPTION = new Script(`
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.pcall('XGROUP', 'DESTROY', KEYS[2], ARGV[1]) end
return 1
`);

/**
 * KEYS: stream. ARGV: group, consumer, max, ackDeadlineMs.
 * Reclaims entries idle for the ack deadline, then reads new ones.
 * Returns {{id, {field, value, ...}, deliveryCount}, ...}.
 */
const PULL = new Script(`
local max = tonumber(ARGV[3])
local out = {}
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[4], '-', '+', max)
if #pending > 0 then
  local ids = {}
  local counts = {}
  for i, p in ipairs(pending) do
    ids[i] = p[1]
    counts[p[1]] = p[4]
  end
  local claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[4], unpack(ids))
  for _, e in ipairs(claimed) do
    if type(e) == 'table' and e[2] then
      out[#out + 1] = {e[1], e[2], counts[e[1]] + 1}
      counts[e[1]] = nil
    end
  end
  -- What was not claimed was trimmed away: nothing left to deliver.
  for id, _ in pairs(counts) do redis.call('XACK', KEYS[1], ARGV[1], id) end
end
if #out < max then
  local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', max - #out, 'STREAMS', KEYS[1], '>')
  if r then
    for _, e in ipairs(r[1][2]) do out[#out + 1] = {e[1], e[2], 1} end
  end
end
return out
`);

/** KEYS: stream. ARGV: group, then entryId/deliveryCount pairs. XACKs the current deliveries. */
const ACK = new Script(`
local acked = 0
for i = 2, #ARGV, 2 do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p == 1 and p[1][4] == tonumber(ARGV[i + 1]) then
    acked = acked + redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
  end
end
return acked
`);

/**
 * KEYS: stream. ARGV: group, consumer, ackDeadlineMs, retryMinMs, retryMaxMs, maxDeliveryAttempts
 * (0 = no dead letters), then entryId/deliveryCount pairs. Makes the current deliveries claimable
 * (after the backoff); returns the IDs to dead-letter instead.
 */
const NACK = new Script(`
local deadline = tonumber(ARGV[3])
local minB = tonumber(ARGV[4])
local maxB = tonumber(ARGV[5])
local maxAttempts = tonumber(ARGV[6])
local dead = {}
for i = 7, #ARGV, 2 do
  local id = ARGV[i]
  local n = tonumber(ARGV[i + 1])
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  if #p == 1 and p[1][4] == n then
    if maxAttempts > 0 and n >= maxAttempts then
      dead[#dead + 1] = id
    else
      local backoff = 0
      if minB > 0 then backoff = math.min(maxB, minB * 2 ^ math.min(n - 1, 30)) end
      local idle = math.floor(deadline - math.min(backoff, deadline))
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'IDLE', idle, 'JUSTID')
    end
  end
end
return dead
`);

/**
 * KEYS: stream. ARGV: group, consumer, then entryId/deliveryCount pairs. Work in progress: resets
 * the idle time of the current deliveries (XCLAIM … JUSTID does not count a delivery), so they are
 * not reclaimed by another consumer while this one works on them.
 */
const EXTEND = new Script(`
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local n = tonumber(ARGV[i + 1])
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  if #p == 1 and p[1][4] == n then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'IDLE', 0, 'JUSTID')
  end
end
return 0
`);

/** KEYS: stream. ARGV: group, consumer. Removes the consumer when it holds no pending entry. */
const RETIRE_CONSUMER = new Script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ok, p = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if not ok or #p > 0 then return 0 end
return redis.pcall('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
`);

// ---- subscription options as stored ----

type SubConfig = PullSubscriptionConfig;

interface LoadedSub extends SubConfig {
  id: string;
  stream: string;
  matcher: MessageFilter;
}

function configFields(c: SubConfig): string[] {
  return [
    'topic', c.topic,
    'ackDeadlineMs', String(c.ackDeadlineMs),
    'retentionMs', String(c.retentionMs),
    'filter', c.filter,
    'retryMinMs', c.retryMinMs === undefined ? '' : String(c.retryMinMs),
    'retryMaxMs', c.retryMaxMs === undefined ? '' : String(c.retryMaxMs),
    'deadLetterTopic', c.deadLetterTopic ?? '',
    'maxDeliveryAttempts', c.maxDeliveryAttempts === undefined ? '' : String(c.maxDeliveryAttempts),
  ];
}

function configFromHash(h: Record<string, string>): SubConfig {
  const num = (v: string | undefined): number | undefined => (v === undefined || v === '' ? undefined : Number(v));
  return {
    topic: h.topic ?? '',
    ackDeadlineMs: num(h.ackDeadlineMs) ?? DEFAULTS.ackDeadlineSeconds * 1000,
    retentionMs: num(h.retentionMs) ?? DEFAULTS.retentionSeconds * 1000,
    filter: h.filter ?? '',
    retryMinMs: num(h.retryMinMs),
    retryMaxMs: num(h.retryMaxMs),
    deadLetterTopic: h.deadLetterTopic || undefined,
    maxDeliveryAttempts: num(h.maxDeliveryAttempts),
  };
}


// ---- entries ----

interface RawEntry {
  id: string;
  fields: Buffer[];
  deliveryCount: number;
}

interface Parsed {
  id: string;
  deliveryCount: number;
  data: Uint8Array;
  attributes: Record<string, string>;
  orderingKey: string | undefined;
  publishMs: number;
}

function parseEntry(raw: RawEntry): Parsed {
  let data = new Uint8Array(0);
  let attributes: Record<string, string> = {};
  let orderingKey: string | undefined;
  for (let i = 0; i + 1 < raw.fields.length; i += 2) {
    const name = raw.fields[i].toString('utf8');
    const value = raw.fields[i + 1];
    if (name === 'data') {
      data = new Uint8Array(value); // own copy, not a view of the reply buffer
    } else if (name === 'attributes') {
      attributes = parseAttributes(value);
    } else if (name === 'orderingKey') {
      const key = value.toString('utf8');
      if (key !== '') orderingKey = key;
    }
  }
  return { id: raw.id, deliveryCount: raw.deliveryCount, data, attributes, orderingKey, publishMs: entryTimeMs(raw.id) };
}

function parseAttributes(value: Buffer): Record<string, string> {
  try {
    const parsed: unknown = JSON.parse(value.toString('utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof v === 'string') out[k] = v;
    }
    return out;
  } catch {
    return {};
  }
}

function entryTimeMs(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

/** Reply of the PULL script, or of XREADGROUP (whose entries are first deliveries). */
function parseScriptEntries(reply: unknown): RawEntry[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((e) => {
    const [id, fields, count] = e as [Buffer, Buffer[], number];
    return { id: id.toString('utf8'), fields, deliveryCount: Number(count) };
  });
}

function parseReadReply(reply: unknown): RawEntry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  const [, entries] = reply[0] as [Buffer, [Buffer, Buffer[] | null][]];
  const out: RawEntry[] = [];
  for (const [id, fields] of entries) {
    if (fields) out.push({ id: id.toString('utf8'), fields, deliveryCount: 1 });
  }
  return out;
}

const ACK_ID = /^(\d{1,20}-\d{1,20})\/(\d{1,10})$/;

function parseAckIds(ackIds: readonly string[], what: string): string[] {
  if (!Array.isArray(ackIds)) throw new InvalidInputError(`${what}: ackIds must be an array of strings`);
  const pairs: string[] = [];
  const seen = new Set<string>();
  for (const ackId of ackIds) {
    const m = typeof ackId === 'string' ? ACK_ID.exec(ackId) : null;
    if (!m || seen.has(ackId)) continue; // unknown ack IDs are ignored
    seen.add(ackId);
    pairs.push(m[1], m[2]);
  }
  return pairs;
}

// ---- errors ----

function replyCode(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return /^[A-Z]+/.exec(message)?.[0] ?? '';
}

function isAuthError(err: unknown): boolean {
  return ['NOAUTH', 'WRONGPASS', 'NOPERM'].includes(replyCode(err));
}

class RedisBroker implements Broker {
  readonly capabilities = CAPABILITIES;
  private readonly prefix: string;
  private readonly project: string;
  private readonly consumer: string;
  private readonly address: string;
  private readonly connectTimeoutMs: number;
  private readonly commandTimeoutMs: number;
  private readonly maxBlockMs: number;
  private readonly streamMaxAgeMs: number;
  private readonly maxStreamLength: number | undefined;
  private readonly connectionOptions: RedisOptions;
  private readonly main: Redis;
  private readonly idleBlockers: Redis[] = [];
  private readonly busyBlockers = new Set<Redis>();
  /** Subscription → stream of the groups this client joined (for consumer clean-up on close). */
  private readonly joined = new Map<string, string>();
  private readonly opening = new WeakMap<Redis, Promise<void>>();
  private versionCheck: Promise<void> | undefined;
  private closed = false;

  constructor(options: RedisBrokerOptions) {
    this.prefix = options.prefix ?? REDIS_DEFAULTS.prefix;
    checkPrefix(this.prefix, 'Redis broker');
    try {
      this.project = checkProjectId(options.project ?? DEFAULT_PROJECT);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
    const host = options.host ?? REDIS_DEFAULTS.host;
    const port = options.port ?? REDIS_DEFAULTS.port;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`Redis broker: invalid port ${port}`);
    const db = options.db ?? 0;
    if (!Number.isInteger(db) || db < 0) throw new ConfigError(`Redis broker: invalid database number ${db}`);
    this.address = `${host.includes(':') ? `[${host}]` : host}:${port}${db ? `/${db}` : ''}`;
    this.consumer = options.consumerName ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    if (typeof this.consumer !== 'string' || this.consumer === '' || this.consumer.length > 200) {
      throw new ConfigError(`Redis broker: consumerName must be a string of 1-200 characters`);
    }
    this.connectTimeoutMs = positive(options.connectTimeoutMs, REDIS_DEFAULTS.connectTimeoutMs, 'connectTimeoutMs');
    this.commandTimeoutMs = positive(options.commandTimeoutMs, REDIS_DEFAULTS.commandTimeoutMs, 'commandTimeoutMs');
    this.maxBlockMs = positive(options.maxBlockMs, REDIS_DEFAULTS.maxBlockMs, 'maxBlockMs');
    this.streamMaxAgeMs = positive(options.streamMaxAgeSeconds, REDIS_DEFAULTS.streamMaxAgeSeconds, 'streamMaxAgeSeconds') * 1000;
    if (options.maxStreamLength !== undefined && !(Number.isInteger(options.maxStreamLength) && options.maxStreamLength > 0)) {
      throw new ConfigError(`Redis broker: maxStreamLength must be a positive integer, not ${options.maxStreamLength}`);
    }
    this.maxStreamLength = options.maxStreamLength;
    this.connectionOptions = {
      host,
      port,
      username: options.username,
      password: options.password,
      db,
      tls: options.tls ? {} : undefined,
      lazyConnect: true,
      connectTimeout: this.connectTimeoutMs,
      // Fail fast instead of queueing or resending: the caller decides when to retry.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: () => null,
      connectionName: `prompt-${this.consumer}`.replace(/[^\x21-\x7e]/g, '_'),
    };
    this.main = new Redis({ ...this.connectionOptions, commandTimeout: this.commandTimeoutMs });
    this.main.on('error', () => {}); // reported through the failing calls
  }

  // ---- topics ----

  async ensureTopic(topic: string): Promise<void> {
    const id = this.id('topic', topic);
    const what = `create topic ${id}`;
    await this.run(what, async (r) => {
      await r.sadd(this.topicsKey(), id);
    });
  }

  async publish(topic: string, messages: readonly OutgoingMessage[]): Promise<string[]> {
    const id = this.id('topic', topic);
    const what = `publish to topic ${id}`;
    if (!Array.isArray(messages)) throw new InvalidInputError(`${what}: messages must be an array`);
    const entries = messages.map((m, i) => entryFields(m, i, what));
    this.checkOpen(what);
    if (entries.length === 0) return [];
    return this.run(what, async (r) => {
      if ((await r.sismember(this.topicsKey(), id)) === 0) {
        throw new NotFoundError(`${what}: topic ${id} not found (create it with ensureTopic)`);
      }
      return this.append(r, this.streamKey(id), entries, what);
    });
  }

  /** XADDs the entries in order, in pipelines of bounded size; returns the entry IDs. */
  private async append(r: Redis, stream: string, entries: readonly (string | Buffer)[][], what: string): Promise<string[]> {
    const ids: string[] = [];
    const minId = `${Math.max(0, Date.now() - this.streamMaxAgeMs)}-0`;
    let i = 0;
    while (i < entries.length) {
      const pipeline = r.pipeline();
      let bytes = 0;
      let n = 0;
      while (i < entries.length && n < 1000 && (n === 0 || bytes < 8 * 1024 * 1024)) {
        const fields = entries[i];
        for (const f of fields) bytes += f.length;
        pipeline.xadd(stream, 'MINID', '~', minId, '*', ...fields);
        i++;
        n++;
      }
      if (this.maxStreamLength !== undefined) pipeline.xtrim(stream, 'MAXLEN', '~', this.maxStreamLength);
      const results = (await pipeline.exec()) ?? [];
      for (let k = 0; k < n; k++) {
        const [err, id] = results[k] ?? [new Error('no reply')];
        if (err) throw this.mapError(err, `${what} (${ids.length} of ${entries.length} messages were published)`);
        ids.push(String(id));
      }
    }
    return ids;
  }

  // ---- subscriptions ----

  async ensureSubscription(name: string, topic: string, options: SubscriptionOptions = {}): Promise<void> {
    const id = this.id('subscription', name);
    const topicId = this.id('topic', topic);
    const what = `create subscription ${id}`;
    const requested = this.normalize(options ?? {}, topicId, what);
    await this.run(what, async (r) => {
      if (requested.deadLetterTopic !== undefined && (await r.sismember(this.topicsKey(), requested.deadLetterTopic)) === 0) {
        throw new NotFoundError(`${what}: dead-letter topic ${requested.deadLetterTopic} not found (create it first)`);
      }
      const reply = await this.script(r, ENSURE_SUBSCRIPTION, [this.topicsKey(), this.subKey(id), this.streamKey(topicId)], [
        topicId,
        id,
        ...configFields(requested),
        'createdAt',
        new Date().toISOString(),
      ], false);
      if (reply === 'notopic') throw new NotFoundError(`${what}: topic ${topicId} not found`);
      if (Array.isArray(reply) && reply[0] === 'exists') {
        const hash: Record<string, string> = {};
        for (let i = 1; i + 1 < reply.length; i += 2) hash[String(reply[i])] = String(reply[i + 1]);
        const differences = describeDifferences(configFromHash(hash), requested);
        if (differences.length > 0) {
          throw new ConfigError(`subscription ${id} already exists with other settings: ${differences.join('; ')}`);
        }
      }
    });
  }

  private normalize(options: SubscriptionOptions, topic: string, what: string): SubConfig {
    return normalizePullSubscription(options, topic, what, { backend: 'Redis Streams', maxRetentionSeconds: this.streamMaxAgeMs / 1000, topicId: (name) => this.id('topic', name) });
  }


  async deleteSubscription(name: string): Promise<void> {
    const id = this.id('subscription', name);
    const what = `delete subscription ${id}`;
    await this.run(what, async (r) => {
      const topic = await r.hget(this.subKey(id), 'topic');
      if (topic === null) return;
      await this.script(r, DELETE_SUBSCRIPTION, [this.subKey(id), this.streamKey(topic)], [id], false);
      this.joined.delete(id);
    });
  }

  // ---- delivery ----

  async pull(subscription: string, options: PullOptions = {}): Promise<ReceivedMessage[]> {
    const id = this.id('subscription', subscription);
    const what = `pull from subscription ${id}`;
    const max = Math.max(1, Math.min(Math.floor(options.maxMessages ?? DEFAULTS.maxMessagesPerPull), LIMITS.maxMessagesPerPull));
    const waitMs = Math.max(0, options.waitMs ?? 0);
    const { signal } = options;
    signal?.throwIfAborted();
    this.checkOpen(what);
    const deadline = Date.now() + waitMs;
    const sub = await this.run(what, (r) => this.load(r, id, what));
    this.joined.set(id, sub.stream);
    for (;;) {
      const claimed = await this.run(what, async (r) =>
        parseScriptEntries(await this.script(r, PULL, [sub.stream], [id, this.consumer, max, sub.ackDeadlineMs], true)),
      );
      let out = await this.settle(sub, claimed, what);
      if (out.length > 0) return out;
      signal?.throwIfAborted();
      const remaining = deadline - Date.now();
      if (remaining <= 0) return [];
      const slice = Math.max(1, Math.ceil(Math.min(remaining, sub.ackDeadlineMs, this.maxBlockMs)));
      const fresh = await this.blockingRead(sub, max, slice, signal, what);
      out = await this.settle(sub, fresh, what);
      if (out.length > 0) return out;
      signal?.throwIfAborted();
    }
  }

  /** Drops, dead-letters or delivers what a pull got. */
  private async settle(sub: LoadedSub, raw: readonly RawEntry[], what: string): Promise<ReceivedMessage[]> {
    if (raw.length === 0) return [];
    const now = Date.now();
    const drop: string[] = [];
    const dead: Parsed[] = [];
    const out: ReceivedMessage[] = [];
    for (const r of raw) {
      const e = parseEntry(r);
      if (!sub.matcher.matches(e.attributes) || e.publishMs + sub.retentionMs <= now) {
        drop.push(e.id);
      } else if (sub.maxDeliveryAttempts !== undefined && e.deliveryCount > sub.maxDeliveryAttempts) {
        dead.push({ ...e, deliveryCount: e.deliveryCount - 1 }); // the attempts actually made
      } else {
        out.push(received(e));
      }
    }
    if (drop.length > 0 || dead.length > 0) {
      await this.run(what, async (r) => {
        const tx = r.multi();
        if (drop.length > 0) tx.xack(sub.stream, sub.id, ...drop);
        this.queueDeadLetters(tx, sub, dead);
        await this.exec(tx, what);
      });
    }
    return out;
  }

  private queueDeadLetters(tx: ReturnType<Redis['multi']>, sub: LoadedSub, dead: readonly Parsed[]): void {
    if (dead.length === 0 || sub.deadLetterTopic === undefined) return;
    const minId = `${Math.max(0, Date.now() - this.streamMaxAgeMs)}-0`;
    for (const e of dead) {
      const attributes: Record<string, string> = {
        ...e.attributes,
        [DEAD_LETTER_ATTRIBUTES.deliveryCount]: String(e.deliveryCount),
        [DEAD_LETTER_ATTRIBUTES.subscription]: sub.id,
        [DEAD_LETTER_ATTRIBUTES.subscriptionProject]: this.project,
        [DEAD_LETTER_ATTRIBUTES.topicPublishTime]: new Date(e.publishMs).toISOString(),
      };
      const fields: (string | Buffer)[] = ['data', Buffer.from(e.data), 'attributes', JSON.stringify(attributes)];
      if (e.orderingKey) fields.push('orderingKey', e.orderingKey);
      tx.xadd(this.streamKey(sub.deadLetterTopic), 'MINID', '~', minId, '*', ...fields);
    }
    tx.xack(sub.stream, sub.id, ...dead.map((e) => e.id));
  }

  /** Waits up to `blockMs` for new entries on a connection of its own. */
  private async blockingRead(
    sub: LoadedSub,
    max: number,
    blockMs: number,
    signal: AbortSignal | undefined,
    what: string,
  ): Promise<RawEntry[]> {
    const conn = await this.takeBlocker(what);
    const stop = (): void => conn.disconnect();
    signal?.addEventListener('abort', stop, { once: true });
    // A server that stops answering must not hold the pull forever.
    const guard = setTimeout(stop, blockMs + this.commandTimeoutMs);
    try {
      signal?.throwIfAborted();
      const reply = await conn.callBuffer(
        'XREADGROUP', 'GROUP', sub.id, this.consumer, 'COUNT', max, 'BLOCK', blockMs, 'STREAMS', sub.stream, '>',
      );
      this.releaseBlocker(conn);
      return parseReadReply(reply);
    } catch (err) {
      this.discardBlocker(conn);
      if (signal?.aborted) throw signal.reason;
      throw this.mapError(err, what);
    } finally {
      clearTimeout(guard);
      signal?.removeEventListener('abort', stop);
    }
  }

  async ack(subscription: string, ackIds: readonly string[]): Promise<void> {
    const id = this.id('subscription', subscription);
    const what = `ack on subscription ${id}`;
    const pairs = parseAckIds(ackIds, what);
    this.checkOpen(what);
    if (pairs.length === 0) return;
    await this.run(what, async (r) => {
      const sub = await this.load(r, id, what);
      await this.script(r, ACK, [sub.stream], [id, ...pairs], false);
    });
  }

  async extendAckDeadline(subscription: string, ackIds: readonly string[]): Promise<void> {
    const id = this.id('subscription', subscription);
    const what = `extending the ack deadline on subscription ${id}`;
    const pairs = parseAckIds(ackIds, what);
    this.checkOpen(what);
    if (pairs.length === 0) return;
    await this.run(what, async (r) => {
      const sub = await this.load(r, id, what);
      this.joined.set(id, sub.stream);
      await this.script(r, EXTEND, [sub.stream], [id, this.consumer, ...pairs], false);
    });
  }

  async nack(subscription: string, ackIds: readonly string[]): Promise<void> {
    const id = this.id('subscription', subscription);
    const what = `nack on subscription ${id}`;
    const pairs = parseAckIds(ackIds, what);
    this.checkOpen(what);
    if (pairs.length === 0) return;
    await this.run(what, async (r) => {
      const sub = await this.load(r, id, what);
      this.joined.set(id, sub.stream); // XCLAIM makes this client a consumer of the group
      const deadIds = (await this.script(r, NACK, [sub.stream], [
        id,
        this.consumer,
        sub.ackDeadlineMs,
        sub.retryMinMs ?? 0,
        sub.retryMaxMs ?? sub.retryMinMs ?? 0,
        sub.maxDeliveryAttempts ?? 0,
        ...pairs,
      ], false)) as string[];
      if (!Array.isArray(deadIds) || deadIds.length === 0) return;
      const counts = new Map<string, number>();
      for (let i = 0; i < pairs.length; i += 2) counts.set(pairs[i], Number(pairs[i + 1]));
      const dead: Parsed[] = [];
      for (const entryId of deadIds) {
        const found = await r.xrangeBuffer(sub.stream, entryId, entryId);
        if (found.length === 0) {
          await r.xack(sub.stream, id, entryId); // trimmed meanwhile: nothing to move
          continue;
        }
        const [eid, fields] = found[0];
        dead.push(parseEntry({ id: eid.toString('utf8'), fields, deliveryCount: counts.get(entryId) ?? 0 }));
      }
      if (dead.length === 0) return;
      const tx = r.multi();
      this.queueDeadLetters(tx, sub, dead);
      await this.exec(tx, what);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const conn of [...this.busyBlockers, ...this.idleBlockers]) conn.disconnect();
    this.busyBlockers.clear();
    this.idleBlockers.length = 0;
    if (this.main.status === 'ready') {
      // Leave no empty consumer behind in the groups (autoscaled workers come and go).
      for (const [sub, stream] of this.joined) {
        try {
          await this.script(this.main, RETIRE_CONSUMER, [stream], [sub, this.consumer], false);
        } catch {
          // best effort
        }
      }
      try {
        await this.main.quit();
      } catch {
        this.main.disconnect();
      }
    } else {
      this.main.disconnect();
    }
  }

  // ---- plumbing ----

  private id(kind: 'topic' | 'subscription', name: string): string {
    return resourceId(kind, name, this.project);
  }

  private topicsKey(): string {
    return `${this.prefix}:topics`;
  }

  private streamKey(topic: string): string {
    return `${this.prefix}:topic:${topic}`;
  }

  private subKey(subscription: string): string {
    return `${this.prefix}:sub:${subscription}`;
  }

  private async load(r: Redis, id: string, what: string): Promise<LoadedSub> {
    const hash = await r.hgetall(this.subKey(id));
    if (!hash.topic) throw new NotFoundError(`${what}: subscription ${id} not found`);
    const config = configFromHash(hash);
    return { ...config, id, stream: this.streamKey(config.topic), matcher: parseFilter(config.filter) };
  }

  private checkOpen(what: string): void {
    if (this.closed) throw new ConfigError(`${what}: the messaging client is closed`);
  }

  /** Runs `body` on the main connection (connected first), mapping failures to the error classes. */
  private async run<T>(what: string, body: (r: Redis) => Promise<T>): Promise<T> {
    this.checkOpen(what);
    await this.connect(this.main, what);
    this.versionCheck ??= this.checkVersion(what);
    try {
      await this.versionCheck;
    } catch (err) {
      this.versionCheck = undefined;
      throw err;
    }
    try {
      return await body(this.main);
    } catch (err) {
      throw this.mapError(err, what);
    }
  }

  private async checkVersion(what: string): Promise<void> {
    let info: string;
    try {
      info = await this.main.info('server');
    } catch (err) {
      throw this.mapError(err, what);
    }
    const version = /redis_version:(\d+)\.(\d+)/.exec(info);
    if (version && (Number(version[1]) < 6 || (Number(version[1]) === 6 && Number(version[2]) < 2))) {
      throw new ConfigError(`${what}: Redis at ${this.address} is version ${version[1]}.${version[2]}; 6.2 or later is needed`);
    }
  }

  /** Resolves once `conn` is ready; TransientError when Redis cannot be reached in time. */
  private async connect(conn: Redis, what: string): Promise<void> {
    if (conn.status === 'ready') return;
    this.checkOpen(what);
    let opening = this.opening.get(conn);
    if (!opening) {
      opening = this.open(conn).finally(() => this.opening.delete(conn));
      this.opening.set(conn, opening);
    }
    try {
      await opening;
    } catch (err) {
      if (this.closed) throw new ConfigError(`${what}: the messaging client is closed`, { cause: err });
      const message = err instanceof Error ? err.message : String(err);
      if (isAuthError(err)) {
        throw new ConfigError(`${what}: Redis at ${this.address} refused the credentials: ${message}`, { cause: err });
      }
      throw new TransientError(`${what}: cannot reach Redis at ${this.address}: ${message}`, { cause: err });
    }
  }

  /** One connection attempt, shared by the calls that wait for it. */
  private open(conn: Redis): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        conn.off('ready', onReady);
        conn.off('error', onError);
        conn.off('end', onEnd);
        if (err) reject(err);
        else resolve();
      };
      const onReady = (): void => finish();
      const onError = (err: Error): void => finish(err);
      const onEnd = (): void => finish(new Error('the connection closed'));
      const timer = setTimeout(
        () => finish(new Error(`no connection within ${this.connectTimeoutMs} ms`)),
        this.connectTimeoutMs + 500,
      );
      conn.on('ready', onReady);
      conn.on('error', onError);
      conn.on('end', onEnd);
      if (conn.status === 'wait' || conn.status === 'end' || conn.status === 'close') {
        conn.connect().catch(() => {}); // the outcome arrives as an event
      }
    });
  }

  private async takeBlocker(what: string): Promise<Redis> {
    this.checkOpen(what);
    let conn = this.idleBlockers.pop();
    if (!conn || conn.status !== 'ready') {
      conn?.disconnect();
      conn = new Redis(this.connectionOptions);
      conn.on('error', () => {}); // reported through the failing calls
    }
    this.busyBlockers.add(conn);
    try {
      await this.connect(conn, what);
    } catch (err) {
      this.discardBlocker(conn);
      throw err;
    }
    if (this.closed) {
      this.discardBlocker(conn);
      this.checkOpen(what);
    }
    return conn;
  }

  private releaseBlocker(conn: Redis): void {
    this.busyBlockers.delete(conn);
    if (this.closed || this.idleBlockers.length >= 8) conn.disconnect();
    else this.idleBlockers.push(conn);
  }

  private discardBlocker(conn: Redis): void {
    this.busyBlockers.delete(conn);
    conn.disconnect();
  }

  /** EVALSHA, loading the script on NOSCRIPT. `binary` returns Buffers instead of strings. */
  private async script(r: Redis, script: Script, keys: string[], args: (string | number)[], binary: boolean): Promise<unknown> {
    const call = (command: string, first: string): Promise<unknown> =>
      binary
        ? r.callBuffer(command, first, keys.length, ...keys, ...args)
        : r.call(command, first, keys.length, ...keys, ...args);
    try {
      return await call('EVALSHA', script.sha);
    } catch (err) {
      if (replyCode(err) !== 'NOSCRIPT') throw err;
      return call('EVAL', script.source);
    }
  }

  private async exec(tx: ReturnType<Redis['multi']>, what: string): Promise<void> {
    const results = await tx.exec();
    if (results === null) throw new TransientError(`${what}: a Redis transaction was aborted`);
    for (const [err] of results) if (err) throw this.mapError(err, what);
  }

  private mapError(err: unknown, what: string): Error {
    if (err instanceof PromptError) return err;
    if (this.closed) return new ConfigError(`${what}: the messaging client is closed`, { cause: err });
    const message = err instanceof Error ? err.message : String(err);
    const code = replyCode(err);
    if (code === 'NOGROUP') return new NotFoundError(`${what}: the subscription's consumer group does not exist (${message})`, { cause: err });
    if (code === 'WRONGTYPE') {
      return new ConfigError(`${what}: a key under prefix ${JSON.stringify(this.prefix)} holds another type of value (${message})`, { cause: err });
    }
    if (isAuthError(err)) return new ConfigError(`${what}: Redis at ${this.address} refused: ${message}`, { cause: err });
    return new TransientError(`${what}: Redis at ${this.address}: ${message}`, { cause: err });
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new ConfigError(`Redis broker: ${name} must be a positive number, not ${value}`);
  }
  return value;
}

/** Validates one outgoing message and returns its XADD fields. */
function entryFields(m: OutgoingMessage, i: number, what: string): (string | Buffer)[] {
  if (!(m?.data instanceof Uint8Array)) throw new InvalidInputError(`${what}: messages[${i}].data must be a Uint8Array`);
  const attributes = m.attributes ?? {};
  if (typeof attributes !== 'object' || attributes === null) {
    throw new InvalidInputError(`${what}: messages[${i}].attributes must be an object of strings`);
  }
  let count = 0;
  for (const [key, value] of Object.entries(attributes)) {
    count++;
    if (key === '') throw new InvalidInputError(`${what}: messages[${i}].attributes has an empty key`);
    if (typeof value !== 'string') throw new InvalidInputError(`${what}: messages[${i}].attributes.${key} must be a string`);
    if (Buffer.byteLength(key) > LIMITS.attributeKeyBytes) {
      throw new InvalidInputError(`${what}: messages[${i}].attributes key ${JSON.stringify(key.slice(0, 40))}... is longer than ${LIMITS.attributeKeyBytes} bytes`);
    }
    if (Buffer.byteLength(value) > LIMITS.attributeValueBytes) {
      throw new InvalidInputError(`${what}: messages[${i}].attributes.${key} is longer than ${LIMITS.attributeValueBytes} bytes`);
    }
  }
  if (count > LIMITS.attributesPerMessage) {
    throw new InvalidInputError(`${what}: messages[${i}].attributes has ${count} entries; the maximum is ${LIMITS.attributesPerMessage}`);
  }
  if (m.data.byteLength === 0 && count === 0) {
    throw new InvalidInputError(`${what}: messages[${i}] has neither data nor attributes`);
  }
  if (m.orderingKey !== undefined && (typeof m.orderingKey !== 'string' || Buffer.byteLength(m.orderingKey) > LIMITS.orderingKeyBytes)) {
    throw new InvalidInputError(`${what}: messages[${i}].orderingKey must be a string of at most ${LIMITS.orderingKeyBytes} bytes`);
  }
  const fields: (string | Buffer)[] = ['data', Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength)];
  if (count > 0) fields.push('attributes', JSON.stringify(attributes));
  if (m.orderingKey) fields.push('orderingKey', m.orderingKey);
  return fields;
}

function received(e: Parsed): ReceivedMessage {
  const out: ReceivedMessage = {
    data: e.data,
    attributes: e.attributes,
    messageId: e.id,
    publishTime: new Date(e.publishMs).toISOString(),
    deliveryAttempt: e.deliveryCount,
    ackId: `${e.id}/${e.deliveryCount}`,
  };
  if (e.orderingKey) out.orderingKey = e.orderingKey;
  return out;
}
