/**
 * Made-up but plausible APDB rows and cutouts for alert tests and benchmarks: every column of a
 * table filled with a value of its datatype (ids beyond 2^53, some nullable columns NULL), plus
 * the partitioning column pixelId the APDB adds.
 */
import type { ApdbRow, ApdbValue } from '../../apdb/types.ts';
import { tableColumns, type ApdbColumn } from '../../apdb/schema/types.ts';
import type { TanWcs } from '../../astro/index.ts';
import { createRng, type Rng } from '../../core/rng.ts';
import { cutoutToFitsImage } from '../../pipeline/stages/dia-sources/cutouts.ts';
import type { AlertPacket } from '../codec.ts';
import { ALERT_RECORD_SOURCES, type AlertRecordName } from '../schema.ts';

/** 2^60: ids from here are far beyond what a double holds exactly. */
export const BIG_ID = 1n << 60n;

export interface FakeRowOptions {
  /** Share of nullable columns left NULL (default 0.2). */
  readonly nullShare?: number;
  /** Values that replace the made-up ones. */
  readonly set?: Readonly<Record<string, ApdbValue>>;
}

function fakeValue(c: ApdbColumn, rng: Rng): ApdbValue {
  switch (c.datatype) {
    case 'long':
      return BIG_ID + BigInt(rng.int(1_000_000_000)) * 1000n + BigInt(rng.int(1000));
    case 'timestamp':
      return 1_760_000_000_000_000n + BigInt(rng.int(1_000_000_000));
    case 'int':
      return rng.int(2000) - 10;
    case 'short':
      return rng.int(189);
    case 'float':
      return Math.fround(rng.gaussian(0, 1000));
    case 'double':
      return rng.range(0, 360);
    case 'boolean':
      return rng.uniform() < 0.5;
    case 'char':
    case 'string':
      return c.name === 'band' ? 'ugrizy'[rng.int(6)] : 'x'.repeat(Math.min(c.length ?? 8, 1 + rng.int(8)));
    case 'text':
      return '{"orbit": "made up"}';
  }
}

/** A full APDB row of the table behind an alert record (all columns, also those the alert omits). */
export function fakeRow(record: AlertRecordName, rng: Rng, opts: FakeRowOptions = {}): ApdbRow {
  const nullShare = opts.nullShare ?? 0.2;
  const row: ApdbRow = {};
  for (const c of tableColumns(ALERT_RECORD_SOURCES[record].table)) {
    row[c.name] = c.nullable && rng.uniform() < nullShare ? null : fakeValue(c, rng);
  }
  if (record !== 'diaForcedSource' && record !== 'ssSource' && record !== 'mpc_orbits') row.pixelId = BigInt(rng.int(1 << 30)) * 1024n;
  return { ...row, ...opts.set };
}

const STAMP_WCS: TanWcs = { crvalDeg: [53.1, -27.8], crpix: [15, 15], cd: [[-5.5e-5, 0], [0, 5.5e-5]] };

/** A sizePx x sizePx float32 FITS image with a TAN WCS, like an alert cutout (31 px: 8640 bytes). */
export function fakeCutout(rng: Rng, sizePx = 31): Uint8Array {
  const image = new Float32Array(sizePx * sizePx);
  for (let i = 0; i < image.length; i++) image[i] = rng.gaussian(0, 30);
  return cutoutToFitsImage({ width: sizePx, height: sizePx, image }, STAMP_WCS, 1000, 2000, { header: [{ key: 'BUNIT', value: 'nJy' }] });
}

export interface FakePacketOptions {
  readonly prvDiaSources?: number;
  readonly prvDiaForcedSources?: number;
  readonly cutouts?: boolean;
  readonly nullShare?: number;
}

/**
 * A packet as buildAlertPackets makes it, from made-up rows: the records hold exactly the
 * alert's fields (extra columns dropped, omitted ones removed).
 */
export function fakePacket(seed: number | string, opts: FakePacketOptions = {}, toRecord: (name: AlertRecordName, row: ApdbRow) => ApdbRow): AlertPacket {
  const rng = createRng(seed);
  const nullShare = opts.nullShare ?? 0.2;
  const diaObject = fakeRow('diaObject', rng, { nullShare });
  const objectId = diaObject.diaObjectId as bigint;
  const src = (i: number): ApdbRow => fakeRow('diaSource', rng, { nullShare, set: { diaObjectId: objectId, midpointMjdTai: 60900 + i, band: 'r' } });
  const diaSource = src(100);
  const n = opts.prvDiaSources ?? 10;
  const m = opts.prvDiaForcedSources ?? 10;
  return {
    diaSourceId: diaSource.diaSourceId as bigint,
    observation_reason: 'wide',
    target_name: 'field_1',
    diaSource: toRecord('diaSource', diaSource),
    prvDiaSources: Array.from({ length: n }, (_, i) => toRecord('diaSource', src(i))),
    prvDiaForcedSources: Array.from({ length: m }, (_, i) => toRecord('diaForcedSource', fakeRow('diaForcedSource', rng, { nullShare, set: { diaObjectId: objectId, midpointMjdTai: 60900 + i } }))),
    diaObject: toRecord('diaObject', diaObject),
    ssSource: null,
    mpc_orbits: null,
    cutoutDifference: opts.cutouts === false ? null : fakeCutout(rng),
    cutoutScience: opts.cutouts === false ? null : fakeCutout(rng),
    cutoutTemplate: opts.cutouts === false ? null : fakeCutout(rng),
  };
}
