import type { StoredObject } from '../messages/storage-notification.ts';

export type { StoredObject };

/** Capability flags of an object store backend. */
export interface ObjectStoreCapabilities {
  /** The store itself announces finalized objects (bucket notifications). */
  readonly notifications: boolean;
}

/**
 * An object store (a bucket): bytes in and out by key. Writes are atomic: an object becomes
 * visible (to get, stat and list) only once complete.
 */
export interface ObjectStore {
  readonly bucket: string;
  readonly capabilities: ObjectStoreCapabilities;
  put(key: string, bytes: Uint8Array, options?: { contentType?: string }): Promise<StoredObject>;
  /** The object's bytes; NotFoundError when absent. */
  get(key: string): Promise<Uint8Array>;
  /** Metadata, or null when absent. */
  stat(key: string): Promise<StoredObject | null>;
  /** Every object whose key starts with `prefix`, sorted by key. */
  list(prefix: string): Promise<StoredObject[]>;
  /** Removes the object; no error when absent. */
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}
