/**
 * Push delivery for the embedded broker: POSTs the push envelope (FORMATS.md C1) to each push
 * subscription's endpoint, exactly as configured (with its `?token=`), and acks or nacks the
 * lease from the answer, as Google Pub/Sub does:
 *
 * - 102, 200, 201, 202, 204 = ack. Anything else, a connection error, or no answer within the
 *   ack deadline (`AbortSignal.timeout`) = nack.
 * - Flow control: at most `window` pushes outstanding per subscription. The window starts at
 *   `maxOutstanding`, halves on every 429/503/connection failure (the endpoint is a load balancer
 *   in front of single-request instances that refuses when all are busy) and grows by one on
 *   every ack.
 * - Overload (429, 503, connection refused): the subscription pauses before pushing anything
 *   else, 100 ms at first, doubling up to `maxOverloadDelayMs` (1 s, or the retry policy's
 *   maximumBackoff if smaller); the refused message waits as long. So a busy pool is probed a
 *   few times a second, never hot-looped, and a freed instance waits at most that long.
 * - Other failures (500, 4xx, timeout): per-message exponential backoff between the retry
 *   policy's bounds. With no retry policy ("retry immediately", as the playbook sets it) the first
 *   retry is immediate and later ones back off from `retryFloorMs` up to `defaultMaxBackoffMs`.
 */
import { buildPushEnvelope } from '../push-envelope.ts';
import { resourcePath } from '../names.ts';
import { retryBackoffMs, type BrokerStore, type Delivery, type SubscriptionConfig } from './store.ts';
import type { BrokerLogger } from './embedded-runtime.ts';

export const ACK_STATUSES: ReadonlySet<number> = new Set([102, 200, 201, 202, 204]);
const OVERLOAD_STATUSES: ReadonlySet<number> = new Set([429, 503]);

export interface PushSettings {
  /** Most pushes outstanding at once per subscription (default 64). */
  maxOutstanding: number;
  /** First pause after a 429/503/connection failure (default 100 ms). */
  overloadDelayMs: number;
  /**
   * Longest pause after repeated overload (default 1000 ms, and never above the retry policy's
   * maximumBackoff): how often a saturated endpoint is probed, so also the most latency the
   * pause adds once an instance frees up.
   */
  maxOverloadDelayMs: number;
  /** Backoff base for repeated failures when the retry policy's minimum is 0 (default 100 ms). */
  retryFloorMs: number;
  /** Backoff cap when the subscription has no retry policy (default 10 000 ms). */
  defaultMaxBackoffMs: number;
  /** The lease outlives the push timeout by this much, so the push settles it (default 1000 ms). */
  leaseGraceMs: number;
}

export const DEFAULT_PUSH_SETTINGS: PushSettings = {
  maxOutstanding: 64,
  overloadDelayMs: 100,
  maxOverloadDelayMs: 1000,
  retryFloorMs: 100,
  defaultMaxBackoffMs: 10_000,
  leaseGraceMs: 1000,
};

interface PushState {
  readonly abort: AbortController;
  inflight: number;
  window: number;
  pauseMs: number;
  pausedUntil: number;
  pauseTimer: NodeJS.Timeout | undefined;
  pushed: number;
  acked: number;
  failed: number;
}

export interface PushStats {
  inflight: number;
  window: number;
  pausedForMs: number;
  pushed: number;
  acked: number;
  failed: number;
}

type Outcome = { kind: 'ack'; status: number } | { kind: 'overload' | 'fail'; status?: number; reason: string };

export class PushDispatcher {
  private readonly states = new Map<string, PushState>();
  private closed = false;

  constructor(
    private readonly store: BrokerStore,
    private readonly settings: PushSettings,
    private readonly log: BrokerLogger,
    /** Called after a push settles, so the runtime can wake what changed. */
    private readonly onSettled: () => void,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  /** Starts as many pushes as the window allows. Cheap when there is nothing to do. */
  pump(subscription: string): void {
    if (this.closed) return;
    const info = this.store.getSubscription(subscription);
    const config = info?.config;
    if (!config?.pushEndpoint) {
      if (this.states.has(subscription)) this.remove(subscription);
      return;
    }
    let st = this.states.get(subscription);
    if (!st) {
      st = {
        abort: new AbortController(),
        inflight: 0,
        window: this.settings.maxOutstanding,
        pauseMs: 0,
        pausedUntil: 0,
        pauseTimer: undefined,
        pushed: 0,
        acked: 0,
        failed: 0,
      };
      this.states.set(subscription, st);
    }
    const now = Date.now();
    if (st.pausedUntil > now) {
      if (!st.pauseTimer) {
        const state = st;
        st.pauseTimer = setTimeout(() => {
          state.pauseTimer = undefined;
          this.pump(subscription);
          this.onSettled();
        }, st.pausedUntil - now);
        st.pauseTimer.unref();
      }
      return;
    }
    if (st.inflight >= st.window) return;
    const deliveries = this.store.pull(subscription, st.window - st.inflight, {
      leaseMs: config.ackDeadlineMs + this.settings.leaseGraceMs,
    });
    for (const d of deliveries) {
      st.inflight++;
      st.pushed++;
      void this.deliver(subscription, st, config, d);
    }
  }

  /** Stops pushing for a deleted subscription; pushes under way are aborted. */
  remove(subscription: string): void {
    const st = this.states.get(subscription);
    if (!st) return;
    this.states.delete(subscription);
    st.abort.abort(new Error('subscription deleted'));
    if (st.pauseTimer) clearTimeout(st.pauseTimer);
  }

  stats(subscription: string): PushStats | undefined {
    const st = this.states.get(subscription);
    if (!st) return undefined;
    return {
      inflight: st.inflight,
      window: st.window,
      pausedForMs: Math.max(0, st.pausedUntil - Date.now()),
      pushed: st.pushed,
      acked: st.acked,
      failed: st.failed,
    };
  }

  close(): void {
    this.closed = true;
    for (const sub of [...this.states.keys()]) this.remove(sub);
  }

  private async deliver(subscription: string, st: PushState, config: SubscriptionConfig, d: Delivery): Promise<void> {
    const endpoint = config.pushEndpoint as string;
    const msg = d.message;
    const body = JSON.stringify(
      buildPushEnvelope({
        subscription: resourcePath(this.store.project, 'subscription', subscription),
        messageId: msg.messageId,
        publishTime: msg.publishTime,
        dataBase64: msg.data || undefined,
        attributes: msg.attributes,
        orderingKey: msg.orderingKey || undefined,
        deliveryAttempt: config.deadLetter ? d.deliveryAttempt : undefined,
      }),
    );
    const outcome = await this.post(endpoint, body, config.ackDeadlineMs, st.abort.signal);
    if (this.states.get(subscription) !== st) return; // deleted (or recreated) meanwhile
    st.inflight--;
    const fields = { subscription, messageId: msg.messageId, deliveryAttempt: d.deliveryAttempt };
    try {
      if (outcome.kind === 'ack') {
        st.acked++;
        st.pauseMs = 0;
        st.window = Math.min(this.settings.maxOutstanding, st.window + 1);
        this.store.ack(subscription, [d.ackId]);
        this.log('debug', 'push delivered', { ...fields, status: outcome.status });
      } else if (outcome.kind === 'overload') {
        st.failed++;
        // Never longer than the retry policy's maximum, never shorter than the first pause.
        const cap = Math.max(
          this.settings.overloadDelayMs,
          Math.min(this.settings.maxOverloadDelayMs, config.retry?.maximumBackoffMs ?? Infinity),
        );
        st.pauseMs = st.pauseMs === 0 ? this.settings.overloadDelayMs : Math.min(cap, st.pauseMs * 2);
        st.pausedUntil = Math.max(st.pausedUntil, Date.now() + st.pauseMs);
        st.window = Math.max(1, Math.floor(st.window / 2));
        this.store.nack(subscription, [d.ackId], st.pauseMs);
        this.log('debug', 'push refused; backing off', { ...fields, reason: outcome.reason, pauseMs: st.pauseMs, window: st.window });
      } else {
        st.failed++;
        const floor = d.previousFailures > 0 ? this.settings.retryFloorMs : 0;
        const delayMs = retryBackoffMs(config.retry, d.previousFailures + 1, floor, this.settings.defaultMaxBackoffMs);
        this.store.nack(subscription, [d.ackId], delayMs);
        this.log('warn', 'push failed; will redeliver', { ...fields, reason: outcome.reason, retryInMs: delayMs });
      }
    } catch (err) {
      // The subscription was deleted while the push was under way: nothing to settle.
      this.log('debug', 'push settled after its subscription went away', { ...fields, error: String(err) });
    }
    this.pump(subscription);
    this.onSettled();
  }

  private async post(endpoint: string, body: string, timeoutMs: number, stop: AbortSignal): Promise<Outcome> {
    const timeout = AbortSignal.timeout(Math.max(1, Math.round(timeoutMs)));
    try {
      const res = await this.fetchImpl(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        redirect: 'manual',
        signal: AbortSignal.any([timeout, stop]),
      });
      await res.body?.cancel().catch(() => {});
      if (ACK_STATUSES.has(res.status)) return { kind: 'ack', status: res.status };
      const kind = OVERLOAD_STATUSES.has(res.status) ? 'overload' : 'fail';
      return { kind, status: res.status, reason: `HTTP ${res.status}` };
    } catch (err) {
      if (timeout.aborted) return { kind: 'fail', reason: `no answer within the ack deadline (${timeoutMs} ms)` };
      if (stop.aborted) return { kind: 'fail', reason: 'stopped' };
      return { kind: 'overload', reason: `connection failed: ${describeFetchError(err)}` };
    }
  }
}

export function describeFetchError(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as Error & { code?: string }).code;
      return code ? `${code} ${cause.message}` : cause.message;
    }
    return err.message;
  }
  return String(err);
}
