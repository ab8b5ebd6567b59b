export type { ObjectStore, ObjectStoreCapabilities, StoredObject } from './object-store.ts';
export { assertSafeKey, assertSafePrefix } from './key-safety.ts';
export { LocalBucket } from './local/local-bucket.ts';
export type { NotificationConfig, Notifier, LocalBucketOptions } from './local/local-bucket.ts';
export { openObjectStore } from './backends.ts';
