import { createHash } from 'node:crypto';
import { InvalidInputError, TransientError } from '../../core/errors.ts';
import type { StoredObject } from '../../messages/storage-notification.ts';
import { assertSafeKey, assertSafePrefix } from '../key-safety.ts';
import type { ObjectStore } from '../object-store.ts';
import { resolveS3Settings, type S3Settings, type S3StoreConfig } from './s3-config.ts';
import { classifyS3Error, mapS3Error, noSuchBucketError } from './s3-errors.ts';
import { contentTypeFor } from '../content-type.ts';

export type { S3StoreConfig } from './s3-config.ts';

/** An SDK command as the client sees it: `new PutObjectCommand(input)`. */
export interface S3CommandLike {
  readonly input: object;
}

/**
 * The part of `S3Client` the store uses, typed structurally so that a test (or a caller with
 * its own client) can inject one. Outputs are read field by field, never as SDK types.
 */
export interface S3ClientLike {
  send(command: S3CommandLike): Promise<unknown>;
  destroy?(): void;
}

export interface S3StoreDeps {
  /** A ready client; the store then neither builds nor destroys one. */
  client?: S3ClientLike;
  /** Where endpoint and region defaults come from; process.env unless given. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Wall clock (ms) and sleep, for the wait that gives a same-second replacement a new generation. */
  clock?: { now(): number; sleep(ms: number): Promise<void> };
}

type S3Sdk = typeof import('@aws-sdk/client-s3');
let sdkModule: Promise<S3Sdk> | undefined;
/** The SDK is loaded on first use, and only by this folder. */
function loadSdk(): Promise<S3Sdk> {
  sdkModule ??= import('@aws-sdk/client-s3');
  return sdkModule;
}

interface HeadOutput {
  ContentLength?: number;
  ContentType?: string;
  ETag?: string;
  LastModified?: Date;
}
interface ListEntry {
  Key?: string;
  Size?: number;
  ETag?: string;
  LastModified?: Date;
}
interface ListOutput {
  Contents?: ListEntry[];
  IsTruncated?: boolean;
  NextContinuationToken?: string;
}
interface GetOutput {
  Body?: { transformToByteArray(): Promise<Uint8Array> };
}

/** Attempts at a put that must end with a generation newer than the object it replaced. */
const PUT_ATTEMPTS = 3;

/**
 * An ObjectStore over the S3 API (AWS, MinIO, Ceph, s3rver, Google Cloud Storage's XML API).
 *
 * Generations. S3 has no generation number, and S3 version ids are opaque, not ordered and
 * missing from ListObjectsV2. The generation is therefore LastModified in microseconds, taken
 * at whole seconds, because HEAD reports LastModified as an HTTP date: so put, stat and list
 * agree on it. A put that replaces an object written in the same second waits for the next
 * second (up to about one second), so a replacement always has a newer generation.
 *
 * Content types. ListObjectsV2 does not report them: list() gives the type the key implies
 * (as put() chooses by default); stat() gives the stored one.
 */
export function createS3Store(config: S3StoreConfig, deps: S3StoreDeps = {}): ObjectStore {
  const settings = resolveS3Settings(config, deps.env ?? process.env);
  return new S3Store(settings, deps);
}

class S3Store implements ObjectStore {
  readonly bucket: string;
  readonly capabilities = { notifications: false } as const;
  private readonly settings: S3Settings;
  private readonly injected: S3ClientLike | undefined;
  private readonly clock: { now(): number; sleep(ms: number): Promise<void> };
  private ready: Promise<{ client: S3ClientLike; sdk: S3Sdk }> | undefined;
  private bucketVerified = false;

  constructor(settings: S3Settings, deps: S3StoreDeps) {
    this.settings = settings;
    this.bucket = settings.bucket;
    this.injected = deps.client;
    this.clock = deps.clock ?? { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };
  }

  private connect(): Promise<{ client: S3ClientLike; sdk: S3Sdk }> {
    this.ready ??= loadSdk().then((sdk) => {
      if (this.injected) return { client: this.injected, sdk };
      const s = this.settings;
      const client = new sdk.S3Client({
        region: s.region,
        ...(s.endpoint !== undefined ? { endpoint: s.endpoint } : {}),
        forcePathStyle: s.forcePathStyle,
        // Uploads carry Content-MD5, which AWS, GCS, MinIO and Ceph verify; the newer
        // x-amz-checksum-* headers are refused by some S3-compatible servers (GCS's XML API).
        requestChecksumCalculation: 'WHEN_REQUIRED',
        ...(s.endpoint !== undefined ? { responseChecksumValidation: 'WHEN_REQUIRED' as const } : {}),
        requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
      });
      return { client, sdk };
    });
    return this.ready;
  }

  /** The key in the bucket; InvalidInputError for a key that could escape the store. */
  private fullKey(key: string): string {
    assertSafeKey(key);
    const full = this.settings.keyPrefix + key;
    if (Buffer.byteLength(full, 'utf8') > 1024) {
      throw new InvalidInputError(`object key '${full.slice(0, 64)}…' is longer than S3's 1024 bytes`);
    }
    return full;
  }

  private async send<T>(op: string, key: string | undefined, make: (sdk: S3Sdk) => S3CommandLike): Promise<T> {
    const { client, sdk } = await this.connect();
    try {
      return (await client.send(make(sdk))) as T;
    } catch (e) {
      throw mapS3Error(e, { op, bucket: this.bucket, key, endpoint: this.settings.endpoint });
    }
  }

  /**
   * HEAD of a full key; null when absent. With `forbiddenIsUnknown`, a refusal counts as
   * absent too: credentials without s3:ListBucket get 403 rather than 404 for a missing key.
   */
  private async head(op: string, full: string, forbiddenIsUnknown = false): Promise<HeadOutput | null> {
    const { client, sdk } = await this.connect();
    try {
      return (await client.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: full }))) as HeadOutput;
    } catch (e) {
      const kind = classifyS3Error(e);
      // HEAD has no body, so a missing bucket is a bare 404 too; verifyBucket tells them apart.
      if (kind === 'not-found' || (forbiddenIsUnknown && kind === 'credentials')) return null;
      throw mapS3Error(e, { op, bucket: this.bucket, key: full, endpoint: this.settings.endpoint });
    }
  }

  /** Tells a missing bucket from a missing object, once per store. */
  private async verifyBucket(op: string): Promise<void> {
    if (this.bucketVerified) return;
    const { client, sdk } = await this.connect();
    const ctx = { op, bucket: this.bucket, endpoint: this.settings.endpoint };
    try {
      await client.send(new sdk.HeadBucketCommand({ Bucket: this.bucket }));
    } catch (e) {
      const kind = classifyS3Error(e);
      if (kind === 'not-found' || kind === 'no-such-bucket') throw noSuchBucketError(ctx, e);
      // Credentials that may read objects but not the bucket itself: nothing more to learn.
      if (kind === 'credentials') return;
      throw mapS3Error(e, ctx);
    }
    this.bucketVerified = true;
  }

  async put(key: string, bytes: Uint8Array, options?: { contentType?: string }): Promise<StoredObject> {
    const full = this.fullKey(key);
    const md5Base64 = createHash('md5').update(bytes).digest('base64');
    const contentType = options?.contentType ?? contentTypeFor(key);
    // The object this put replaces, if it may be read; its generation must be exceeded.
    const old = await this.head('put', full, true);
    const previous = old ? generationMicros(old.LastModified, full) : null;
    for (let attempt = 1; ; attempt++) {
      if (previous !== null) {
        const untilNextSecond = (Number(previous / 1_000_000n) + 1) * 1000 - this.clock.now();
        const waitMs = attempt === 1 ? Math.min(Math.max(untilNextSecond, 0), 1000) : 1000;
        if (waitMs > 0) await this.clock.sleep(waitMs + 5);
      }
      await this.send('put', full, (sdk) =>
        new sdk.PutObjectCommand({
          Bucket: this.bucket,
          Key: full,
          Body: bytes,
          ContentLength: bytes.length,
          ContentType: contentType,
          ContentMD5: md5Base64,
        }),
      );
      const now = await this.head('put', full);
      if (!now) throw new TransientError(`object s3://${this.bucket}/${full} was written but cannot be found`);
      const generation = generationMicros(now.LastModified, full);
      if (previous === null || generation > previous) {
        return {
          bucket: this.bucket,
          key,
          size: bytes.length,
          generation: String(generation),
          contentType,
          md5Base64,
          updated: isoOf(generation),
        };
      }
      if (attempt >= PUT_ATTEMPTS) {
        throw new TransientError(
          `object s3://${this.bucket}/${full} was replaced but the server kept its generation ${generation} ` +
            `(LastModified did not advance after ${attempt} writes)`,
        );
      }
    }
  }

  async get(key: string): Promise<Uint8Array> {
    const full = this.fullKey(key);
    const out = await this.send<GetOutput>('get', full, (sdk) => new sdk.GetObjectCommand({ Bucket: this.bucket, Key: full }));
    if (!out.Body) throw new TransientError(`S3 get s3://${this.bucket}/${full} returned no body`);
    try {
      return await out.Body.transformToByteArray();
    } catch (e) {
      throw mapS3Error(e, { op: 'get', bucket: this.bucket, key: full, endpoint: this.settings.endpoint });
    }
  }

  async stat(key: string): Promise<StoredObject | null> {
    const full = this.fullKey(key);
    const h = await this.head('stat', full);
    if (!h) {
      await this.verifyBucket('stat');
      return null;
    }
    return this.describe(key, h.ContentLength, h.LastModified, h.ETag, h.ContentType ?? contentTypeFor(key));
  }

  async list(prefix: string): Promise<StoredObject[]> {
    assertSafePrefix(prefix);
    const { keyPrefix, pageSize } = this.settings;
    const out: StoredObject[] = [];
    let token: string | undefined;
    do {
      const page: ListOutput = await this.send<ListOutput>('list', keyPrefix + prefix, (sdk) =>
        new sdk.ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: keyPrefix + prefix,
          MaxKeys: pageSize,
          ...(token !== undefined ? { ContinuationToken: token } : {}),
        }),
      );
      for (const o of page.Contents ?? []) {
        if (typeof o.Key !== 'string' || !o.Key.startsWith(keyPrefix)) continue;
        const key = o.Key.slice(keyPrefix.length);
        // Folder markers ('dir/') and keys this store could not address are not objects of it.
        if (!isSafeKey(key)) continue;
        out.push(this.describe(key, o.Size, o.LastModified, o.ETag, contentTypeFor(key)));
      }
      if (page.IsTruncated && !page.NextContinuationToken) {
        throw new TransientError(`S3 list s3://${this.bucket}/${keyPrefix + prefix} was truncated without a continuation token`);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    // S3 lists in key order already; sorting again keeps the interface's promise on servers
    // that do not (s3rver walks directories) and matches the directory bucket's order.
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    const full = this.fullKey(key);
    await this.send('delete', full, (sdk) => new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: full }));
  }

  async close(): Promise<void> {
    const ready = this.ready;
    this.ready = undefined;
    if (!ready || this.injected) return;
    const { client } = await ready.catch(() => ({ client: undefined }));
    client?.destroy?.();
  }

  private describe(
    key: string,
    size: number | undefined,
    lastModified: Date | undefined,
    etag: string | undefined,
    contentType: string,
  ): StoredObject {
    const full = this.settings.keyPrefix + key;
    const generation = generationMicros(lastModified, full);
    const md5Base64 = md5FromEtag(etag);
    return {
      bucket: this.bucket,
      key,
      size: typeof size === 'number' ? size : 0,
      generation: String(generation),
      contentType,
      ...(md5Base64 !== undefined ? { md5Base64 } : {}),
      updated: isoOf(generation),
    };
  }
}

/** LastModified at whole seconds, in microseconds: what HEAD and ListObjectsV2 both report. */
function generationMicros(lastModified: Date | undefined, full: string): bigint {
  if (!(lastModified instanceof Date) || Number.isNaN(lastModified.getTime())) {
    throw new TransientError(`S3 reported no LastModified for ${full}`);
  }
  return BigInt(Math.floor(lastModified.getTime() / 1000)) * 1_000_000n;
}

function isoOf(generation: bigint): string {
  return new Date(Number(generation / 1000n)).toISOString();
}

/** The MD5 of a single-part upload is its ETag; a multipart ETag ('…-N') is not an MD5. */
function md5FromEtag(etag: string | undefined): string | undefined {
  const hex = etag?.replace(/^W\//, '').replace(/"/g, '');
  if (!hex || !/^[0-9a-f]{32}$/i.test(hex)) return undefined;
  return Buffer.from(hex, 'hex').toString('base64');
}

function isSafeKey(key: string): boolean {
  try {
    assertSafeKey(key);
    return true;
  } catch {
    return false;
  }
}

/** The content type a key implies (the same choice as the directory bucket's). */
