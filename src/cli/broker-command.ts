import { startEmbeddedBroker } from '../messaging/embedded/embedded-server.ts';
import { createLogger } from '../observability/logger.ts';

export async function runBroker(o: { host: string; port: number; project: string }): Promise<void> {
  const log = createLogger({ component: 'broker' });
  const b = await startEmbeddedBroker({
    host: o.host,
    port: o.port,
    project: o.project,
    logger: (level, msg, fields) => log[level === 'warn' ? 'warn' : level === 'error' ? 'error' : level === 'debug' ? 'debug' : 'info'](fields ?? {}, msg),
  });
  log.info({ event: 'listening', url: b.url }, `embedded broker listening on ${b.url}`);
  const stop = async (): Promise<void> => {
    await b.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
