import { randomBytes } from 'node:crypto';
import { AlgorithmError, errorMessage, InvalidInputError, PromptError, TransientError } from '../core/errors.ts';
import { parseObjectKey, type ObjectKey } from '../instruments/keys.ts';
import type { NextVisit } from '../messages/next-visit.ts';
import { encodeOutcome, outcomeAttributes, type Outcome } from '../messages/outcome.ts';
import { parseStorageNotifications } from '../messages/storage-notification.ts';
import type { Broker } from '../messaging/broker.ts';
import { addLogContext, withLogContext, type Logger } from '../observability/logger.ts';
import type { ForcedMeasurement } from '../pipeline/stages/forced-photometry/index.ts';
import type { ObjectStore, StoredObject } from '../storage/object-store.ts';
import type { ActivatorConfig } from './config.ts';
import type { CalibFiles, PipelineInputs, Preloaded, VisitMiddleware } from './middleware.ts';
import type { OutputRepository } from './output-repository.ts';
import { AlertStep, type ApdbPreload } from './alert-step.ts';
import type { ActivatorMetrics } from './metrics.ts';

/** One raw snap, fetched from the bucket and checked against its key. */
export interface IngestedSnap {
  readonly key: ObjectKey;
  readonly objectKey: string;
  readonly bytes: Uint8Array;
  /** Milliseconds since the epoch at which the bucket finalized it. */
  readonly finalizedAtMs: number;
}

export interface ProcessResult {
  /** Output files by name (e.g. `processed.fits`, `sources.fits`). */
  readonly files: Readonly<Record<string, Uint8Array>>;
  readonly sources: number | null;
  readonly timings: Readonly<Record<string, number>>;
  readonly summary: Readonly<Record<string, number | string | boolean | null>>;
  /** Forced photometry at the known DiaObjects and the new DiaSources (SCIENCE with difference imaging). */
  readonly forced?: readonly ForcedMeasurement[];
}

/** Runs the science pipeline for the visit's kind on the ingested snaps. */
export interface VisitProcessor {
  process(visit: NextVisit, snaps: readonly IngestedSnap[], inputs?: PipelineInputs): Promise<ProcessResult>;
  /** Gets ready for a visit's calibrations while its snaps are still being exposed (optional). */
  prepare?(visit: NextVisit, calibs: CalibFiles): Promise<void>;
  /**
   * The files of a visit's result are written out and read no more (optional): their memory may
   * be reused for later visits, and views of them become unusable.
   */
  recycle?(files: Readonly<Record<string, Uint8Array>>): void;
  close(): Promise<void>;
}

export interface VisitDeps {
  readonly config: ActivatorConfig;
  readonly broker: Broker;
  readonly bucket: ObjectStore;
  readonly processor: VisitProcessor;
  readonly outputs: OutputRepository;
  /** The data repositories (preload, export); without it outputs go to `outputs` only. */
  readonly middleware?: VisitMiddleware;
  /** Association into the APDB and alert distribution (SCIENCE); absent: neither. */
  readonly alerts?: AlertStep;
  /**
   * A logger made by `createLogger` writes the detector-visit's context (group, detector, kind,
   * then exposure and visit once known) on every line written during it.
   */
  readonly log: Logger;
  /** Where detector-visits are counted and timed (`GET /metrics`); absent: nowhere. */
  readonly metrics?: ActivatorMetrics;
  /** Wall clock, ms since the epoch. */
  readonly now: () => number;
}

export type VisitResult =
  | { readonly disposition: 'done'; readonly outcome: Outcome }
  | { readonly disposition: 'no-work'; readonly reason: string; readonly outcome?: Outcome }
  | { readonly disposition: 'retry'; readonly reason: string };

/** Node system errors that a later attempt may not hit again. */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH',
  'ENETUNREACH', 'ENOSPC', 'EMFILE', 'ENFILE', 'EBUSY', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET',
]);

export function isTransient(err: unknown): boolean {
  if (err instanceof TransientError) return true;
  if (err instanceof PromptError) return false;
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

function snapPrefix(v: NextVisit): string {
  return `${v.instrument}/${v.detector}/${v.group}/`;
}

/**
 * The flow for one nextVisit: subscribe to the image topic first, then list the bucket for
 * snaps that are already there (so no race loses an image), wait for the rest, ingest each as
 * it arrives, run the pipeline for the visit's kind, write the outputs, publish the outcome.
 */
export function runVisit(visit: NextVisit, deps: VisitDeps): Promise<VisitResult> {
  return withLogContext({ group: visit.group, detector: visit.detector, kind: visit.kind }, () =>
    deps.metrics ? deps.metrics.track(() => runVisitFlow(visit, deps)) : runVisitFlow(visit, deps),
  );
}

async function runVisitFlow(visit: NextVisit, deps: VisitDeps): Promise<VisitResult> {
  const { config, broker, bucket, outputs, log } = deps;
  const receivedAt = new Date(deps.now()).toISOString();
  const ctx = { group: visit.group, detector: visit.detector, kind: visit.kind };

  const previous = await outputs.existingOutcome(visit.instrument, visit.group, visit.detector);
  if (previous) {
    // A redelivery: announce the recorded outcome again (consumers key it) and do nothing else.
    await publishOutcome(broker, config.outcomeTopic, previous);
    log.info({ ...ctx, status: previous.status }, 'detector-visit already has an outcome; not processing it again');
    return { disposition: 'no-work', reason: `already ${previous.status}`, outcome: previous };
  }

  const subscription = `${config.imageTopic}-${config.instanceId}-${visit.group}-${visit.detector}-${randomBytes(3).toString('hex')}`
    .replace(/[^A-Za-z0-9._~+%-]/g, '-')
    .slice(0, 255);
  const prefix = snapPrefix(visit);
  const snaps = new Map<number, Promise<IngestedSnap>>();
  const ingestErrors: string[] = [];

  const offer = (obj: Pick<StoredObject, 'key' | 'generation'>): void => {
    if (!obj.key.startsWith(prefix)) return;
    let key: ObjectKey;
    try {
      key = parseObjectKey(obj.key);
    } catch (e) {
      ingestErrors.push(errorMessage(e));
      log.warn({ ...ctx, objectKey: obj.key, reason: errorMessage(e) }, 'ignoring an object that is not a valid raw key');
      return;
    }
    if (key.snap >= visit.snaps || snaps.has(key.snap)) return;
    if (key.filter !== visit.filter) {
      log.warn({ ...ctx, objectKey: obj.key }, `raw filter ${key.filter} differs from the nextVisit's ${visit.filter}`);
    }
    const finalizedAtMs = Number(BigInt(obj.generation) / 1000n);
    log.info({ ...ctx, snap: key.snap, objectKey: obj.key }, 'snap arrived; ingesting');
    const p = bucket.get(obj.key).then((bytes) => ({ key, objectKey: obj.key, bytes, finalizedAtMs }));
    p.catch(() => undefined);
    snaps.set(key.snap, p);
  };

  try {
    // Cloud Storage notifications name the object in an attribute the broker can filter on; S3
    // event records carry it in the body, so every one is looked at here (offer() checks the key).
    const serverFilter = config.imageNotifications === 'gcs' && broker.capabilities.filters;
    await broker.ensureSubscription(subscription, config.imageTopic, {
      ...(serverFilter ? { filter: `hasPrefix(attributes.objectId, "${prefix}")` } : {}),
      ackDeadlineSeconds: 60,
      retentionSeconds: 600,
    });
  } catch (e) {
    return { disposition: 'retry', reason: `could not subscribe to ${config.imageTopic}: ${errorMessage(e)}` };
  }

  let timedOut = false;
  // Preloading runs while the snaps are awaited: it is what the time before the pixels is for.
  let preloading: Promise<Preloaded> | null = null;
  let warming: Promise<void> | null = null;
  let apdbPreloading: Promise<ApdbPreload> | null = null;
  try {
    try {
      for (const obj of await bucket.list(prefix)) offer(obj);
    } catch (e) {
      return { disposition: 'retry', reason: `could not list the raw bucket: ${errorMessage(e)}` };
    }
    if (deps.alerts && visit.kind === 'SCIENCE') {
      apdbPreloading = deps.alerts.preload(visit);
      apdbPreloading.catch(() => undefined);
    }
    if (deps.middleware) {
      preloading = deps.middleware.prepare(visit);
      preloading.then((p) => deps.metrics?.observePreload(p)).catch(() => undefined);
      // Decoding the calibrations also happens before the pixels arrive.
      warming = preloading
        .then((p) => deps.processor.prepare?.(visit, p.calibs))
        .catch((e: unknown) => log.warn({ ...ctx, reason: errorMessage(e) }, 'could not prepare the calibrations ahead of the pixels'));
    }
    let deadline = deps.now() + config.imageTimeoutS * 1000;
    while (snaps.size < visit.snaps) {
      const remaining = deadline - deps.now();
      if (remaining <= 0) {
        timedOut = true;
        break;
      }
      let msgs;
      try {
        msgs = await broker.pull(subscription, { maxMessages: 16, waitMs: Math.min(remaining, 5000) });
      } catch (e) {
        return { disposition: 'retry', reason: `could not pull image notifications: ${errorMessage(e)}` };
      }
      const before = snaps.size;
      for (const m of msgs) {
        try {
          for (const n of parseStorageNotifications(m)) if (n.eventType === 'OBJECT_FINALIZE') offer(n.object);
        } catch (e) {
          log.warn({ ...ctx, reason: errorMessage(e) }, 'ignoring a malformed image notification');
        }
      }
      if (msgs.length) await broker.ack(subscription, msgs.map((m) => m.ackId)).catch(() => undefined);
      // Each arrival restarts the wait for the rest.
      if (snaps.size > before) deadline = deps.now() + config.imageTimeoutS * 1000;
    }
  } finally {
    await broker.deleteSubscription(subscription).catch((e: unknown) => {
      log.warn({ ...ctx, subscription, reason: errorMessage(e) }, 'could not delete the image subscription');
    });
  }

  const base = {
    instrument: visit.instrument,
    group: visit.group,
    detector: visit.detector,
    kind: visit.kind,
    expectedSnaps: visit.snaps,
    instance: config.instanceId,
    receivedAt,
    outputs: {},
    timings: {},
    summary: {},
  };

  // Whatever was preloaded for a visit that goes no further is removed again.
  const release = async (): Promise<void> => {
    if (!preloading) return;
    await preloading.catch(() => undefined);
    await deps.middleware?.cleanup(visit).catch(() => undefined);
  };

  let ingested: IngestedSnap[];
  try {
    ingested = (await Promise.all(snaps.values())).sort((a, b) => a.key.snap - b.key.snap);
  } catch (e) {
    await release();
    if (isTransient(e)) return { disposition: 'retry', reason: `could not read a snap: ${errorMessage(e)}` };
    return finish(deps, { ...base, status: 'failed', snaps: 0, reason: `could not ingest a snap: ${errorMessage(e)}` });
  }
  if (ingested.length) addLogContext({ exposure: ingested.map((s) => s.key.exposureId) });
  const lastFinalized = ingested.reduce((m, s) => Math.max(m, s.finalizedAtMs), 0);
  const lastSnapFinalizedAt = ingested.length ? new Date(lastFinalized).toISOString() : undefined;

  if (ingested.length === 0) {
    await release();
    const why = ingestErrors.length ? ` (rejected: ${ingestErrors.join('; ')})` : '';
    return finish(deps, {
      ...base,
      status: 'timedOut',
      snaps: 0,
      reason: `no snap arrived within IMAGE_TIMEOUT=${config.imageTimeoutS}s${why}`,
    });
  }
  if (timedOut) {
    log.warn({ ...ctx, arrived: ingested.length, expected: visit.snaps }, 'processing with the snaps that arrived before the timeout');
  }

  let apdbPreload: ApdbPreload | null = null;
  if (apdbPreloading) {
    try {
      apdbPreload = await apdbPreloading;
      log.info({ ...ctx, stage: 'apdbPreload', durationS: apdbPreload.seconds, diaObjects: apdbPreload.history.diaObjects.length }, 'stage done');
    } catch (e) {
      await release();
      return { disposition: 'retry', reason: `could not read the APDB: ${errorMessage(e)}` };
    }
  }

  let preloaded: Preloaded | null = null;
  if (preloading) {
    try {
      preloaded = await preloading;
      await warming;
      await deps.middleware?.ingest(visit, ingested);
    } catch (e) {
      await deps.middleware?.cleanup(visit).catch(() => undefined);
      return { disposition: 'retry', reason: `could not prepare the data repository: ${errorMessage(e)}` };
    }
  }

  let result: ProcessResult;
  try {
    result = await deps.processor.process(
      visit,
      ingested,
      preloaded
        ? {
            calibs: preloaded.calibs,
            refcatShards: preloaded.refcatShardFiles,
            templates: preloaded.templateFiles,
            forcedPositions: apdbPreload ? AlertStep.positions(apdbPreload) : undefined,
          }
        : undefined,
    );
  } catch (e) {
    await deps.middleware?.cleanup(visit).catch(() => undefined);
    if (isTransient(e)) return { disposition: 'retry', reason: `processing failed: ${errorMessage(e)}` };
    const reason =
      e instanceof InvalidInputError || e instanceof AlgorithmError ? errorMessage(e) : `unexpected error: ${errorMessage(e)}`;
    log.error({ ...ctx, reason, err: e instanceof PromptError ? undefined : e }, 'processing failed; a retry cannot fix it');
    return finish(deps, { ...base, status: 'failed', snaps: ingested.length, lastSnapFinalizedAt, reason });
  }

  const paths: Record<string, string> = {};
  const timings: Record<string, number> = { ...result.timings };
  if (preloaded) timings.preload = preloaded.seconds;
  if (apdbPreload) timings.apdbPreload = apdbPreload.seconds;
  const visitId = typeof result.summary.visit === 'number' ? result.summary.visit : ingested[0].key.exposureId;
  addLogContext({ visit: visitId });
  // The pipeline ran on a worker thread: its stage timings came back with the result.
  for (const [stage, seconds] of Object.entries(result.timings)) log.info({ ...ctx, stage, durationS: seconds }, 'stage done');
  const summary: Record<string, number | string | boolean | null> = { ...result.summary };
  const notes: string[] = [];
  try {
    if (deps.middleware) {
      const exported = await deps.middleware.exportOutputs(visit, visitId, result.files);
      Object.assign(paths, exported.outputs);
      timings.export = exported.seconds;
      log.info({ ...ctx, stage: 'export', durationS: exported.seconds, run: exported.run }, 'stage done');
    } else {
      for (const [name, bytes] of Object.entries(result.files)) {
        paths[name] = await outputs.writeFile(visit.instrument, visit.group, visit.detector, name, bytes);
      }
    }
  } catch (e) {
    await deps.middleware?.cleanup(visit).catch(() => undefined);
    return { disposition: 'retry', reason: `could not write the outputs: ${errorMessage(e)}` };
  }

  // The APDB and the alerts. Until the APDB transaction commits, a failure is retried; after
  // it, nothing is: a redelivery would find the detector-visit stored and send no alert.
  try {
    if (deps.alerts && visit.kind === 'SCIENCE') {
      let step;
      try {
        step = await deps.alerts.record(visit, result, apdbPreload);
      } catch (e) {
        if (e instanceof InvalidInputError || e instanceof AlgorithmError) {
          notes.push(`not associated: ${errorMessage(e)}`);
          log.error({ ...ctx, reason: errorMessage(e) }, 'the DiaSources could not be associated; a retry cannot fix it');
          step = null;
        } else {
          return { disposition: 'retry', reason: `could not write to the APDB: ${errorMessage(e)}` };
        }
      }
      if (step?.status === 'stored') {
        timings.apdb = step.apdbSeconds;
        timings.alerts = step.alertSeconds;
        log.info({ ...ctx, stage: 'apdb', durationS: step.apdbSeconds, diaSources: step.diaSources, diaObjectsCreated: step.diaObjectsCreated }, 'stage done');
        log.info({ ...ctx, stage: 'alerts', durationS: step.alertSeconds, alerts: step.alerts }, 'stage done');
        Object.assign(summary, {
          'apdb.diaSources': step.diaSources,
          'apdb.diaObjectsCreated': step.diaObjectsCreated,
          'apdb.diaObjectsUpdated': step.diaObjectsUpdated,
          'apdb.diaForcedSources': step.diaForcedSources,
          alerts: step.alerts,
        });
        if (step.alertFailure) notes.push(step.alertFailure);
        if (deps.middleware && step.archive.length > 0) {
          try {
            const exported = await deps.middleware.exportOutputs(visit, visitId, { 'alerts.avro': step.archive });
            Object.assign(paths, exported.outputs);
          } catch (e) {
            notes.push(`alert archive not exported: ${errorMessage(e)}`);
            log.error({ ...ctx, reason: errorMessage(e) }, 'the alert archive could not be exported; the alerts were sent');
          }
        }
      } else if (step) {
        if (step.status === 'already-stored') timings.apdb = step.apdbSeconds;
        summary['apdb.skipped'] = step.reason;
        log.info({ ...ctx, reason: step.reason }, 'no association');
      }
    }
  } finally {
    await deps.middleware?.cleanup(visit).catch((e: unknown) => log.warn({ ...ctx, reason: errorMessage(e) }, 'could not clean the local repository'));
  }
  // Written out, associated and alerted: nothing reads the files any more.
  deps.processor.recycle?.(result.files);
  const writtenAt = deps.now();
  return finish(deps, {
    ...base,
    status: 'processed',
    snaps: ingested.length,
    reason: [timedOut ? `only ${ingested.length} of ${visit.snaps} snaps arrived within IMAGE_TIMEOUT` : null, ...notes].filter(Boolean).join('; ') || undefined,
    lastSnapFinalizedAt,
    outputsWrittenAt: new Date(writtenAt).toISOString(),
    latencySeconds: (writtenAt - lastFinalized) / 1000,
    sources: result.sources ?? undefined,
    outputs: paths,
    timings,
    summary,
  });
}

async function publishOutcome(broker: Broker, topic: string, o: Outcome): Promise<void> {
  await broker.publish(topic, [{ data: encodeOutcome(o), attributes: outcomeAttributes(o) }]);
}

/** Records the outcome durably, then announces it. */
async function finish(deps: VisitDeps, o: Outcome): Promise<VisitResult> {
  o.outputs = { ...o.outputs, outcome: deps.outputs.outcomePath(o.instrument, o.group, o.detector) };
  try {
    await deps.outputs.writeOutcome(o);
  } catch (e) {
    return { disposition: 'retry', reason: errorMessage(e) };
  }
  try {
    await publishOutcome(deps.broker, deps.config.outcomeTopic, o);
  } catch (e) {
    // The outcome is on disk; a redelivery republishes it.
    return { disposition: 'retry', reason: `outcome recorded but not announced: ${errorMessage(e)}` };
  }
  const level = o.status === 'processed' ? 'info' : o.status === 'timedOut' ? 'warn' : 'error';
  deps.log[level](
    {
      group: o.group,
      detector: o.detector,
      kind: o.kind,
      status: o.status,
      snaps: o.snaps,
      latencySeconds: o.latencySeconds,
      sources: o.sources,
      reason: o.reason,
      timings: o.timings,
    },
    `detector-visit ${o.status}`,
  );
  return { disposition: 'done', outcome: o };
}

