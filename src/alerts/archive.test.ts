import { Buffer } from 'node:buffer';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import {
  isAlertArchive,
  iterateAlertArchive,
  readAlertArchive,
  readAlertArchiveHeader,
  writeAlertArchive,
  writeAlertArchiveBodies,
} from './archive.ts';
import { alertRecordFromRow, encodeAlert, frameAlert, unframeAlert, type AlertPacket } from './codec.ts';
import { ALERT_RECORD_NAMES, ALERT_SCHEMA, ALERT_SCHEMA_JSON, avroType } from './schema.ts';
import { fakePacket } from './testing/fixtures.ts';
import { officialSchemas } from './testing/reference.ts';

const packets: AlertPacket[] = Array.from({ length: 12 }, (_, i) => fakePacket(100 + i, { prvDiaSources: i % 4, prvDiaForcedSources: i % 3, cutouts: i % 5 !== 0 }, alertRecordFromRow));

/** What avsc's own container writer makes of `values` with `type`. */
async function avscContainer(type: avro.Type, values: readonly unknown[], codec: 'null' | 'deflate'): Promise<Uint8Array> {
  const enc = new avro.streams.BlockEncoder(type, { codec });
  const chunks: Buffer[] = [];
  enc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    enc.on('end', () => resolve());
    enc.on('error', reject);
  });
  for (const v of values) enc.write(v);
  enc.end();
  await done;
  return Buffer.concat(chunks);
}

describe('alert archives (Avro container files)', () => {
  it.each(['null', 'deflate'] as const)('round-trips packets with codec %s, over several blocks', (codec) => {
    const bytes = writeAlertArchive(packets, { codec, blockBytes: 40_000 });
    expect(isAlertArchive(bytes)).toBe(true);
    expect(readAlertArchive(bytes)).toEqual(packets);
    expect([...iterateAlertArchive(bytes)].map((p) => p.diaSourceId)).toEqual(packets.map((p) => p.diaSourceId));
  });

  it('embeds the full alert schema and the codec in the header', () => {
    const h = readAlertArchiveHeader(writeAlertArchive(packets.slice(0, 2)));
    expect(Buffer.from(h.metadata['avro.schema']).toString('utf8')).toBe(ALERT_SCHEMA_JSON);
    expect(h.schema).toEqual(ALERT_SCHEMA);
    expect(h.codec).toBe('null');
    expect(h.syncMarker).toHaveLength(16);
    expect(readAlertArchiveHeader(writeAlertArchive([], { codec: 'deflate' })).codec).toBe('deflate');
  });

  it('writes the same bytes for the same alerts (sync marker from the content)', () => {
    for (const codec of ['null', 'deflate'] as const) {
      const a = writeAlertArchive(packets, { codec });
      const b = writeAlertArchive(packets.map((p) => ({ ...p })), { codec });
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    }
    const one = readAlertArchiveHeader(writeAlertArchive(packets)).syncMarker;
    const other = readAlertArchiveHeader(writeAlertArchive(packets.slice(1))).syncMarker;
    expect(Buffer.from(one).equals(Buffer.from(other))).toBe(false);
  });

  it('takes the sync marker from a seed or as given', () => {
    const s1 = readAlertArchiveHeader(writeAlertArchive(packets, { seed: 'visit 7 detector 4' })).syncMarker;
    const s2 = readAlertArchiveHeader(writeAlertArchive(packets.slice(3), { seed: 'visit 7 detector 4' })).syncMarker;
    expect(Buffer.from(s1).equals(Buffer.from(s2))).toBe(true);
    const marker = Uint8Array.from({ length: 16 }, (_, i) => i * 3);
    const bytes = writeAlertArchive(packets, { syncMarker: marker, blockBytes: 1 });
    expect([...readAlertArchiveHeader(bytes).syncMarker]).toEqual([...marker]);
    expect(readAlertArchive(bytes)).toEqual(packets);
    expect(() => writeAlertArchive(packets, { syncMarker: new Uint8Array(8) })).toThrow(/16 bytes/);
  });

  it('archives already encoded bodies (e.g. unframed Kafka values) to the same file', () => {
    const values = packets.map((p) => frameAlert(encodeAlert(p)));
    const fromBodies = writeAlertArchiveBodies(values.map((v) => unframeAlert(v)));
    expect(Buffer.from(fromBodies).equals(Buffer.from(writeAlertArchive(packets)))).toBe(true);
  });

  it('reads an empty archive', () => {
    expect(readAlertArchive(writeAlertArchive([]))).toEqual([]);
  });

  it('says what is wrong with a file that is not a good archive', () => {
    const bytes = Buffer.from(writeAlertArchive(packets.slice(0, 3), { codec: 'null' }));
    expect(() => readAlertArchive(frameAlert(encodeAlert(packets[0])))).toThrow(/not an Avro container file: starts with 00 00 00 04/);
    expect(() => readAlertArchive(bytes.subarray(0, bytes.length - 100))).toThrow(/truncated/);
    expect(() => readAlertArchive(bytes.subarray(0, 30))).toThrow(/archive header truncated/);
    const corrupt = Buffer.from(bytes);
    corrupt[corrupt.length - 1] ^= 0xff;
    expect(() => readAlertArchive(corrupt)).toThrow(/sync marker does not match/);
    const zstd = Buffer.from(bytes.toString('latin1').replace('\x08null', '\x08zstd'), 'latin1');
    expect(() => readAlertArchive(zstd)).toThrow(/codec "zstd" is not supported/);
  });

  it('reads what avsc’s own container writer makes (random sync marker, its own header)', async () => {
    const bytes = await avscContainer(avroType(ALERT_SCHEMA), packets.map((p) => ({ ...p, cutoutScience: p.cutoutScience && Buffer.from(p.cutoutScience), cutoutTemplate: p.cutoutTemplate && Buffer.from(p.cutoutTemplate), cutoutDifference: p.cutoutDifference && Buffer.from(p.cutoutDifference) })), 'deflate');
    expect(readAlertArchive(bytes)).toEqual(packets);
  });

  it('reads files written with another, compatible writer schema (schema resolution)', async () => {
    // A writer whose diaSource has one more field (as the published sample's programId).
    type Editable = { fields: Array<{ name: string; type: unknown }> };
    const schema = structuredClone(ALERT_SCHEMA) as unknown as Editable;
    const src = schema.fields.find((f) => f.name === 'diaSource')!.type as Editable;
    src.fields.push({ name: 'programId', type: 'int' });
    const writer = avroType(schema);
    const withProgram = packets.slice(0, 4).map((p) => ({
      ...p,
      diaSource: { ...p.diaSource, programId: 7 },
      prvDiaSources: p.prvDiaSources?.map((s) => ({ ...s, programId: 7 })) ?? null,
      cutoutScience: p.cutoutScience && Buffer.from(p.cutoutScience),
      cutoutTemplate: p.cutoutTemplate && Buffer.from(p.cutoutTemplate),
      cutoutDifference: p.cutoutDifference && Buffer.from(p.cutoutDifference),
    }));
    const back = readAlertArchive(await avscContainer(writer, withProgram, 'null'));
    expect(back).toEqual(packets.slice(0, 4));
    expect(back[0].diaSource).not.toHaveProperty('programId');
  });

  it.skipIf(!officialSchemas())('reads a file whose header holds the published schema files’ definitions (docs and all)', async () => {
    const o = officialSchemas()!;
    const registry: Record<string, avro.Type> = {};
    for (const n of ALERT_RECORD_NAMES) avroType(o.records[n], registry);
    const theirs = avroType(o.alert, registry);
    const bytes = await avscContainer(theirs, packets.slice(0, 3).map((p) => ({ ...p, cutoutScience: p.cutoutScience && Buffer.from(p.cutoutScience), cutoutTemplate: p.cutoutTemplate && Buffer.from(p.cutoutTemplate), cutoutDifference: p.cutoutDifference && Buffer.from(p.cutoutDifference) })), 'deflate');
    expect(readAlertArchive(bytes)).toEqual(packets.slice(0, 3));
  });
});
