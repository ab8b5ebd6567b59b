import { Command } from 'commander';
import { getInstrument } from '../instruments/index.ts';
import { Butler } from '../butler/butler.ts';
import { readSeedConfig } from '../butler/repo-config.ts';
import { parseWhere } from '../butler/where.ts';
import { openObjectStore } from '../storage/backends.ts';

async function withButler<T>(repo: string, fn: (b: Butler) => Promise<T>): Promise<T> {
  const b = await Butler.open(repo);
  try {
    return await fn(b);
  } finally {
    await b.close();
  }
}

/** `prompt butler …`: the data-repository commands, following the playbook's `butler`. */
export function butlerCommands(): Command {
  const butler = new Command('butler').description('data repository (registry + datastore) commands');

  butler
    .command('create')
    .description('create a repository (SQLite registry by default; PostgreSQL from a seed config)')
    .argument('<repo>', 'repository root: a directory or s3://bucket/prefix')
    .option('--seed-config <file>', 'YAML with registry.db and registry.namespace')
    .action(async (repo: string, o: { seedConfig?: string }) => {
      const seed = o.seedConfig ? await readSeedConfig(o.seedConfig) : {};
      const b = await Butler.create(repo, seed);
      process.stdout.write(`created repository ${b.root} (registry ${b.registry.dialect}${b.config.registry.namespace ? `, namespace ${b.config.registry.namespace}` : ''})\n`);
      await b.close();
    });

  butler
    .command('register-instrument')
    .description('add an instrument, its detectors and filters')
    .argument('<repo>')
    .argument('<instrument>')
    .action(async (repo: string, name: string) => {
      const inst = getInstrument(name);
      await withButler(repo, (b) => b.registerInstrument(inst));
      process.stdout.write(`registered ${inst.name} (${inst.detectors.length} detectors, ${inst.filters.length} filters)\n`);
    });

  butler
    .command('query-collections')
    .description('list collections')
    .argument('<repo>')
    .argument('[pattern]', 'glob, e.g. LSSTComCam/*')
    .option('--json', 'print JSON')
    .action(async (repo: string, pattern: string | undefined, o: { json?: boolean }) => {
      const cols = await withButler(repo, (b) => b.collections(pattern));
      if (o.json) {
        process.stdout.write(JSON.stringify(cols, null, 2) + '\n');
        return;
      }
      const w = Math.max(4, ...cols.map((c) => c.name.length));
      process.stdout.write(`${'Name'.padEnd(w)}  Type\n${'-'.repeat(w)}  -----------\n`);
      for (const c of cols) {
        process.stdout.write(`${c.name.padEnd(w)}  ${c.type}${c.children.length ? `  [${c.children.join(', ')}]` : ''}\n`);
      }
    });

  butler
    .command('query-datasets')
    .description('list datasets')
    .argument('<repo>')
    .argument('[datasetType]')
    .option('--collections <names>', 'comma-separated collections to search (default: all)')
    .option('--where <expr>', "data ID constraints, e.g. \"instrument='LATISS' AND detector IN (0,1)\"")
    .option('--find-first', 'only the first match per data ID, in collection order')
    .option('--json', 'print JSON: type, run, data ID and URI of each dataset')
    .action(async (repo: string, datasetType: string | undefined, o: { collections?: string; where?: string; findFirst?: boolean; json?: boolean }) => {
      const where = parseWhere(o.where ?? '');
      await withButler(repo, async (b) => {
        const collections = o.collections ? o.collections.split(',').map((s) => s.trim()).filter(Boolean) : (await b.collections()).filter((c) => c.type === 'RUN').map((c) => c.name);
        const refs = await b.query({ datasetType, collections, where, findFirst: Boolean(o.findFirst) });
        if (o.json) {
          const rows = refs.map((r) => ({ id: r.id, datasetType: r.datasetType, run: r.run, dataId: r.dataId, uri: b.uriOf(r), sizeBytes: r.sizeBytes }));
          process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
          return;
        }
        for (const r of refs) process.stdout.write(`${r.datasetType}  ${r.run}  ${JSON.stringify(r.dataId)}  ${b.uriOf(r)}\n`);
        process.stdout.write(`${refs.length} dataset(s)\n`);
      });
    });

  butler
    .command('ingest-raws')
    .description('copy raws from a bucket into a RUN collection')
    .argument('<repo>')
    .argument('<bucket>', 'raw bucket: a directory or s3://bucket/prefix')
    .option('--prefix <prefix>', 'only keys under this prefix, e.g. LATISS/', '')
    .option('--run <run>', 'RUN collection (default {instrument}/raw/all)')
    .action(async (repo: string, bucketUrl: string, o: { prefix: string; run?: string }) => {
      const bucket = openObjectStore(bucketUrl);
      const keys = (await bucket.list(o.prefix)).map((x) => x.key).filter((k) => k.endsWith('.fz'));
      if (keys.length === 0) throw new Error(`no raws under '${o.prefix}' in ${bucketUrl}`);
      const inst = keys[0].split('/')[0];
      const refs = await withButler(repo, (b) => b.ingestRaws(bucket, keys, o.run ?? `${inst}/raw/all`));
      process.stdout.write(`ingested ${refs.length} raw(s)\n`);
    });

  butler
    .command('certify-calibrations')
    .description('certify the calibrations of a RUN into a CALIBRATION collection with a validity range')
    .argument('<repo>')
    .argument('<inputRun>')
    .argument('<calibCollection>')
    .argument('<datasetType>', 'bias, dark or flat')
    .option('--begin-date <iso>', 'start of validity (default: unbounded)')
    .option('--end-date <iso>', 'end of validity (default: unbounded)')
    .action(async (repo: string, inputRun: string, calib: string, datasetType: string, o: { beginDate?: string; endDate?: string }) => {
      const iso = (s: string | undefined, what: string): string | null => {
        if (s === undefined) return null;
        const t = new Date(s);
        if (Number.isNaN(t.getTime())) throw new Error(`${what} '${s}' is not a date`);
        return t.toISOString();
      };
      const n = await withButler(repo, (b) =>
        b.certifyCalibrations(inputRun, calib, datasetType, { begin: iso(o.beginDate, '--begin-date'), end: iso(o.endDate, '--end-date') }),
      );
      process.stdout.write(`certified ${n} ${datasetType} dataset(s) into ${calib}\n`);
    });

  return butler;
}
