import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { TransientError } from '../core/errors.ts';
import { decodeOutcome, encodeOutcome, type Outcome } from '../messages/outcome.ts';

/**
 * Where a detector-visit's outputs land: one folder per (instrument, group, detector) holding the
 * processed exposure, the source catalog and, written last, `outcome.json`. Every file is
 * written to a temporary name and renamed, so a reader sees whole files only, and a retried or
 * redelivered visit overwrites the same paths instead of adding new ones.
 */
export class OutputRepository {
  constructor(readonly root: string) {}

  dirFor(instrument: string, group: string, detector: number): string {
    return path.join(this.root, instrument, group, String(detector).padStart(3, '0'));
  }

  /** The recorded outcome of a detector-visit, or null when it was never finished. */
  async existingOutcome(instrument: string, group: string, detector: number): Promise<Outcome | null> {
    const file = path.join(this.dirFor(instrument, group, detector), 'outcome.json');
    try {
      return decodeOutcome(await fs.readFile(file));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async writeFile(instrument: string, group: string, detector: number, name: string, bytes: Uint8Array): Promise<string> {
    const dir = this.dirFor(instrument, group, detector);
    const dest = path.join(dir, name);
    const tmp = `${dest}.${randomBytes(6).toString('hex')}.part`;
    try {
      await fs.mkdir(dir, { recursive: true });
      await fs.writeFile(tmp, bytes);
      await fs.rename(tmp, dest);
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw new TransientError(`could not write output ${dest}: ${(e as Error).message}`, { cause: e });
    }
    return dest;
  }

  outcomePath(instrument: string, group: string, detector: number): string {
    return path.join(this.dirFor(instrument, group, detector), 'outcome.json');
  }

  async writeOutcome(o: Outcome): Promise<string> {
    return this.writeFile(o.instrument, o.group, o.detector, 'outcome.json', encodeOutcome(o));
  }
}
