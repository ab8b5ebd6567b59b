/**
 * Truth files: what was injected into one SCIENCE detector-visit, as JSON at
 * `{dir}/{instrument}/{group}/{detector}.json`:
 *
 *   { instrument, group, detector, visit, filter, band, transients: [TransientTruth, ...] }
 *
 * (`visit` is the exposure id of the visit's first snap.) The file is the source of truth: it is
 * what the simulator painted, written by `prompt upload --truth-dir` from the worker that
 * simulated the first snap, before that snap is uploaded. `visitTruth` (sim/raw-pixels.ts)
 * recomputes the same records from the raw's parameters without painting. Files are written
 * atomically (a temporary file renamed into place), so a reader never sees half a file.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { InvalidInputError } from '../../core/errors.ts';
import { INSTRUMENT_NAMES } from '../../instruments/index.ts';
import { BANDS, type Band } from '../sim/sky-catalog.ts';
import { TRANSIENT_KINDS, type VisitTruth } from '../sim/transients.ts';

export type { TransientKind, TransientTruth, VisitTruth } from '../sim/transients.ts';

const finite = z.number().finite();
const TransientTruthSchema = z.object({
  id: z.string().min(1),
  kind: z.enum(TRANSIENT_KINDS),
  raDeg: finite,
  decDeg: finite,
  x: finite,
  y: finite,
  band: z.enum(BANDS as [Band, ...Band[]]),
  templateFluxNjy: finite,
  visitFluxNjy: finite,
  deltaFluxNjy: finite,
  deltaFluxElectrons: finite,
  expectedSnr: finite,
  starId: finite.optional(),
  objectId: z.string().optional(),
  rateDegPerDay: finite.optional(),
  positionAngleDeg: finite.optional(),
  epochMjd: finite.optional(),
});

export const VisitTruthSchema = z.object({
  instrument: z.enum(INSTRUMENT_NAMES),
  group: z.string().regex(/^\d{13}$/),
  detector: z.number().int().nonnegative(),
  visit: z.number().int().nonnegative(),
  filter: z.string().min(1),
  band: z.enum(BANDS as [Band, ...Band[]]),
  transients: z.array(TransientTruthSchema),
});

/** `{dir}/{instrument}/{group}/{detector}.json`. */
export function truthFilePath(dir: string, instrument: string, group: string, detector: number): string {
  return path.join(dir, instrument, group, `${detector}.json`);
}

/** Checks parsed JSON against the truth-file shape; InvalidInputError naming the field otherwise. */
export function parseVisitTruth(json: unknown): VisitTruth {
  const r = VisitTruthSchema.safeParse(json);
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${i.path.join('.') || 'truth'}: ${i.message}`).join('; ');
    throw new InvalidInputError(`not a truth file: ${msg}`);
  }
  return r.data;
}

/** Writes a visit's truth atomically (temporary file, then rename); returns the file's path. */
export async function writeTruthFile(dir: string, truth: VisitTruth): Promise<string> {
  const file = truthFilePath(dir, truth.instrument, truth.group, truth.detector);
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await fs.writeFile(tmp, JSON.stringify(truth, null, 1) + '\n');
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  return file;
}

/** Reads and checks a truth file. */
export async function readTruthFile(file: string): Promise<VisitTruth> {
  const text = await fs.readFile(file, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InvalidInputError(`truth file ${file} is not JSON`, { cause: e });
  }
  return parseVisitTruth(json);
}
