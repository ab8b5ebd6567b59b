/**
 * An in-memory model of the part of kafkajs the Kafka backend uses (admin, idempotent producer,
 * consumer groups with eachBatch), for tests on machines without a Kafka server. It follows
 * kafkajs where the backend depends on it:
 *
 * - topics are never auto-created; an unknown one is a protocol error UNKNOWN_TOPIC_OR_PARTITION;
 * - a group's partitions are spread over its running members (round robin, by join order); every
 *   join or leave is a rebalance: each member gets GROUP_JOIN with its assignment and, as with
 *   kafkajs' fresh offset manager, fetches again from the group's committed offsets;
 * - a partition without a committed offset starts at the earliest or latest offset
 *   (`fromBeginning`); `seek` moves the next fetch; offsets advance only through resolveOffset
 *   (or eachBatchAutoResolve);
 * - commitOffsets needs a running consumer; pause and resume act on whole topics or partitions.
 *
 * Not modelled: brokers, replication, retries, sessions and heartbeats, compaction.
 */
import type { ConsumerConfig, ConsumerRunConfig, ConsumerSubscribeTopics, EachBatchPayload, IHeaders, ITopicConfig, Message, ProducerRecord, RecordMetadata } from 'kafkajs';
import type { KafkaAdminClient, KafkaClient, KafkaConsumerClient, KafkaProducerClient } from './kafka-broker.ts';

export interface ModelRecord {
  readonly offset: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: IHeaders;
  readonly timestamp: string;
}

interface ModelTopic {
  readonly partitions: ModelRecord[][];
  readonly configs: Record<string, string>;
}

interface ModelGroup {
  readonly committed: Map<string, number>;
  readonly members: ModelConsumer[];
  generation: number;
}

function protocolError(type: string, message: string, retriable = false): Error {
  return Object.assign(new Error(message), { name: 'KafkaJSProtocolError', type, retriable });
}

export class KafkaModel {
  readonly topics = new Map<string, ModelTopic>();
  readonly groups = new Map<string, ModelGroup>();
  /** Every commit, in order: group, topic, partition, offset. */
  readonly commits: Array<{ group: string; topic: string; partition: number; offset: number }> = [];
  /** When false, every connect fails like an unreachable cluster. */
  reachable = true;
  private readonly listeners = new Set<() => void>();

  client(): KafkaClient {
    return {
      admin: () => new ModelAdmin(this),
      producer: () => new ModelProducer(this),
      consumer: (config) => new ModelConsumer(this, config) as unknown as KafkaConsumerClient,
    };
  }

  createTopic(name: string, partitions = 1, configs: Record<string, string> = {}): boolean {
    if (!/^[A-Za-z0-9._-]{1,249}$/.test(name)) throw protocolError('INVALID_TOPIC_EXCEPTION', `invalid topic ${JSON.stringify(name)}`);
    if (this.topics.has(name)) return false;
    this.topics.set(name, { partitions: Array.from({ length: partitions }, () => []), configs });
    return true;
  }

  topic(name: string): ModelTopic {
    const t = this.topics.get(name);
    if (!t) throw protocolError('UNKNOWN_TOPIC_OR_PARTITION', 'This server does not host this topic-partition', true);
    return t;
  }

  /** Appends records as a producer would; returns the offset of each. */
  append(topic: string, partition: number, messages: ReadonlyArray<Pick<Message, 'key' | 'value' | 'headers' | 'timestamp'>>): number[] {
    const log = this.topic(topic).partitions[partition];
    if (!log) throw protocolError('UNKNOWN_TOPIC_OR_PARTITION', `no partition ${partition} in ${topic}`, true);
    const offsets: number[] = [];
    for (const m of messages) {
      const offset = log.length;
      const toBuffer = (v: Buffer | string | null | undefined): Buffer | null => (v === null || v === undefined ? null : Buffer.from(v));
      log.push({ offset, key: toBuffer(m.key), value: toBuffer(m.value), headers: { ...(m.headers ?? {}) }, timestamp: m.timestamp ?? String(Date.now()) });
      offsets.push(offset);
    }
    for (const l of [...this.listeners]) l();
    return offsets;
  }

  group(id: string): ModelGroup {
    let g = this.groups.get(id);
    if (!g) {
      g = { committed: new Map(), members: [], generation: 0 };
      this.groups.set(id, g);
    }
    return g;
  }

  committed(group: string, topic: string, partition: number): number | undefined {
    return this.groups.get(group)?.committed.get(`${topic}:${partition}`);
  }

  /** Reassigns the group's partitions over its running members. */
  rebalance(groupId: string): void {
    const g = this.group(groupId);
    g.generation++;
    const members = g.members.filter((m) => m.isRunning);
    const topics = [...new Set(members.flatMap((m) => m.subscribed))].sort();
    const assignment = new Map<ModelConsumer, Record<string, number[]>>(members.map((m) => [m, {}]));
    let i = 0;
    for (const topic of topics) {
      const count = this.topics.get(topic)?.partitions.length ?? 0;
      for (let p = 0; p < count; p++) {
        const takers = members.filter((m) => m.subscribed.includes(topic));
        if (takers.length === 0) continue;
        const m = takers[i++ % takers.length];
        (assignment.get(m)![topic] ??= []).push(p);
      }
    }
    for (const m of members) m.assign(assignment.get(m) ?? {}, g.generation);
  }

  /** Calls `listener` after every append until the returned function is called. */
  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  checkReachable(): void {
    if (!this.reachable) {
      throw Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092'), { name: 'KafkaJSConnectionError', retriable: true });
    }
  }
}

class ModelAdmin implements KafkaAdminClient {
  constructor(private readonly model: KafkaModel) {}

  async connect(): Promise<void> {
    this.model.checkReachable();
  }

  async disconnect(): Promise<void> {}

  async createTopics(options: { topics: ITopicConfig[] }): Promise<boolean> {
    this.model.checkReachable();
    let created = false;
    for (const t of options.topics) {
      const configs = Object.fromEntries((t.configEntries ?? []).map((e) => [e.name, e.value]));
      created = this.model.createTopic(t.topic, t.numPartitions ?? 1, configs) || created;
    }
    return created;
  }

  async fetchTopicMetadata(options?: { topics: string[] }): Promise<{ topics: Array<{ name: string; partitions: Array<{ partitionErrorCode: number; partitionId: number; leader: number; replicas: number[]; isr: number[] }> }> }> {
    this.model.checkReachable();
    const names = options?.topics?.length ? options.topics : [...this.model.topics.keys()];
    return {
      topics: names.map((name) => ({
        name,
        partitions: this.model.topic(name).partitions.map((_, p) => ({ partitionErrorCode: 0, partitionId: p, leader: 0, replicas: [0], isr: [0] })),
      })),
    };
  }

  async fetchTopicOffsets(topic: string): Promise<Array<{ partition: number; offset: string; high: string; low: string }>> {
    this.model.checkReachable();
    return this.model.topic(topic).partitions.map((log, partition) => ({ partition, offset: String(log.length), high: String(log.length), low: '0' }));
  }

  async deleteGroups(groupIds: string[]): Promise<unknown> {
    this.model.checkReachable();
    for (const id of groupIds) {
      const g = this.model.groups.get(id);
      if (g && g.members.some((m) => m.isRunning)) throw protocolError('NON_EMPTY_GROUP', `group ${id} is not empty`);
      this.model.groups.delete(id);
    }
    return groupIds.map((groupId) => ({ groupId, errorCode: 0 }));
  }
}

class ModelProducer implements KafkaProducerClient {
  constructor(private readonly model: KafkaModel) {}

  async connect(): Promise<void> {
    this.model.checkReachable();
  }

  async disconnect(): Promise<void> {}

  async send(record: ProducerRecord): Promise<RecordMetadata[]> {
    this.model.checkReachable();
    const byPartition = new Map<number, Message[]>();
    for (const m of record.messages) {
      const p = m.partition ?? 0;
      let list = byPartition.get(p);
      if (!list) byPartition.set(p, (list = []));
      list.push(m);
    }
    const out: RecordMetadata[] = [];
    for (const [partition, messages] of byPartition) {
      const offsets = this.model.append(record.topic, partition, messages);
      out.push({ topicName: record.topic, partition, errorCode: 0, baseOffset: String(offsets[0]), logAppendTime: '-1', logStartOffset: '0' });
    }
    return out;
  }
}

type Listener = (event: unknown) => void;

class ModelConsumer {
  readonly events = { GROUP_JOIN: 'consumer.group_join', CRASH: 'consumer.crash' } as const;
  subscribed: string[] = [];
  private fromBeginning = false;
  private running = false;
  private runConfig: ConsumerRunConfig | undefined;
  private readonly listeners = new Map<string, Listener[]>();
  private assignment: Record<string, number[]> = {};
  private generation = 0;
  /** Next fetch offset per `topic:partition`, when not the committed one. */
  private readonly positions = new Map<string, number>();
  private readonly seeks = new Map<string, number>();
  private readonly pausedTopics = new Set<string>();
  private readonly pausedPartitions = new Set<string>();
  private loop: Promise<void> | undefined;
  private wakeLoop: (() => void) | undefined;
  private stopAppend: (() => void) | undefined;

  constructor(
    private readonly model: KafkaModel,
    private readonly config: ConsumerConfig,
  ) {}

  get isRunning(): boolean {
    return this.running;
  }

  get groupId(): string {
    return this.config.groupId;
  }

  on(eventName: string, listener: Listener): () => void {
    const list = this.listeners.get(eventName) ?? [];
    list.push(listener);
    this.listeners.set(eventName, list);
    return () => undefined;
  }

  async connect(): Promise<void> {
    this.model.checkReachable();
  }

  async subscribe(s: ConsumerSubscribeTopics): Promise<void> {
    for (const t of s.topics) {
      if (typeof t !== 'string') throw new Error('the model takes topic names only');
      this.model.topic(t);
      this.subscribed.push(t);
    }
    this.fromBeginning = s.fromBeginning ?? false;
  }

  async run(config: ConsumerRunConfig = {}): Promise<void> {
    this.model.checkReachable();
    this.runConfig = config;
    this.running = true;
    const g = this.model.group(this.groupId);
    g.members.push(this);
    this.model.rebalance(this.groupId);
    this.stopAppend = this.model.onAppend(() => this.wakeLoop?.());
    this.loop = this.fetchLoop();
  }

  /** Called by the model on a rebalance. */
  assign(assignment: Record<string, number[]>, generation: number): void {
    this.assignment = assignment;
    this.generation = generation;
    this.positions.clear();
    this.seeks.clear();
    this.emit(this.events.GROUP_JOIN, { type: this.events.GROUP_JOIN, payload: { groupId: this.groupId, memberAssignment: assignment } });
    this.wakeLoop?.();
  }

  /** Simulates a crash: kafkajs leaves the group and, when `restart`, joins again (once `rejoin` resolves). */
  async crash(error: Error, restart: boolean, rejoin: Promise<void> = Promise.resolve()): Promise<void> {
    await this.leave();
    this.emit(this.events.CRASH, { type: this.events.CRASH, payload: { error, groupId: this.groupId, restart } });
    if (!restart || !this.runConfig) return;
    await rejoin;
    await this.run(this.runConfig);
  }

  async commitOffsets(offsets: Array<{ topic: string; partition: number; offset: string }>): Promise<void> {
    if (!this.running) throw Object.assign(new Error('Consumer group was not initialized, consumer#run must be called first'), { name: 'KafkaJSNonRetriableError' });
    const g = this.model.group(this.groupId);
    if (g.generation !== this.generation) throw protocolError('ILLEGAL_GENERATION', 'Specified group generation id is not valid');
    for (const o of offsets) {
      g.committed.set(`${o.topic}:${o.partition}`, Number(o.offset));
      this.model.commits.push({ group: this.groupId, topic: o.topic, partition: o.partition, offset: Number(o.offset) });
    }
  }

  seek(entry: { topic: string; partition: number; offset: string }): void {
    if (!this.running) throw new Error('Consumer group was not initialized, consumer#run must be called first');
    this.seeks.set(`${entry.topic}:${entry.partition}`, Number(entry.offset));
    this.wakeLoop?.();
  }

  pause(topics: Array<{ topic: string; partitions?: number[] }>): void {
    if (!this.running) throw new Error('Consumer group was not initialized, consumer#run must be called first');
    for (const t of topics) {
      if (t.partitions === undefined) this.pausedTopics.add(t.topic);
      else for (const p of t.partitions) this.pausedPartitions.add(`${t.topic}:${p}`);
    }
  }

  resume(topics: Array<{ topic: string; partitions?: number[] }>): void {
    if (!this.running) throw new Error('Consumer group was not initialized, consumer#run must be called first');
    for (const t of topics) {
      if (t.partitions === undefined) {
        this.pausedTopics.delete(t.topic);
        for (const k of [...this.pausedPartitions]) if (k.startsWith(`${t.topic}:`)) this.pausedPartitions.delete(k);
      } else {
        for (const p of t.partitions) this.pausedPartitions.delete(`${t.topic}:${p}`);
      }
    }
    this.wakeLoop?.();
  }

  isPaused(topic: string, partition?: number): boolean {
    return this.pausedTopics.has(topic) || (partition !== undefined && this.pausedPartitions.has(`${topic}:${partition}`));
  }

  async stop(): Promise<void> {
    await this.leave();
  }

  async disconnect(): Promise<void> {
    await this.leave();
  }

  private async leave(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.stopAppend?.();
    this.wakeLoop?.();
    await this.loop;
    this.pausedTopics.clear();
    this.pausedPartitions.clear();
    const g = this.model.group(this.groupId);
    const i = g.members.indexOf(this);
    if (i >= 0) g.members.splice(i, 1);
    this.model.rebalance(this.groupId);
  }

  private emit(event: string, payload: unknown): void {
    for (const l of this.listeners.get(event) ?? []) l(payload);
  }

  private async fetchLoop(): Promise<void> {
    while (this.running) {
      const progressed = await this.fetchOnce();
      if (!this.running) return;
      if (progressed) {
        await new Promise<void>((resolve) => setImmediate(resolve)); // let timers and I/O run
      } else {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => done(), 20);
          const done = (): void => {
            clearTimeout(timer);
            this.wakeLoop = undefined;
            resolve();
          };
          this.wakeLoop = done;
        });
      }
    }
  }

  /** One fetch round over the assigned partitions; true when a batch was handed over. */
  private async fetchOnce(): Promise<boolean> {
    let progressed = false;
    const g = this.model.group(this.groupId);
    for (const [topic, partitions] of Object.entries(this.assignment)) {
      for (const partition of partitions) {
        if (!this.running) return progressed;
        const key = `${topic}:${partition}`;
        const sought = this.seeks.get(key);
        if (sought !== undefined) {
          this.seeks.delete(key);
          this.positions.set(key, sought);
        }
        if (this.isPaused(topic, partition)) continue;
        const log = this.model.topics.get(topic)?.partitions[partition] ?? [];
        const position = this.positions.get(key) ?? g.committed.get(key) ?? (this.fromBeginning ? 0 : log.length);
        if (position >= log.length) continue;
        const messages = log.slice(position, position + 50).map((r) => ({
          key: r.key,
          value: r.value,
          headers: r.headers,
          timestamp: r.timestamp,
          offset: String(r.offset),
          attributes: 0,
        }));
        const generation = this.generation;
        const last = messages[messages.length - 1].offset;
        const batch = {
          topic,
          partition,
          highWatermark: String(log.length),
          messages,
          isEmpty: () => messages.length === 0,
          firstOffset: () => messages[0]?.offset ?? null,
          lastOffset: () => last,
          offsetLag: () => String(log.length - 1 - Number(last)),
          offsetLagLow: () => String(log.length - 1 - position),
        };
        const stale = (): boolean => this.seeks.has(key) || this.generation !== generation;
        const payload: EachBatchPayload = {
          batch,
          resolveOffset: (offset: string) => {
            if (!stale()) this.positions.set(key, Number(offset) + 1);
          },
          heartbeat: async () => undefined,
          pause: () => {
            this.pause([{ topic, partitions: [partition] }]);
            return () => this.resume([{ topic, partitions: [partition] }]);
          },
          commitOffsetsIfNecessary: async () => undefined,
          uncommittedOffsets: () => ({ topics: [] }),
          isRunning: () => this.running,
          isStale: stale,
        };
        await this.runConfig?.eachBatch?.(payload);
        if (this.runConfig?.eachBatchAutoResolve !== false && !stale()) this.positions.set(key, Number(last) + 1);
        progressed = true;
      }
    }
    return progressed;
  }
}

export type { ModelConsumer };
