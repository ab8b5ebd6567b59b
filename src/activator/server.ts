import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '../observability/logger.ts';
import { Services } from '../runtime/services.ts';
import { createActivatorApp, type ActivatorApp } from './app.ts';
import { activatorConfigFromEnv, type ActivatorConfig } from './config.ts';
import { OutputRepository } from './output-repository.ts';
import type { VisitMiddleware } from './middleware.ts';
import type { VisitDeps, VisitProcessor } from './visit-flow.ts';
import { startPullLoop } from './pull-loop.ts';
import type { Apdb } from '../apdb/index.ts';
import { detectorFootprint, getInstrument } from '../instruments/index.ts';
import { AlertStep } from './alert-step.ts';
import { ActivatorMetrics } from './metrics.ts';

export interface RunningActivator {
  readonly url: string;
  readonly port: number;
  readonly app: ActivatorApp;
  close(): Promise<void>;
}

export interface StartActivatorOptions {
  config: ActivatorConfig;
  processor: VisitProcessor;
  log?: Logger;
  services?: Services;
  middleware?: VisitMiddleware;
  /** The APDB: association and alerts for SCIENCE visits (closed with the activator). */
  apdb?: Apdb;
  now?: () => number;
  /** Where `GET /metrics` reads from (default: a registry of this activator's own). */
  metrics?: ActivatorMetrics;
}

/** Starts the activator's HTTP service on config.host:config.port (0 = any free port). */
export async function startActivator(opts: StartActivatorOptions): Promise<RunningActivator> {
  const { config } = opts;
  const log = opts.log ?? createLogger({ component: 'activator', instrument: config.instrument });
  const services = opts.services ?? new Services();
  const broker = services.broker(config.brokerUrl);
  // Topics are made by whoever deploys the service; creating them here is a convenience, and a
  // broker that is down at start-up only means requests are answered 5xx until it is back.
  for (const topic of [config.imageTopic, config.outcomeTopic, ...(opts.apdb ? [config.alertTopic] : [])]) {
    await broker.ensureTopic(topic).catch((e: unknown) => {
      log.warn({ topic, reason: e instanceof Error ? e.message : String(e) }, 'could not make sure a topic exists');
    });
  }
  const deps: VisitDeps = {
    config,
    broker,
    bucket: services.bucket(config.imageBucket),
    processor: opts.processor,
    outputs: new OutputRepository(config.outputRepo),
    middleware: opts.middleware,
    alerts: opts.apdb
      ? new AlertStep(
          opts.apdb,
          broker,
          { alertTopic: config.alertTopic, associationRadiusArcsec: config.associationRadiusArcsec },
          (v) => detectorFootprint(getInstrument(v.instrument), v.detector, { raDeg: v.ra, decDeg: v.dec, rotationDeg: 0 }, config.preloadPadArcsec),
          log,
        )
      : undefined,
    log,
    metrics: opts.metrics ?? new ActivatorMetrics(),
    now: opts.now ?? Date.now,
  };
  const app = createActivatorApp(deps);
  const puller = config.nextVisitSubscription ? startPullLoop(deps, config.nextVisitSubscription) : null;
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.app.fetch, hostname: config.host, port: config.port }, () => resolve(s));
  });
  // Requests may take as long as the Cloud Run request timeout the playbook sets (600 s).
  if ('requestTimeout' in server) (server as import('node:http').Server).requestTimeout = 600_000;
  const port = (server.address() as AddressInfo).port;
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  const url = `http://${host}:${port}`;
  log.info({ event: 'listening', port, url, instance: config.instanceId }, `activator listening on ${url}`);
  return {
    url,
    port,
    app,
    async close() {
      await puller?.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await opts.processor.close();
      await opts.apdb?.close();
      if (!opts.services) await services.close();
    },
  };
}

export { activatorConfigFromEnv };
