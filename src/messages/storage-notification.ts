import { createHash } from 'node:crypto';
import { z } from 'zod';
import { InvalidInputError } from '../core/errors.ts';

/**
 * Cloud Storage → Pub/Sub notifications (payload format JSON_API_V1): string attributes plus
 * the object resource as JSON in the message data. The embedded bucket publishes exactly this.
 */
export type StorageEventType = 'OBJECT_FINALIZE' | 'OBJECT_METADATA_UPDATE' | 'OBJECT_DELETE' | 'OBJECT_ARCHIVE';

export interface StoredObject {
  readonly bucket: string;
  readonly key: string;
  readonly size: number;
  /** Microseconds since the epoch at finalize, as a decimal string (GCS generation). */
  readonly generation: string;
  readonly contentType: string;
  readonly md5Base64?: string;
  /** RFC 3339 time of finalize. */
  readonly updated: string;
}

export interface StorageNotification {
  readonly eventType: StorageEventType;
  readonly object: StoredObject;
  readonly eventTime: string;
  readonly notificationConfig: string;
  /** `bucket/key#generation`: duplicates of one event share it. */
  readonly dedupeKey: string;
}

export function objectResource(o: StoredObject): Record<string, string> {
  const r: Record<string, string> = {
    kind: 'storage#object',
    id: `${o.bucket}/${o.key}/${o.generation}`,
    selfLink: `https://www.googleapis.com/storage/v1/b/${encodeURIComponent(o.bucket)}/o/${encodeURIComponent(o.key)}`,
    name: o.key,
    bucket: o.bucket,
    generation: o.generation,
    metageneration: '1',
    contentType: o.contentType,
    timeCreated: o.updated,
    updated: o.updated,
    storageClass: 'STANDARD',
    size: String(o.size),
    etag: createHash('sha1').update(`${o.bucket}/${o.key}#${o.generation}`).digest('base64').slice(0, 16),
  };
  if (o.md5Base64) r.md5Hash = o.md5Base64;
  return r;
}

export function buildStorageNotification(
  eventType: StorageEventType,
  o: StoredObject,
  notificationConfig: string,
): { data: Uint8Array; attributes: Record<string, string> } {
  return {
    data: new TextEncoder().encode(JSON.stringify(objectResource(o))),
    attributes: {
      notificationConfig,
      eventType,
      payloadFormat: 'JSON_API_V1',
      bucketId: o.bucket,
      objectId: o.key,
      objectGeneration: o.generation,
      eventTime: o.updated,
    },
  };
}

const attrSchema = z.object({
  eventType: z.enum(['OBJECT_FINALIZE', 'OBJECT_METADATA_UPDATE', 'OBJECT_DELETE', 'OBJECT_ARCHIVE']),
  payloadFormat: z.enum(['JSON_API_V1', 'NONE']),
  bucketId: z.string().min(1),
  objectId: z.string().min(1),
  objectGeneration: z.string().regex(/^\d+$/, 'must be a decimal string'),
  eventTime: z.string().min(1),
  notificationConfig: z.string().default(''),
});

const resourceSchema = z.object({
  name: z.string(),
  bucket: z.string(),
  generation: z.string().regex(/^\d+$/),
  size: z.string().regex(/^\d+$/, 'must be a decimal string'),
  contentType: z.string().default('application/octet-stream'),
  md5Hash: z.string().optional(),
  updated: z.string().optional(),
});

/** Parses a storage notification; InvalidInputError names the bad attribute or field. */
export function parseStorageNotification(msg: { data: Uint8Array; attributes: Record<string, string> }): StorageNotification {
  const a = attrSchema.safeParse(msg.attributes);
  if (!a.success) {
    const i = a.error.issues[0];
    throw new InvalidInputError(`storage notification attribute ${i.path.join('.')}: ${i.message}`);
  }
  const attrs = a.data;
  let size = 0;
  let contentType = 'application/octet-stream';
  let md5Base64: string | undefined;
  if (attrs.payloadFormat === 'JSON_API_V1' && msg.data.length > 0) {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(msg.data));
    } catch (e) {
      throw new InvalidInputError(`storage notification data is not JSON: ${(e as Error).message}`);
    }
    const r = resourceSchema.safeParse(json);
    if (!r.success) {
      const i = r.error.issues[0];
      throw new InvalidInputError(`storage notification object resource ${i.path.join('.')}: ${i.message}`);
    }
    if (r.data.name !== attrs.objectId || r.data.bucket !== attrs.bucketId) {
      throw new InvalidInputError('storage notification object resource disagrees with its attributes');
    }
    size = Number(r.data.size);
    contentType = r.data.contentType;
    md5Base64 = r.data.md5Hash;
  }
  const object: StoredObject = {
    bucket: attrs.bucketId,
    key: attrs.objectId,
    size,
    generation: attrs.objectGeneration,
    contentType,
    md5Base64,
    updated: attrs.eventTime,
  };
  return {
    eventType: attrs.eventType,
    object,
    eventTime: attrs.eventTime,
    notificationConfig: attrs.notificationConfig,
    dedupeKey: `${attrs.bucketId}/${attrs.objectId}#${attrs.objectGeneration}`,
  };
}

const s3RecordSchema = z.object({
  eventName: z.string().min(1),
  eventTime: z.string().min(1),
  eventSource: z.string().optional(),
  s3: z.object({
    configurationId: z.string().optional(),
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({
      key: z.string().min(1),
      size: z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/, 'must be a decimal string')]).optional(),
      eTag: z.string().optional(),
      sequencer: z.string().optional(),
      contentType: z.string().optional(),
    }),
  }),
});
const s3EventSchema = z.object({ Records: z.array(z.unknown()) });

/**
 * S3 event notifications, as AWS, MinIO and Ceph RGW publish them (to Kafka, NATS, AMQP or a
 * webhook): `{"Records": [...]}`, MinIO's wrapper `{"EventName", "Key", "Records"}` included. Only
 * `ObjectCreated:*` (with or without the `s3:` prefix older Ceph releases and MinIO put before it)
 * becomes OBJECT_FINALIZE and `ObjectRemoved:*` OBJECT_DELETE; other events are left out. Keys are
 * form-URL-decoded (`+` is a space). The generation is the event time in microseconds, which is
 * when the object was finalized; duplicates of one event share `bucket/key#sequencer`.
 */
export function parseS3Event(data: Uint8Array): StorageNotification[] {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(data));
  } catch (e) {
    throw new InvalidInputError(`S3 event is not JSON: ${(e as Error).message}`);
  }
  const ev = s3EventSchema.safeParse(json);
  if (!ev.success) throw new InvalidInputError('S3 event has no Records array');
  const out: StorageNotification[] = [];
  ev.data.Records.forEach((raw, i) => {
    const r = s3RecordSchema.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new InvalidInputError(`S3 event record ${i}: ${issue.path.join('.')}: ${issue.message}`);
    }
    const rec = r.data;
    const name = rec.eventName.replace(/^s3:/, '');
    const eventType: StorageEventType | null = name.startsWith('ObjectCreated') ? 'OBJECT_FINALIZE' : name.startsWith('ObjectRemoved') ? 'OBJECT_DELETE' : null;
    if (!eventType) return;
    const ms = Date.parse(rec.eventTime);
    if (!Number.isFinite(ms)) throw new InvalidInputError(`S3 event record ${i}: eventTime '${rec.eventTime}' is not a time`);
    let key: string;
    try {
      key = decodeURIComponent(rec.s3.object.key.replace(/\+/g, ' '));
    } catch {
      throw new InvalidInputError(`S3 event record ${i}: object key '${rec.s3.object.key}' is not URL-encoded`);
    }
    const bucket = rec.s3.bucket.name;
    const generation = String(BigInt(ms) * 1000n);
    out.push({
      eventType,
      object: {
        bucket,
        key,
        size: rec.s3.object.size === undefined ? 0 : Number(rec.s3.object.size),
        generation,
        contentType: rec.s3.object.contentType ?? 'application/octet-stream',
        updated: new Date(ms).toISOString(),
      },
      eventTime: new Date(ms).toISOString(),
      notificationConfig: rec.s3.configurationId ?? '',
      dedupeKey: `${bucket}/${key}#${rec.s3.object.sequencer ?? generation}`,
    });
  });
  return out;
}

/**
 * The storage events a message carries, whichever store sent it: a Cloud Storage notification
 * (JSON_API_V1 attributes) or an S3 event record set (JSON body with `Records`).
 */
export function parseStorageNotifications(msg: { data: Uint8Array; attributes: Record<string, string> }): StorageNotification[] {
  if (msg.attributes.payloadFormat !== undefined || msg.attributes.eventType !== undefined) return [parseStorageNotification(msg)];
  return parseS3Event(msg.data);
}

/**
 * An S3 event record set for one created object, as MinIO publishes it to NATS, Kafka or a
 * webhook (`s3:ObjectCreated:Put`, the key form-URL-encoded, MinIO's `EventName`/`Key` wrapper).
 */
export function buildS3Event(o: StoredObject, configurationId = 'prompt-processing'): Uint8Array {
  const key = encodeURIComponent(o.key).replace(/%2F/g, '/').replace(/%20/g, '+');
  const micros = BigInt(o.generation);
  const eventTime = new Date(Number(micros / 1000n)).toISOString();
  return new TextEncoder().encode(
    JSON.stringify({
      EventName: 's3:ObjectCreated:Put',
      Key: `${o.bucket}/${o.key}`,
      Records: [
        {
          eventVersion: '2.0',
          eventSource: 'minio:s3',
          awsRegion: '',
          eventTime,
          eventName: 's3:ObjectCreated:Put',
          userIdentity: { principalId: 'prompt-processing' },
          s3: {
            s3SchemaVersion: '1.0',
            configurationId,
            bucket: { name: o.bucket, ownerIdentity: { principalId: 'prompt-processing' }, arn: `arn:aws:s3:::${o.bucket}` },
            object: { key, size: o.size, contentType: o.contentType, sequencer: micros.toString(16).toUpperCase() },
          },
        },
      ],
    }),
  );
}
