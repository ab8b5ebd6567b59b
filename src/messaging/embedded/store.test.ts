import { beforeEach, describe, expect, it } from 'vitest';
import { InvalidInputError, NotFoundError } from '../../core/errors.ts';
import { DEAD_LETTER_ATTRIBUTES, MemoryStore, retryBackoffMs, type SubscriptionConfig } from './store.ts';

let clock = 0;
let logs: { level: string; msg: string }[] = [];
let store: MemoryStore;

function config(overrides: Partial<SubscriptionConfig> = {}): SubscriptionConfig {
  return {
    topic: 't',
    ackDeadlineMs: 10_000,
    retentionMs: 600_000,
    filter: '',
    pushEndpoint: undefined,
    retry: undefined,
    deadLetter: undefined,
    ordering: true,
    ...overrides,
  };
}

function msg(data: string, attributes: Record<string, string> = {}, orderingKey?: string) {
  return { data: Buffer.from(data).toString('base64'), attributes, orderingKey };
}

function texts(deliveries: { message: { data: string } }[]): string[] {
  return deliveries.map((d) => Buffer.from(d.message.data, 'base64').toString());
}

beforeEach(() => {
  clock = 1_700_000_000_000;
  logs = [];
  store = new MemoryStore({
    project: 'p',
    now: () => clock,
    ackIdPrefix: 'a-',
    log: (level, m) => logs.push({ level, msg: m }),
  });
  store.createTopic('t');
});

describe('MemoryStore', () => {
  it('publishes, leases and acks', () => {
    store.createSubscription('s', config());
    const ids = store.publish('t', [msg('one', { k: 'v' }), msg('two')]);
    expect(ids).toEqual(['1', '2']);
    expect(store.takeChanged()).toEqual(['s']);
    const got = store.pull('s', 10);
    expect(texts(got)).toEqual(['one', 'two']);
    expect(got[0]).toMatchObject({ deliveryAttempt: 1, previousFailures: 0, ackId: 'a-1' });
    expect(got[0].message).toMatchObject({
      messageId: '1',
      attributes: { k: 'v' },
      publishTime: new Date(clock).toISOString(),
      orderingKey: '',
    });
    expect(store.stats('s')).toMatchObject({ backlog: 2, leased: 2, ready: 0, delivered: 2 });
    store.ack('s', got.map((d) => d.ackId));
    expect(store.stats('s')).toMatchObject({ backlog: 0, leased: 0, acked: 2 });
    expect(store.pull('s', 10)).toEqual([]);
  });

  it('a subscription gets only messages published after it was created', () => {
    store.publish('t', [msg('before')]);
    store.createSubscription('s', config());
    store.publish('t', [msg('after')]);
    expect(texts(store.pull('s', 10))).toEqual(['after']);
  });

  it('redelivers after the ack deadline with deliveryAttempt + 1; stale ack IDs are ignored', () => {
    store.createSubscription('s', config({ ackDeadlineMs: 500 }));
    store.publish('t', [msg('x')]);
    const [first] = store.pull('s', 1);
    expect(store.nextWakeAt('s')).toBe(clock + 500);
    clock += 499;
    expect(store.pull('s', 1)).toEqual([]);
    clock += 1;
    const [second] = store.pull('s', 1);
    expect(second).toMatchObject({ deliveryAttempt: 2, previousFailures: 1 });
    expect(second.ackId).not.toBe(first.ackId);
    store.ack('s', [first.ackId]); // stale: ignored
    expect(store.stats('s').leased).toBe(1);
    store.ack('s', [second.ackId]);
    expect(store.stats('s').backlog).toBe(0);
  });

  it('advance() applies expired deadlines without a pull, and reports the change', () => {
    store.createSubscription('s', config({ ackDeadlineMs: 100 }));
    store.publish('t', [msg('x')]);
    store.pull('s', 1);
    store.takeChanged();
    clock += 100;
    store.advance('s');
    expect(store.takeChanged()).toEqual(['s']);
    expect(store.stats('s')).toMatchObject({ ready: 1, leased: 0 });
    expect(store.nextWakeAt('s')).toBeUndefined();
  });

  it('modifyAckDeadline extends a lease, and 0 nacks it', () => {
    store.createSubscription('s', config({ ackDeadlineMs: 100 }));
    store.publish('t', [msg('x')]);
    const [d] = store.pull('s', 1);
    store.modifyAckDeadline('s', [d.ackId], 5);
    expect(store.nextWakeAt('s')).toBe(clock + 5000);
    clock += 1000;
    expect(store.pull('s', 1)).toEqual([]);
    store.modifyAckDeadline('s', [d.ackId], 0);
    const [again] = store.pull('s', 1);
    expect(again.deliveryAttempt).toBe(2);
  });

  it('nack redelivers at once without a retry policy', () => {
    store.createSubscription('s', config());
    store.publish('t', [msg('x')]);
    const [d] = store.pull('s', 1);
    store.nack('s', [d.ackId]);
    expect(store.pull('s', 1)[0].deliveryAttempt).toBe(2);
  });

  it('nack backs off exponentially between the retry policy bounds', () => {
    store.createSubscription('s', config({ retry: { minimumBackoffMs: 1000, maximumBackoffMs: 3000 } }));
    store.publish('t', [msg('x')]);
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [d] = store.pull('s', 1);
      store.nack('s', [d.ackId]);
      const at = store.nextWakeAt('s')!;
      waits.push(at - clock);
      expect(store.stats('s').delayed).toBe(1);
      clock = at - 1;
      expect(store.pull('s', 1)).toEqual([]);
      clock = at;
    }
    expect(waits).toEqual([1000, 2000, 3000, 3000]);
  });

  it('nack with an explicit delay', () => {
    store.createSubscription('s', config());
    store.publish('t', [msg('x')]);
    const [d] = store.pull('s', 1);
    store.nack('s', [d.ackId], 250);
    expect(store.nextWakeAt('s')).toBe(clock + 250);
  });

  it('drops unacked messages when retention ends, leased or not', () => {
    store.createSubscription('s', config({ retentionMs: 600_000, ackDeadlineMs: 10_000 }));
    store.publish('t', [msg('leased'), msg('ready')]);
    store.pull('s', 1);
    clock += 600_001;
    expect(store.pull('s', 10)).toEqual([]);
    expect(store.stats('s')).toMatchObject({ backlog: 0, expired: 2, leased: 0 });
  });

  it('keeps messages until retention ends', () => {
    store.createSubscription('s', config({ retentionMs: 1000 }));
    store.publish('t', [msg('x')]);
    clock += 999;
    expect(texts(store.pull('s', 1))).toEqual(['x']);
  });

  it('never enqueues messages the filter rejects', () => {
    store.createSubscription('s', config({ filter: 'attributes.instrument = "LATISS"' }));
    store.publish('t', [msg('a', { instrument: 'LATISS' }), msg('b', { instrument: 'DECam' }), msg('c')]);
    expect(store.stats('s').backlog).toBe(1);
    expect(texts(store.pull('s', 10))).toEqual(['a']);
  });

  it('refuses an invalid filter', () => {
    expect(() => store.createSubscription('s', config({ filter: 'attributes.x = y' }))).toThrow(InvalidInputError);
  });

  describe('ordering keys', () => {
    it('delivers one message per key at a time, in order', () => {
      store.createSubscription('s', config());
      store.publish('t', [msg('a1', {}, 'a'), msg('a2', {}, 'a'), msg('b1', {}, 'b'), msg('free'), msg('a3', {}, 'a')]);
      const first = store.pull('s', 10);
      expect(texts(first)).toEqual(['a1', 'b1', 'free']);
      expect(store.stats('s').blocked).toBe(2);
      store.nack('s', [first[0].ackId]);
      const again = store.pull('s', 10);
      expect(texts(again)).toEqual(['a1']);
      store.ack('s', [again[0].ackId]);
      const next = store.pull('s', 10);
      expect(texts(next)).toEqual(['a2']);
      store.ack('s', [next[0].ackId]);
      expect(texts(store.pull('s', 10))).toEqual(['a3']);
    });

    it('ignores ordering keys when ordering is off', () => {
      store.createSubscription('s', config({ ordering: false }));
      store.publish('t', [msg('a1', {}, 'a'), msg('a2', {}, 'a')]);
      expect(texts(store.pull('s', 10))).toEqual(['a1', 'a2']);
    });

    it('moves on to the next message of a key when the head expires', () => {
      store.createSubscription('s', config({ retentionMs: 1000 }));
      store.publish('t', [msg('a1', {}, 'a')]);
      clock += 500;
      store.publish('t', [msg('a2', {}, 'a')]);
      const [d] = store.pull('s', 1);
      expect(texts([d])).toEqual(['a1']);
      clock += 600; // a1 expired, a2 not
      expect(texts(store.pull('s', 10))).toEqual(['a2']);
    });
  });

  describe('dead letters', () => {
    it('republishes on the dead-letter topic after maxDeliveryAttempts, with the source attributes', () => {
      store.createTopic('dl');
      store.createSubscription('dls', config({ topic: 'dl' }));
      store.createSubscription('s', config({ deadLetter: { topic: 'dl', maxDeliveryAttempts: 3 }, ackDeadlineMs: 100 }));
      const [id] = store.publish('t', [msg('poison', { origin: 'x' })]);
      const published = clock;
      for (let attempt = 1; attempt <= 3; attempt++) {
        const [d] = store.pull('s', 1);
        expect(d.deliveryAttempt).toBe(attempt);
        if (attempt < 3) store.nack('s', [d.ackId]);
      }
      clock += 100; // the third lease expires
      store.advance('s');
      expect(store.pull('s', 1)).toEqual([]);
      expect(store.stats('s')).toMatchObject({ backlog: 0, deadLettered: 1 });
      const [dead] = store.pull('dls', 1);
      expect(dead.message.messageId).not.toBe(id);
      expect(texts([dead])).toEqual(['poison']);
      expect(dead.message.attributes).toEqual({
        origin: 'x',
        [DEAD_LETTER_ATTRIBUTES.deliveryCount]: '3',
        [DEAD_LETTER_ATTRIBUTES.subscription]: 's',
        [DEAD_LETTER_ATTRIBUTES.subscriptionProject]: 'p',
        [DEAD_LETTER_ATTRIBUTES.topicPublishTime]: new Date(published).toISOString(),
      });
      expect(logs.some((l) => l.level === 'warn' && l.msg === 'message dead-lettered')).toBe(true);
    });

    it('requires the dead-letter topic to exist, and drops with an error log if it is deleted later', () => {
      expect(() =>
        store.createSubscription('s', config({ deadLetter: { topic: 'nope', maxDeliveryAttempts: 1 } })),
      ).toThrow(/dead-letter topic projects\/p\/topics\/nope not found/);
      store.createTopic('dl');
      store.createSubscription('s', config({ deadLetter: { topic: 'dl', maxDeliveryAttempts: 1 } }));
      store.deleteTopic('dl');
      store.publish('t', [msg('x')]);
      const [d] = store.pull('s', 1);
      store.nack('s', [d.ackId]);
      expect(store.stats('s').backlog).toBe(0);
      expect(logs.some((l) => l.level === 'error')).toBe(true);
    });
  });

  describe('subscriptions', () => {
    it('creating the same subscription again is a no-op; other settings are a conflict naming them', () => {
      expect(store.createSubscription('s', config())).toEqual({ status: 'created' });
      expect(store.createSubscription('s', config())).toEqual({ status: 'exists' });
      const r = store.createSubscription('s', config({ ackDeadlineMs: 600_000, filter: 'attributes:x' }));
      expect(r.status).toBe('conflict');
      expect(r.status === 'conflict' && r.differences).toEqual([
        'ackDeadlineSeconds: existing 10, requested 600',
        'filter: existing "", requested "attributes:x"',
      ]);
    });

    it('needs an existing topic', () => {
      expect(() => store.createSubscription('s', config({ topic: 'missing' }))).toThrow(NotFoundError);
    });

    it('is detached when its topic is deleted', () => {
      store.createSubscription('s', config());
      store.deleteTopic('t');
      expect(store.getSubscription('s')?.detached).toBe(true);
      store.createTopic('t');
      store.publish('t', [msg('x')]);
      expect(store.pull('s', 1)).toEqual([]);
      const r = store.createSubscription('s', config());
      expect(r.status).toBe('conflict');
    });

    it('deleting one makes it unknown', () => {
      store.createSubscription('s', config());
      expect(store.deleteSubscription('s')).toBe(true);
      expect(store.deleteSubscription('s')).toBe(false);
      expect(() => store.pull('s', 1)).toThrow(/subscription projects\/p\/subscriptions\/s not found/);
      expect(store.listTopicSubscriptions('t')).toEqual([]);
    });

    it('unknown topics are NotFoundError', () => {
      expect(() => store.publish('missing', [msg('x')])).toThrow(/topic projects\/p\/topics\/missing not found/);
    });
  });

  it('handles a large backlog', () => {
    store.createSubscription('s', config());
    const batch = Array.from({ length: 1000 }, (_, i) => msg(String(i)));
    for (let i = 0; i < 100; i++) store.publish('t', batch);
    let n = 0;
    for (let got = store.pull('s', 1000); got.length > 0; got = store.pull('s', 1000)) {
      n += got.length;
      store.ack('s', got.map((d) => d.ackId));
    }
    expect(n).toBe(100_000);
    expect(store.stats('s').backlog).toBe(0);
  });
});

describe('retryBackoffMs', () => {
  it('is 0 ("retry immediately") without a minimum or floor', () => {
    expect(retryBackoffMs(undefined, 5, 0, 10_000)).toBe(0);
    expect(retryBackoffMs({ minimumBackoffMs: 0, maximumBackoffMs: 10_000 }, 5, 0, 10_000)).toBe(0);
  });
  it('doubles from the floor up to the maximum', () => {
    expect([1, 2, 3, 4, 5, 10, 100].map((n) => retryBackoffMs(undefined, n, 100, 1000))).toEqual([
      100, 200, 400, 800, 1000, 1000, 1000,
    ]);
    expect(retryBackoffMs({ minimumBackoffMs: 0, maximumBackoffMs: 10_000 }, 3, 100, 1)).toBe(400);
  });
  it('never goes below the floor, even with a smaller maximum', () => {
    expect(retryBackoffMs({ minimumBackoffMs: 0, maximumBackoffMs: 0 }, 3, 100, 10_000)).toBe(100);
  });
});
