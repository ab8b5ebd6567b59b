/**
 * One writer of the concurrent-store test, run as its own process:
 *   node --import tsx store-child.ts JOB_JSON
 * Opens the APDB, prints `ready`, waits for `go` on stdin, stores `rounds` detector-visits (one
 * per visit, each a detection at the job's position shifted by round·roundStepDeg in ra) with the
 * association plan, and prints one JSON line with the DiaObject each detection went to.
 */
import { openApdb, parseApdbConfig } from '../apdb.ts';
import { associatePlan, boxRegion } from './rows.ts';
import type { StoreJob } from './concurrent.ts';

const job = JSON.parse(process.argv[2]) as StoreJob;
const apdb = await openApdb(parseApdbConfig(job.pairs));
try {
  // Opens the connection before the start signal, so the race is between the stores only.
  await apdb.counts();
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => {
    let buf = '';
    process.stdin.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('go')) resolve();
    });
  });
  process.stdin.pause();
  const objectIds: Array<string | null> = [];
  for (let round = 0; round < job.rounds; round++) {
    const key = { visit: BigInt(job.visit) + BigInt(round), detector: job.detector };
    const shift = round * job.roundStepDeg;
    const r = await apdb.storeDetectorVisit(key, boxRegion(job.regionRa + shift, job.regionDec, job.regionHalf), job.mjd, associatePlan({
      key, ra: job.ra + shift, dec: job.dec, mjd: job.mjd,
      diaSourceId: BigInt(job.diaSourceId) + BigInt(round), newObjectId: BigInt(job.newObjectId) + BigInt(round),
    }));
    objectIds.push(r.stored ? String(r.rows.diaObjects[0].diaObjectId) : null);
  }
  process.stdout.write(JSON.stringify({ objectIds }) + '\n');
} finally {
  await apdb.close();
}
