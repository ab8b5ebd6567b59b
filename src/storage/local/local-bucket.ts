import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ConfigError, NotFoundError, TransientError } from '../../core/errors.ts';
import { buildStorageNotification, type StoredObject } from '../../messages/storage-notification.ts';
import { assertSafeKey, assertSafePrefix } from '../key-safety.ts';
import type { ObjectStore } from '../object-store.ts';
import { contentTypeFor } from '../content-type.ts';

/**
 * A directory as a bucket. An upload is written to a temporary file inside the bucket's
 * hidden `.bucket/` folder, then renamed into place: the rename is the finalize, so readers in
 * any process never see a partial object. After finalize the bucket publishes an
 * OBJECT_FINALIZE notification (JSON_API_V1) on every configured topic whose prefix matches,
 * as `gsutil notification create -e OBJECT_FINALIZE -f json -p PREFIX` sets up. The
 * notification configuration lives in the bucket (`.bucket/notifications.json`), so every
 * process that writes to the bucket announces its objects the same way.
 */
export interface NotificationConfig {
  readonly id: string;
  readonly topic: string;
  /** Messaging URL of the broker that carries `topic`. */
  readonly broker: string;
  readonly prefix: string;
  readonly eventTypes: readonly 'OBJECT_FINALIZE'[];
  readonly payloadFormat: 'JSON_API_V1';
}

/** Publishes one notification; injected so that storage does not depend on a messaging backend. */
export type Notifier = (
  brokerUrl: string,
  topic: string,
  message: { data: Uint8Array; attributes: Record<string, string> },
) => Promise<void>;

const META_DIR = '.bucket';

export interface LocalBucketOptions {
  /** Directory of the bucket; created if absent. */
  root: string;
  /** Publishes notifications; without it, configured notifications are an error at put time. */
  notify?: Notifier;
  /** Attempts to publish a notification before giving up. */
  notifyAttempts?: number;
}

export class LocalBucket implements ObjectStore {
  readonly bucket: string;
  readonly capabilities = { notifications: true } as const;
  private readonly root: string;
  private readonly notify?: Notifier;
  private readonly notifyAttempts: number;

  constructor(opts: LocalBucketOptions) {
    this.root = path.resolve(opts.root);
    this.bucket = path.basename(this.root);
    this.notify = opts.notify;
    this.notifyAttempts = opts.notifyAttempts ?? 5;
  }

  private pathOf(key: string): string {
    assertSafeKey(key);
    if (key === META_DIR || key.startsWith(`${META_DIR}/`)) {
      throw new ConfigError(`object key '${key}' is reserved for the bucket's own metadata`);
    }
    return path.join(this.root, ...key.split('/'));
  }

  private async ensureMeta(): Promise<string> {
    const dir = path.join(this.root, META_DIR, 'tmp');
    await fs.mkdir(dir, { recursive: true });
    return dir;
  }

  async notifications(): Promise<NotificationConfig[]> {
    try {
      const text = await fs.readFile(path.join(this.root, META_DIR, 'notifications.json'), 'utf8');
      return JSON.parse(text) as NotificationConfig[];
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  /** Adds (or replaces, by topic and prefix) a notification configuration. */
  async addNotification(cfg: Omit<NotificationConfig, 'id' | 'eventTypes' | 'payloadFormat'>): Promise<NotificationConfig> {
    if (cfg.prefix !== '') assertSafePrefix(cfg.prefix);
    await this.ensureMeta();
    const all = (await this.notifications()).filter((n) => !(n.topic === cfg.topic && n.prefix === cfg.prefix));
    const id = String(all.reduce((m, n) => Math.max(m, Number(n.id) || 0), 0) + 1);
    const created: NotificationConfig = { ...cfg, id, eventTypes: ['OBJECT_FINALIZE'], payloadFormat: 'JSON_API_V1' };
    all.push(created);
    const file = path.join(this.root, META_DIR, 'notifications.json');
    const tmp = `${file}.${randomBytes(6).toString('hex')}`;
    await fs.writeFile(tmp, JSON.stringify(all, null, 2));
    await fs.rename(tmp, file);
    return created;
  }

  async put(key: string, bytes: Uint8Array, options?: { contentType?: string }): Promise<StoredObject> {
    const dest = this.pathOf(key);
    const tmpDir = await this.ensureMeta();
    const tmp = path.join(tmpDir, `${randomBytes(8).toString('hex')}.part`);
    // The MD5 goes into notifications only; large products written where nobody listens skip it.
    const configs = (await this.notifications()).filter((n) => key.startsWith(n.prefix));
    const md5Base64 = configs.length ? createHash('md5').update(bytes).digest('base64') : undefined;
    try {
      await fs.writeFile(tmp, bytes);
      await fs.mkdir(path.dirname(dest), { recursive: true });
      await fs.rename(tmp, dest);
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw new TransientError(`could not write ${this.bucket}/${key}: ${(e as Error).message}`, { cause: e });
    }
    const stat = await fs.stat(dest, { bigint: true });
    const obj: StoredObject = {
      bucket: this.bucket,
      key,
      size: Number(stat.size),
      generation: String(stat.mtimeNs / 1000n),
      contentType: options?.contentType ?? contentTypeFor(key),
      md5Base64,
      updated: new Date(Number(stat.mtimeNs / 1000000n)).toISOString(),
    };
    await this.announce(obj, configs);
    return obj;
  }

  private async announce(obj: StoredObject, configs: readonly NotificationConfig[]): Promise<void> {
    if (configs.length === 0) return;
    if (!this.notify) throw new ConfigError(`bucket ${this.bucket} has notifications configured but no notifier`);
    for (const cfg of configs) {
      const msg = buildStorageNotification(
        'OBJECT_FINALIZE',
        obj,
        `projects/_/buckets/${this.bucket}/notificationConfigs/${cfg.id}`,
      );
      let lastError: unknown;
      for (let attempt = 1; attempt <= this.notifyAttempts; attempt++) {
        try {
          await this.notify(cfg.broker, cfg.topic, msg);
          lastError = undefined;
          break;
        } catch (e) {
          lastError = e;
          await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
        }
      }
      if (lastError) {
        throw new TransientError(
          `object ${this.bucket}/${obj.key} was written but its notification on ${cfg.topic} failed: ${(lastError as Error).message}`,
          { cause: lastError },
        );
      }
    }
  }

  async get(key: string): Promise<Uint8Array> {
    const p = this.pathOf(key);
    try {
      const buf = await fs.readFile(p);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR') throw new NotFoundError(`object ${this.bucket}/${key} does not exist`);
      throw new TransientError(`could not read ${this.bucket}/${key}: ${(e as Error).message}`, { cause: e });
    }
  }

  async stat(key: string): Promise<StoredObject | null> {
    const p = this.pathOf(key);
    try {
      const s = await fs.stat(p, { bigint: true });
      if (!s.isFile()) return null;
      return this.describe(key, s.size, s.mtimeNs);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new TransientError(`could not stat ${this.bucket}/${key}: ${(e as Error).message}`, { cause: e });
    }
  }

  private describe(key: string, size: bigint, mtimeNs: bigint): StoredObject {
    return {
      bucket: this.bucket,
      key,
      size: Number(size),
      generation: String(mtimeNs / 1000n),
      contentType: contentTypeFor(key),
      updated: new Date(Number(mtimeNs / 1000000n)).toISOString(),
    };
  }

  async list(prefix: string): Promise<StoredObject[]> {
    assertSafePrefix(prefix);
    // Walk only the directory the prefix pins down, then filter by the full prefix.
    const slash = prefix.lastIndexOf('/');
    const baseKey = slash >= 0 ? prefix.slice(0, slash) : '';
    const out: StoredObject[] = [];
    const walk = async (dirKey: string): Promise<void> => {
      const dir = dirKey ? path.join(this.root, ...dirKey.split('/')) : this.root;
      let entries: import('node:fs').Dirent[];
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw new TransientError(`could not list ${this.bucket}/${dirKey}: ${(e as Error).message}`, { cause: e });
      }
      for (const ent of entries) {
        if (!dirKey && ent.name === META_DIR) continue;
        const key = dirKey ? `${dirKey}/${ent.name}` : ent.name;
        if (ent.isDirectory()) {
          if (prefix.startsWith(`${key}/`) || key.startsWith(prefix) || `${key}/`.startsWith(prefix)) await walk(key);
        } else if (ent.isFile() && key.startsWith(prefix)) {
          const s = await fs.stat(path.join(dir, ent.name), { bigint: true }).catch(() => null);
          if (s) out.push(this.describe(key, s.size, s.mtimeNs));
        }
      }
    };
    await walk(baseKey);
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return out;
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.pathOf(key), { force: true });
  }

  async close(): Promise<void> {}
}

