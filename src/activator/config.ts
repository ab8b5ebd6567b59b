import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../core/errors.ts';
import { getInstrument, type InstrumentName } from '../instruments/index.ts';

/**
 * The activator's configuration, from the playbook's environment variables plus the URLs of
 * the services it talks to. Parsed once at start-up; a bad value stops the start with a
 * ConfigError naming the variable.
 */
export interface ActivatorConfig {
  readonly instrument: InstrumentName;
  readonly verificationToken: string;
  readonly imageBucket: string;
  readonly calibRepo: string | null;
  readonly imageTimeoutS: number;
  readonly port: number;
  readonly host: string;
  readonly brokerUrl: string;
  readonly outputRepo: string;
  readonly imageTopic: string;
  readonly outcomeTopic: string;
  readonly instanceId: string;
  /** The central data repository (directory or s3://…); null: outputs only to outputRepo. */
  readonly centralRepo: string | null;
  /** This instance's local repository. */
  readonly localRepo: string;
  readonly deployment: string;
  readonly pipeline: string;
  readonly exportTypes: readonly string[];
  readonly calibCacheSize: number;
  /** Padding of the predicted detector footprint for the preload, arcseconds. */
  readonly preloadPadArcsec: number;
  /** The APDB (sqlite:///file or postgresql://…); null: no association and no alerts. */
  readonly apdbUrl: string | null;
  /** PostgreSQL schema of the APDB. */
  readonly apdbNamespace: string | null;
  /** Topic the alert packets are published on. */
  readonly alertTopic: string;
  /** Association radius, arcseconds. */
  readonly associationRadiusArcsec: number;
  /**
   * How the raw bucket announces new objects on the image topic: Cloud Storage notifications
   * (`gcs`: JSON_API_V1 attributes, filtered by the broker on objectId) or S3 event records
   * (`s3`: AWS, MinIO, Ceph RGW; no attributes, filtered here).
   */
  readonly imageNotifications: 'gcs' | 's3';
  /**
   * Pull nextVisit messages from this subscription instead of waiting for pushes (brokers that do
   * not push: NATS JetStream, Redis Streams); null: push only.
   */
  readonly nextVisitSubscription: string | null;
}

/** The playbook sets RUBIN_INSTRUMENT to the instrument class; short names work too. */
const INSTRUMENT_CLASSES: Record<string, InstrumentName> = {
  'lsst.obs.lsst.LsstCam': 'LSSTCam',
  'lsst.obs.lsst.LsstComCam': 'LSSTComCam',
  'lsst.obs.lsst.Latiss': 'LATISS',
  'lsst.obs.decam.DarkEnergyCamera': 'DECam',
};

export function instrumentFromSetting(value: string): InstrumentName {
  const short = INSTRUMENT_CLASSES[value] ?? value;
  try {
    return getInstrument(short).name;
  } catch {
    throw new ConfigError(
      `RUBIN_INSTRUMENT '${value}' is not a known instrument (use one of ${Object.values(INSTRUMENT_CLASSES).join(', ')} or its class name: ${Object.keys(INSTRUMENT_CLASSES).join(', ')})`,
    );
  }
}

const envSchema = z.object({
  RUBIN_INSTRUMENT: z.string({ required_error: 'is required' }).min(1, 'is required'),
  PUBSUB_VERIFICATION_TOKEN: z.string({ required_error: 'is required' }).min(1, 'is required'),
  IMAGE_BUCKET: z.string({ required_error: 'is required' }).min(1, 'is required'),
  CALIB_REPO: z.string().optional(),
  IMAGE_TIMEOUT: z.coerce.number({ invalid_type_error: 'must be a number of seconds' }).positive('must be > 0').default(50),
  PORT: z.coerce.number().int('must be an integer').min(0).max(65535).default(8080),
  HOST: z.string().default('0.0.0.0'),
  BROKER_URL: z.string({ required_error: 'is required (URL of the messaging service)' }).min(1),
  OUTPUT_REPO: z.string({ required_error: 'is required (where outputs are written)' }).min(1),
  IMAGE_TOPIC: z.string().optional(),
  OUTCOME_TOPIC: z.string().default('prompt-outcomes'),
  INSTANCE_ID: z.string().optional(),
  CENTRAL_REPO: z.string().optional(),
  LOCAL_REPO: z.string().optional(),
  DEPLOYMENT: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be letters, digits, _ . -').default('local'),
  PIPELINE: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be letters, digits, _ . -').default('ApPipe'),
  EXPORT_TYPES: z.string().default('*'),
  CALIB_CACHE_SIZE: z.coerce.number().int('must be an integer').min(0).default(64),
  PRELOAD_PAD_ARCSEC: z.coerce.number().min(0).default(60),
  APDB_URL: z.string().optional(),
  APDB_NAMESPACE: z.string().optional(),
  ALERT_TOPIC: z.string().regex(/^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$/, 'must be a topic name (a letter, then letters, digits, . _ ~ + % -)').default('alerts'),
  ASSOCIATION_RADIUS_ARCSEC: z.coerce.number({ invalid_type_error: 'must be a number of arcseconds' }).positive('must be > 0').default(1),
  IMAGE_NOTIFICATIONS: z.enum(['gcs', 's3'], { errorMap: () => ({ message: "must be 'gcs' or 's3'" }) }).default('gcs'),
  NEXT_VISIT_SUBSCRIPTION: z.string().optional(),
});

/** Every environment variable the activator reads (PROMPT_LOG_LEVEL is read by the logger). */
export const ACTIVATOR_ENV_VARS: readonly string[] = [...Object.keys(envSchema.shape), 'PROMPT_LOG_LEVEL'];

/** The ones without a default. */
export const REQUIRED_ACTIVATOR_ENV_VARS: readonly string[] = Object.entries(envSchema.shape)
  .filter(([, t]) => !t.isOptional())
  .map(([k]) => k);

export function activatorConfigFromEnv(env: Record<string, string | undefined> = process.env): ActivatorConfig {
  const r = envSchema.safeParse(env);
  if (!r.success) {
    const msgs = r.error.issues.map((i) => `${i.path.join('.')} ${i.message}`);
    throw new ConfigError(`activator configuration: ${msgs.join('; ')}`);
  }
  const e = r.data;
  const instrument = instrumentFromSetting(e.RUBIN_INSTRUMENT);
  return Object.freeze({
    instrument,
    verificationToken: e.PUBSUB_VERIFICATION_TOKEN,
    imageBucket: e.IMAGE_BUCKET,
    calibRepo: e.CALIB_REPO && e.CALIB_REPO.length > 0 ? e.CALIB_REPO : null,
    imageTimeoutS: e.IMAGE_TIMEOUT,
    port: e.PORT,
    host: e.HOST,
    brokerUrl: e.BROKER_URL,
    outputRepo: e.OUTPUT_REPO,
    imageTopic: e.IMAGE_TOPIC ?? `${instrument}-image`,
    outcomeTopic: e.OUTCOME_TOPIC,
    instanceId: e.INSTANCE_ID ?? `${hostname()}-${process.pid}`,
    centralRepo: e.CENTRAL_REPO && e.CENTRAL_REPO.length > 0 ? e.CENTRAL_REPO : null,
    localRepo: e.LOCAL_REPO ?? path.join(tmpdir(), `prompt-local-repo-${e.INSTANCE_ID ?? process.pid}`),
    deployment: e.DEPLOYMENT,
    pipeline: e.PIPELINE,
    exportTypes: e.EXPORT_TYPES.split(',').map((x) => x.trim()).filter(Boolean),
    calibCacheSize: e.CALIB_CACHE_SIZE,
    preloadPadArcsec: e.PRELOAD_PAD_ARCSEC,
    apdbUrl: e.APDB_URL && e.APDB_URL.length > 0 ? e.APDB_URL : null,
    apdbNamespace: e.APDB_NAMESPACE && e.APDB_NAMESPACE.length > 0 ? e.APDB_NAMESPACE : null,
    alertTopic: e.ALERT_TOPIC,
    associationRadiusArcsec: e.ASSOCIATION_RADIUS_ARCSEC,
    imageNotifications: e.IMAGE_NOTIFICATIONS,
    nextVisitSubscription: e.NEXT_VISIT_SUBSCRIPTION && e.NEXT_VISIT_SUBSCRIPTION.length > 0 ? e.NEXT_VISIT_SUBSCRIPTION : null,
  });
}
