/**
 * A second, independent Avro implementation reads what we write: Debian's python3-avro (the
 * Apache Avro Python library), run with /usr/bin/python3. Skipped, with the reason printed,
 * when it is not installed, unless CI=true, where its absence fails the test.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRng } from '../core/rng.ts';
import { writeAlertArchive } from './archive.ts';
import { alertRecordFromRow, encodeFramedAlert, type AlertPacket, type AlertRecord } from './codec.ts';
import { ALERT_RECORD_NAMES, ALERT_SCHEMA_JSON, alertRecordColumns, type AlertRecordName } from './schema.ts';
import { fakePacket, fakeRow } from './testing/fixtures.ts';
import { officialSchemas } from './testing/reference.ts';

const PYTHON = '/usr/bin/python3';
const hasPythonAvro = spawnSync(PYTHON, ['-c', 'import avro.datafile, avro.io, avro.schema'], { stdio: 'ignore' }).status === 0;
const required = process.env.CI === 'true';
if (!hasPythonAvro) {
  console.log(`python3-avro tests: ${required ? 'CI=true, so they run and fail' : 'skipped'}: ${PYTHON} cannot import avro (apt-get install python3-avro)`);
}
const official = officialSchemas();

/**
 * Reads alerts with Apache Avro's Python library and prints them as JSON: ints as decimal
 * strings, non-finite floats as 'nan' / 'inf' / '-inf', bytes as length and SHA-256,
 * timestamps as microseconds since 1970 (strings).
 *   archive FILE                       DataFileReader (the writer schema from the file header)
 *   framed FILE SCHEMA_FILE...         0x00 + id + body; the writer schema parsed from the files
 *   canonical SCHEMA_FILE...           canonical form of the last schema, the others named before it
 */
const SCRIPT = String.raw`
import sys, json, math, hashlib, io, struct, datetime
import avro.datafile, avro.io, avro.schema, avro.name

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

def norm(x):
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return x if math.isfinite(x) else repr(x)
    if isinstance(x, bytes):
        return {'bytes': len(x), 'sha256': hashlib.sha256(x).hexdigest()}
    if isinstance(x, datetime.datetime):
        d = x - EPOCH
        return str((d.days * 86400 + d.seconds) * 1000000 + d.microseconds)
    if isinstance(x, dict):
        return {k: norm(v) for k, v in x.items()}
    if isinstance(x, list):
        return [norm(v) for v in x]
    raise TypeError(type(x))

def parse_files(files):
    names = avro.name.Names()
    schema = None
    for f in files:
        with open(f) as fh:
            schema = avro.schema.make_avsc_object(json.load(fh), names)
    return schema

mode = sys.argv[1]
if mode == 'archive':
    with open(sys.argv[2], 'rb') as fh:
        reader = avro.datafile.DataFileReader(fh, avro.io.DatumReader())
        out = {'codec': reader.codec, 'alerts': [norm(d) for d in reader]}
elif mode == 'framed':
    data = open(sys.argv[2], 'rb').read()
    magic, schema_id = struct.unpack('>bi', data[:5])
    schema = parse_files(sys.argv[3:])
    buf = io.BytesIO(data[5:])
    datum = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(buf))
    out = {'magic': magic, 'schemaId': schema_id, 'left': len(data) - 5 - buf.tell(), 'alert': norm(datum)}
elif mode == 'canonical':
    out = {'canonical': parse_files(sys.argv[2:]).canonical_form}
print(json.dumps(out))
`;

function python(args: string[]): Record<string, unknown> {
  const r = spawnSync(PYTHON, ['-c', SCRIPT, ...args], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`python3-avro failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** Our packet as the Python side prints it. */
function expected(p: AlertPacket): Record<string, unknown> {
  const kinds = new Map(ALERT_RECORD_NAMES.map((n) => [n, new Map(alertRecordColumns(n).map((c) => [c.name, c.datatype]))]));
  const num = (v: number): number | string => (Number.isFinite(v) ? v : Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf');
  const rec = (name: AlertRecordName, r: AlertRecord | null): Record<string, unknown> | null => {
    if (r === null) return null;
    const out: Record<string, unknown> = {};
    for (const [k, dt] of kinds.get(name)!) {
      const v = r[k];
      out[k] = typeof v === 'bigint' ? v.toString() : typeof v === 'number' ? (dt === 'int' || dt === 'short' ? String(v) : num(v)) : v;
    }
    return out;
  };
  const bytes = (b: Uint8Array | null): unknown => (b === null ? null : { bytes: b.length, sha256: createHash('sha256').update(b).digest('hex') });
  return {
    diaSourceId: p.diaSourceId.toString(),
    observation_reason: p.observation_reason,
    target_name: p.target_name,
    diaSource: rec('diaSource', p.diaSource),
    prvDiaSources: p.prvDiaSources?.map((s) => rec('diaSource', s)) ?? null,
    prvDiaForcedSources: p.prvDiaForcedSources?.map((s) => rec('diaForcedSource', s)) ?? null,
    diaObject: rec('diaObject', p.diaObject),
    ssSource: rec('ssSource', p.ssSource),
    mpc_orbits: rec('mpc_orbits', p.mpc_orbits),
    cutoutDifference: bytes(p.cutoutDifference),
    cutoutScience: bytes(p.cutoutScience),
    cutoutTemplate: bytes(p.cutoutTemplate),
  };
}

function packets(): AlertPacket[] {
  const rng = createRng('python');
  return Array.from({ length: 6 }, (_, i) => {
    const p = fakePacket(500 + i, { prvDiaSources: i, prvDiaForcedSources: 6 - i, cutouts: i !== 2, nullShare: 0.3 }, alertRecordFromRow);
    if (i === 1) {
      p.diaSource.psfFlux = NaN;
      p.diaSource.snr = Infinity;
      p.diaSource.parentDiaSourceId = 2n ** 63n - 1n;
      p.ssSource = alertRecordFromRow('ssSource', fakeRow('ssSource', rng));
      p.mpc_orbits = alertRecordFromRow('mpc_orbits', fakeRow('mpc_orbits', rng, { nullShare: 0, set: { created_at: 1_767_225_600_123_456n, updated_at: -5n } }));
    }
    if (i === 3) Object.assign(p, { prvDiaSources: null, prvDiaForcedSources: null, diaObject: null, observation_reason: null });
    return p;
  });
}

describe.skipIf(!hasPythonAvro && !required)('needs python3-avro: Apache Avro for Python reads our alerts', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'alerts-python-avro-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const check = (): void => {
    if (!hasPythonAvro) throw new Error(`${PYTHON} cannot import avro: install python3-avro (required when CI=true)`);
  };

  it.each(['deflate', 'null'] as const)('reads an archive we wrote (codec %s) with DataFileReader', (codec) => {
    check();
    const ps = packets();
    const file = path.join(dir, `alerts-${codec}.avro`);
    writeFileSync(file, writeAlertArchive(ps, { codec, blockBytes: 50_000 }));
    const got = python(['archive', file]);
    expect(got.codec).toBe(codec);
    expect(got.alerts).toEqual(ps.map(expected));
  });

  it.skipIf(!official)('decodes a Kafka value we framed, with the writer schema parsed from the published .avsc files', () => {
    check();
    for (const [i, p] of packets().entries()) {
      const file = path.join(dir, `value-${i}.bin`);
      writeFileSync(file, encodeFramedAlert(p));
      const got = python(['framed', file, ...official!.files]);
      expect(got.magic).toBe(0);
      expect(got.schemaId).toBe(1100);
      expect(got.left).toBe(0);
      expect(got.alert).toEqual(expected(p));
    }
  });

  it.skipIf(!official)('finds the same canonical form for our schema and the published files', () => {
    check();
    const ours = path.join(dir, 'ours.avsc');
    writeFileSync(ours, ALERT_SCHEMA_JSON);
    expect(python(['canonical', ours]).canonical).toBe(python(['canonical', ...official!.files]).canonical);
  });
});
