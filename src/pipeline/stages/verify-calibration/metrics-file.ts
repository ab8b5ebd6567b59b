import { z } from 'zod';
import { InvalidInputError } from '../../../core/errors.ts';
import {
  CALIBRATION_KINDS,
  VERIFICATION_STATUSES,
  type CalibrationKind,
  type VerificationMetric,
  type VerificationSegment,
  type VerifyCalibrationResult,
} from './verify-calibration.ts';

/**
 * The `calib_verification` dataset: one JSON document (UTF-8) per calibration visit and
 * detector, holding where it comes from and the verification result. Keys are written in a
 * fixed order, metrics and segments one per line, so equal results give equal bytes.
 */

export const VERIFICATION_FORMAT = 'calib_verification';
export const VERIFICATION_FORMAT_VERSION = 1;

/** Where a verification result comes from. */
export interface VerificationContext {
  readonly instrument: string;
  readonly detector: number;
  readonly detectorName?: string;
  readonly group: string;
  readonly visit: number;
  readonly kind: CalibrationKind;
  readonly exposureIds?: readonly number[];
  readonly filter?: string;
  readonly snaps?: number;
  readonly exposureTimeS?: number;
  readonly darkTimeS?: number;
  /** The master compared with (a dataset id, a content hash), or null when there was none. */
  readonly master?: string | null;
}

export interface VerificationDocument {
  readonly context: VerificationContext;
  readonly result: VerifyCalibrationResult;
}

const finiteNumber = z.number().finite();
const nullableNumber = finiteNumber.nullable();
const boxSchema = z.object({ x0: z.number().int(), y0: z.number().int(), x1: z.number().int(), y1: z.number().int() }).strict();

const contextSchema = z
  .object({
    instrument: z.string().min(1),
    detector: z.number().int().nonnegative(),
    detectorName: z.string().optional(),
    group: z.string().min(1),
    visit: z.number().int().nonnegative(),
    kind: z.enum(CALIBRATION_KINDS),
    exposureIds: z.array(z.number().int()).optional(),
    filter: z.string().optional(),
    snaps: z.number().int().positive().optional(),
    exposureTimeS: finiteNumber.nonnegative().optional(),
    darkTimeS: finiteNumber.nonnegative().optional(),
    master: z.string().nullable().optional(),
  })
  .strict();

const metricSchema = z
  .object({
    name: z.string().min(1),
    value: nullableNumber,
    unit: z.string(),
    threshold: nullableNumber,
    pass: z.boolean().nullable(),
    doc: z.string(),
  })
  .strict();

const segmentSchema = z
  .object({
    name: z.string().min(1),
    box: boxSchema,
    mean: nullableNumber,
    median: nullableNumber,
    noise: nullableNumber,
    expectedNoise: nullableNumber,
    pixels: z.number().int().nonnegative(),
  })
  .strict();

const resultSchema = z
  .object({
    kind: z.enum(CALIBRATION_KINDS),
    status: z.enum(VERIFICATION_STATUSES),
    failed: z.array(z.string()),
    metrics: z.array(metricSchema),
    segments: z.array(segmentSchema),
    segmentSource: z.enum(['amp', 'region']),
    segmentUnit: z.string(),
    expectedNoiseSource: z.enum(['read-noise', 'variance-plane']),
    masterScale: nullableNumber,
    pixelsChecked: z.number().int().nonnegative(),
    pixelsSampled: z.number().int().nonnegative(),
  })
  .strict();

const documentSchema = z
  .object({
    format: z.literal(VERIFICATION_FORMAT),
    version: z.literal(VERIFICATION_FORMAT_VERSION),
    context: contextSchema,
    result: resultSchema,
  })
  .strict();

function num(v: number | null): number | null {
  return v !== null && Number.isFinite(v) ? v : null;
}

/** The context with its keys in the schema's order, absent fields left out. */
function orderedContext(c: VerificationContext): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(contextSchema.shape) as (keyof VerificationContext)[]) {
    const v = c[key];
    if (v !== undefined) out[key] = Array.isArray(v) ? [...v] : v;
  }
  return out;
}

function orderedMetric(m: VerificationMetric): VerificationMetric {
  return { name: m.name, value: num(m.value), unit: m.unit, threshold: num(m.threshold), pass: m.pass, doc: m.doc };
}

function orderedSegment(s: VerificationSegment): VerificationSegment {
  return {
    name: s.name,
    box: { x0: s.box.x0, y0: s.box.y0, x1: s.box.x1, y1: s.box.y1 },
    mean: num(s.mean),
    median: num(s.median),
    noise: num(s.noise),
    expectedNoise: num(s.expectedNoise),
    pixels: s.pixels,
  };
}

/** JSON with objects spread over lines and arrays of objects one element per line. */
function pretty(value: unknown, indent: string): string {
  if (Array.isArray(value)) {
    if (value.length === 0 || value.every((v) => v === null || typeof v !== 'object')) return JSON.stringify(value);
    const inner = indent + '  ';
    return `[\n${value.map((v) => inner + JSON.stringify(v)).join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return '{}';
    const inner = indent + '  ';
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${pretty(v, inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value);
}

/** Problems that the schema cannot see: the status must follow from the metrics. */
function consistencyProblems(doc: { context: { kind: string }; result: z.output<typeof resultSchema> }): string[] {
  const r = doc.result;
  const problems: string[] = [];
  if (doc.context.kind !== r.kind) problems.push(`result.kind is ${r.kind}, context.kind ${doc.context.kind}`);
  const names = new Set<string>();
  r.metrics.forEach((m, i) => {
    if (names.has(m.name)) problems.push(`result.metrics.${i}.name: '${m.name}' appears twice`);
    names.add(m.name);
    if (m.pass !== null && m.threshold === null) problems.push(`result.metrics.${i}.threshold: metric '${m.name}' has a pass value but no threshold`);
  });
  const failed = r.metrics.filter((m) => m.pass === false).map((m) => m.name);
  if (r.failed.length !== failed.length || r.failed.some((n, i) => n !== failed[i])) {
    problems.push(`result.failed is [${r.failed.join(', ')}], the metrics failed are [${failed.join(', ')}]`);
  }
  const expected = r.metrics.every((m) => m.pass === null) ? 'no-master' : failed.length > 0 ? 'fail' : 'pass';
  if (r.status !== expected) problems.push(`result.status is '${r.status}', the metrics say '${expected}'`);
  return problems;
}

/** The `calib_verification` document of a result: UTF-8 JSON, stable key order, ends with a newline. */
export function writeVerificationMetrics(result: VerifyCalibrationResult, context: VerificationContext): Uint8Array {
  if (context.kind !== result.kind) {
    throw new InvalidInputError(`calib_verification: the context is a ${context.kind} visit, the result a ${result.kind} verification`);
  }
  const doc = {
    format: VERIFICATION_FORMAT,
    version: VERIFICATION_FORMAT_VERSION,
    context: orderedContext(context),
    result: {
      kind: result.kind,
      status: result.status,
      failed: [...result.failed],
      metrics: result.metrics.map(orderedMetric),
      segments: result.segments.map(orderedSegment),
      segmentSource: result.segmentSource,
      segmentUnit: result.segmentUnit,
      expectedNoiseSource: result.expectedNoiseSource,
      masterScale: num(result.masterScale),
      pixelsChecked: result.pixelsChecked,
      pixelsSampled: result.pixelsSampled,
    },
  };
  // What we write must read back.
  const checked = documentSchema.safeParse(doc);
  if (!checked.success) throw new InvalidInputError(`calib_verification: cannot write: ${describe(checked.error)}`);
  return new TextEncoder().encode(pretty(doc, '') + '\n');
}

function describe(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join('.') : '(document)'}: ${i.message}`).join('; ');
}

/** Reads a `calib_verification` document; InvalidInputError naming the bad field otherwise. */
export function readVerificationMetrics(bytes: Uint8Array, name = 'calib_verification'): VerificationDocument {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw new InvalidInputError(`${name}: not UTF-8 text`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InvalidInputError(`${name}: not JSON: ${(err as Error).message}`, { cause: err });
  }
  const r = documentSchema.safeParse(json);
  if (!r.success) throw new InvalidInputError(`${name}: ${describe(r.error)}`, { cause: r.error });
  const problems = consistencyProblems(r.data);
  if (problems.length > 0) throw new InvalidInputError(`${name}: ${problems.join('; ')}`);
  return { context: r.data.context, result: r.data.result };
}
