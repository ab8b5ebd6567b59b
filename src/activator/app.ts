import { timingSafeEqual } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { errorMessage, NoWorkError } from '../core/errors.ts';
import {
  detectCarrier,
  readNextVisitRequest,
  type NextVisitCarrier,
  type ReceivedNextVisit,
} from '../messages/next-visit-event.ts';
import { parsePushEnvelope } from '../messaging/push-envelope.ts';
import { answerFor, type Disposition } from './ack-policy.ts';
import { ActivatorMetrics } from './metrics.ts';
import { runVisit, type VisitDeps } from './visit-flow.ts';

export interface ActivatorCounters {
  requests: number;
  forbidden: number;
  busy: number;
  invalid: number;
  otherInstrument: number;
  /** Fan-out messages with a blank instrument: not an observation. */
  notObservation: number;
  duplicates: number;
  processed: number;
  failed: number;
  timedOut: number;
  retry: number;
}

export interface ActivatorApp {
  readonly app: Hono;
  readonly counters: Readonly<ActivatorCounters>;
  /** What `GET /metrics` serves. */
  readonly metrics: ActivatorMetrics;
  /** True while a nextVisit is being handled. */
  busy(): boolean;
}

function tokenMatches(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The activator's HTTP surface. `POST /next-visit?token=…` (and `POST /?token=…`, where Knative
 * sinks post by default) takes a nextVisit in any carrier `readNextVisitRequest` reads: a
 * Pub/Sub push envelope, or a CloudEvent in binary mode (Knative KafkaSource) or structured mode
 * (the fan-out service). Each carrier is answered by its own retry rules (ack-policy.ts).
 *
 * Authentication is the same for every carrier: the `token` query parameter must equal
 * VERIFICATION_TOKEN. Pub/Sub push puts it in the push endpoint URL; Knative keeps the query of
 * a sink URI (`sink.uri: http://activator/next-visit?token=…`, or `sink.ref` plus a relative
 * `sink.uri: /next-visit?token=…`), so KafkaSource, Triggers and the fan-out service send it as
 * well. A request without it is refused (403) before its body is read.
 *
 * The instance handles one request at a time, like Cloud Run with "maximum requests per
 * container = 1", and refuses a concurrent one (429) so the carrier redelivers it elsewhere.
 */
export function createActivatorApp(visitDeps: VisitDeps): ActivatorApp {
  const metrics = visitDeps.metrics ?? new ActivatorMetrics();
  const deps: VisitDeps = { ...visitDeps, metrics };
  const { config, log } = deps;
  const counters: ActivatorCounters = {
    requests: 0, forbidden: 0, busy: 0, invalid: 0, otherInstrument: 0, notObservation: 0, duplicates: 0,
    processed: 0, failed: 0, timedOut: 0, retry: 0,
  };
  let inFlight = false;
  const app = new Hono();

  const answer = (carrier: NextVisitCarrier, d: Disposition, body: Record<string, unknown>): Response => {
    const a = answerFor(carrier, d);
    return new Response(JSON.stringify({ disposition: d, carrier, ...body }), {
      status: a.status,
      headers: { 'content-type': 'application/json', ...(a.headers ?? {}) },
    });
  };

  app.get('/healthz', (c) => c.json({ ok: true, instrument: config.instrument, instance: config.instanceId, busy: inFlight }));
  app.get('/', (c) => c.json({ service: 'prompt-processing activator', instrument: config.instrument, counters }));
  app.get('/counters', (c) => c.json(counters));
  app.get('/metrics', async (c) => c.body(await metrics.text(), 200, { 'content-type': metrics.contentType }));

  const handleNextVisit = async (c: Context): Promise<Response> => {
    counters.requests++;
    const headers = c.req.raw.headers;
    const carrier = detectCarrier(headers);
    if (!tokenMatches(c.req.query('token'), config.verificationToken)) {
      counters.forbidden++;
      metrics.countRefused('forbidden');
      log.warn({ carrier, remote: c.req.header('x-forwarded-for') ?? null }, 'refused a nextVisit with a missing or wrong token');
      return answer(carrier, 'forbidden', { reason: 'invalid token' });
    }
    if (inFlight) {
      counters.busy++;
      metrics.countRefused('busy');
      return answer(carrier, 'busy', { reason: 'this instance is handling another request' });
    }
    inFlight = true;
    let detectorVisit: { group?: string; detector?: number } = {};
    try {
      let received: ReceivedNextVisit;
      try {
        const body = new Uint8Array(await c.req.arrayBuffer());
        received = readNextVisitRequest(headers, body, { readPushEnvelope: parsePushEnvelope });
      } catch (e) {
        const reason = errorMessage(e);
        if (e instanceof NoWorkError) {
          counters.notObservation++;
          metrics.countUnprocessed('no-work');
          log.info({ carrier, reason }, 'acknowledging a nextVisit that is not an observation');
          return answer(carrier, 'no-work', { reason });
        }
        counters.invalid++;
        metrics.countUnprocessed('invalid');
        log.error({ carrier, reason, status: answerFor(carrier, 'invalid').status }, 'an invalid nextVisit message: a retry cannot fix it');
        return answer(carrier, 'invalid', { reason });
      }
      const { visit } = received;
      detectorVisit = { group: visit.group, detector: visit.detector };
      log.info(
        { carrier, shape: received.shape, messageId: received.messageId, group: visit.group, detector: visit.detector },
        'received a nextVisit',
      );
      if (visit.instrument !== config.instrument) {
        counters.otherInstrument++;
        metrics.countUnprocessed('no-work');
        const reason = `nextVisit for ${visit.instrument}, this service handles ${config.instrument}`;
        log.warn({ carrier, group: visit.group, detector: visit.detector }, `acknowledging without processing: ${reason}`);
        return answer(carrier, 'no-work', { reason });
      }
      const result = await runVisit(visit, deps);
      if (result.disposition === 'retry') {
        counters.retry++;
        log.error({ carrier, group: visit.group, detector: visit.detector, reason: result.reason }, 'failed; asking for a redelivery');
        return answer(carrier, 'retry', { reason: result.reason });
      }
      if (result.disposition === 'no-work') {
        counters.duplicates++;
        return answer(carrier, 'no-work', { reason: result.reason, outcome: result.outcome?.status });
      }
      const o = result.outcome;
      if (o.status === 'processed') counters.processed++;
      else if (o.status === 'failed') counters.failed++;
      else counters.timedOut++;
      return answer(carrier, 'done', { status: o.status, reason: o.reason, latencySeconds: o.latencySeconds });
    } catch (e) {
      counters.retry++;
      log.error({ carrier, ...detectorVisit, reason: errorMessage(e) }, 'unexpected failure handling a nextVisit; asking for a redelivery');
      return answer(carrier, 'retry', { reason: errorMessage(e) });
    } finally {
      inFlight = false;
    }
  };

  app.post('/next-visit', handleNextVisit);
  app.post('/', handleNextVisit);

  return { app, counters, metrics, busy: () => inFlight };
}
