/**
 * `prompt setup`: what the playbook creates by hand, for one instrument's service, on the chosen
 * backends — the nextVisit topic and its subscription to the service (a push subscription with the
 * service's endpoint and token where the broker pushes; a pull subscription the activators read
 * otherwise), the instrument's image topic, the raw bucket's notifications for the instrument's
 * prefix, the outcome and alert topics, the central repository and the APDB. Everything is
 * idempotent: a second run finds it all there and says so.
 */
import { openApdb, parseApdbConfig } from '../apdb/index.ts';
import { Butler } from '../butler/butler.ts';
import { readSeedConfig } from '../butler/repo-config.ts';
import { errorMessage } from '../core/errors.ts';
import { getInstrument, type InstrumentName } from '../instruments/index.ts';
import { createBroker } from '../messaging/index.ts';
import { openObjectStore } from '../storage/backends.ts';
import { LocalBucket } from '../storage/local/local-bucket.ts';

export interface SetupOptions {
  readonly instrument: InstrumentName;
  readonly broker: string;
  /** The raw bucket (directory or s3://…). */
  readonly bucket?: string;
  /** The service's URL; the push subscription's endpoint is `{endpoint}/next-visit?token={token}`. */
  readonly endpoint?: string;
  readonly token?: string;
  readonly subscription: string;
  readonly centralRepo?: string;
  readonly seedConfig?: string;
  readonly apdb?: string;
  readonly apdbNamespace?: string;
  readonly alertTopic: string;
  readonly outcomeTopic: string;
  /**
   * Ack deadline of the nextVisit subscription, seconds (default 600, the playbook's): how long a
   * visit may take before the broker hands it to another instance.
   */
  readonly ackDeadlineSeconds?: number;
}

/** Runs the setup, one line per step; returns the exit code. */
export async function runSetup(o: SetupOptions, out: (line: string) => void): Promise<number> {
  const inst = getInstrument(o.instrument);
  const imageTopic = `${inst.name}-image`;
  const broker = createBroker(o.broker);
  let failures = 0;
  const step = async (what: string, fn: () => Promise<string>): Promise<void> => {
    try {
      out(`${what}: ${await fn()}`);
    } catch (e) {
      failures++;
      out(`${what}: FAILED: ${errorMessage(e)}`);
    }
  };
  try {
    for (const t of ['nextVisit', imageTopic, o.outcomeTopic, o.alertTopic]) {
      await step(`topic ${t}`, async () => {
        await broker.ensureTopic(t);
        return 'ready';
      });
    }
    await step(`subscription ${o.subscription} on nextVisit`, async () => {
      const filter = broker.capabilities.filters ? `attributes.instrument = "${inst.name}"` : undefined;
      const deadline = o.ackDeadlineSeconds ?? 600;
      const common = { ...(filter ? { filter } : {}), ackDeadlineSeconds: deadline, retentionSeconds: 600 };
      if (broker.capabilities.push) {
        if (!o.endpoint || !o.token) throw new Error('a push subscription needs --endpoint URL and --token T (the service\'s PUBSUB_VERIFICATION_TOKEN)');
        const endpoint = `${o.endpoint.replace(/\/+$/, '')}/next-visit?token=${encodeURIComponent(o.token)}`;
        await broker.ensureSubscription(o.subscription, 'nextVisit', { ...common, push: { endpoint }, retry: { minimumBackoffS: 0, maximumBackoffS: 0 } });
        return `push to ${o.endpoint.replace(/\/+$/, '')}/next-visit?token=…, ack deadline ${deadline} s, retention 10 min, retry immediately${filter ? `, ${filter}` : ''}`;
      }
      await broker.ensureSubscription(o.subscription, 'nextVisit', common);
      return `pull (this broker does not push): the activators read it (NEXT_VISIT_SUBSCRIPTION=${o.subscription}), ack deadline ${deadline} s${filter ? `; ${filter}` : ''}`;
    });
    if (o.bucket) {
      const bucketUrl = o.bucket;
      await step(`bucket ${bucketUrl} notifications`, async () => {
        const store = openObjectStore(bucketUrl);
        if (store instanceof LocalBucket) {
          const cfg = await store.addNotification({ topic: imageTopic, broker: o.broker, prefix: `${inst.name}/` });
          return `OBJECT_FINALIZE under ${cfg.prefix} → ${imageTopic} (JSON_API_V1)`;
        }
        if (bucketUrl.startsWith('gs://')) {
          const { gcsNotificationCommand } = await import('../storage/gcs/gcs-store.ts');
          const name = /^gs:\/\/([^/?#]+)/.exec(bucketUrl)?.[1] as string;
          return `a Cloud Storage bucket publishes OBJECT_FINALIZE notifications to Pub/Sub once configured: ${gcsNotificationCommand(name, imageTopic, `${inst.name}/`)}`;
        }
        return `an S3 bucket announces its objects itself: configure the server (MinIO \`mc event add\`, Ceph RGW topics, AWS event notifications) to send ObjectCreated events under ${inst.name}/ to ${imageTopic}, and start the activators with IMAGE_NOTIFICATIONS=s3`;
      });
    }
    if (o.centralRepo) {
      const repo = o.centralRepo;
      await step(`central repository ${repo}`, async () => {
        const seed = o.seedConfig ? await readSeedConfig(o.seedConfig) : {};
        const b = await Butler.openOrCreate(repo, seed);
        try {
          await b.registerInstrument(inst);
          return `ready (registry ${b.registry.dialect}${b.config.registry.namespace ? `, namespace ${b.config.registry.namespace}` : ''}), ${inst.name} registered`;
        } finally {
          await b.close();
        }
      });
    }
    if (o.apdb) {
      const pairs = [`db_url=${o.apdb}`, ...(o.apdbNamespace ? [`namespace=${o.apdbNamespace}`] : [])];
      await step('APDB', async () => {
        const apdb = await openApdb(parseApdbConfig(pairs));
        try {
          return (await apdb.create()).message;
        } finally {
          await apdb.close();
        }
      });
    }
  } finally {
    await broker.close();
  }
  return failures ? 1 : 0;
}
