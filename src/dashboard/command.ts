/**
 * `prompt dashboard --broker URL [--port P] [--host H] [--instrument I] [--outputs DIR]`: the
 * dashboard of a running deployment, fed from its broker. It subscribes (with subscriptions of
 * its own, deleted when it stops) to
 *   nextVisit            detector-visits announced (waiting)
 *   {instrument}-image   snaps landing in the bucket
 *   prompt-outcomes      what became of each detector-visit, with timings and outputs
 *   alerts               the alert packets, with their cutouts
 * and, with --outputs (the activators' OUTPUT_REPO), first shows the outcomes recorded there.
 * The activators' own log lines are not on the broker: stage-by-stage progress is a night's.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { decodeFramedAlert } from '../alerts/index.ts';
import { errorMessage } from '../core/errors.ts';
import { getInstrument } from '../instruments/index.ts';
import { decodeNextVisit } from '../messages/next-visit.ts';
import { decodeOutcome, type Outcome } from '../messages/outcome.ts';
import { parseStorageNotifications } from '../messages/storage-notification.ts';
import type { Broker, ReceivedMessage } from '../messaging/broker.ts';
import { createBroker } from '../messaging/backends.ts';
import { alertEvent, nextVisitEvents, outcomeEvents, storageEvents } from './feed.ts';
import { startDashboard, type Dashboard } from './server.ts';
import { DEFAULT_LIMITS, type DashboardEvent } from './state.ts';

export interface DashboardCommandOptions {
  readonly broker: string;
  readonly instrument: string;
  readonly port: number;
  readonly host?: string;
  readonly outputs?: string;
  readonly outcomeTopic?: string;
  readonly alertTopic?: string;
  /** Where progress lines go (default stdout). */
  readonly out?: (line: string) => void;
  /** Stops the dashboard (default: SIGINT or SIGTERM). */
  readonly signal?: AbortSignal;
}

interface Feed {
  readonly topic: string;
  readonly filter?: string;
  readonly toEvents: (m: ReceivedMessage, at: number) => DashboardEvent[];
}

/** Outcomes recorded under an activators' OUTPUT_REPO for the instrument, newest groups last. */
export async function recordedOutcomes(root: string, instrument: string, groups = DEFAULT_LIMITS.groups): Promise<Outcome[]> {
  const dir = path.join(root, instrument);
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((n) => /^\d+$/.test(n)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: Outcome[] = [];
  for (const g of names.slice(-groups)) {
    for (const d of (await fs.readdir(path.join(dir, g)).catch(() => [] as string[])).sort()) {
      try {
        out.push(decodeOutcome(await fs.readFile(path.join(dir, g, d, 'outcome.json'))));
      } catch {
        /* not finished, or not an outcome */
      }
    }
  }
  return out;
}

async function pullLoop(broker: Broker, subscription: string, feed: Feed, dashboard: Dashboard, signal: AbortSignal, say: (l: string) => void): Promise<void> {
  let complained = false;
  while (!signal.aborted) {
    let msgs: ReceivedMessage[];
    try {
      msgs = await broker.pull(subscription, { maxMessages: 256, waitMs: 1000, signal });
      complained = false;
    } catch (e) {
      if (signal.aborted) return;
      if (!complained) say(`could not pull from ${feed.topic}: ${errorMessage(e)}; trying again`);
      complained = true;
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    for (const m of msgs) {
      try {
        for (const e of feed.toEvents(m, Date.now())) dashboard.publish(e);
      } catch (e) {
        dashboard.publish({ type: 'note', at: Date.now(), severity: 'WARNING', source: feed.topic, message: `ignoring a message on ${feed.topic}: ${errorMessage(e)}` });
      }
    }
    if (msgs.length) await broker.ack(subscription, msgs.map((m) => m.ackId)).catch(() => undefined);
  }
}

/** Serves the dashboard until the signal (or SIGINT / SIGTERM); returns the exit code. */
export async function runDashboardCommand(o: DashboardCommandOptions): Promise<number> {
  const say = o.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const inst = getInstrument(o.instrument);
  const broker = createBroker(o.broker);
  const dashboard = await startDashboard({ host: o.host, port: o.port, instrument: inst.name });
  dashboard.publish({ type: 'night', at: Date.now(), instrument: inst.name });
  const abort = new AbortController();
  const stop = () => abort.abort();
  o.signal?.addEventListener('abort', stop, { once: true });
  if (!o.signal) {
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }

  const feeds: Feed[] = [
    {
      topic: 'nextVisit',
      filter: `attributes.instrument = "${inst.name}"`,
      toEvents: (m, at) => {
        const v = decodeNextVisit(m.data);
        return v.instrument === inst.name ? nextVisitEvents(v, at) : [];
      },
    },
    { topic: `${inst.name}-image`, toEvents: (m, at) => parseStorageNotifications(m).flatMap((n) => storageEvents(n, at)) },
    {
      topic: o.outcomeTopic ?? 'prompt-outcomes',
      toEvents: (m, at) => {
        const out = decodeOutcome(m.data);
        return out.instrument === inst.name ? outcomeEvents(out, at) : [];
      },
    },
    { topic: o.alertTopic ?? 'alerts', toEvents: (m, at) => [alertEvent(decodeFramedAlert(m.data), at)] },
  ];
  const suffix = randomBytes(4).toString('hex');
  const subscribed: Array<{ name: string; feed: Feed }> = [];
  try {
    for (const feed of feeds) {
      const name = `dashboard-${feed.topic}-${suffix}`.replace(/[^A-Za-z0-9._~+%-]/g, '-').slice(0, 255);
      try {
        const filter = feed.filter && broker.capabilities.filters ? { filter: feed.filter } : {};
        await broker.ensureSubscription(name, feed.topic, { ...filter, ackDeadlineSeconds: 60, retentionSeconds: 600 });
        subscribed.push({ name, feed });
      } catch (e) {
        say(`not showing ${feed.topic}: cannot subscribe to it: ${errorMessage(e)}`);
      }
    }
    if (subscribed.length === 0) {
      say(`prompt dashboard: could not subscribe to any topic on ${o.broker}`);
      return 2;
    }
    if (o.outputs) {
      const recorded = await recordedOutcomes(o.outputs, inst.name).catch((e: unknown) => {
        say(`could not read the outcomes under ${o.outputs}: ${errorMessage(e)}`);
        return [] as Outcome[];
      });
      for (const out of recorded) for (const e of outcomeEvents(out, Date.now())) dashboard.publish(e);
      say(`${recorded.length} recorded outcome(s) read from ${o.outputs}`);
    }
    say(`dashboard of ${inst.name} on ${o.broker}: ${dashboard.url}`);
    await Promise.all(subscribed.map((s) => pullLoop(broker, s.name, s.feed, dashboard, abort.signal, say)));
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await Promise.all(subscribed.map((s) => broker.deleteSubscription(s.name).catch(() => undefined)));
    dashboard.publish({ type: 'ended', at: Date.now(), message: 'the dashboard was stopped' });
    await dashboard.close();
    await broker.close();
  }
}
