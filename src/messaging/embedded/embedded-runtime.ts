/**
 * The live part of the embedded broker around the pure store: one timer per subscription for the
 * next lease expiry or backoff end, long-polling pulls, and push delivery. After every operation
 * `flush` wakes what the store reports as changed.
 */
import { NotFoundError } from '../../core/errors.ts';
import { resourcePath } from '../names.ts';
import { PushDispatcher, type PushSettings, type PushStats } from './embedded-push.ts';
import type {
  BrokerStore,
  CreateSubscriptionResult,
  Delivery,
  PublishInput,
  SubscriptionConfig,
  SubscriptionStats,
} from './store.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type BrokerLogger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

export interface RuntimeOptions {
  store: BrokerStore;
  log: BrokerLogger;
  push: PushSettings;
  fetch?: typeof fetch;
}

interface Waiter {
  readonly max: number;
  settle(result: Delivery[] | Error): void;
}

interface Timer {
  readonly at: number;
  readonly handle: NodeJS.Timeout;
}

const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export class BrokerRuntime {
  readonly store: BrokerStore;
  private readonly log: BrokerLogger;
  private readonly push: PushDispatcher;
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly timers = new Map<string, Timer>();
  private flushing = false;
  private closed = false;

  constructor(options: RuntimeOptions) {
    this.store = options.store;
    this.log = options.log;
    this.push = new PushDispatcher(options.store, options.push, options.log, () => this.flush(), options.fetch);
  }

  publish(topic: string, messages: readonly PublishInput[]): string[] {
    const ids = this.store.publish(topic, messages);
    this.flush();
    return ids;
  }

  createSubscription(id: string, config: SubscriptionConfig): CreateSubscriptionResult {
    const result = this.store.createSubscription(id, config);
    if (result.status === 'created') {
      this.log('info', 'subscription created', {
        subscription: id,
        topic: config.topic,
        push: config.pushEndpoint !== undefined,
        filter: config.filter || undefined,
      });
    }
    return result;
  }

  deleteSubscription(id: string): boolean {
    const existed = this.store.deleteSubscription(id);
    this.push.remove(id);
    const timer = this.timers.get(id);
    if (timer) clearTimeout(timer.handle);
    this.timers.delete(id);
    const waiting = this.waiters.get(id) ?? [];
    this.waiters.delete(id);
    const gone = new NotFoundError(`subscription ${resourcePath(this.store.project, 'subscription', id)} was deleted`);
    for (const w of waiting) w.settle(gone);
    if (existed) this.log('info', 'subscription deleted', { subscription: id });
    return existed;
  }

  deleteTopic(id: string): boolean {
    const existed = this.store.deleteTopic(id);
    if (existed) this.log('info', 'topic deleted', { topic: id });
    return existed;
  }

  /**
   * Leases up to `max` messages. When none is ready, waits up to `waitMs` for some (answering as
   * soon as any arrive); `signal` ends the wait early with an empty answer.
   */
  pull(subscription: string, max: number, waitMs: number, signal?: AbortSignal): Promise<Delivery[]> {
    const got = this.store.pull(subscription, max);
    this.flush();
    if (got.length > 0 || waitMs <= 0 || signal?.aborted || this.closed) return Promise.resolve(got);
    return new Promise<Delivery[]>((resolve, reject) => {
      let list = this.waiters.get(subscription);
      if (!list) {
        list = [];
        this.waiters.set(subscription, list);
      }
      const queue = list;
      let done = false;
      const onAbort = (): void => waiter.settle([]);
      const timer = setTimeout(() => waiter.settle([]), Math.min(waitMs, MAX_TIMEOUT_MS));
      const waiter: Waiter = {
        max,
        settle: (result) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          const i = queue.indexOf(waiter);
          if (i >= 0) queue.splice(i, 1);
          if (queue.length === 0 && this.waiters.get(subscription) === queue) this.waiters.delete(subscription);
          if (result instanceof Error) reject(result);
          else resolve(result);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
    });
  }

  ack(subscription: string, ackIds: readonly string[]): void {
    this.store.ack(subscription, ackIds);
    this.flush();
  }

  nack(subscription: string, ackIds: readonly string[], delayMs?: number): void {
    this.store.nack(subscription, ackIds, delayMs);
    this.flush();
  }

  modifyAckDeadline(subscription: string, ackIds: readonly string[], seconds: number): void {
    this.store.modifyAckDeadline(subscription, ackIds, seconds);
    this.flush();
  }

  /** Starts push delivery of existing subscriptions (after a restart with a persistent store). */
  resume(): void {
    for (const s of this.store.listSubscriptions()) {
      this.push.pump(s.id);
      this.schedule(s.id);
    }
  }

  stats(subscription: string): SubscriptionStats & { waitingPulls: number; push?: PushStats } {
    const base = this.store.stats(subscription);
    const push = this.push.stats(subscription);
    return { ...base, waitingPulls: this.waiters.get(subscription)?.length ?? 0, ...(push ? { push } : {}) };
  }

  close(): void {
    this.closed = true;
    this.push.close();
    for (const t of this.timers.values()) clearTimeout(t.handle);
    this.timers.clear();
    for (const list of [...this.waiters.values()]) for (const w of [...list]) w.settle([]);
    this.waiters.clear();
  }

  /** Wakes waiting pulls and push delivery of every subscription that changed; sets timers. */
  flush(): void {
    if (this.flushing || this.closed) return;
    this.flushing = true;
    try {
      for (let changed = this.store.takeChanged(); changed.length > 0; changed = this.store.takeChanged()) {
        for (const sub of changed) {
          this.serveWaiters(sub);
          this.push.pump(sub);
          this.schedule(sub);
        }
      }
    } catch (err) {
      this.log('error', 'broker flush failed', { error: String(err) });
    } finally {
      this.flushing = false;
    }
  }

  private serveWaiters(subscription: string): void {
    const list = this.waiters.get(subscription);
    while (list && list.length > 0) {
      const got = this.store.pull(subscription, list[0].max);
      if (got.length === 0) return;
      list[0].settle(got);
    }
  }

  private schedule(subscription: string): void {
    const at = this.store.nextWakeAt(subscription);
    if (at === undefined) return;
    const current = this.timers.get(subscription);
    if (current && current.at <= at) return;
    if (current) clearTimeout(current.handle);
    const delay = Math.min(Math.max(0, at - Date.now()), MAX_TIMEOUT_MS);
    const handle = setTimeout(() => {
      this.timers.delete(subscription);
      if (this.closed) return;
      this.store.advance(subscription);
      this.flush();
      this.schedule(subscription);
    }, delay);
    handle.unref();
    this.timers.set(subscription, { at, handle });
  }
}
