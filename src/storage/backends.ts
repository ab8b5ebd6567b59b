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

/**
 * Google Cloud Storage through its JSON API, loaded on first use (the official client takes a
 * while to load, which every command would otherwise pay). The URL is checked at once.
 */
function gcs(url: string): ObjectStore {
  const bucket = /^gs:\/\/([^/?#]+)/.exec(url)?.[1];
  if (!bucket) throw new ConfigError(`bucket URL '${url}' is not of the form gs://bucket[/prefix][?endpoint=URL&project=P]`);
  let loaded: Promise<ObjectStore> | null = null;
  const get = (): Promise<ObjectStore> => (loaded ??= import('./gcs/gcs-store.ts').then((m) => m.gcsStoreFromUrl(url)));
  return {
    bucket,
    capabilities: { notifications: true },
    put: async (k, b, o) => (await get()).put(k, b, o),
    get: async (k) => (await get()).get(k),
    stat: async (k) => (await get()).stat(k),
    list: async (p) => (await get()).list(p),
    delete: async (k) => (await get()).delete(k),
    close: async () => {
      if (loaded) await (await loaded).close();
    },
  };
}

/** Bucket URL scheme → backend. One line per backend; each factory only translates the URL. */
const FACTORIES: ReadonlyMap<string, { factory: StoreFactory; example: string }> = new Map([
  ['file:', { factory: (url, deps) => new LocalBucket({ root: fileURLToPath(url), notify: deps.notify }), example: 'file:///dir' }],
  ['s3:', { factory: (url) => createS3Store(parseS3Url(url)), example: 's3://bucket[/prefix][?endpoint=URL&region=R]' }],
  ['gs:', { factory: (url) => gcs(url), example: 'gs://bucket[/prefix][?endpoint=URL&project=P]' }],
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
