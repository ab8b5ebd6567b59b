/**
 * Per-message acknowledgement on top of Kafka's per-partition offsets: the bookkeeping of one
 * subscription (one consumer group) in one process. Pure: no I/O, no timers; every method that
 * depends on time takes `now` (ms).
 *
 * Kafka only remembers, per partition, the offset a group reads from next (its committed
 * offset). The messaging interface wants Pub/Sub semantics: each message is leased for an ack
 * deadline, acked or nacked on its own, redelivered when nacked or when its deadline passes. So
 * the records a consumer fetched are held here, per partition, in offset order:
 *
 *   ready ──take──▶ leased ──ack──▶ done
 *     ▲               │
 *     └─nack/deadline─┘ (after the retry backoff; or ─▶ dead ─▶ forwarding ─▶ done when the
 *                         delivery was attempt maxDeliveryAttempts and a dead-letter topic is set)
 *
 * The commit point of a partition is the offset of its first record not done (or, when all are
 * done, the offset after the last one fetched): only contiguous acks move it, so a record acked
 * out of order is committed once every record before it is done. When the process dies, the next
 * member of the group reads again from the commit point: everything not yet acked is redelivered
 * there (at least once), which is the redelivery a deployment of several processes relies on.
 *
 * Records fetched again after a rebalance (Kafka resumes from the commit point, which may be
 * behind what this ledger already holds) are ignored by offset. A partition taken away from this
 * member is dropped with its leases: ack IDs handed out for it are then stale and ignored.
 *
 * Ordering keys: among the records of one partition with the same ordering key, only the first
 * one not done may be delivered; the next one waits until it is acked (or dropped or
 * dead-lettered). A producer that uses the ordering key as the record key keeps a key's records
 * in one partition, so this is Pub/Sub's "one outstanding message per key, in publish order".
 *
 * Ack IDs are `{partition}:{offset}/{attempt}/{session}.{epoch}`: the session is random per
 * ledger and the epoch changes each time the partition is (re)assigned, so the ack ID of an
 * earlier delivery, of a partition owned before, or of another ledger never matches.
 */
import { randomBytes } from 'node:crypto';
import { retryBackoffMs } from '../embedded/store.ts';

export interface LedgerPolicy {
  /** Lease of a delivery. */
  readonly ackDeadlineMs: number;
  /** Records published longer ago than this are dropped instead of delivered (Infinity: never). */
  readonly retentionMs: number;
  /** Backoff after a failed delivery (nack or deadline); absent = redeliver at once. */
  readonly retry?: { readonly minimumBackoffMs: number; readonly maximumBackoffMs: number };
  /** When set, a failed delivery that was attempt maxDeliveryAttempts becomes a dead letter. */
  readonly maxDeliveryAttempts?: number;
}

/** A fetched record, as handed to add(). */
export interface IncomingRecord<T> {
  readonly offset: number;
  /** Publish time (the record timestamp), ms since the epoch. */
  readonly publishMs: number;
  readonly orderingKey?: string;
  /** Bytes held in memory for it (counts towards held()). */
  readonly size: number;
  /** Never delivered (it does not match the filter, or precedes the subscription): done at once. */
  readonly skip?: boolean;
  readonly payload: T;
}

export interface Delivery<T> {
  readonly partition: number;
  readonly offset: number;
  /** 1 on the first delivery by this ledger, +1 on each redelivery. */
  readonly attempt: number;
  readonly ackId: string;
  readonly publishMs: number;
  readonly orderingKey: string | undefined;
  readonly payload: T;
}

export interface DeadLetter<T> {
  readonly partition: number;
  readonly offset: number;
  readonly epoch: number;
  /** Deliveries made. */
  readonly attempts: number;
  readonly publishMs: number;
  readonly orderingKey: string | undefined;
  readonly payload: T;
}

/** Commit `offset` (the next offset to read) for `partition`, as of its assignment `epoch`. */
export interface CommitPoint {
  readonly partition: number;
  readonly offset: number;
  readonly epoch: number;
}

export interface ParsedAckId {
  readonly partition: number;
  readonly offset: number;
  readonly attempt: number;
  readonly session: string;
  readonly epoch: number;
}

type EntryState = 'ready' | 'leased' | 'dead' | 'forwarding' | 'done';

interface Entry<T> {
  readonly offset: number;
  readonly publishMs: number;
  readonly orderingKey: string | undefined;
  readonly size: number;
  payload: T | undefined;
  state: EntryState;
  /** Deliveries so far. */
  attempts: number;
  /** Nacks and passed deadlines so far. */
  failures: number;
  /** A ready entry is not delivered before this time (retry backoff). */
  notBefore: number;
  /** A leased entry fails at this time. */
  deadline: number;
}

interface PartitionState<T> {
  readonly partition: number;
  readonly epoch: number;
  /** The offset after the last record added; undefined until the first one. */
  next: number | undefined;
  /** The last commit point confirmed by markCommitted(). */
  committed: number | undefined;
  /** Entries in offset order; those before `head` are done and forgotten. */
  entries: Entry<T>[];
  head: number;
  readonly byOffset: Map<number, Entry<T>>;
}

const ACK_ID = /^(\d{1,10}):(\d{1,16})\/(\d{1,10})\/([0-9a-f]{1,32})\.(\d{1,10})$/;

/** Longest retry backoff when the policy gives no maximum (Pub/Sub's 600 s). */
const DEFAULT_MAX_BACKOFF_MS = 600_000;

export function formatAckId(id: ParsedAckId): string {
  return `${id.partition}:${id.offset}/${id.attempt}/${id.session}.${id.epoch}`;
}

/** undefined when `ackId` is not one of this module's ack IDs. */
export function parseAckId(ackId: unknown): ParsedAckId | undefined {
  if (typeof ackId !== 'string') return undefined;
  const m = ACK_ID.exec(ackId);
  if (!m) return undefined;
  const offset = Number(m[2]);
  if (!Number.isSafeInteger(offset)) return undefined;
  return { partition: Number(m[1]), offset, attempt: Number(m[3]), session: m[4], epoch: Number(m[5]) };
}

export class OffsetLedger<T> {
  readonly session: string;
  private readonly parts = new Map<number, PartitionState<T>>();
  private nextEpoch = 1;
  private cursor = 0;
  private heldMessages = 0;
  private heldBytes = 0;

  constructor(
    private readonly policy: LedgerPolicy,
    session: string = randomBytes(4).toString('hex'),
  ) {
    if (!/^[0-9a-f]{1,32}$/.test(session)) throw new RangeError(`ledger session must be 1-32 lower-case hex digits, not ${JSON.stringify(session)}`);
    if (!(policy.ackDeadlineMs > 0)) throw new RangeError('ackDeadlineMs must be positive');
    if (!(policy.retentionMs > 0)) throw new RangeError('retentionMs must be positive');
    this.session = session;
  }

  // ---- assignment ----

  /**
   * The partitions this member owns now (after a rebalance). Partitions kept keep their state;
   * new ones start empty; the others are dropped with their leases. Returns the dropped ones.
   */
  assign(partitions: Iterable<number>): number[] {
    const wanted = new Set(partitions);
    const dropped: number[] = [];
    for (const p of [...this.parts.keys()]) {
      if (!wanted.has(p)) {
        this.drop(p);
        dropped.push(p);
      }
    }
    for (const p of wanted) {
      if (!this.parts.has(p)) {
        this.parts.set(p, { partition: p, epoch: this.nextEpoch++, next: undefined, committed: undefined, entries: [], head: 0, byOffset: new Map() });
      }
    }
    return dropped.sort((a, b) => a - b);
  }

  /** Drops every partition (the consumer restarted): everything held is redelivered by Kafka. */
  reset(): void {
    for (const p of [...this.parts.keys()]) this.drop(p);
  }

  partitions(): number[] {
    return [...this.parts.keys()].sort((a, b) => a - b);
  }

  isAssigned(partition: number): boolean {
    return this.parts.has(partition);
  }

  /** Assigned, and no record added since: its fetch position is still Kafka's choice. */
  isFresh(partition: number): boolean {
    const part = this.parts.get(partition);
    return part !== undefined && part.next === undefined;
  }

  /** Records held (not done) and their bytes, across partitions: the fetch buffer's fill. */
  held(): { messages: number; bytes: number } {
    return { messages: this.heldMessages, bytes: this.heldBytes };
  }

  // ---- records in ----

  /**
   * Adds fetched records of one partition, in offset order. Records at offsets already seen are
   * ignored (Kafka fetches again from the commit point after a rebalance); so are the records of
   * a partition not assigned. Returns how many were added to be delivered.
   */
  add(partition: number, records: readonly IncomingRecord<T>[]): number {
    const part = this.parts.get(partition);
    if (!part) return 0;
    let added = 0;
    for (const r of records) {
      if (!Number.isSafeInteger(r.offset) || r.offset < 0) throw new RangeError(`invalid offset ${r.offset}`);
      if (part.next !== undefined && r.offset < part.next) continue;
      part.next = r.offset + 1;
      if (r.skip) continue;
      const entry: Entry<T> = {
        offset: r.offset,
        publishMs: r.publishMs,
        orderingKey: r.orderingKey === '' ? undefined : r.orderingKey,
        size: Math.max(0, r.size),
        payload: r.payload,
        state: 'ready',
        attempts: 0,
        failures: 0,
        notBefore: 0,
        deadline: 0,
      };
      part.entries.push(entry);
      part.byOffset.set(entry.offset, entry);
      this.heldMessages++;
      this.heldBytes += entry.size;
      added++;
    }
    return added;
  }

  // ---- deliveries ----

  /**
   * Leases up to `max` deliverable records: first fails the leases whose deadline passed, then
   * walks the partitions (starting at a rotating one) in offset order, skipping records of an
   * ordering key whose earlier record is not done, and dropping records past retention.
   */
  take(max: number, now: number): Delivery<T>[] {
    this.expire(now);
    const out: Delivery<T>[] = [];
    const parts = [...this.parts.values()];
    if (parts.length === 0 || max <= 0) return out;
    const start = this.cursor++ % parts.length;
    for (let i = 0; i < parts.length && out.length < max; i++) {
      const part = parts[(start + i) % parts.length];
      const blocked = new Set<string>();
      for (let k = part.head; k < part.entries.length && out.length < max; k++) {
        const e = part.entries[k];
        if (e.state === 'done') continue;
        if (e.state === 'ready' && this.pastRetention(e, now)) {
          this.finish(part, e);
          continue;
        }
        const key = e.orderingKey;
        if (key !== undefined) {
          if (blocked.has(key)) continue;
          blocked.add(key);
        }
        if (e.state !== 'ready' || e.notBefore > now) continue;
        e.state = 'leased';
        e.attempts++;
        e.deadline = now + this.policy.ackDeadlineMs;
        out.push({
          partition: part.partition,
          offset: e.offset,
          attempt: e.attempts,
          ackId: formatAckId({ partition: part.partition, offset: e.offset, attempt: e.attempts, session: this.session, epoch: part.epoch }),
          publishMs: e.publishMs,
          orderingKey: e.orderingKey,
          payload: e.payload as T,
        });
      }
    }
    return out;
  }

  /** Fails the leases whose deadline passed (take() does it too). */
  expire(now: number): void {
    for (const part of this.parts.values()) {
      for (let k = part.head; k < part.entries.length; k++) {
        const e = part.entries[k];
        if (e.state === 'leased' && e.deadline <= now) this.fail(part, e, now);
      }
    }
  }

  /** Acks the current deliveries among `ackIds`; others are ignored. Returns how many were acked. */
  ack(ackIds: readonly string[]): number {
    let n = 0;
    for (const [part, e] of this.leases(ackIds)) {
      this.finish(part, e);
      n++;
    }
    return n;
  }

  /** Makes the current deliveries among `ackIds` deliverable again (after the retry backoff). */
  nack(ackIds: readonly string[], now: number): number {
    let n = 0;
    for (const [part, e] of this.leases(ackIds)) {
      this.fail(part, e, now);
      n++;
    }
    return n;
  }

  /** Restarts the deadline of the current deliveries among `ackIds`. */
  extend(ackIds: readonly string[], now: number): number {
    let n = 0;
    for (const [, e] of this.leases(ackIds)) {
      e.deadline = now + this.policy.ackDeadlineMs;
      n++;
    }
    return n;
  }

  /** When something may next become deliverable (a deadline or a backoff ending); undefined: never by itself. */
  nextWakeAt(now: number): number | undefined {
    let at: number | undefined;
    for (const part of this.parts.values()) {
      for (let k = part.head; k < part.entries.length; k++) {
        const e = part.entries[k];
        const t = e.state === 'leased' ? e.deadline : e.state === 'ready' && e.notBefore > now ? e.notBefore : undefined;
        if (t !== undefined && (at === undefined || t < at)) at = t;
      }
    }
    return at;
  }

  // ---- dead letters ----

  /** The records to forward to the dead-letter topic; they stay held until settleDeadLetters(). */
  takeDeadLetters(): DeadLetter<T>[] {
    const out: DeadLetter<T>[] = [];
    for (const part of this.parts.values()) {
      for (let k = part.head; k < part.entries.length; k++) {
        const e = part.entries[k];
        if (e.state !== 'dead') continue;
        e.state = 'forwarding';
        out.push({
          partition: part.partition,
          offset: e.offset,
          epoch: part.epoch,
          attempts: e.attempts,
          publishMs: e.publishMs,
          orderingKey: e.orderingKey,
          payload: e.payload as T,
        });
      }
    }
    return out;
  }

  /** Forwarded: done. Not forwarded: taken again by the next takeDeadLetters(). */
  settleDeadLetters(letters: readonly DeadLetter<T>[], forwarded: boolean): void {
    for (const d of letters) {
      const part = this.parts.get(d.partition);
      if (!part || part.epoch !== d.epoch) continue;
      const e = part.byOffset.get(d.offset);
      if (!e || e.state !== 'forwarding') continue;
      if (forwarded) this.finish(part, e);
      else e.state = 'dead';
    }
  }

  // ---- commits ----

  /**
   * The partitions whose commit point moved past the last confirmed commit: the offset of the
   * first record not done, or the offset after the last record added when all are done.
   */
  pendingCommits(): CommitPoint[] {
    const out: CommitPoint[] = [];
    for (const part of [...this.parts.values()].sort((a, b) => a.partition - b.partition)) {
      this.prune(part);
      if (part.next === undefined) continue;
      const at = part.head < part.entries.length ? part.entries[part.head].offset : part.next;
      if (part.committed === undefined || at > part.committed) out.push({ partition: part.partition, offset: at, epoch: part.epoch });
    }
    return out;
  }

  /** Kafka confirmed these commits (points of a partition reassigned meanwhile are ignored). */
  markCommitted(points: readonly CommitPoint[]): void {
    for (const c of points) {
      const part = this.parts.get(c.partition);
      if (!part || part.epoch !== c.epoch) continue;
      if (part.committed === undefined || c.offset > part.committed) part.committed = c.offset;
    }
  }

  // ---- internals ----

  /** The leased entries that `ackIds` name in their current delivery. */
  private *leases(ackIds: readonly string[]): Generator<[PartitionState<T>, Entry<T>]> {
    const seen = new Set<string>();
    for (const ackId of ackIds) {
      const id = parseAckId(ackId);
      if (!id || id.session !== this.session || seen.has(ackId)) continue;
      seen.add(ackId);
      const part = this.parts.get(id.partition);
      if (!part || part.epoch !== id.epoch) continue;
      const e = part.byOffset.get(id.offset);
      if (!e || e.state !== 'leased' || e.attempts !== id.attempt) continue;
      yield [part, e];
    }
  }

  private pastRetention(e: Entry<T>, now: number): boolean {
    return e.publishMs + this.policy.retentionMs <= now;
  }

  /** A delivery failed (nack or deadline): redeliver (after the backoff), dead-letter or drop it. */
  private fail(part: PartitionState<T>, e: Entry<T>, now: number): void {
    e.failures++;
    if (this.pastRetention(e, now)) {
      this.finish(part, e);
      return;
    }
    const max = this.policy.maxDeliveryAttempts;
    if (max !== undefined && e.attempts >= max) {
      e.state = 'dead';
      return;
    }
    e.state = 'ready';
    e.notBefore = now + retryBackoffMs(this.policy.retry, e.failures, 0, DEFAULT_MAX_BACKOFF_MS);
  }

  private finish(part: PartitionState<T>, e: Entry<T>): void {
    if (e.state === 'done') return;
    e.state = 'done';
    e.payload = undefined;
    part.byOffset.delete(e.offset);
    this.heldMessages--;
    this.heldBytes -= e.size;
  }

  /** Forgets the done entries at the head. */
  private prune(part: PartitionState<T>): void {
    while (part.head < part.entries.length && part.entries[part.head].state === 'done') part.head++;
    if (part.head > 64 && part.head * 2 > part.entries.length) {
      part.entries = part.entries.slice(part.head);
      part.head = 0;
    }
  }

  private drop(partition: number): void {
    const part = this.parts.get(partition);
    if (!part) return;
    for (let k = part.head; k < part.entries.length; k++) {
      const e = part.entries[k];
      if (e.state !== 'done') {
        this.heldMessages--;
        this.heldBytes -= e.size;
      }
    }
    this.parts.delete(partition);
  }
}
