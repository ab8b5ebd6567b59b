import { z } from 'zod';
import { InvalidInputError } from '../core/errors.ts';
import { INSTRUMENT_NAMES } from '../instruments/instruments.ts';
import { VISIT_KINDS } from './next-visit.ts';

/**
 * What became of one detector-visit, published by the activator (JSON, UTF-8) on the outcome
 * topic once its outputs are durable. Consumers key it by (instrument, group, detector): a
 * redelivered nextVisit republishes the same record, never a second one.
 */
export const OUTCOME_STATUSES = ['processed', 'failed', 'timedOut'] as const;
export type OutcomeStatus = (typeof OUTCOME_STATUSES)[number];

const outcomeSchema = z.object({
  instrument: z.enum(INSTRUMENT_NAMES),
  group: z.string(),
  detector: z.number().int(),
  kind: z.enum(VISIT_KINDS),
  status: z.enum(OUTCOME_STATUSES),
  /** Snaps that arrived and were ingested. */
  snaps: z.number().int(),
  expectedSnaps: z.number().int(),
  reason: z.string().optional(),
  instance: z.string(),
  receivedAt: z.string(),
  /** Finalize time of the last snap that arrived (RFC 3339), if any. */
  lastSnapFinalizedAt: z.string().optional(),
  outputsWrittenAt: z.string().optional(),
  /** From the finalize of the last snap to the outputs being written. */
  latencySeconds: z.number().optional(),
  sources: z.number().int().optional(),
  outputs: z.record(z.string()).default({}),
  timings: z.record(z.number()).default({}),
  summary: z.record(z.union([z.number(), z.string(), z.boolean(), z.null()])).default({}),
});

export type Outcome = z.infer<typeof outcomeSchema>;

export function encodeOutcome(o: Outcome): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(o));
}

export function decodeOutcome(data: Uint8Array): Outcome {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(data));
  } catch (e) {
    throw new InvalidInputError(`outcome is not JSON: ${(e as Error).message}`);
  }
  const r = outcomeSchema.safeParse(value);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new InvalidInputError(`invalid outcome: ${i.path.join('.')} ${i.message}`);
  }
  return r.data;
}

export function outcomeKey(o: Pick<Outcome, 'instrument' | 'group' | 'detector'>): string {
  return `${o.instrument}/${o.group}/${o.detector}`;
}

export function outcomeAttributes(o: Outcome): Record<string, string> {
  return { instrument: o.instrument, group: o.group, detector: String(o.detector), status: o.status };
}
