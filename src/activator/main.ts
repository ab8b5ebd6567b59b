import { htmCoverPolygon } from '../astro/htm.ts';
import { DEFAULT_SKYMAP_CONFIG, makeSkymap } from '../astro/skymap.ts';
import { detectorFootprint, getInstrument } from '../instruments/index.ts';
import { createLogger } from '../observability/logger.ts';
import { openApdb, parseApdbConfig, type Apdb } from '../apdb/index.ts';
import { activatorConfigFromEnv, type ActivatorConfig } from './config.ts';
import { RepositoryMiddleware, type SpatialIndex } from './middleware.ts';
import { createPipelineProcessor } from './pipeline-processor.ts';
import { startActivator } from './server.ts';

/** Footprints from the camera geometry; templates on the default skymap; refcat shards on HTM level 7. */
export function spatialIndexFor(config: ActivatorConfig): SpatialIndex {
  const inst = getInstrument(config.instrument);
  const skymap = makeSkymap(DEFAULT_SKYMAP_CONFIG);
  return {
    footprint: (v) => detectorFootprint(inst, v.detector, { raDeg: v.ra, decDeg: v.dec, rotationDeg: 0 }, config.preloadPadArcsec),
    htm7Cover: (polygon) => htmCoverPolygon(polygon, 7),
    patchesCover: (polygon) => skymap.patchesCovering(polygon).map((p) => ({ skymap: p.skymap, tract: p.tract, patch: p.patch })),
  };
}

/** The APDB the configuration names; it must exist (`prompt make-apdb` creates it). */
async function openApdbFor(config: ActivatorConfig): Promise<Apdb> {
  const pairs = [`db_url=${config.apdbUrl}`];
  if (config.apdbNamespace) pairs.push(`namespace=${config.apdbNamespace}`);
  return openApdb(parseApdbConfig(pairs));
}

/** `prompt activator`: configuration from the environment, the pipeline on a worker thread. */
export async function runActivatorFromEnv(): Promise<void> {
  const config = activatorConfigFromEnv();
  const log = createLogger({ component: 'activator', instrument: config.instrument });
  const processor = createPipelineProcessor({ calibRepo: config.calibRepo });
  const middleware = config.centralRepo
    ? await RepositoryMiddleware.open(
        {
          centralRepo: config.centralRepo,
          localRepo: config.localRepo,
          deployment: config.deployment,
          pipeline: config.pipeline,
          exportTypes: config.exportTypes,
          calibCacheSize: config.calibCacheSize,
        },
        spatialIndexFor(config),
        log,
      )
    : undefined;
  const apdb = config.apdbUrl ? await openApdbFor(config) : undefined;
  const running = await startActivator({ config, processor, log, middleware, apdb });
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: finishing the request in flight, taking no new ones');
    await running.close();
    await middleware?.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
