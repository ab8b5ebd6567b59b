import { alertsCommands } from './alerts-command.ts';
import { Command, InvalidArgumentError, Option } from 'commander';
import { cpus } from 'node:os';
import { ConfigError, PromptError } from '../core/errors.ts';
import { INSTRUMENT_NAMES } from '../instruments/index.ts';
import { VISIT_KINDS } from '../messages/next-visit.ts';

function int(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}`);
    return n;
  };
}

function seconds(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a number of seconds ≥ 0`);
    return n;
  };
}

function detectorList(v: string): number[] {
  const out: number[] = [];
  for (const part of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new InvalidArgumentError(`'${part}' is not a detector id or range like 0-8`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new InvalidArgumentError(`range '${part}' runs backwards`);
    for (let d = a; d <= b; d++) out.push(d);
  }
  if (out.length === 0) throw new InvalidArgumentError('no detectors given');
  return out;
}

/**
 * The first group sequence number of a night started now: half the seconds since midnight UTC,
 * so nights run one after another on the same day never reuse a group id (a group takes far
 * longer than 2 s), and two snaps per group still fit in an exposure id.
 */
function defaultFirstSeq(): number {
  const d = new Date();
  return Math.floor((d.getUTCHours() * 3600 + d.getUTCMinutes() * 60 + d.getUTCSeconds()) / 2) + 1;
}

function todayDayObs(): number {
  const d = new Date();
  return d.getUTCFullYear() * 10000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
}

// Output piped into a reader that stops early (`| head`) ends the command quietly.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  process.stderr.write(`prompt: cannot write to stdout: ${e.message}\n`);
  process.exit(1);
});

const program = new Command();
program
  .name('prompt')
  .description('Prompt processing: telescope exposures in, science results and alerts out within seconds.')
  .showHelpAfterError();

program
  .command('night')
  .description('run a whole simulated night on the embedded defaults: broker, bucket, activators, tester')
  .addOption(new Option('--instrument <name>', 'instrument').choices(INSTRUMENT_NAMES).default('LSSTComCam'))
  .option('--groups <n>', 'number of visits (groups)', int('--groups', 1), 2)
  .option('--seed <n>', 'simulation seed', int('--seed'), 1)
  .option('--workdir <dir>', 'work directory, kept for inspection (emptied at the start)', 'night-output')
  .option('--json <file>', 'write the JSON summary here (default: WORKDIR/summary.json)')
  .option('--activators <n>', 'activator instances', int('--activators', 1), Math.max(1, cpus().length))
  .option('--exposure-time <s>', 'exposure time per snap', seconds('--exposure-time'), 18)
  .option('--slew-time <s>', 'slew between groups', seconds('--slew-time'), 2)
  .option('--image-timeout <s>', 'IMAGE_TIMEOUT for the activators', seconds('--image-timeout'), 50)
  .addOption(new Option('--kind <kind>', 'kind of every visit').choices(VISIT_KINDS).default('SCIENCE'))
  .option('--detectors <list>', 'detector ids, e.g. 0-8 or 1,4,7 (default: all)', detectorList)
  .option('--tester-threads <n>', 'threads simulating raws', int('--tester-threads', 1))
  .option('--central-repo <repo>', 'central data repository (directory or s3://…), built when missing', 'central-repo')
  .option('--no-central-repo', 'no data repository: outputs only under the work directory')
  .option('--transients-per-detector <n>', 'mean number of transients injected per SCIENCE detector-visit', int('--transients-per-detector', 0), 20)
  .option('--no-transients', 'inject no transients (truth files are still written, empty)')
  .option('--plain', 'plain progress lines even on a terminal')
  .option('--apdb <url>', 'APDB to associate into and alert from: sqlite:///FILE or postgresql://… (default: an SQLite APDB in the work directory)')
  .option('--apdb-namespace <name>', 'PostgreSQL schema of the APDB')
  .option('--no-apdb', 'no APDB: no association and no alerts')
  .option('--redeliver', 'after the night, deliver every nextVisit again (outcome records removed) and report that no APDB row or alert was added')
  .option('--broker <url>', 'a running broker instead of the embedded one: nats://…?prefix=P, redis://…?prefix=P, pubsub://PROJECT (use a fresh prefix per night)')
  .option('--bucket <url>', 'the raw bucket: s3://bucket?endpoint=… instead of a directory under the work directory')
  .option('--seed-config <file>', 'YAML with registry.db and registry.namespace: the central repository\'s registry on PostgreSQL (when it is made)')
  .option('--first-seq <n>', 'sequence number of the first group (default: from the time of day); the same number repeats a night\'s raws', int('--first-seq'))
  .option('--dashboard [port]', 'serve a live dashboard of the night on this port (default 8090; 0 = any free port) and print its URL', int('--dashboard'))
  .action(async (o) => {
    const { runNight } = await import('../night/night.ts');
    const s = await runNight({
      instrument: o.instrument,
      groups: o.groups,
      seed: o.seed,
      workdir: o.workdir,
      jsonFile: o.json,
      activators: o.activators,
      exposureTimeS: o.exposureTime,
      slewTimeS: o.slewTime,
      imageTimeoutS: o.imageTimeout,
      kind: o.kind,
      detectors: o.detectors,
      testerThreads: o.testerThreads,
      plain: o.plain,
      centralRepo: o.centralRepo === false ? null : o.centralRepo,
      transients: o.transients,
      transientsPerDetector: o.transientsPerDetector,
      apdbUrl: o.apdb === false ? null : o.apdb,
      apdbNamespace: o.apdbNamespace,
      redeliver: o.redeliver,
      broker: o.broker,
      firstSeq: o.firstSeq,
      bucket: o.bucket,
      centralRegistry: o.seedConfig ? await (await import('../butler/repo-config.ts')).readSeedConfig(o.seedConfig) : undefined,
      dashboard: o.dashboard === undefined ? undefined : { port: o.dashboard === true ? 8090 : o.dashboard },
    });
    const dv = s.detectorVisits;
    process.exitCode = dv.processed === dv.expected ? 0 : 1;
  });

program
  .command('dashboard')
  .description("serve the live dashboard of a running deployment, fed from its broker (nextVisit, the image topic, prompt-outcomes, alerts)")
  .requiredOption('--broker <url>', 'messaging URL')
  .addOption(new Option('--instrument <name>', 'instrument').choices(INSTRUMENT_NAMES).default('LSSTComCam'))
  .option('--port <port>', 'port (0 = any free port)', int('--port'), 8090)
  .option('--host <host>', 'listen address', '127.0.0.1')
  .option('--outputs <dir>', "the activators' OUTPUT_REPO: first show the outcomes recorded there")
  .option('--outcome-topic <t>', 'outcome topic', 'prompt-outcomes')
  .option('--alert-topic <t>', 'alert topic', 'alerts')
  .action(async (o) => {
    const { runDashboardCommand } = await import('../dashboard/command.ts');
    process.exitCode = await runDashboardCommand(o);
  });

program
  .command('make-apdb')
  .description('create the Alert Production Database, as make_apdb.py does: -c db_url=URL [-c isolation_level=…] [-c namespace=NAME]; an existing APDB is left as it is')
  .option('-c, --config <key=value>', 'db_url, namespace (PostgreSQL schema), isolation_level, read_sources_months, read_forced_sources_months', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .action(async (o: { config: string[] }) => {
    const { runMakeApdb } = await import('./make-apdb-command.ts');
    process.exitCode = await runMakeApdb(o.config, (line) => process.stdout.write(`${line}\n`));
  });

program.addCommand(alertsCommands());

program
  .command('setup')
  .description("create what the playbook creates by hand, for one instrument's service: topics, the nextVisit subscription, bucket notifications, central repository, APDB")
  .addOption(new Option('--instrument <name>', 'instrument').choices(INSTRUMENT_NAMES).makeOptionMandatory())
  .requiredOption('--broker <url>', 'messaging URL')
  .option('--bucket <url>', 'raw bucket (directory or s3://…)')
  .option('--endpoint <url>', "the service's URL (push subscription)")
  .option('--token <t>', "the service's PUBSUB_VERIFICATION_TOKEN")
  .option('--subscription <name>', 'nextVisit subscription', 'nextVisit-sub')
  .option('--central-repo <repo>', 'central repository (directory or s3://…)')
  .option('--seed-config <file>', 'YAML with registry.db and registry.namespace for the central repository')
  .option('--apdb <url>', 'APDB URL')
  .option('--apdb-namespace <name>', 'PostgreSQL schema of the APDB')
  .option('--alert-topic <t>', 'alert topic', 'alerts')
  .option('--outcome-topic <t>', 'outcome topic', 'prompt-outcomes')
  .option('--ack-deadline <s>', 'ack deadline of the nextVisit subscription (seconds)', int('--ack-deadline', 1), 600)
  .action(async (o) => {
    const { runSetup } = await import('./setup-command.ts');
    process.exitCode = await runSetup({ ...o, ackDeadlineSeconds: o.ackDeadline }, (line) => process.stdout.write(`${line}\n`));
  });

program
  .command('activator')
  .description('run the activator HTTP service (configured by RUBIN_INSTRUMENT, PUBSUB_VERIFICATION_TOKEN, IMAGE_BUCKET, CALIB_REPO, IMAGE_TIMEOUT, PORT, BROKER_URL, OUTPUT_REPO)')
  .action(async () => {
    const { runActivatorFromEnv } = await import('../activator/main.ts');
    await runActivatorFromEnv();
  });

program
  .command('broker')
  .description('run the embedded message broker (Pub/Sub REST API with push delivery)')
  .option('--host <host>', 'listen address', '127.0.0.1')
  .option('--port <port>', 'port (0 = any free port)', int('--port'), 8085)
  .option('--project <id>', 'project id', 'local')
  .action(async (o) => {
    const { runBroker } = await import('./broker-command.ts');
    await runBroker(o);
  });

program
  .command('upload')
  .description('simulate the camera: nextVisit per detector, then every snap uploaded to the raw bucket')
  .argument('<instrument>', `one of ${INSTRUMENT_NAMES.join(', ')}`)
  .argument('<groups>', 'number of groups (visits)', int('groups', 1))
  .requiredOption('--broker <url>', 'messaging URL (embedded broker: http://host:port)')
  .requiredOption('--bucket <url>', 'raw bucket (a directory, file:///dir, or s3://bucket[/prefix]?endpoint=…)')
  .option('--seed <n>', 'simulation seed', int('--seed'), 1)
  .option('--exposure-time <s>', 'exposure time per snap', seconds('--exposure-time'), 18)
  .option('--slew-time <s>', 'slew between groups', seconds('--slew-time'), 2)
  .option('--day-obs <yyyymmdd>', 'observing day of the group ids (default: today, UTC)', int('--day-obs', 19000101))
  .option('--first-seq <n>', 'sequence number of the first group (default: from the time of day, so group ids stay unique)', int('--first-seq'))
  .addOption(new Option('--kind <kind>', 'kind of every visit').choices(VISIT_KINDS).default('SCIENCE'))
  .option('--detectors <list>', 'detector ids, e.g. 0-8 or 1,4,7 (default: all)', detectorList)
  .option('--threads <n>', 'threads simulating raws', int('--threads', 1))
  .option('--no-transients', 'inject no transients into SCIENCE visits (they are injected by default)')
  .option('--transients-per-detector <n>', 'mean number of transients injected per SCIENCE detector-visit (default 20)', int('--transients-per-detector'))
  .option('--truth-dir <dir>', 'write the truth of every SCIENCE detector-visit to <dir>/{instrument}/{group}/{detector}.json')
  .option('--announce <topic>', 'publish an S3 event record (as MinIO does) on this topic for every upload: for S3-compatible buckets without notifications of their own')
  .option('--json-progress', 'print one JSON line per event')
  .action(async (instrument: string, groups: number, o) => {
    const { runUpload } = await import('./upload-command.ts');
    await runUpload({ instrument, groups, ...o, dayObs: o.dayObs ?? todayDayObs(), firstSeq: o.firstSeq ?? defaultFirstSeq() });
  });

const fits = program.command('fits').description('FITS tools');
fits
  .command('info')
  .description('list the HDUs of a FITS file with their pixel statistics')
  .argument('<file>', 'FITS file (.fits, .fz, gzip-wrapped)')
  .option('--json', 'print JSON')
  .action(async (file: string, o) => {
    const { runFitsInfo } = await import('./fits-command.ts');
    await runFitsInfo(file, Boolean(o.json));
  });

const { butlerCommands } = await import('./butler-command.ts');
program.addCommand(butlerCommands());

program
  .command('central')
  .description('build (or complete) a central repository for a simulated night: master calibrations, templates, reference catalog')
  .argument('<repo>', 'repository root: a directory or s3://bucket/prefix (made when missing)')
  .addOption(new Option('--instrument <name>', 'instrument').choices(INSTRUMENT_NAMES).default('LSSTComCam'))
  .option('--groups <n>', 'visits the night will take', int('--groups', 0), 2)
  .option('--seed <n>', 'the night\'s seed (its pointings)', int('--seed'), 1)
  .option('--detectors <list>', 'detector ids (default: all)', detectorList)
  .option('--seed-config <file>', 'YAML with registry.db and registry.namespace, for a repository made here on PostgreSQL')
  .action(async (repo: string, o) => {
    const { ensureCentralRepo } = await import('../tester/central/ensure.ts');
    const { readSeedConfig } = await import('../butler/repo-config.ts');
    let last = 0;
    const r = await ensureCentralRepo(repo, {
      instrument: o.instrument,
      seed: o.seed,
      groups: o.groups,
      detectors: o.detectors,
      registry: o.seedConfig ? await readSeedConfig(o.seedConfig) : undefined,
      onProgress: (done, total, name) => {
        if (Date.now() - last > 2000 || done === total) {
          last = Date.now();
          process.stdout.write(`built ${done}/${total} (${name})\n`);
        }
      },
    });
    process.stdout.write(`central repository ${r.root}: ${r.built} dataset(s) built, ${r.present} already there, ${r.seconds.toFixed(1)} s\n`);
  });

const bucket = program.command('bucket').description('directory bucket tools');
bucket
  .command('notify')
  .description('announce objects finalized under PREFIX on TOPIC (as gsutil notification create -e OBJECT_FINALIZE -f json -p PREFIX)')
  .argument('<bucket>', 'bucket directory')
  .requiredOption('--topic <topic>', 'topic, e.g. LATISS-image')
  .requiredOption('--broker <url>', 'messaging URL')
  .option('--prefix <prefix>', 'object name prefix, e.g. LATISS/', '')
  .action(async (dir: string, o) => {
    const { LocalBucket } = await import('../storage/local/local-bucket.ts');
    const cfg = await new LocalBucket({ root: dir }).addNotification({ topic: o.topic, broker: o.broker, prefix: o.prefix });
    process.stdout.write(JSON.stringify(cfg) + '\n');
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof ConfigError || e instanceof PromptError) {
    process.stderr.write(`prompt: ${e.message}\n`);
    process.exit(2);
  }
  throw e;
}
