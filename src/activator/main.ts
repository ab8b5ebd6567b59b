import { createLogger } from '../observability/logger.ts';
import { activatorConfigFromEnv } from './config.ts';
import { createPipelineProcessor } from './pipeline-processor.ts';
import { startActivator } from './server.ts';

/** `prompt activator`: configuration from the environment, the pipeline on a worker thread. */
export async function runActivatorFromEnv(): Promise<void> {
  const config = activatorConfigFromEnv();
  const log = createLogger({ component: 'activator', instrument: config.instrument });
  const processor = createPipelineProcessor({ calibRepo: config.calibRepo });
  const running = await startActivator({ config, processor, log });
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: finishing the request in flight, taking no new ones');
    await running.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
