/**
 * `prompt alerts …`: reading alert packets (schema v11.0) back.
 *
 *   prompt alerts read <source> [--json] [--limit n] [--cutouts]
 *   prompt alerts schema [--canonical]
 *
 * <source> is an alert archive (Avro container file), a directory (every .avro under it), a
 * file holding one Kafka value (0x00, schema id, body), or the alert stream on a broker
 * (`--broker URL`): `subscription:NAME` reads what an existing subscription holds,
 * `topic:NAME` subscribes now and reads what is published within `--wait` seconds. Exit code 0 when everything was read,
 * 1 when some file could not be, 2 when the source is missing.
 */
import { Command, InvalidArgumentError } from 'commander';
import { ALERT_SCHEMA, ALERT_SCHEMA_CANONICAL, runAlertsRead, type AlertsOutput, type AlertsSource } from '../alerts/index.ts';
import { errorMessage } from '../core/errors.ts';
import { randomBytes } from 'node:crypto';
import { createBroker } from '../messaging/index.ts';

export interface AlertsReadCliOptions {
  readonly json?: boolean;
  readonly limit?: number;
  readonly cutouts?: boolean;
  /** For topic: and subscription: sources. */
  readonly broker?: string;
  readonly wait?: number;
  readonly ack?: boolean;
}

/**
 * The Kafka-framed values on a broker subscription: pulled until it is empty (or, for a topic,
 * until `waitS` seconds pass without a message), acknowledged only when asked.
 */
async function* framedValuesFromBroker(spec: string, o: AlertsReadCliOptions): AsyncGenerator<Uint8Array> {
  if (!o.broker) throw new InvalidArgumentError(`${spec} needs --broker URL`);
  const broker = createBroker(o.broker);
  const [kind, name] = [spec.slice(0, spec.indexOf(':')), spec.slice(spec.indexOf(':') + 1)];
  const ephemeral = kind === 'topic';
  const subscription = ephemeral ? `alerts-read-${randomBytes(4).toString('hex')}` : name;
  try {
    if (ephemeral) await broker.ensureSubscription(subscription, name, { ackDeadlineSeconds: 60, retentionSeconds: 600 });
    const quietMs = (o.wait ?? (ephemeral ? 5 : 1)) * 1000;
    while (true) {
      const msgs = await broker.pull(subscription, { maxMessages: 256, waitMs: quietMs });
      if (msgs.length === 0) break;
      for (const m of msgs) yield m.data;
      if (o.ack || ephemeral) await broker.ack(subscription, msgs.map((m) => m.ackId));
    }
  } finally {
    if (ephemeral) await broker.deleteSubscription(subscription).catch(() => undefined);
    await broker.close();
  }
}

export function alertsSourceOf(source: string, o: AlertsReadCliOptions): AlertsSource {
  return /^(topic|subscription):./.test(source) ? framedValuesFromBroker(source, o) : source;
}

/** Runs `alerts read` and returns the exit code (also set on process.exitCode by the command). */
export async function runAlertsReadCommand(source: AlertsSource, o: AlertsReadCliOptions, out: AlertsOutput = process.stdout, err: AlertsOutput = process.stderr): Promise<number> {
  try {
    const r = await runAlertsRead(source, { json: Boolean(o.json), limit: o.limit, cutouts: Boolean(o.cutouts) }, out, err);
    if (!o.json) err.write(`${r.alerts} alert(s)${r.files ? ` from ${r.files} file(s)` : ''}${r.failures ? `, ${r.failures} unreadable` : ''}\n`);
    return r.failures ? 1 : 0;
  } catch (e) {
    const where = typeof source === 'string' ? `${source}: ` : '';
    err.write(`prompt alerts read: ${where}${errorMessage(e)}\n`);
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 2 : 1;
  }
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('--limit must be an integer ≥ 1');
  return n;
}

export function alertsCommands(): Command {
  const alerts = new Command('alerts').description('alert packets (LSST alert schema v11.0)');
  alerts
    .command('read')
    .description('print the alerts of an archive (.avro container file), a directory of them, or a saved Kafka value')
    .argument('<source>', 'file, directory, subscription:NAME or topic:NAME (with --broker)')
    .option('--broker <url>', 'broker of a subscription: or topic: source')
    .option('--wait <s>', 'seconds without a message before reading stops (topic: 5, subscription: 1)', Number)
    .option('--ack', 'acknowledge what is read from a subscription (default: leave it there)')
    .option('--json', 'one JSON object per alert (longs as decimal strings, cutouts as byte lengths)')
    .option('--cutouts', 'with --json, cutouts as base64')
    .option('--limit <n>', 'stop after n alerts', positiveInt)
    .action(async (source: string, o: AlertsReadCliOptions) => {
      process.exitCode = await runAlertsReadCommand(alertsSourceOf(source, o), o);
    });
  alerts
    .command('schema')
    .description('print the alert schema (JSON, named types inline)')
    .option('--canonical', 'Parsing Canonical Form, as a schema registry stores it')
    .action((o: { canonical?: boolean }) => {
      process.stdout.write(o.canonical ? `${ALERT_SCHEMA_CANONICAL}\n` : `${JSON.stringify(ALERT_SCHEMA, null, 2)}\n`);
    });
  return alerts;
}
