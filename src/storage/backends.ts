import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../core/errors.ts';
import { LocalBucket, type Notifier } from './local/local-bucket.ts';
import type { ObjectStore } from './object-store.ts';

export interface OpenStoreDeps {
  notify?: Notifier;
}

/**
 * Opens a bucket by URL: `file:///dir`, or a plain directory path, for the embedded bucket.
 */
export function openObjectStore(url: string, deps: OpenStoreDeps = {}): ObjectStore {
  if (url.startsWith('file://')) return new LocalBucket({ root: fileURLToPath(url), notify: deps.notify });
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new ConfigError(`unsupported bucket URL '${url}' (supported: file:///dir or a directory path)`);
  }
  return new LocalBucket({ root: path.resolve(url), notify: deps.notify });
}
