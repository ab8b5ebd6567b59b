import { describe, expect, it } from 'vitest';
import type { ApdbRow } from '../apdb/types.ts';
import { InvalidInputError } from '../core/errors.ts';
import { createRng } from '../core/rng.ts';
import { BIGINT_LONG } from './avro-long.ts';
import {
  alertRecordFromRow,
  decodeAlert,
  decodeFramedAlert,
  encodeAlert,
  encodeFramedAlert,
  frameAlert,
  parseAlertFrame,
  unframeAlert,
  type AlertPacket,
  type AlertRecord,
} from './codec.ts';
import { ALERT_RECORD_NAMES, alertRecordColumns } from './schema.ts';
import { BIG_ID, fakePacket, fakeRow } from './testing/fixtures.ts';
import { officialSampleAlert, officialSchemas, type JsonObject } from './testing/reference.ts';

/** Zig-zag varint of a signed 64-bit value, bigint arithmetic only (the spec's definition). */
function referenceVarint(v: bigint): number[] {
  let z = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return out;
}

function packet(seed: number, opts: Parameters<typeof fakePacket>[1] = {}): AlertPacket {
  return fakePacket(seed, opts, alertRecordFromRow);
}

describe('Avro long as bigint', () => {
  const values = [0n, 1n, -1n, 63n, 64n, -64n, -65n, 2n ** 31n, -(2n ** 31n), 2n ** 51n - 1n, 2n ** 51n, -(2n ** 51n), -(2n ** 51n) - 1n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 2n ** 56n, 2n ** 62n + 12345n, 2n ** 63n - 1n, -(2n ** 63n), BIG_ID + 7n];
  it('writes the spec’s zig-zag varint bytes and reads them back exactly', () => {
    for (const v of values) {
      const b = BIGINT_LONG.toBuffer(v);
      expect([...b], String(v)).toEqual(referenceVarint(v));
      expect(BIGINT_LONG.fromBuffer(b)).toBe(v);
    }
  });
  it('refuses values outside int64 and non-bigints', () => {
    expect(BIGINT_LONG.isValid(2n ** 63n)).toBe(false);
    expect(BIGINT_LONG.isValid(-(2n ** 63n) - 1n)).toBe(false);
    expect(BIGINT_LONG.isValid(5)).toBe(false);
    expect(() => BIGINT_LONG.toBuffer(2n ** 63n)).toThrow();
  });
});

describe('alertRecordFromRow', () => {
  it('keeps the alert’s fields in schema order, drops the others, fills absent nullable ones with null', () => {
    const row = fakeRow('diaSource', createRng(1), { set: { pixelId: 42n, exposureTime: 30, reliabilityVersion: 'v1' } });
    delete row.apFlux;
    const r = alertRecordFromRow('diaSource', row);
    expect(Object.keys(r)).toEqual(alertRecordColumns('diaSource').map((c) => c.name));
    expect(r).not.toHaveProperty('pixelId');
    expect(r).not.toHaveProperty('exposureTime');
    expect(r.apFlux).toBeNull();
    expect(r.diaSourceId).toBe(row.diaSourceId);
    // The APDB table name works too.
    expect(alertRecordFromRow('DiaSource', row)).toEqual(r);
    const obj = alertRecordFromRow('diaObject', fakeRow('diaObject', createRng(2), { set: { validityEndMjdTai: 60000 } }));
    expect(obj).not.toHaveProperty('validityEndMjdTai');
  });

  it('converts safe integers to bigint for longs and bigints to numbers for ints, keeps NaN', () => {
    const row = fakeRow('diaForcedSource', createRng(3), { set: { diaForcedSourceId: 17, detector: 5n, psfFlux: NaN, psfFluxErr: Infinity } });
    const r = alertRecordFromRow('diaForcedSource', row);
    expect(r.diaForcedSourceId).toBe(17n);
    expect(r.detector).toBe(5);
    expect(r.psfFlux).toBeNaN();
    expect(r.psfFluxErr).toBe(Infinity);
  });

  it('names the field when a non-nullable one is missing or null', () => {
    const row = fakeRow('diaSource', createRng(4));
    delete row.psfNdata;
    expect(() => alertRecordFromRow('diaSource', row)).toThrow(InvalidInputError);
    expect(() => alertRecordFromRow('diaSource', row)).toThrow(/diaSource \(diaSourceId \d+\): field psfNdata is missing but may not be null/);
    expect(() => alertRecordFromRow('diaSource', { ...row, psfNdata: 1, ra: null })).toThrow(/field ra is null but may not be null/);
  });

  it('names the field and the expected type when a value has the wrong type', () => {
    const row = fakeRow('diaSource', createRng(5));
    expect(() => alertRecordFromRow('diaSource', { ...row, x: '12' })).toThrow(/field x is "12" \(string\), expected a number/);
    expect(() => alertRecordFromRow('diaSource', { ...row, visit: 1.5 })).toThrow(/field visit is 1.5 \(number\), expected a 64-bit integer/);
    expect(() => alertRecordFromRow('diaSource', { ...row, detector: 2 ** 40 })).toThrow(/field detector .* expected a 32-bit integer/);
    expect(() => alertRecordFromRow('diaSource', { ...row, isDipole: 1 })).toThrow(/field isDipole is 1 \(number\), expected a boolean/);
    expect(() => alertRecordFromRow('diaSource', { ...row, diaSourceId: 2n ** 64n })).toThrow(/field diaSourceId/);
  });

  it('refuses a table the alert has no record for', () => {
    expect(() => alertRecordFromRow('DiaObjectLast' as 'diaObject', {})).toThrow(/no alert record for table "DiaObjectLast"/);
  });
});

describe('encodeAlert / decodeAlert', () => {
  it('round-trips a full packet: 64-bit ids beyond 2^53, NaN, nulls, cutouts', () => {
    const p = packet(11, { nullShare: 0.3 });
    p.diaSource.psfFlux = NaN;
    p.diaSource.dipoleChi2 = -Infinity;
    p.diaSource.parentDiaSourceId = 2n ** 63n - 1n;
    p.prvDiaSources![0].diaObjectId = -(2n ** 63n);
    const body = encodeAlert(p);
    const back = decodeAlert(body);
    expect(back).toEqual(p);
    expect(back.diaSourceId).toBe(p.diaSourceId);
    expect(back.diaSourceId > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(back.diaSource.psfFlux).toBeNaN();
    expect(back.diaSource.parentDiaSourceId).toBe(2n ** 63n - 1n);
    expect(back.prvDiaSources![0].diaObjectId).toBe(-(2n ** 63n));
    expect(back.prvDiaSources).toHaveLength(10);
    expect(back.prvDiaForcedSources).toHaveLength(10);
    expect(Buffer.from(back.cutoutScience!).equals(Buffer.from(p.cutoutScience!))).toBe(true);
    // Records read back are in schema order, as written.
    expect(Object.keys(back.diaSource)).toEqual(alertRecordColumns('diaSource').map((c) => c.name));
  });

  it('round-trips a packet of nulls: no history, no object, no cutouts, observation fields null', () => {
    const p: AlertPacket = { ...packet(12, { cutouts: false }), prvDiaSources: null, prvDiaForcedSources: null, diaObject: null, observation_reason: null, target_name: null };
    expect(decodeAlert(encodeAlert(p))).toEqual(p);
    // Empty arrays stay empty arrays (not null).
    const q: AlertPacket = { ...p, prvDiaSources: [], prvDiaForcedSources: [] };
    expect(decodeAlert(encodeAlert(q))).toEqual(q);
  });

  it('round-trips every record kind, timestamps as bigint microseconds', () => {
    const rng = createRng(13);
    const ss = alertRecordFromRow('ssSource', fakeRow('ssSource', rng, { nullShare: 0 }));
    const orbit = alertRecordFromRow('mpc_orbits', fakeRow('mpc_orbits', rng, { nullShare: 0, set: { created_at: 1_767_225_600_123_456n, updated_at: -1n } }));
    const p: AlertPacket = { ...packet(13, { prvDiaSources: 0, prvDiaForcedSources: 1 }), ssSource: ss, mpc_orbits: orbit };
    const back = decodeAlert(encodeAlert(p));
    expect(back).toEqual(p);
    expect(back.mpc_orbits!.created_at).toBe(1_767_225_600_123_456n);
  });

  it('takes cutouts as any Uint8Array view and gives identical bytes for Buffers', () => {
    const p = packet(14);
    const arena = new Uint8Array(p.cutoutScience!.length + 10);
    arena.set(p.cutoutScience!, 5);
    const q = { ...p, cutoutScience: arena.subarray(5, 5 + p.cutoutScience!.length) };
    expect(encodeAlert(q).equals(encodeAlert({ ...p, cutoutScience: Buffer.from(p.cutoutScience!) }))).toBe(true);
  });

  it('is deterministic and independent of encoder state (large then small packets)', () => {
    const big = packet(15, { prvDiaSources: 200 });
    const small = packet(16, { cutouts: false });
    const a = encodeAlert(small);
    encodeAlert(big);
    expect(encodeAlert(small).equals(a)).toBe(true);
    expect(decodeAlert(encodeAlert(big))).toEqual(big);
  });

  it('names the offending field of a packet that does not fit the schema', () => {
    const p = packet(17);
    const bad: AlertRecord = { ...p.diaSource, psfNdata: 'many' };
    expect(() => encodeAlert({ ...p, diaSource: bad })).toThrow(InvalidInputError);
    expect(() => encodeAlert({ ...p, diaSource: bad })).toThrow(/diaSource\.psfNdata = "many", expected int/);
    const prv = [...p.prvDiaSources!];
    prv[3] = { ...prv[3], diaObjectId: 5 };
    expect(() => encodeAlert({ ...p, prvDiaSources: prv })).toThrow(/prvDiaSources\.3\.diaObjectId = 5/);
    expect(() => encodeAlert({ ...p, cutoutScience: 'FITS' as unknown as Uint8Array })).toThrow(/cutoutScience = "FITS", expected \["null","bytes"\]/);
    expect(() => encodeAlert({ ...p, diaSource: { ...p.diaSource, ra: null } })).toThrow(/diaSource\.ra = null, expected double/);
  });

  it('refuses truncated or padded bodies with a clear error', () => {
    const body = encodeAlert(packet(18, { cutouts: false }));
    expect(() => decodeAlert(body.subarray(0, body.length - 3))).toThrow(/cannot decode alert .*truncated/);
    expect(() => decodeAlert(Buffer.concat([body, Buffer.from([0])]))).toThrow(/trailing data/);
    expect(() => decodeAlert(new Uint8Array(0))).toThrow(/empty body/);
  });

  it.skipIf(!officialSchemas())('encodes the published sample alert (extra keys dropped, ids exact)', () => {
    const o = officialSchemas()!;
    const sample = officialSampleAlert(o);
    if (!sample) return;
    const longs = new Map(ALERT_RECORD_NAMES.map((n) => [n, new Set(alertRecordColumns(n).filter((c) => c.datatype === 'long').map((c) => c.name))]));
    const row = (name: (typeof ALERT_RECORD_NAMES)[number], j: JsonObject): ApdbRow => {
      const out: ApdbRow = {};
      for (const [k, v] of Object.entries(j)) out[k] = longs.get(name)!.has(k) ? BigInt(v as string | number) : (v as ApdbRow[string]);
      return out;
    };
    const p: AlertPacket = {
      diaSourceId: BigInt(sample.diaSourceId as number),
      observation_reason: null,
      target_name: null,
      diaSource: alertRecordFromRow('diaSource', row('diaSource', sample.diaSource as JsonObject)),
      prvDiaSources: (sample.prvDiaSources as JsonObject[]).map((s) => alertRecordFromRow('diaSource', row('diaSource', s))),
      prvDiaForcedSources: null,
      diaObject: alertRecordFromRow('diaObject', row('diaObject', sample.diaObject as JsonObject)),
      ssSource: null,
      mpc_orbits: null,
      cutoutDifference: null,
      cutoutScience: null,
      cutoutTemplate: null,
    };
    const back = decodeAlert(encodeAlert(p));
    expect(back).toEqual(p);
    expect(back.diaSource.diaSourceId).toBe(281323062375219200n);
    expect(back.diaObject!.diaObjectId).toBe(281323062375219201n);
    expect(back.diaSource).not.toHaveProperty('programId');
    expect(back.diaSource).not.toHaveProperty('x_y_Cov');
  });
});

describe('Kafka framing', () => {
  const p = packet(21);
  const body = encodeAlert(p);

  it('prefixes 0x00 and the schema id 1100 as a big-endian int32', () => {
    const v = frameAlert(body);
    expect([...v.subarray(0, 5)]).toEqual([0x00, 0x00, 0x00, 0x04, 0x4c]);
    expect(v.subarray(5).equals(body)).toBe(true);
    expect(v).toHaveLength(body.length + 5);
    expect(encodeFramedAlert(p).equals(v)).toBe(true);
    expect([...frameAlert(body, 704).subarray(0, 5)]).toEqual([0, 0, 0, 0x02, 0xc0]);
  });

  it('unframes to the body and decodes', () => {
    const v = frameAlert(body);
    expect(unframeAlert(v).equals(body)).toBe(true);
    expect(parseAlertFrame(v).schemaId).toBe(1100);
    expect(decodeFramedAlert(v)).toEqual(p);
    expect(decodeAlert(unframeAlert(new Uint8Array(v))).diaSourceId).toBe(p.diaSourceId);
  });

  it('says what is wrong: magic byte, schema id, length', () => {
    const v = frameAlert(body);
    const wrongMagic = Buffer.from(v);
    wrongMagic[0] = 0x01;
    expect(() => unframeAlert(wrongMagic)).toThrow(InvalidInputError);
    expect(() => unframeAlert(wrongMagic)).toThrow(/wrong magic byte 0x01, expected 0x00/);
    expect(() => unframeAlert(Buffer.from('Obj\x01....', 'latin1'))).toThrow(/wrong magic byte 0x4f.*Avro container file/);
    expect(() => unframeAlert(frameAlert(body, 704))).toThrow(/unknown schema id 704 \(schema 7\.4\?\).*knows 1100/);
    expect(() => unframeAlert(frameAlert(body, -1))).toThrow(/unknown schema id -1/);
    expect(unframeAlert(frameAlert(body, 704), { schemaIds: [704, 1100] }).equals(body)).toBe(true);
    expect(() => unframeAlert(v.subarray(0, 3))).toThrow(/truncated: 3 byte\(s\), the header alone is 5/);
    expect(() => unframeAlert(v.subarray(0, 5))).toThrow(/truncated: header \(schema id 1100\) but no body/);
    expect(() => decodeFramedAlert(v.subarray(0, 100))).toThrow(/truncated/);
  });
});
