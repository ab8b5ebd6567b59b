import { describe, expect, it } from 'vitest';
import type { ApdbRow } from '../apdb/types.ts';
import { createRng } from '../core/rng.ts';
import { decodeAlert, encodeAlert } from './codec.ts';
import { buildAlertPackets, type AlertPacketsInput } from './packets.ts';
import { fakeRow } from './testing/fixtures.ts';

const rng = createRng('packets');
const OBJ_A = 1n << 61n;
const OBJ_B = (1n << 61n) + 1n;

const obj = (id: bigint, start: number, n: number, end: number | null = null): ApdbRow => fakeRow('diaObject', rng, { set: { diaObjectId: id, validityStartMjdTai: start, validityEndMjdTai: end, nDiaSources: n } });
const src = (id: bigint, objectId: bigint | null, t: number): ApdbRow => fakeRow('diaSource', rng, { set: { diaSourceId: id, diaObjectId: objectId, midpointMjdTai: t, visit: BigInt(Math.round(t)) } });
const forced = (id: bigint, objectId: bigint, t: number): ApdbRow => fakeRow('diaForcedSource', rng, { set: { diaForcedSourceId: id, diaObjectId: objectId, midpointMjdTai: t, visit: BigInt(Math.round(t * 10)), detector: 4 } });

const VISIT = 60910.5;

function input(over: Partial<AlertPacketsInput> = {}): AlertPacketsInput {
  return {
    // Two new sources: one on A (known, with history), one on B (new object, nothing earlier).
    diaSources: [src(9001n, OBJ_A, VISIT), src(9002n, OBJ_B, VISIT)],
    history: {
      diaObjects: [obj(OBJ_A, 60800, 2, 60900), obj(OBJ_A, 60900, 3)],
      // Out of order on purpose; 7005 belongs to another object.
      diaSources: [src(7003n, OBJ_A, 60905.2), src(7001n, OBJ_A, 60850.1), src(7002n, OBJ_A, 60900.7), src(7005n, 123n, 60901)],
      diaForcedSources: [forced(8002n, OBJ_A, 60900.7), forced(8001n, OBJ_A, 60850.1), forced(8009n, OBJ_B, 60700)],
    },
    diaObjects: [obj(OBJ_A, VISIT, 4), obj(OBJ_B, VISIT, 1)],
    diaForcedSources: [forced(8003n, OBJ_A, VISIT), forced(8010n, OBJ_B, VISIT)],
    cutouts: (id) => (id === 9001n ? { science: Uint8Array.of(1), template: Uint8Array.of(2, 2), difference: Uint8Array.of(3, 3, 3) } : null),
    observationReason: 'wide_fast_deep',
    targetName: 'lowdust',
    ...over,
  };
}

describe('buildAlertPackets', () => {
  it('makes one packet per new DiaSource, in order, with the new DiaObject version', () => {
    const [a, b] = buildAlertPackets(input());
    expect(a.diaSourceId).toBe(9001n);
    expect(b.diaSourceId).toBe(9002n);
    expect(a.diaSource.diaSourceId).toBe(9001n);
    expect(a.diaObject?.diaObjectId).toBe(OBJ_A);
    expect(a.diaObject?.nDiaSources).toBe(4);
    expect(a.diaObject?.validityStartMjdTai).toBe(VISIT);
    expect(a.diaObject).not.toHaveProperty('validityEndMjdTai');
    expect(a.diaSource).not.toHaveProperty('pixelId');
    expect(a.observation_reason).toBe('wide_fast_deep');
    expect(a.target_name).toBe('lowdust');
  });

  it('lists the object’s earlier DiaSources and DiaForcedSources, oldest first', () => {
    const [a, b] = buildAlertPackets(input());
    expect(a.prvDiaSources?.map((s) => s.diaSourceId)).toEqual([7001n, 7002n, 7003n]);
    // This visit's forced measurement shares the source's time: not earlier.
    expect(a.prvDiaForcedSources?.map((s) => s.diaForcedSourceId)).toEqual([8001n, 8002n]);
    // A new object: empty history (arrays, not null), but old forced photometry of it counts.
    expect(b.prvDiaSources).toEqual([]);
    expect(b.prvDiaForcedSources?.map((s) => s.diaForcedSourceId)).toEqual([8009n]);
  });

  it('keeps only strictly earlier sources, never the source itself or duplicates', () => {
    const again = src(9001n, OBJ_A, VISIT);
    const later = src(7010n, OBJ_A, VISIT + 1);
    const same = src(7011n, OBJ_A, VISIT);
    const base = input();
    const [a] = buildAlertPackets(input({ history: { ...base.history, diaSources: [...base.history.diaSources, again, later, same, base.history.diaSources[0]] } }));
    expect(a.prvDiaSources?.map((s) => s.diaSourceId)).toEqual([7001n, 7002n, 7003n]);
  });

  it('gives null history and object to a DiaSource without a DiaObject (NULL or 0)', () => {
    const packets = buildAlertPackets(input({ diaSources: [src(9101n, null, VISIT), src(9102n, 0n, VISIT)] }));
    for (const p of packets) {
      expect(p.diaObject).toBeNull();
      expect(p.prvDiaSources).toBeNull();
      expect(p.prvDiaForcedSources).toBeNull();
    }
  });

  it('falls back to the history’s current version of an object this visit did not rewrite', () => {
    const [a] = buildAlertPackets(input({ diaObjects: [obj(OBJ_B, VISIT, 1)] }));
    expect(a.diaObject?.validityStartMjdTai).toBe(60900);
    expect(a.diaObject?.nDiaSources).toBe(3);
    expect(() => buildAlertPackets(input({ diaObjects: [], history: { ...input().history, diaObjects: [] } }))).toThrow(/DiaSource 9001 belongs to DiaObject \d+, which is neither/);
  });

  it('attaches cutouts when there are some, null otherwise', () => {
    const [a, b] = buildAlertPackets(input());
    expect([...(a.cutoutScience ?? [])]).toEqual([1]);
    expect([...(a.cutoutTemplate ?? [])]).toEqual([2, 2]);
    expect([...(a.cutoutDifference ?? [])]).toEqual([3, 3, 3]);
    expect(b.cutoutScience).toBeNull();
    expect(b.cutoutDifference).toBeNull();
  });

  it('adds the SSSource and the orbit of its designation when given', () => {
    const ss = fakeRow('ssSource', rng, { set: { diaSourceId: 9002n, designation: '2025 AB1' } });
    const orbit = fakeRow('mpc_orbits', rng, { set: { designation: '2025 AB1' } });
    const [a, b] = buildAlertPackets(input({ ssSources: [ss], mpcOrbits: [fakeRow('mpc_orbits', rng, { set: { designation: 'other' } }), orbit] }));
    expect(a.ssSource).toBeNull();
    expect(a.mpc_orbits).toBeNull();
    expect(b.ssSource?.designation).toBe('2025 AB1');
    expect(b.mpc_orbits?.id).toBe(orbit.id);
  });

  it('makes packets that encode and decode unchanged', () => {
    for (const p of buildAlertPackets(input())) expect(decodeAlert(encodeAlert(p))).toEqual(p);
  });

  it('names the field of a row that breaks the schema', () => {
    const bad = { ...src(9201n, OBJ_A, VISIT), bboxSize: null };
    expect(() => buildAlertPackets(input({ diaSources: [bad] }))).toThrow(/diaSource \(diaSourceId 9201\): field bboxSize is null/);
  });
});
