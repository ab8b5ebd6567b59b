/** Test support: removes every JetStream stream a test made under its prefix. */
import { connect } from 'nats';

export async function deleteNatsStreams(prefix: string, servers = '127.0.0.1:4222'): Promise<void> {
  const nc = await connect({ servers });
  try {
    const jsm = await nc.jetstreamManager();
    const names: string[] = [];
    for await (const si of jsm.streams.list()) if (si.config.name.includes(prefix)) names.push(si.config.name);
    for (const n of names) await jsm.streams.delete(n);
  } finally {
    await nc.close();
  }
}
