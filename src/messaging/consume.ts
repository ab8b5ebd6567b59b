/**
 * A backend-neutral consumer loop: pull → handler → ack, nack when the handler throws, until the
 * signal aborts. Messages of one pull are handled one after another (so ordering keys hold);
 * acks go out as each message finishes.
 */
import { TransientError } from '../core/errors.ts';
import type { Broker, ReceivedMessage } from './broker.ts';

export type MessageHandler = (message: ReceivedMessage, signal: AbortSignal) => Promise<void> | void;

export interface ConsumeOptions {
  /** Stops the loop; messages pulled but not yet handled are nacked. */
  signal: AbortSignal;
  /** Per pull (default 10). */
  maxMessages?: number;
  /** Long-poll wait per pull (default 10 000 ms). */
  waitMs?: number;
  /** Told about handler failures (with the message) and broker failures (without). */
  onError?: (error: unknown, message?: ReceivedMessage) => void;
  /** Backoff after a transient broker failure: starts here, doubles up to maxRetryDelayMs. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
}

/**
 * Resolves when the signal aborts. Rejects only on a non-transient broker error (unknown
 * subscription, closed client...); transient ones are retried with backoff.
 */
export async function consume(
  broker: Broker,
  subscription: string,
  handler: MessageHandler,
  options: ConsumeOptions,
): Promise<void> {
  const { signal } = options;
  const maxMessages = options.maxMessages ?? 10;
  const waitMs = options.waitMs ?? 10_000;
  const firstDelay = options.retryDelayMs ?? 100;
  const maxDelay = options.maxRetryDelayMs ?? 5000;
  const report = (err: unknown, msg?: ReceivedMessage): void => {
    try {
      options.onError?.(err, msg);
    } catch {
      // a failing reporter must not stop the loop
    }
  };
  let delay = firstDelay;
  const settling = new Set<Promise<void>>();
  const settle = (p: Promise<void>): void => {
    const tracked = p.catch((err: unknown) => report(err)).finally(() => settling.delete(tracked));
    settling.add(tracked);
  };

  while (!signal.aborted) {
    let batch: ReceivedMessage[];
    try {
      batch = await broker.pull(subscription, { maxMessages, waitMs, signal });
      delay = firstDelay;
    } catch (err) {
      if (signal.aborted) break;
      if (!(err instanceof TransientError)) throw err;
      report(err);
      await sleep(delay, signal);
      delay = Math.min(maxDelay, delay * 2);
      continue;
    }
    for (let i = 0; i < batch.length; i++) {
      const msg = batch[i];
      if (signal.aborted) {
        settle(broker.nack(subscription, batch.slice(i).map((m) => m.ackId)));
        break;
      }
      try {
        await handler(msg, signal);
        settle(broker.ack(subscription, [msg.ackId]));
      } catch (err) {
        report(err, msg);
        settle(broker.nack(subscription, [msg.ackId]));
      }
    }
    await Promise.all(settling);
  }
  await Promise.all(settling);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
