/**
 * An object store that announces each object it writes with an S3 event record on a topic, as
 * MinIO or Ceph RGW do when bucket notifications are configured. For S3-compatible servers that
 * publish no notifications of their own (an in-process test server), so that the camera's
 * uploads reach the activators the way they would in production.
 */
import { buildS3Event } from '../messages/storage-notification.ts';
import type { Broker } from '../messaging/broker.ts';
import type { ObjectStore, StoredObject } from '../storage/object-store.ts';

export function announcingStore(store: ObjectStore, broker: Broker, topic: string): ObjectStore {
  return {
    get bucket() {
      return store.bucket;
    },
    capabilities: { notifications: true },
    async put(key: string, bytes: Uint8Array, options?: { contentType?: string }): Promise<StoredObject> {
      const o = await store.put(key, bytes, options);
      await broker.publish(topic, [{ data: buildS3Event(o) }]);
      return o;
    },
    get: (key) => store.get(key),
    stat: (key) => store.stat(key),
    list: (prefix) => store.list(prefix),
    delete: (key) => store.delete(key),
    close: () => store.close(),
  };
}
