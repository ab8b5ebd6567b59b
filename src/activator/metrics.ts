/**
 * The activator's Prometheus metrics, served at `GET /metrics`. Each activator has its own
 * registry (several can share a process, as in tests), fed from one place: where a
 * detector-visit's result is known (`track`, which `runVisit` goes through in push and pull
 * mode alike), plus the messages refused or acknowledged before any detector-visit starts.
 *
 * | metric | type | labels |
 * |---|---|---|
 * | prompt_detector_visits_total | counter | outcome = processed, failed, timedOut, no-work, retry, invalid |
 * | prompt_detector_visits_in_flight | gauge | |
 * | prompt_detector_visit_latency_seconds | histogram | outcome (last snap finalized → outputs written) |
 * | prompt_stage_seconds | histogram | stage (the outcome's timings: pipeline stages, preload, export, apdb, alerts) |
 * | prompt_preload_calibrations_total | counter | source = cache, repository |
 * | prompt_alerts_sent_total | counter | |
 * | prompt_dia_sources_stored_total | counter | |
 * | prompt_next_visit_refused_total | counter | reason = forbidden, busy |
 *
 * and prom-client's default process and Node.js metrics (`process_*`, `nodejs_*`).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Preloaded } from './middleware.ts';
import type { VisitResult } from './visit-flow.ts';

export const VISIT_OUTCOMES = ['processed', 'failed', 'timedOut', 'no-work', 'retry', 'invalid'] as const;
export type VisitOutcomeLabel = (typeof VISIT_OUTCOMES)[number];

/** Seconds from the last snap to the outputs: fine around the 60 s alert budget, coarse beyond it. */
export const VISIT_LATENCY_BUCKETS = [1, 2, 5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 90, 120, 180, 300, 600];
/** Seconds of one stage: from tens of milliseconds (association) to a minute (difference imaging on a slow node). */
export const STAGE_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60];

export interface ActivatorMetricsOptions {
  /** prom-client's process and Node.js metrics (default true). */
  readonly defaultMetrics?: boolean;
}

export class ActivatorMetrics {
  readonly registry = new Registry();
  private readonly visits: Counter<'outcome'>;
  private readonly inFlight: Gauge;
  private readonly latency: Histogram<'outcome'>;
  private readonly stages: Histogram<'stage'>;
  private readonly calibrations: Counter<'source'>;
  private readonly alerts: Counter;
  private readonly diaSources: Counter;
  private readonly refused: Counter<'reason'>;

  constructor(opts: ActivatorMetricsOptions = {}) {
    const registers = [this.registry];
    this.visits = new Counter({
      name: 'prompt_detector_visits_total',
      help: 'nextVisit messages handled, by outcome: processed, failed or timedOut (an outcome was recorded), no-work (acknowledged without processing: a redelivery of a recorded detector-visit, another instrument, not an observation), retry (answered for a redelivery), invalid (a message that can never be processed).',
      labelNames: ['outcome'],
      registers,
    });
    for (const outcome of VISIT_OUTCOMES) this.visits.inc({ outcome }, 0);
    this.inFlight = new Gauge({ name: 'prompt_detector_visits_in_flight', help: 'Detector-visits being handled by this instance now.', registers });
    this.latency = new Histogram({
      name: 'prompt_detector_visit_latency_seconds',
      help: 'From the finalize of the last snap to the outputs being written, by outcome.',
      labelNames: ['outcome'],
      buckets: VISIT_LATENCY_BUCKETS,
      registers,
    });
    this.stages = new Histogram({
      name: 'prompt_stage_seconds',
      help: "Duration of each stage of a detector-visit (the outcome's timings), by stage.",
      labelNames: ['stage'],
      buckets: STAGE_BUCKETS,
      registers,
    });
    this.calibrations = new Counter({
      name: 'prompt_preload_calibrations_total',
      help: 'Master calibrations preloaded for detector-visits, by source: the local cache kept between visits, or the central repository.',
      labelNames: ['source'],
      registers,
    });
    for (const source of ['cache', 'repository']) this.calibrations.inc({ source }, 0);
    this.alerts = new Counter({ name: 'prompt_alerts_sent_total', help: 'Alert packets published on the alerts topic.', registers });
    this.diaSources = new Counter({ name: 'prompt_dia_sources_stored_total', help: 'DiaSources written to the APDB.', registers });
    this.refused = new Counter({
      name: 'prompt_next_visit_refused_total',
      help: 'nextVisit requests refused before any work: forbidden (missing or wrong token), busy (this instance was handling another one).',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of ['forbidden', 'busy']) this.refused.inc({ reason }, 0);
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Runs one detector-visit, counted in flight while it runs, and observes its result. */
  async track(run: () => Promise<VisitResult>): Promise<VisitResult> {
    this.inFlight.inc();
    try {
      const result = await run();
      this.observe(result);
      return result;
    } catch (e) {
      // Whoever called asks for a redelivery.
      this.visits.inc({ outcome: 'retry' });
      throw e;
    } finally {
      this.inFlight.dec();
    }
  }

  /** A detector-visit's result: its outcome, and for a new outcome its latency, stage timings, alerts and DiaSources. */
  observe(result: VisitResult): void {
    if (result.disposition !== 'done') {
      // A redelivery's recorded outcome was observed when it was recorded.
      this.visits.inc({ outcome: result.disposition });
      return;
    }
    const o = result.outcome;
    this.visits.inc({ outcome: o.status });
    if (isSeconds(o.latencySeconds)) this.latency.observe({ outcome: o.status }, o.latencySeconds);
    for (const [stage, seconds] of Object.entries(o.timings)) {
      if (isSeconds(seconds)) this.stages.observe({ stage }, seconds);
    }
    const alerts = o.summary.alerts;
    if (typeof alerts === 'number' && alerts > 0) this.alerts.inc(alerts);
    const diaSources = o.summary['apdb.diaSources'];
    if (typeof diaSources === 'number' && diaSources > 0) this.diaSources.inc(diaSources);
  }

  /** A message acknowledged before any detector-visit started (invalid, another instrument, not an observation). */
  countUnprocessed(outcome: 'invalid' | 'no-work'): void {
    this.visits.inc({ outcome });
  }

  countRefused(reason: 'forbidden' | 'busy'): void {
    this.refused.inc({ reason });
  }

  /** What the middleware preloaded: calibrations from its cache, the rest from the central repository. */
  observePreload(p: Pick<Preloaded, 'calibs' | 'calibsFromCache'>): void {
    const total = Object.values(p.calibs).filter((c) => c !== undefined).length;
    const fromCache = Math.min(p.calibsFromCache, total);
    if (fromCache > 0) this.calibrations.inc({ source: 'cache' }, fromCache);
    if (total > fromCache) this.calibrations.inc({ source: 'repository' }, total - fromCache);
  }
}

function isSeconds(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x) && x >= 0;
}
