import { createHash } from 'node:crypto';
import type { Bucket, Storage } from '@google-cloud/storage';
import { ConfigError, InvalidInputError, TransientError } from '../../core/errors.ts';
import type { StoredObject } from '../../messages/storage-notification.ts';
import { contentTypeFor } from '../content-type.ts';
import { assertSafeKey, assertSafePrefix } from '../key-safety.ts';
import type { ObjectStore } from '../object-store.ts';
import { parseGcsUrl, resolveGcsSettings, type GcsSettings, type GcsStoreConfig } from './gcs-config.ts';
import { classifyGcsError, mapGcsError, noSuchBucketError } from './gcs-errors.ts';

export type { GcsStoreConfig } from './gcs-config.ts';

type StorageModule = typeof import('@google-cloud/storage');
let clientModule: Promise<StorageModule> | undefined;
/** The client is loaded on first use, and only by this folder. */
function loadClient(): Promise<StorageModule> {
  clientModule ??= import('@google-cloud/storage');
  return clientModule;
}

/** The fields of a JSON API object resource the store reads. */
interface ObjectResource {
  name?: unknown;
  size?: unknown;
  generation?: unknown;
  contentType?: unknown;
  md5Hash?: unknown;
  updated?: unknown;
}

/** Fields requested from objects.list: only what a StoredObject needs. */
const LIST_FIELDS = 'items(name,size,generation,contentType,md5Hash,updated),nextPageToken';

/** An ObjectStore over Google Cloud Storage, with what notification setup needs. */
export interface GcsStore extends ObjectStore {
  readonly capabilities: { readonly notifications: true };
  /** '' or the object name prefix, ending in '/', that the store's keys live below. */
  readonly keyPrefix: string;
}

/**
 * An ObjectStore over Cloud Storage's JSON API through the official client
 * (`@google-cloud/storage`), against Google, fake-gcs-server or any JSON API server.
 *
 * Writes are single-request multipart uploads: Cloud Storage makes the object visible only
 * once the upload is complete, and a write replaces the live object with a new generation.
 * Each upload declares its MD5 (`md5Hash` in the metadata part), so the server checks the
 * bytes before it finalizes the object and a corrupted upload never becomes visible (or sends
 * a notification); the client also checks the CRC32C the server reports.
 *
 * Generations are Cloud Storage's own object generations (microseconds), the same values its
 * Pub/Sub notifications carry in `objectGeneration`.
 */
export function createGcsStore(config: GcsStoreConfig): GcsStore {
  return new GcsObjectStore(resolveGcsSettings(config, process.env), config);
}

/** Opens `gs://bucket[/prefix][?endpoint=URL&project=P]` with Application Default Credentials. */
export function gcsStoreFromUrl(url: string): GcsStore {
  return createGcsStore(parseGcsUrl(url));
}

class GcsObjectStore implements GcsStore {
  readonly bucket: string;
  readonly capabilities = { notifications: true } as const;
  readonly keyPrefix: string;
  /** Where requests go when not to Google's default endpoint, for messages. */
  readonly server: string | undefined;
  private readonly settings: GcsSettings;
  private readonly config: GcsStoreConfig;
  private ready: Promise<{ read: Bucket; write: Bucket }> | undefined;
  private bucketVerified = false;

  constructor(settings: GcsSettings, config: GcsStoreConfig) {
    this.settings = settings;
    this.config = config;
    this.bucket = settings.bucket;
    this.keyPrefix = settings.keyPrefix;
    this.server = settings.server;
  }

  /**
   * The client's Bucket handles, built on first use (no network until then). Two clients: the
   * official client turns its shared `retryOptions.autoRetry` off while it runs a request that
   * is not idempotent (an upload without preconditions, a delete) and does not always turn it
   * back on, so those requests go through a client that never retries, and reads through one
   * whose retry setting nothing changes.
   */
  connect(): Promise<{ read: Bucket; write: Bucket }> {
    this.ready ??= loadClient().then(({ Storage: StorageClass }) => {
      const s = this.settings;
      const base = {
        ...(s.projectId !== undefined ? { projectId: s.projectId } : {}),
        ...(s.apiEndpoint !== undefined ? { apiEndpoint: s.apiEndpoint } : {}),
        ...(s.useAuthWithCustomEndpoint ? { useAuthWithCustomEndpoint: true } : {}),
        ...(this.config.credentials !== undefined ? { credentials: this.config.credentials } : {}),
        ...(this.config.keyFilename !== undefined ? { keyFilename: this.config.keyFilename } : {}),
      };
      const reader: Storage = new StorageClass({
        ...base,
        retryOptions: { autoRetry: s.maxRetries > 0, maxRetries: Math.max(s.maxRetries, 1), totalTimeout: 60 },
      });
      const writer: Storage = new StorageClass({ ...base, retryOptions: { autoRetry: false } });
      return { read: reader.bucket(s.bucket), write: writer.bucket(s.bucket) };
    });
    return this.ready;
  }

  /** The object name in the bucket; InvalidInputError for a key that could escape the store. */
  private fullKey(key: string): string {
    assertSafeKey(key);
    const full = this.keyPrefix + key;
    if (Buffer.byteLength(full, 'utf8') > 1024) {
      throw new InvalidInputError(`object name '${full.slice(0, 64)}…' is longer than Cloud Storage's 1024 bytes`);
    }
    return full;
  }

  private ctx(op: string, key?: string): { op: string; bucket: string; key?: string; server?: string } {
    return { op, bucket: this.bucket, ...(key !== undefined ? { key } : {}), ...(this.server ? { server: this.server } : {}) };
  }

  /** Tells a missing bucket from a missing object, once per store. */
  private async verifyBucket(op: string, key: string): Promise<void> {
    if (this.bucketVerified) return;
    const { read } = await this.connect();
    try {
      await read.getMetadata();
    } catch (e) {
      const kind = classifyGcsError(e);
      if (kind === 'not-found') throw noSuchBucketError(this.ctx(op, key), e);
      // Credentials that may use objects but not read the bucket itself: nothing more to learn.
      if (kind === 'credentials') return;
      throw mapGcsError(e, this.ctx(op, key));
    }
    this.bucketVerified = true;
  }

  async put(key: string, bytes: Uint8Array, options?: { contentType?: string }): Promise<StoredObject> {
    const full = this.fullKey(key);
    const contentType = options?.contentType ?? contentTypeFor(key);
    const md5Base64 = createHash('md5').update(bytes).digest('base64');
    const file = (await this.connect()).write.file(full);
    const data = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    try {
      await file.save(data, {
        resumable: false,
        contentType,
        // Declared hashes are checked by the server before the object is finalized.
        metadata: { contentType, md5Hash: md5Base64 },
        validation: 'crc32c',
      });
    } catch (e) {
      // An upload's 404 can only mean the bucket.
      if (classifyGcsError(e) === 'not-found') throw noSuchBucketError(this.ctx('put', full), e);
      throw mapGcsError(e, this.ctx('put', full));
    }
    const resource = file.metadata as ObjectResource;
    const written = this.describe(key, resource, full);
    const sizeDiffers = resource.size !== undefined && written.size !== bytes.length;
    if (sizeDiffers || (written.md5Base64 !== undefined && written.md5Base64 !== md5Base64)) {
      throw new TransientError(
        `GCS put gs://${this.bucket}/${full}: the server reports ${written.size} bytes with MD5 ${written.md5Base64 ?? '(none)'}, ` +
          `not the ${bytes.length} bytes with MD5 ${md5Base64} sent`,
      );
    }
    return { ...written, md5Base64 };
  }

  async get(key: string): Promise<Uint8Array> {
    const full = this.fullKey(key);
    const file = (await this.connect()).read.file(full);
    try {
      const [contents] = await file.download({ validation: 'crc32c' });
      return new Uint8Array(contents.buffer, contents.byteOffset, contents.byteLength);
    } catch (e) {
      if (classifyGcsError(e) === 'not-found') await this.verifyBucket('get', full);
      throw mapGcsError(e, this.ctx('get', full));
    }
  }

  async stat(key: string): Promise<StoredObject | null> {
    const full = this.fullKey(key);
    const file = (await this.connect()).read.file(full);
    try {
      const [metadata] = await file.getMetadata();
      return this.describe(key, metadata as ObjectResource, full);
    } catch (e) {
      if (classifyGcsError(e) !== 'not-found') throw mapGcsError(e, this.ctx('stat', full));
    }
    await this.verifyBucket('stat', full);
    return null;
  }

  async list(prefix: string): Promise<StoredObject[]> {
    assertSafePrefix(prefix);
    const listed = this.keyPrefix + prefix;
    const bucket = (await this.connect()).read;
    const out: StoredObject[] = [];
    let pageToken: string | undefined;
    do {
      let page: { items: ObjectResource[]; next: string | undefined };
      try {
        const [items, , response] = await bucket.getFiles({
          prefix: listed,
          maxResults: this.settings.pageSize,
          autoPaginate: false,
          fields: LIST_FIELDS,
          ...(pageToken !== undefined ? { pageToken } : {}),
        });
        // With `fields` set the client hands back the object resources as the server sent them.
        const next = (response as { nextPageToken?: unknown } | undefined)?.nextPageToken;
        page = { items: items as unknown as ObjectResource[], next: typeof next === 'string' && next !== '' ? next : undefined };
      } catch (e) {
        // objects.list answers 404 only for a missing bucket.
        if (classifyGcsError(e) === 'not-found') throw noSuchBucketError(this.ctx('list', listed), e);
        throw mapGcsError(e, this.ctx('list', listed));
      }
      for (const item of page.items) {
        if (typeof item.name !== 'string' || !item.name.startsWith(this.keyPrefix)) continue;
        const key = item.name.slice(this.keyPrefix.length);
        // Folder placeholders ('dir/') and names this store could not address are not objects of it.
        if (!isSafeKey(key)) continue;
        out.push(this.describe(key, item, item.name));
      }
      if (page.next !== undefined && page.next === pageToken) {
        throw new TransientError(`GCS list gs://${this.bucket}/${listed} returned the same page token twice`);
      }
      pageToken = page.next;
    } while (pageToken !== undefined);
    // The JSON API lists in name order already; sorting again keeps the interface's promise
    // on servers that do not and matches the other stores' order.
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    const full = this.fullKey(key);
    const file = (await this.connect()).write.file(full);
    try {
      await file.delete();
    } catch (e) {
      if (classifyGcsError(e) !== 'not-found') throw mapGcsError(e, this.ctx('delete', full));
      await this.verifyBucket('delete', full);
    }
  }

  async close(): Promise<void> {
    // The client holds no per-store connection (its keep-alive connection pools are shared);
    // dropping the Bucket lets a later call build a fresh one.
    this.ready = undefined;
  }

  private describe(key: string, r: ObjectResource, full: string): StoredObject {
    const generation = typeof r.generation === 'number' ? String(r.generation) : r.generation;
    if (typeof generation !== 'string' || !/^\d+$/.test(generation)) {
      throw new TransientError(`GCS reported no generation for gs://${this.bucket}/${full}`);
    }
    const size = Number(r.size);
    const updated = typeof r.updated === 'string' && !Number.isNaN(Date.parse(r.updated)) ? r.updated : undefined;
    return {
      bucket: this.bucket,
      key,
      size: Number.isSafeInteger(size) && size >= 0 ? size : 0,
      generation,
      contentType: typeof r.contentType === 'string' && r.contentType !== '' ? r.contentType : 'application/octet-stream',
      ...(typeof r.md5Hash === 'string' && r.md5Hash !== '' ? { md5Base64: r.md5Hash } : {}),
      // `updated` is the finalize time for an object whose metadata was never changed afterwards.
      updated: updated ?? new Date(Number(BigInt(generation) / 1000n)).toISOString(),
    };
  }
}

function isSafeKey(key: string): boolean {
  try {
    assertSafeKey(key);
    return true;
  } catch {
    return false;
  }
}

/** Quotes a word for a POSIX shell when it needs it. */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The `gcloud` command that makes a bucket publish OBJECT_FINALIZE notifications (JSON_API_V1
 * payloads, what parseStorageNotification reads) to a Pub/Sub topic, for objects whose names
 * start with `prefix` (the full object name prefix in the bucket; '' for every object). The
 * topic is a short name in gcloud's current project or `projects/P/topics/T`; gcloud creates
 * it if missing and grants the project's Cloud Storage service account the right to publish to it.
 */
export function gcsNotificationCommand(bucket: string, topic: string, prefix = ''): string {
  if (topic.trim() === '') throw new ConfigError('a Pub/Sub topic is required for bucket notifications');
  const words = [
    'gcloud', 'storage', 'buckets', 'notifications', 'create', shellWord(`gs://${bucket}`),
    shellWord(`--topic=${topic}`), '--event-types=OBJECT_FINALIZE', '--payload-format=json',
  ];
  if (prefix !== '') words.push(shellWord(`--object-prefix=${prefix}`));
  return words.join(' ');
}

/** What createGcsNotification made. */
export interface GcsNotificationConfig {
  readonly id: string;
  /** `//pubsub.googleapis.com/projects/P/topics/T`, as Cloud Storage records it. */
  readonly topic: string;
  /** The object name prefix in the bucket ('' for every object). */
  readonly objectNamePrefix: string;
}

/**
 * Creates the bucket's notification configuration through the JSON API: OBJECT_FINALIZE events,
 * JSON_API_V1 payloads, for the store's objects whose keys start with `prefix` (a prefix of the
 * store's keys: its own key prefix is added). The topic must exist and the project's Cloud Storage
 * service account must be allowed to publish to it (`gcsNotificationCommand` does both through gcloud);
 * a short topic name needs the store's projectId or a project from the credentials.
 */
export async function createGcsNotification(store: GcsStore, topic: string, prefix = ''): Promise<GcsNotificationConfig> {
  if (!(store instanceof GcsObjectStore)) throw new ConfigError('createGcsNotification needs a store made by createGcsStore');
  if (topic.trim() === '') throw new ConfigError('a Pub/Sub topic is required for bucket notifications');
  assertSafePrefix(prefix);
  const objectNamePrefix = store.keyPrefix + prefix;
  const bucket = (await store.connect()).write;
  try {
    const [notification, response] = await bucket.createNotification(topic, {
      eventTypes: ['OBJECT_FINALIZE'],
      payloadFormat: 'JSON_API_V1',
      ...(objectNamePrefix !== '' ? { objectNamePrefix } : {}),
    });
    const r = (response ?? {}) as { id?: unknown; topic?: unknown };
    return {
      id: typeof r.id === 'string' ? r.id : String(notification.id ?? ''),
      topic: typeof r.topic === 'string' ? r.topic : topic,
      objectNamePrefix,
    };
  } catch (e) {
    const ctx = { op: 'notification setup on', bucket: store.bucket, ...(store.server ? { server: store.server } : {}) };
    const kind = classifyGcsError(e);
    const mapped = mapGcsError(e, ctx);
    if (kind === 'not-found') {
      throw new ConfigError(`bucket notification for gs://${store.bucket}: the bucket or the topic '${topic}' does not exist`, { cause: mapped });
    }
    if (kind === 'credentials' || kind === 'invalid-input') {
      throw new ConfigError(
        `${mapped.message}. Creating a notification needs storage.buckets.update on the bucket, an existing topic, and ` +
          "the project's Cloud Storage service account (service-PROJECT_NUMBER@gs-project-accounts.iam.gserviceaccount.com) allowed to " +
          `publish to it (roles/pubsub.publisher); \`${gcsNotificationCommand(store.bucket, topic, objectNamePrefix)}\` sets all of that up`,
        { cause: mapped.cause },
      );
    }
    throw mapped;
  }
}
