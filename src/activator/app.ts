import { timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import { errorMessage } from '../core/errors.ts';
import { decodeNextVisit, type NextVisit } from '../messages/next-visit.ts';
import { parsePushEnvelope } from '../messaging/push-envelope.ts';
import { pubsubPushAnswer, type Disposition } from './ack-policy.ts';
import { runVisit, type VisitDeps } from './visit-flow.ts';

export interface ActivatorCounters {
  requests: number;
  forbidden: number;
  busy: number;
  invalid: number;
  otherInstrument: number;
  duplicates: number;
  processed: number;
  failed: number;
  timedOut: number;
  retry: number;
}

export interface ActivatorApp {
  readonly app: Hono;
  readonly counters: Readonly<ActivatorCounters>;
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
 * The activator's HTTP surface. `POST /next-visit?token=…` takes a Pub/Sub push envelope; the
 * instance handles one request at a time, like Cloud Run with "maximum requests per
 * container = 1", and refuses a concurrent one (429) so the carrier redelivers it elsewhere.
 */
export function createActivatorApp(deps: VisitDeps): ActivatorApp {
  const { config, log } = deps;
  const counters: ActivatorCounters = {
    requests: 0, forbidden: 0, busy: 0, invalid: 0, otherInstrument: 0, duplicates: 0,
    processed: 0, failed: 0, timedOut: 0, retry: 0,
  };
  let inFlight = false;
  const app = new Hono();

  const answer = (d: Disposition, body: Record<string, unknown>): Response => {
    const a = pubsubPushAnswer(d);
    return new Response(JSON.stringify({ disposition: d, ...body }), {
      status: a.status,
      headers: { 'content-type': 'application/json', ...(a.headers ?? {}) },
    });
  };

  app.get('/healthz', (c) => c.json({ ok: true, instrument: config.instrument, instance: config.instanceId, busy: inFlight }));
  app.get('/', (c) => c.json({ service: 'prompt-processing activator', instrument: config.instrument, counters }));
  app.get('/counters', (c) => c.json(counters));

  app.post('/next-visit', async (c) => {
    counters.requests++;
    if (!tokenMatches(c.req.query('token'), config.verificationToken)) {
      counters.forbidden++;
      log.warn({ remote: c.req.header('x-forwarded-for') ?? null }, 'refused a nextVisit push with a missing or wrong token');
      return answer('forbidden', { reason: 'invalid token' });
    }
    if (inFlight) {
      counters.busy++;
      return answer('busy', { reason: 'this instance is handling another request' });
    }
    inFlight = true;
    try {
      let visit: NextVisit;
      try {
        let body: unknown;
        try {
          body = JSON.parse(await c.req.text());
        } catch (e) {
          throw new Error(`request body is not JSON: ${errorMessage(e)}`);
        }
        const env = parsePushEnvelope(body);
        visit = decodeNextVisit(env.data);
      } catch (e) {
        counters.invalid++;
        const reason = errorMessage(e);
        log.error({ reason }, 'acknowledging an invalid nextVisit message: a retry cannot fix it');
        return answer('invalid', { reason });
      }
      if (visit.instrument !== config.instrument) {
        counters.otherInstrument++;
        const reason = `nextVisit for ${visit.instrument}, this service handles ${config.instrument}`;
        log.warn({ group: visit.group, detector: visit.detector }, `acknowledging without processing: ${reason}`);
        return answer('no-work', { reason });
      }
      const result = await runVisit(visit, deps);
      if (result.disposition === 'retry') {
        counters.retry++;
        log.error({ group: visit.group, detector: visit.detector, reason: result.reason }, 'failed; asking for a redelivery');
        return answer('retry', { reason: result.reason });
      }
      if (result.disposition === 'no-work') {
        counters.duplicates++;
        return answer('no-work', { reason: result.reason, outcome: result.outcome?.status });
      }
      const o = result.outcome;
      if (o.status === 'processed') counters.processed++;
      else if (o.status === 'failed') counters.failed++;
      else counters.timedOut++;
      return answer('done', { status: o.status, reason: o.reason, latencySeconds: o.latencySeconds });
    } catch (e) {
      counters.retry++;
      log.error({ reason: errorMessage(e) }, 'unexpected failure handling a nextVisit; asking for a redelivery');
      return answer('retry', { reason: errorMessage(e) });
    } finally {
      inFlight = false;
    }
  });

  return { app, counters, busy: () => inFlight };
}
