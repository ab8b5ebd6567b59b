/**
 * `prompt make-apdb -c db_url=URL [-c isolation_level=READ_UNCOMMITTED] [-c namespace=NAME] …`:
 * make_apdb.py's job. Creates the APDB, or says that one is already there and changes nothing.
 */
import { errorMessage } from '../core/errors.ts';
import { openApdb, parseApdbConfig } from '../apdb/index.ts';

/**
 * Runs make-apdb on the `key=value` pairs of its `-c` options (a `-c` token before a pair, or
 * `-ckey=value`, is accepted too) and writes what happened through `out`. Exit status: 0 when the
 * APDB was created or was already there, 1 when the configuration is wrong or it cannot be made.
 */
export async function runMakeApdb(pairs: string[], out: (line: string) => void): Promise<number> {
  const kv: string[] = [];
  for (const p of pairs) {
    if (p === '-c' || p === '--config') continue;
    kv.push(p.startsWith('-c') && p.includes('=') ? p.slice(2) : p);
  }
  let apdb;
  try {
    apdb = await openApdb(parseApdbConfig(kv));
  } catch (e) {
    out(`make-apdb: ${errorMessage(e)}`);
    return 1;
  }
  try {
    const r = await apdb.create();
    out(r.message);
    return 0;
  } catch (e) {
    out(`make-apdb: ${errorMessage(e)}`);
    return 1;
  } finally {
    await apdb.close();
  }
}
