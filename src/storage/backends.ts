import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../core/errors.ts';
import { LocalBucket, type Notifier } from './local/local-bucket.ts';
import type { ObjectStore } from './object-store.ts';
import { parseS3Url } from './s3/s3-config.ts';
import { createS3Store } from './s3/s3-store.ts';

export { parseS3Url };

export interface OpenStoreDeps {
  notify?: Notifier;
}

type StoreFactory = (url: string, deps: OpenStoreDeps) => ObjectStore;

/** Bucket URL scheme → backend. One line per backend; each factory only translates the URL. */
const FACTORIES: ReadonlyMap<string, { factory: StoreFactory; example: string }> = new Map([
  ['file:', { factory: (url, deps) => new LocalBucket({ root: fileURLToPath(url), notify: deps.notify }), example: 'file:///dir' }],
  ['s3:', { factory: (url) => createS3Store(parseS3Url(url)), example: 's3://bucket[/prefix][?endpoint=URL&region=R]' }],
]);

/** The URL forms openObjectStore accepts, for help texts and errors. */
export function supportedBucketUrls(): string[] {
  return [...[...FACTORIES.values()].map((f) => f.example), 'a directory path'];
}

/**
 * Opens a bucket by URL: `file:///dir`, or a plain directory path, for the embedded bucket;
 * `s3://bucket/prefix?endpoint=…` for S3 and S3-compatible servers (MinIO, Ceph, GCS).
 */
export function openObjectStore(url: string, deps: OpenStoreDeps = {}): ObjectStore {
  const scheme = /^([a-z][a-z0-9+.-]*:)\/\//i.exec(url)?.[1].toLowerCase();
  if (scheme === undefined) return new LocalBucket({ root: path.resolve(url), notify: deps.notify });
  const entry = FACTORIES.get(scheme);
  if (!entry) throw new ConfigError(`unsupported bucket URL '${url.replace(/\/\/[^/?#@]*@/, '//***@')}' (supported: ${supportedBucketUrls().join(', ')})`);
  return entry.factory(url, deps);
}
