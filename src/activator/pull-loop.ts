/**
 * The activator as a worker that pulls its nextVisit messages (NATS JetStream, Redis Streams, or
 * any broker that does not push): one message at a time, as a push subscription would hand one
 * request to a container. What a retry can fix is nacked (redelivered, to this worker or another);
 * everything else is acknowledged, with its reason logged. A worker that dies mid-visit never acks
 * its message, so the broker hands it to another worker once the ack deadline passes.
 */
import { errorMessage } from '../core/errors.ts';
import type { NextVisit } from '../messages/next-visit.ts';
import { decodeAnyNextVisit } from '../messages/next-visit-fanout.ts';
import type { Broker, ReceivedMessage } from '../messaging/broker.ts';
import type { Logger } from '../observability/logger.ts';
import { runVisit, type VisitDeps } from './visit-flow.ts';

export interface PullLoopStats {
  received: number;
  processed: number;
  noWork: number;
  invalid: number;
  retried: number;
}

export interface PullLoop {
  readonly stats: Readonly<PullLoopStats>;
  /** True while a nextVisit is being handled. */
  busy(): boolean;
  /** Stops taking messages and waits for the one in hand. */
  stop(): Promise<void>;
}

const IDLE_RETRY_MS = 2000;
/** How often a message in hand has its ack deadline restarted (brokers that can): well within any deadline ≥ 10 s. */
const EXTEND_EVERY_MS = 3000;

export function startPullLoop(deps: VisitDeps, subscription: string): PullLoop {
  const { broker, config, log } = deps;
  const stats: PullLoopStats = { received: 0, processed: 0, noWork: 0, invalid: 0, retried: 0 };
  const abort = new AbortController();
  let inHand = false;

  const handle = async (m: ReceivedMessage): Promise<'ack' | 'nack'> => {
    let visit: NextVisit;
    try {
      // The canonical shape, or the fan-out service's (FORMATS.md D).
      visit = decodeAnyNextVisit(m.data).visit;
    } catch (e) {
      stats.invalid++;
      deps.metrics?.countUnprocessed('invalid');
      log.error({ messageId: m.messageId, reason: errorMessage(e) }, 'acknowledging an invalid nextVisit message: a retry cannot fix it');
      return 'ack';
    }
    if (visit.instrument !== config.instrument) {
      stats.noWork++;
      deps.metrics?.countUnprocessed('no-work');
      log.warn({ group: visit.group, detector: visit.detector }, `acknowledging without processing: nextVisit for ${visit.instrument}, this service handles ${config.instrument}`);
      return 'ack';
    }
    const result = await runVisit(visit, deps).catch((e: unknown) => ({ disposition: 'retry' as const, reason: `unexpected failure: ${errorMessage(e)}` }));
    if (result.disposition === 'retry') {
      stats.retried++;
      log.error({ group: visit.group, detector: visit.detector, deliveryAttempt: m.deliveryAttempt, reason: result.reason }, 'failed; handing the nextVisit back for a redelivery');
      return 'nack';
    }
    if (result.disposition === 'no-work') stats.noWork++;
    else stats.processed++;
    return 'ack';
  };

  const loop = (async () => {
    log.info({ subscription }, `pulling nextVisit messages from ${subscription}`);
    while (!abort.signal.aborted) {
      let msgs: ReceivedMessage[];
      try {
        msgs = await broker.pull(subscription, { maxMessages: 1, waitMs: 5000, signal: abort.signal });
      } catch (e) {
        if (abort.signal.aborted) break;
        log.error({ subscription, reason: errorMessage(e) }, 'could not pull nextVisit messages; trying again');
        await new Promise((r) => setTimeout(r, IDLE_RETRY_MS));
        continue;
      }
      for (const m of msgs) {
        stats.received++;
        inHand = true;
        // Work in progress keeps the message from being handed to another worker meanwhile.
        const extending = broker.extendAckDeadline
          ? setInterval(() => {
              broker.extendAckDeadline?.(subscription, [m.ackId]).catch((e: unknown) => {
                log.warn({ subscription, messageId: m.messageId, reason: errorMessage(e) }, 'could not extend the ack deadline of a nextVisit message');
              });
            }, EXTEND_EVERY_MS)
          : null;
        try {
          const verdict = await handle(m);
          await settle(broker, subscription, m, verdict, log);
        } finally {
          if (extending) clearInterval(extending);
          inHand = false;
        }
      }
    }
  })();

  return {
    stats,
    busy: () => inHand,
    async stop() {
      abort.abort();
      await loop;
    },
  };
}

async function settle(broker: Broker, subscription: string, m: ReceivedMessage, verdict: 'ack' | 'nack', log: Logger): Promise<void> {
  try {
    if (verdict === 'ack') await broker.ack(subscription, [m.ackId]);
    else await broker.nack(subscription, [m.ackId]);
  } catch (e) {
    // The ack deadline will pass and the message come back; its detector-visit has an outcome by
    // then, so the redelivery does no work.
    log.warn({ subscription, messageId: m.messageId, reason: errorMessage(e) }, `could not ${verdict} a nextVisit message`);
  }
}
