/**
 * Reading alerts back for people: from archive files (Avro container files), directories of
 * them, single Kafka values saved to a file, or a stream of Kafka values (e.g. a topic), printed
 * one line per alert or one JSON object per line.
 *
 * JSON lines: the whole packet, field for field. Avro `long` fields (ids, visit, timestamps) are
 * decimal strings, always, since ids pass 2^53 and a JSON number would round them; NaN and
 * ±Infinity (allowed in Avro float/double) are the strings "NaN", "Infinity", "-Infinity";
 * cutouts are their byte lengths, or base64 strings with `cutouts: true`.
 */
import { Buffer } from 'node:buffer';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, InvalidInputError } from '../core/errors.ts';
import { isAlertArchive, iterateAlertArchive } from './archive.ts';
import { decodeAlert, unframeAlert, type AlertPacket, type AlertRecord } from './codec.ts';

export interface AlertsReadOptions {
  /** One JSON object per alert instead of a summary line. */
  readonly json: boolean;
  /** Stop after this many alerts. */
  readonly limit?: number;
  /** In JSON, cutouts as base64 instead of their byte lengths. */
  readonly cutouts?: boolean;
}

/** Where printed lines and problems go (process.stdout and process.stderr fit). */
export interface AlertsOutput {
  write(text: string): unknown;
}

/**
 * A file or directory path, or Kafka values (0x00, schema id, Avro body) as they arrive from a
 * topic.
 */
export type AlertsSource = string | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export interface AlertsReadSummary {
  /** Alerts printed. */
  readonly alerts: number;
  /** Files read (0 for a stream of values). */
  readonly files: number;
  /** Files or values that could not be read (each reported on `err`). */
  readonly failures: number;
}

/** One alert and where it came from (file path, or "value N" of a stream). */
export interface SourcedAlert {
  readonly packet: AlertPacket;
  readonly origin: string;
}

/**
 * Alerts of a stream of Kafka values. A value that cannot be read goes to `onError` (and the
 * stream goes on) when given, else it ends the iteration with its error.
 */
export async function* alertsFromFramed(
  values: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  onError?: (error: Error, index: number) => void,
): AsyncGenerator<AlertPacket, void, undefined> {
  let i = 0;
  for await (const v of values) {
    let p: AlertPacket;
    try {
      p = decodeAlert(unframeAlert(v));
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      if (!onError) throw new InvalidInputError(`value ${i}: ${err.message}`, { cause: err });
      onError(err, i);
      i++;
      continue;
    }
    i++;
    yield p;
  }
}

/** The alerts of one file: an archive, or one Kafka value saved as it was produced. */
export function alertsOfFile(bytes: Uint8Array, name = 'file'): Iterable<AlertPacket> {
  if (isAlertArchive(bytes)) return iterateAlertArchive(bytes);
  if (bytes.length > 5 && bytes[0] === 0x00) return [decodeAlert(unframeAlert(bytes))];
  throw new InvalidInputError(`${name} is neither an Avro container file ("Obj\\x01") nor a framed alert (0x00 + schema id)`);
}

/** Every .avro file under a directory, sorted by path. */
async function avroFilesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && e.name.endsWith('.avro')) out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}

const jsonNumber = (v: number): number | string => (Number.isFinite(v) ? v : String(v));

function recordJson(r: AlertRecord): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const k of Object.keys(r)) {
    const v = r[k];
    o[k] = typeof v === 'bigint' ? v.toString() : typeof v === 'number' ? jsonNumber(v) : v;
  }
  return o;
}

/** The packet as a JSON-ready object (see the module comment for the conventions). */
export function alertToJson(p: AlertPacket, opts: { readonly cutouts?: boolean } = {}): Record<string, unknown> {
  const bytes = (b: Uint8Array | null): number | string | null => (b === null ? null : opts.cutouts ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64') : b.length);
  return {
    diaSourceId: p.diaSourceId.toString(),
    observation_reason: p.observation_reason,
    target_name: p.target_name,
    diaSource: recordJson(p.diaSource),
    prvDiaSources: p.prvDiaSources?.map(recordJson) ?? null,
    prvDiaForcedSources: p.prvDiaForcedSources?.map(recordJson) ?? null,
    diaObject: p.diaObject ? recordJson(p.diaObject) : null,
    ssSource: p.ssSource ? recordJson(p.ssSource) : null,
    mpc_orbits: p.mpc_orbits ? recordJson(p.mpc_orbits) : null,
    cutoutDifference: bytes(p.cutoutDifference),
    cutoutScience: bytes(p.cutoutScience),
    cutoutTemplate: bytes(p.cutoutTemplate),
  };
}

function fixed(v: unknown, digits: number): string {
  return typeof v === 'number' ? v.toFixed(digits) : v === null || v === undefined ? '-' : String(v);
}

/**
 * One line: ids, position, band, PSF flux ± error (nJy), S/N, previous sources (detections /
 * forced) and cutout sizes (difference/science/template bytes, - when absent).
 */
export function alertSummaryLine(p: AlertPacket): string {
  const s = p.diaSource;
  const size = (b: Uint8Array | null): string => (b === null ? '-' : String(b.length));
  return [
    `diaSourceId=${p.diaSourceId}`,
    `diaObjectId=${s.diaObjectId ?? '-'}`,
    `ra=${fixed(s.ra, 6)}`,
    `dec=${fixed(s.dec, 6)}`,
    `band=${s.band ?? '-'}`,
    `psfFlux=${fixed(s.psfFlux, 1)}±${fixed(s.psfFluxErr, 1)}`,
    `snr=${fixed(s.snr, 1)}`,
    `prv=${p.prvDiaSources?.length ?? '-'}/${p.prvDiaForcedSources?.length ?? '-'}`,
    `cutouts=${size(p.cutoutDifference)}/${size(p.cutoutScience)}/${size(p.cutoutTemplate)}`,
  ].join(' ');
}

async function* alertsOfPath(source: string, err: AlertsOutput, counts: { files: number; failures: number }): AsyncGenerator<SourcedAlert, void, undefined> {
  const st = await stat(source);
  const files = st.isDirectory() ? await avroFilesUnder(source) : [source];
  if (st.isDirectory() && files.length === 0) err.write(`no .avro files under ${source}\n`);
  for (const file of files) {
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (e) {
      counts.failures++;
      err.write(`${file}: cannot read: ${errorMessage(e)}\n`);
      continue;
    }
    counts.files++;
    try {
      for (const packet of alertsOfFile(bytes, file)) yield { packet, origin: file };
    } catch (e) {
      counts.failures++;
      err.write(`${file}: ${errorMessage(e)}\n`);
    }
  }
}

/**
 * Prints the alerts of `source` to `out`: a summary line each, or with `json` one JSON object
 * per line. Problems with single files or values go to `err` and the rest is still read; a
 * source that does not exist throws.
 */
export async function runAlertsRead(source: AlertsSource, opts: AlertsReadOptions, out: AlertsOutput, err: AlertsOutput = process.stderr): Promise<AlertsReadSummary> {
  const limit = opts.limit ?? Infinity;
  const counts = { files: 0, failures: 0 };
  let alerts = 0;
  if (limit <= 0) return { alerts, ...counts };
  const stream: AsyncIterable<AlertPacket> =
    typeof source === 'string'
      ? (async function* () {
          for await (const a of alertsOfPath(source, err, counts)) yield a.packet;
        })()
      : alertsFromFramed(source, (e, i) => {
          counts.failures++;
          err.write(`value ${i}: ${e.message}\n`);
        });
  for await (const p of stream) {
    out.write(opts.json ? `${JSON.stringify(alertToJson(p, { cutouts: opts.cutouts }))}\n` : `${alertSummaryLine(p)}\n`);
    if (++alerts >= limit) break;
  }
  return { alerts, ...counts };
}
