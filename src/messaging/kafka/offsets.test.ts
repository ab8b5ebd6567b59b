import { describe, expect, it } from 'vitest';
import { OffsetLedger, formatAckId, parseAckId, type IncomingRecord, type LedgerPolicy } from './offsets.ts';

const T0 = 1_700_000_000_000;

function ledger(policy: Partial<LedgerPolicy> = {}, session = 'abc123'): OffsetLedger<string> {
  return new OffsetLedger<string>({ ackDeadlineMs: 10_000, retentionMs: Infinity, ...policy }, session);
}

/** Records at these offsets, payload `m{offset}`, published at T0. */
function recs(offsets: number[], extra: Partial<IncomingRecord<string>> = {}): IncomingRecord<string>[] {
  return offsets.map((offset) => ({ offset, publishMs: T0, size: 10, payload: `m${offset}`, ...extra }));
}

function payloads(ds: ReadonlyArray<{ payload: string }>): string[] {
  return ds.map((d) => d.payload);
}

describe('ack IDs', () => {
  it('round-trip and refuse anything else', () => {
    const id = { partition: 3, offset: 12345678901, attempt: 2, session: 'deadbeef', epoch: 7 };
    expect(formatAckId(id)).toBe('3:12345678901/2/deadbeef.7');
    expect(parseAckId(formatAckId(id))).toEqual(id);
    for (const bad of ['', 'x', '3:1/2', '3:1/2/ZZ.1', '-1:1/1/ab.1', '1:1/1/ab.1 ', 42, null, undefined, '1:99999999999999999/1/ab.1']) {
      expect(parseAckId(bad), String(bad)).toBeUndefined();
    }
  });

  it('a ledger refuses a session that would not round-trip', () => {
    expect(() => new OffsetLedger({ ackDeadlineMs: 1, retentionMs: 1 }, 'Not-Hex')).toThrow(RangeError);
    expect(() => new OffsetLedger({ ackDeadlineMs: 0, retentionMs: 1 }, 'ab')).toThrow(RangeError);
  });
});

describe('OffsetLedger: deliveries and commits', () => {
  it('delivers in offset order, up to max, and leases what it delivers', () => {
    const l = ledger();
    l.assign([0]);
    expect(l.add(0, recs([0, 1, 2, 3]))).toBe(4);
    const first = l.take(3, T0);
    expect(payloads(first)).toEqual(['m0', 'm1', 'm2']);
    expect(first.map((d) => d.attempt)).toEqual([1, 1, 1]);
    expect(first[0].ackId).toBe('0:0/1/abc123.1');
    expect(payloads(l.take(10, T0))).toEqual(['m3']);
    expect(l.take(10, T0)).toEqual([]); // all leased
  });

  it('commits only the contiguous prefix of acks: the lowest offset not acked', () => {
    const l = ledger();
    l.assign([0]);
    l.add(0, recs([0, 1, 2, 3, 4]));
    const d = l.take(5, T0);
    // Nothing acked yet: the commit point is the first record (where the group resumes anyway).
    expect(l.pendingCommits()).toEqual([{ partition: 0, offset: 0, epoch: 1 }]);
    l.markCommitted(l.pendingCommits());
    expect(l.pendingCommits()).toEqual([]);

    expect(l.ack([d[2].ackId, d[3].ackId])).toBe(2);
    expect(l.pendingCommits()).toEqual([]); // 0 and 1 still out
    l.ack([d[0].ackId]);
    expect(l.pendingCommits()).toEqual([{ partition: 0, offset: 1, epoch: 1 }]);
    l.ack([d[1].ackId]);
    // 0-3 done: the commit point jumps over the out-of-order acks to 4.
    expect(l.pendingCommits()).toEqual([{ partition: 0, offset: 4, epoch: 1 }]);
    l.markCommitted(l.pendingCommits());
    l.ack([d[4].ackId]);
    // All done: the offset after the last record fetched.
    expect(l.pendingCommits()).toEqual([{ partition: 0, offset: 5, epoch: 1 }]);
    l.markCommitted(l.pendingCommits());
    expect(l.pendingCommits()).toEqual([]);
    expect(l.held()).toEqual({ messages: 0, bytes: 0 });
  });

  it('a commit point jumps over gaps in the offsets (compaction, transaction markers) and over skipped records', () => {
    const l = ledger();
    l.assign([0]);
    l.add(0, [...recs([10]), ...recs([11, 12], { skip: true }), ...recs([15])]);
    const d = l.take(10, T0);
    expect(payloads(d)).toEqual(['m10', 'm15']);
    l.ack([d[0].ackId]);
    expect(l.pendingCommits()).toEqual([{ partition: 0, offset: 15, epoch: 1 }]);
    l.ack([d[1].ackId]);
    expect(l.pendingCommits()).toEqual([{ partition: 0, offset: 16, epoch: 1 }]);
  });

  it('skipped records (filtered out, before the start) are never delivered but move the commit point', () => {
    const l = ledger();
    l.assign([0]);
    expect(l.add(0, recs([0, 1, 2], { skip: true }))).toBe(0);
    expect(l.take(10, T0)).toEqual([]);
    expect(l.pendingCommits()).toEqual([{ partition: 0, offset: 3, epoch: 1 }]);
    expect(l.held()).toEqual({ messages: 0, bytes: 0 });
  });

  it('commits per partition, each at its own contiguous prefix', () => {
    const l = ledger();
    l.assign([0, 1]);
    l.add(0, recs([0, 1]));
    l.add(1, recs([7, 8]));
    const d = l.take(10, T0);
    expect(d).toHaveLength(4);
    const ackOf = (p: number, o: number): string => d.find((x) => x.partition === p && x.offset === o)!.ackId;
    l.markCommitted(l.pendingCommits());
    l.ack([ackOf(0, 0), ackOf(1, 8)]);
    expect(l.pendingCommits()).toEqual([{ partition: 0, offset: 1, epoch: 1 }]);
    l.ack([ackOf(1, 7)]);
    expect(l.pendingCommits()).toEqual([
      { partition: 0, offset: 1, epoch: 1 },
      { partition: 1, offset: 9, epoch: 2 },
    ]);
  });

  it('ignores records at offsets already seen (Kafka fetches again from the commit point after a rebalance)', () => {
    const l = ledger();
    l.assign([0]);
    l.add(0, recs([0, 1, 2]));
    const [d0] = l.take(1, T0);
    l.ack([d0.ackId]);
    expect(l.add(0, recs([1, 2, 3]))).toBe(1); // only 3 is new
    expect(payloads(l.take(10, T0))).toEqual(['m1', 'm2', 'm3']);
    expect(l.add(5, recs([0]))).toBe(0); // not assigned
  });

  it('rotates the first partition of each take so that no partition starves', () => {
    const l = ledger();
    l.assign([0, 1]);
    l.add(0, recs([0, 1, 2]));
    l.add(1, recs([0, 1, 2]));
    const a = l.take(1, T0);
    const b = l.take(1, T0);
    expect(new Set([a[0].partition, b[0].partition])).toEqual(new Set([0, 1]));
    expect(l.take(0, T0)).toEqual([]);
  });

  it('counts what it holds (messages and bytes) until done', () => {
    const l = ledger();
    l.assign([0]);
    l.add(0, recs([0, 1, 2]));
    expect(l.held()).toEqual({ messages: 3, bytes: 30 });
    const d = l.take(1, T0);
    l.ack([d[0].ackId]);
    expect(l.held()).toEqual({ messages: 2, bytes: 20 });
  });
});

describe('OffsetLedger: redelivery', () => {
  it('a nack makes the message deliverable again at once with attempt + 1; the old ack ID is stale', () => {
    const l = ledger();
    l.assign([0]);
    l.add(0, recs([0]));
    const [first] = l.take(1, T0);
    expect(l.nack([first.ackId], T0)).toBe(1);
    const [second] = l.take(1, T0);
    expect(second.offset).toBe(0);
    expect(second.attempt).toBe(2);
    expect(second.ackId).not.toBe(first.ackId);
    expect(l.ack([first.ackId, 'garbage', '0:0/2/ffff.1'])).toBe(0); // stale, unknown, other session
    expect(l.nack([first.ackId], T0)).toBe(0);
    expect(l.ack([second.ackId, second.ackId])).toBe(1);
    expect(l.pendingCommits()).toEqual([{ partition: 0, offset: 1, epoch: 1 }]);
  });

  it('a passed ack deadline makes it deliverable again; extending restarts the deadline', () => {
    const l = ledger({ ackDeadlineMs: 1000 });
    l.assign([0]);
    l.add(0, recs([0, 1]));
    const [a, b] = l.take(2, T0);
    expect(l.nextWakeAt(T0)).toBe(T0 + 1000);
    expect(l.take(10, T0 + 999)).toEqual([]);
    expect(l.extend([b.ackId], T0 + 900)).toBe(1);
    const again = l.take(10, T0 + 1000);
    expect(again.map((d) => [d.offset, d.attempt])).toEqual([[0, 2]]);
    expect(l.ack([a.ackId])).toBe(0); // its deadline passed: stale
    expect(l.nextWakeAt(T0 + 1000)).toBe(T0 + 1900);
    const b2 = l.take(10, T0 + 1900);
    expect(b2.map((d) => [d.offset, d.attempt])).toEqual([[1, 2]]);
    expect(l.ack([b.ackId])).toBe(0);
    expect(l.ack([again[0].ackId, b2[0].ackId])).toBe(2);
    expect(l.nextWakeAt(T0 + 2000)).toBeUndefined();
  });

  it('expire() fails passed leases without delivering', () => {
    const l = ledger({ ackDeadlineMs: 1000 });
    l.assign([0]);
    l.add(0, recs([0]));
    const [a] = l.take(1, T0);
    l.expire(T0 + 1000);
    expect(l.ack([a.ackId])).toBe(0);
    expect(l.take(1, T0 + 1000)[0].attempt).toBe(2);
  });

  it('applies the retry backoff, doubling per failure up to the maximum', () => {
    const l = ledger({ retry: { minimumBackoffMs: 100, maximumBackoffMs: 250 } });
    l.assign([0]);
    l.add(0, recs([0]));
    let [d] = l.take(1, T0);
    l.nack([d.ackId], T0);
    expect(l.nextWakeAt(T0)).toBe(T0 + 100);
    expect(l.take(1, T0 + 99)).toEqual([]);
    [d] = l.take(1, T0 + 100);
    l.nack([d.ackId], T0 + 100);
    expect(l.nextWakeAt(T0 + 100)).toBe(T0 + 300); // 200
    [d] = l.take(1, T0 + 300);
    l.nack([d.ackId], T0 + 300);
    expect(l.nextWakeAt(T0 + 300)).toBe(T0 + 550); // capped at 250
    expect(l.take(1, T0 + 550)[0].attempt).toBe(4);
  });

  it('drops records past retention instead of delivering them, and leases that end past it', () => {
    const l = ledger({ retentionMs: 5000, ackDeadlineMs: 1000 });
    l.assign([0]);
    l.add(0, recs([0]));
    l.add(0, [{ offset: 1, publishMs: T0 + 3000, size: 10, payload: 'm1' }]);
    l.add(0, [{ offset: 2, publishMs: T0 + 4500, size: 10, payload: 'm2' }]);
    expect(payloads(l.take(10, T0 + 5000))).toEqual(['m1', 'm2']); // m0 dropped
    expect(l.pendingCommits()).toEqual([{ partition: 0, offset: 1, epoch: 1 }]);
    // The leases end at T0+6000, before m1 (T0+8000) and m2 (T0+9500) leave retention: redelivered.
    expect(payloads(l.take(10, T0 + 6000))).toEqual(['m1', 'm2']);
    // These leases end at T0+7000; when noticed at T0+9500 both are past retention: dropped.
    l.expire(T0 + 9500);
    expect(l.take(10, T0 + 9500)).toEqual([]);
    expect(l.pendingCommits()).toEqual([{ partition: 0, offset: 3, epoch: 1 }]);
    expect(l.held().messages).toBe(0);
  });
});

describe('OffsetLedger: ordering keys', () => {
  it('delivers one message per key at a time, in offset order; a nacked one comes back first', () => {
    const l = ledger();
    l.assign([0]);
    l.add(0, [
      ...recs([0], { orderingKey: 'k1' }),
      ...recs([1], { orderingKey: 'k1' }),
      ...recs([2], { orderingKey: 'k2' }),
      ...recs([3], { orderingKey: 'k1' }),
      ...recs([4]),
    ]);
    const first = l.take(10, T0);
    expect(first.map((d) => [d.payload, d.orderingKey])).toEqual([
      ['m0', 'k1'],
      ['m2', 'k2'],
      ['m4', undefined],
    ]);
    expect(l.take(10, T0)).toEqual([]);
    l.ack([first[0].ackId]);
    const [b] = l.take(10, T0);
    expect(b.payload).toBe('m1');
    l.nack([b.ackId], T0);
    const [bAgain] = l.take(10, T0);
    expect([bAgain.payload, bAgain.attempt]).toEqual(['m1', 2]);
    expect(l.take(10, T0)).toEqual([]);
    l.ack([bAgain.ackId]);
    expect(payloads(l.take(10, T0))).toEqual(['m3']);
  });

  it('a key waiting for its backoff holds back the later messages of that key only', () => {
    const l = ledger({ retry: { minimumBackoffMs: 1000, maximumBackoffMs: 1000 } });
    l.assign([0]);
    l.add(0, [...recs([0, 1], { orderingKey: 'k' }), ...recs([2], { orderingKey: 'other' })]);
    const first = l.take(10, T0);
    expect(payloads(first)).toEqual(['m0', 'm2']);
    l.nack([first[0].ackId], T0);
    expect(l.take(10, T0 + 500)).toEqual([]); // m1 waits behind m0
    expect(payloads(l.take(10, T0 + 1000))).toEqual(['m0']);
  });

  it('keys in different partitions are independent', () => {
    const l = ledger();
    l.assign([0, 1]);
    l.add(0, recs([0, 1], { orderingKey: 'k' }));
    l.add(1, recs([0, 1], { orderingKey: 'k' }));
    expect(l.take(10, T0).map((d) => [d.partition, d.offset]).sort()).toEqual([
      [0, 0],
      [1, 0],
    ]);
  });

  it('a key is released when its message is dropped past retention', () => {
    const l = ledger({ retentionMs: 1000 });
    l.assign([0]);
    l.add(0, [{ offset: 0, publishMs: T0, size: 1, payload: 'old', orderingKey: 'k' }]);
    l.add(0, [{ offset: 1, publishMs: T0 + 5000, size: 1, payload: 'new', orderingKey: 'k' }]);
    expect(payloads(l.take(10, T0 + 5000))).toEqual(['new']);
  });
});

describe('OffsetLedger: dead letters', () => {
  it('a failed delivery that was attempt maxDeliveryAttempts becomes a dead letter, held until forwarded', () => {
    const l = ledger({ maxDeliveryAttempts: 2, ackDeadlineMs: 1000 });
    l.assign([0]);
    l.add(0, recs([0, 1], { orderingKey: 'k' }));
    let [d] = l.take(10, T0);
    l.nack([d.ackId], T0);
    expect(l.takeDeadLetters()).toEqual([]);
    [d] = l.take(10, T0);
    expect(d.attempt).toBe(2);
    l.expire(T0 + 1000); // the deadline of attempt 2 passes
    expect(l.take(10, T0 + 1000)).toEqual([]); // neither redelivered nor its key released
    const letters = l.takeDeadLetters();
    expect(letters.map((x) => [x.offset, x.attempts, x.payload, x.orderingKey])).toEqual([[0, 2, 'm0', 'k']]);
    expect(l.takeDeadLetters()).toEqual([]); // being forwarded
    l.settleDeadLetters(letters, false); // the publish failed: try again later
    const again = l.takeDeadLetters();
    expect(again).toHaveLength(1);
    expect(l.pendingCommits()).toEqual([{ partition: 0, offset: 0, epoch: 1 }]);
    l.settleDeadLetters(again, true);
    expect(l.pendingCommits()).toEqual([{ partition: 0, offset: 1, epoch: 1 }]);
    expect(payloads(l.take(10, T0 + 1000))).toEqual(['m1']);
  });

  it('without maxDeliveryAttempts nothing is ever dead-lettered', () => {
    const l = ledger();
    l.assign([0]);
    l.add(0, recs([0]));
    for (let i = 1; i <= 5; i++) {
      const [d] = l.take(1, T0);
      expect(d.attempt).toBe(i);
      l.nack([d.ackId], T0);
    }
    expect(l.takeDeadLetters()).toEqual([]);
  });
});

describe('OffsetLedger: assignment', () => {
  it('keeps the partitions kept, drops the others with their leases, starts new ones fresh', () => {
    const l = ledger();
    expect(l.assign([0, 1])).toEqual([]);
    expect(l.isFresh(0)).toBe(true);
    l.add(0, recs([0, 1]));
    l.add(1, recs([0]));
    expect(l.isFresh(0)).toBe(false);
    const d = l.take(10, T0);
    const p0 = d.filter((x) => x.partition === 0);
    const p1 = d.filter((x) => x.partition === 1);
    const stalePoints = l.pendingCommits();
    expect(l.assign([0, 2])).toEqual([1]);
    expect(l.partitions()).toEqual([0, 2]);
    expect(l.isAssigned(1)).toBe(false);
    expect(l.isFresh(2)).toBe(true);
    expect(l.held()).toEqual({ messages: 2, bytes: 20 });
    expect(l.ack(p1.map((x) => x.ackId))).toBe(0); // partition 1 is gone: stale
    expect(l.ack([p0[0].ackId])).toBe(1); // partition 0 kept: still valid
    // A partition lost and assigned again starts over, and its old ack IDs stay stale.
    l.assign([0, 1, 2]);
    l.add(1, recs([0]));
    const [again] = l.take(10, T0).filter((x) => x.partition === 1);
    expect(again.attempt).toBe(1);
    expect(again.ackId).not.toBe(p1[0].ackId);
    expect(l.ack([p1[0].ackId])).toBe(0);
    // Commits computed before the reassignment do not count for the new epoch.
    l.markCommitted(stalePoints);
    expect(l.pendingCommits().find((c) => c.partition === 1)).toEqual({ partition: 1, offset: 0, epoch: 4 });
  });

  it('reset() drops everything', () => {
    const l = ledger();
    l.assign([0]);
    l.add(0, recs([0, 1]));
    const d = l.take(1, T0);
    l.reset();
    expect(l.partitions()).toEqual([]);
    expect(l.held()).toEqual({ messages: 0, bytes: 0 });
    expect(l.ack([d[0].ackId])).toBe(0);
    expect(l.take(10, T0)).toEqual([]);
    expect(l.pendingCommits()).toEqual([]);
  });

  it('two ledgers never accept each other\'s ack IDs', () => {
    const a = ledger({}, 'aaaa');
    const b = ledger({}, 'bbbb');
    for (const l of [a, b]) {
      l.assign([0]);
      l.add(0, recs([0]));
    }
    const [da] = a.take(1, T0);
    b.take(1, T0);
    expect(b.ack([da.ackId])).toBe(0);
    expect(a.ack([da.ackId])).toBe(1);
  });

  it('forgets done records at the head as it goes (long runs stay small)', () => {
    const l = ledger();
    l.assign([0]);
    for (let i = 0; i < 50; i++) {
      l.add(0, recs(Array.from({ length: 100 }, (_, k) => i * 100 + k)));
      const d = l.take(100, T0);
      expect(d).toHaveLength(100);
      l.ack(d.map((x) => x.ackId));
      const [c] = l.pendingCommits();
      expect(c.offset).toBe((i + 1) * 100);
      l.markCommitted([c]);
    }
    expect(l.held()).toEqual({ messages: 0, bytes: 0 });
  });
});
