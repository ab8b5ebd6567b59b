/**
 * Alert serialisation on one core: realistic v11.0 packets (a full DiaSource, 10 earlier
 * DiaSources, 10 DiaForcedSources, the DiaObject, three 31x31 float32 FITS cutouts), built by
 * buildAlertPackets from APDB rows, then
 * - encoded and framed for Kafka (encodeFramedAlert: Avro body + 5-byte header, one copy),
 * - the same as two steps (encodeAlert then frameAlert),
 * - decoded back from Kafka values,
 * - written as archives (Avro container files, codecs null and deflate),
 * against a baseline measured in the same run on the same packets: JSON.stringify with ids as
 * strings and base64 cutouts. Rates are alerts per wall-clock second and per CPU second (what
 * an idle core would do when other processes share the machine). Target: ≥ 10,000 alerts/s/core
 * for encode + frame.
 *
 * Run alone: node bin/run-ts.js bench/alerts.bench.ts [seconds per figure, default 3]
 */
import { Buffer } from 'node:buffer';
import { pathToFileURL } from 'node:url';
import type { ApdbRow } from '../src/apdb/types.ts';
import {
  buildAlertPackets,
  decodeFramedAlert,
  encodeAlert,
  encodeFramedAlert,
  frameAlert,
  writeAlertArchive,
  type AlertCutouts,
  type AlertPacket,
  type AlertPacketsInput,
} from '../src/alerts/index.ts';
import { fakeCutout, fakeRow } from '../src/alerts/testing/fixtures.ts';
import { createRng } from '../src/core/rng.ts';

export const ALERTS_TARGET_PER_CORE = 10_000;
const POOL = 256;

/** The input of buildAlertPackets for one detector-visit with `count` new DiaSources. */
export function benchPacketsInput(count = POOL, seed = 'alerts-bench'): AlertPacketsInput {
  const rng = createRng(seed);
  const visit = 60910.25;
  const diaSources: ApdbRow[] = [];
  const diaObjects: ApdbRow[] = [];
  const history = { diaObjects: [] as ApdbRow[], diaSources: [] as ApdbRow[], diaForcedSources: [] as ApdbRow[] };
  const diaForcedSources: ApdbRow[] = [];
  const cutouts = new Map<bigint, AlertCutouts>();
  for (let k = 0; k < count; k++) {
    const obj = fakeRow('diaObject', rng, { nullShare: 0.1, set: { validityStartMjdTai: visit, validityEndMjdTai: null, nDiaSources: 11 } });
    const objectId = obj.diaObjectId as bigint;
    diaObjects.push(obj);
    history.diaObjects.push({ ...obj, validityStartMjdTai: visit - 3, nDiaSources: 10 });
    const src = fakeRow('diaSource', rng, { nullShare: 0, set: { diaObjectId: objectId, midpointMjdTai: visit, band: 'r' } });
    diaSources.push(src);
    for (let i = 0; i < 10; i++) {
      const t = visit - 300 + i * 25;
      history.diaSources.push(fakeRow('diaSource', rng, { nullShare: 0.2, set: { diaObjectId: objectId, midpointMjdTai: t } }));
      history.diaForcedSources.push(fakeRow('diaForcedSource', rng, { nullShare: 0.1, set: { diaObjectId: objectId, midpointMjdTai: t + 0.5 } }));
    }
    diaForcedSources.push(fakeRow('diaForcedSource', rng, { set: { diaObjectId: objectId, midpointMjdTai: visit } }));
    cutouts.set(src.diaSourceId as bigint, { science: fakeCutout(rng), template: fakeCutout(rng), difference: fakeCutout(rng) });
  }
  return { diaSources, history, diaObjects, diaForcedSources, cutouts: (id) => cutouts.get(id) ?? null, observationReason: 'wide', targetName: 'bench' };
}

/** `count` packets as buildAlertPackets makes them for one detector-visit. */
export function benchPackets(count = POOL, seed = 'alerts-bench'): AlertPacket[] {
  return buildAlertPackets(benchPacketsInput(count, seed));
}

interface Rate {
  readonly perWallSecond: number;
  readonly perCpuSecond: number;
  readonly count: number;
}

/** Calls fn(i) for i = 0, 1, … for `seconds` (after a short warm-up); counts items of `per` each. */
function measure(seconds: number, fn: (i: number) => void, per = 1): Rate {
  const warm = performance.now();
  for (let i = 0; performance.now() - warm < Math.min(500, seconds * 200); i++) fn(i);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let i = 0;
  let t = t0;
  while (t - t0 < seconds * 1000) {
    // Check the clock every few calls only.
    for (let j = 0; j < 16; j++) fn(i++);
    t = performance.now();
  }
  const cpu = process.cpuUsage(cpu0);
  const wall = (t - t0) / 1000;
  const cpuS = (cpu.user + cpu.system) / 1e6;
  return { perWallSecond: (i * per) / wall, perCpuSecond: (i * per) / cpuS, count: i * per };
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function jsonOf(p: AlertPacket): string {
  return JSON.stringify(p, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : v));
}

export async function runAlertsBench(log: (line: string) => void, opts: { seconds?: number } = {}): Promise<Record<string, number | string>> {
  const seconds = opts.seconds ?? 3;
  const input = benchPacketsInput();
  const packets = buildAlertPackets(input);
  const n = packets.length;
  const p0 = packets[0];
  const body = encodeAlert(p0);
  const cutoutBytes = [p0.cutoutDifference, p0.cutoutScience, p0.cutoutTemplate].map((c) => c?.length ?? 0);
  log(`alert packets: ${n} distinct, ${p0.prvDiaSources?.length} prvDiaSources + ${p0.prvDiaForcedSources?.length} prvDiaForcedSources, cutouts ${cutoutBytes.join(' + ')} bytes, Avro body ${fmt(body.length)} bytes, JSON ${fmt(jsonOf(p0).length)} bytes`);

  const build = measure(seconds, () => void buildAlertPackets(input), n);
  const framed = measure(seconds, (i) => void encodeFramedAlert(packets[i % n]));
  const twoStep = measure(seconds, (i) => void frameAlert(encodeAlert(packets[i % n])));
  const json = measure(seconds, (i) => void jsonOf(packets[i % n]));
  const values = packets.map((p) => encodeFramedAlert(p));
  const decode = measure(seconds, (i) => void decodeFramedAlert(values[i % n]));
  const batch = 50;
  const batches = Array.from({ length: Math.floor(n / batch) }, (_, k) => packets.slice(k * batch, (k + 1) * batch));
  const archiveNull = measure(seconds, (i) => void writeAlertArchive(batches[i % batches.length], { codec: 'null' }), batch);
  const archiveDeflate = measure(seconds, (i) => void writeAlertArchive(batches[i % batches.length], { codec: 'deflate' }), batch);
  const sizeNull = writeAlertArchive(batches[0], { codec: 'null' }).length / batch;
  const sizeDeflate = writeAlertArchive(batches[0], { codec: 'deflate' }).length / batch;

  const row = (name: string, r: Rate, extra = ''): void =>
    log(`  ${name.padEnd(38)} ${fmt(r.perWallSecond).padStart(9)} alerts/s   ${fmt(r.perCpuSecond).padStart(9)} alerts/cpu-s${extra}`);
  row('buildAlertPackets (rows -> packets)', build);
  row('encode + frame (encodeFramedAlert)', framed, `   x${(framed.perCpuSecond / json.perCpuSecond).toFixed(2)} the JSON baseline`);
  row('encodeAlert then frameAlert', twoStep, `   x${(twoStep.perCpuSecond / json.perCpuSecond).toFixed(2)} the JSON baseline`);
  row('baseline: JSON.stringify, base64 cutouts', json);
  row('decode (unframe + decodeAlert)', decode);
  row('archive, codec null (50 per file)', archiveNull, `   ${fmt(sizeNull)} bytes/alert`);
  row('archive, codec deflate (50 per file)', archiveDeflate, `   ${fmt(sizeDeflate)} bytes/alert`);
  const met = framed.perCpuSecond >= ALERTS_TARGET_PER_CORE;
  log(`  target ≥ ${fmt(ALERTS_TARGET_PER_CORE)} alerts/s/core for encode + frame: ${met ? 'met' : 'NOT met'} (${fmt(framed.perCpuSecond)} per CPU second, ${fmt(framed.perWallSecond)} per wall second)`);
  const r = (x: number): number => Math.round(x);
  return {
    avroBytesPerAlert: body.length,
    encodeFramePerCpuSecond: r(framed.perCpuSecond),
    jsonBaselinePerCpuSecond: r(json.perCpuSecond),
    encodeVsJson: Number((framed.perCpuSecond / json.perCpuSecond).toFixed(2)),
    decodePerCpuSecond: r(decode.perCpuSecond),
    buildPacketsPerCpuSecond: r(build.perCpuSecond),
    archiveNullPerCpuSecond: r(archiveNull.perCpuSecond),
    targetPerCore: ALERTS_TARGET_PER_CORE,
    targetMet: met ? 'yes' : 'no',
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const s = Number(process.argv[2] ?? 3);
  await runAlertsBench((line) => process.stdout.write(`${line}\n`), { seconds: Number.isFinite(s) && s > 0 ? s : 3 });
}
