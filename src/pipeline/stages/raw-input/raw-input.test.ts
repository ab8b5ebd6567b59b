import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../core/errors.ts';
import { encodeRaw as encodeRice, simulateRaw, simulateRawPixels, type RawPixels, type SimCard } from '../../../tester/sim/raw.ts';
import { rawFile } from '../../testing/sim-raws.ts';

/** Files re-encoded after editing headers or HDUs are written with plain int32 HDUs (faster). */
const encodeRaw = (raw: RawPixels) => rawFile(raw, false);
import { RawPixelBuffer, readRawExposure } from './raw-input.ts';

const GROUP = '2025050100007';

/** Byte for byte (toEqual on arrays of a million values takes tens of seconds). */
function sameInts(a: Int32Array, b: Int32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function withPrimary(raw: RawPixels, edit: (cards: SimCard[]) => SimCard[]): RawPixels {
  return { ...raw, primaryHeader: edit([...raw.primaryHeader]) };
}

describe('raw-input', () => {
  let lsst: RawPixels;
  let lsstBytes: Uint8Array;
  beforeAll(() => {
    lsst = simulateRawPixels({ instrument: 'LSSTCam', detector: 10, group: GROUP, snap: 1, filter: 'i_39', raDeg: 10, decDeg: -40, seed: 3 });
    lsstBytes = encodeRice(lsst);
  });

  it('reads an LSSTCam raw: header values, WCS and per-amp pixels matching the geometry', () => {
    const r = readRawExposure(lsstBytes, { instrument: 'LSSTCam', detector: 10, group: GROUP, snap: 1, exposureId: lsst.truth.exposureId, filter: 'i_39' });
    expect(r.instrument).toBe('LSSTCam');
    expect(r.detector).toBe(10);
    expect(r.detectorName).toBe('R02_S01');
    expect(r.snap).toBe(1);
    expect(r.band).toBe('i');
    expect(r.observationType).toBe('SCIENCE');
    expect(r.exposureTimeS).toBe(lsst.truth.exposureTimeS);
    expect(r.darkTimeS).toBeCloseTo(lsst.truth.darkTimeS, 6);
    expect(r.mjdObs).toBeGreaterThan(60000);
    expect(r.raDeg).toBe(10);
    expect(r.wcs?.crvalDeg[0]).toBeCloseTo(lsst.truth.headerWcs.crvalDeg[0], 9);
    expect(r.wcs?.crpix[1]).toBeCloseTo(lsst.truth.headerWcs.crpix[1], 9);
    expect(r.amps).toHaveLength(16);
    expect(r.geometry.ccdType).toBe('ITL');
    const a = r.amps[5];
    const hdu = lsst.hdus.find((h) => h.name === a.amp.hduName)!;
    expect(a.raw.width).toBe(576);
    expect(a.raw.height).toBe(2048);
    expect(a.raw.data).toBeInstanceOf(Int32Array);
    expect(a.raw.data[1000 * 576 + 100]).toBe(hdu.data[1000 * 576 + 100]);
    expect(a.gainEPerAdu).toBeCloseTo(a.amp.gainEPerAdu, 6);
    expect(a.saturationAdu).toBe(a.amp.saturationAdu);
  });

  it('reads a DECam raw with two amps in one HDU (GAINA/GAINB, DATASECA/B)', () => {
    const d = simulateRawPixels({ instrument: 'DECam', detector: 28, group: GROUP, filter: 'r', raDeg: 50, decDeg: -20, seed: 4, exposureTimeS: 30 });
    const r = readRawExposure(encodeRice(d), { instrument: 'DECam', detector: 28 });
    expect(r.amps.map((a) => a.amp.name)).toEqual(['B', 'A']);
    expect(r.amps[0].raw).toBe(r.amps[1].raw);
    expect(r.amps[1].gainEPerAdu).toBeCloseTo(r.amps[1].amp.gainEPerAdu, 6);
    expect(r.detectorName).toBe('S4');
  });

  it('decodes the pixels into the memory it is given, HDU after HDU across its regions, the rest into arrays of their own', () => {
    const expected = readRawExposure(lsstBytes, { instrument: 'LSSTCam', detector: 10 });
    const hduPixels = 576 * 2048;
    // Room for 3 HDUs in the first region (and a little more), 2 in the second: 11 decode elsewhere.
    const first = new Int32Array(3 * hduPixels + 100).fill(-7);
    const second = new Int32Array(2 * hduPixels);
    const r = readRawExposure(lsstBytes, { instrument: 'LSSTCam', detector: 10 }, { pixels: new RawPixelBuffer([first, second]) });
    const inFirst = r.amps.filter((a) => a.raw.data.buffer === first.buffer);
    const inSecond = r.amps.filter((a) => a.raw.data.buffer === second.buffer);
    expect(inFirst.map((a) => a.raw.data.byteOffset)).toEqual([0, 4 * hduPixels, 8 * hduPixels]);
    expect(inSecond.map((a) => a.raw.data.byteOffset)).toEqual([0, 4 * hduPixels]);
    expect(first.subarray(3 * hduPixels).every((v) => v === -7)).toBe(true);
    r.amps.forEach((a, i) => expect(sameInts(a.raw.data, expected.amps[i].raw.data)).toBe(true));
    // Scaled pixels (unsigned 32-bit: BZERO 2^31) are not the stored integers: they decode as before, not into the buffer.
    const scaled = encodeRaw({ ...lsst, hdus: lsst.hdus.map((h) => ({ ...h, data: Uint32Array.from(h.data) as unknown as Int32Array })) });
    const buffer = new Int32Array(16 * hduPixels);
    const s = readRawExposure(scaled, { instrument: 'LSSTCam', detector: 10 }, { pixels: new RawPixelBuffer([buffer]) });
    expect(s.amps.some((a) => a.raw.data.buffer === buffer.buffer)).toBe(false);
    expect(sameInts(s.amps[5].raw.data, expected.amps[5].raw.data)).toBe(true);
  });

  it("reads the simulator's RICE-compressed file as uploaded", () => {
    const bytes = simulateRaw({ instrument: 'LSSTComCam', detector: 4, group: '2025050100021', snap: 0, filter: 'r_03', raDeg: 53.2, decDeg: -28.1, seed: 21 });
    const r = readRawExposure(bytes, { instrument: 'LSSTComCam', detector: 4, group: '2025050100021', snap: 0 });
    expect(r.amps).toHaveLength(16);
    expect(r.amps[0].raw.data).toBeInstanceOf(Int32Array);
    expect(r.amps[0].raw.data[0]).toBeGreaterThan(10000);
  });

  it('rejects a file that does not match its object key, naming the keyword', () => {
    const fail = (exp: Parameters<typeof readRawExposure>[1], re: RegExp) => {
      expect(() => readRawExposure(lsstBytes, exp, { name: 'LSSTCam/10/x.fz' })).toThrow(InvalidInputError);
      expect(() => readRawExposure(lsstBytes, exp, { name: 'LSSTCam/10/x.fz' })).toThrow(re);
    };
    fail({ detector: 11 }, /HDU PRIMARY keyword DETECTOR is 10, but the object key says detector 11/);
    fail({ snap: 0 }, /keyword SNAP/);
    fail({ filter: 'r_57' }, /keyword FILTER is "i_39"/);
    fail({ group: '2025050100008' }, /keyword GROUPID/);
    fail({ instrument: 'LSSTComCam' }, /keyword INSTRUME/);
  });

  it('rejects truncated or garbled files and inconsistent headers with clear errors', () => {
    const cases: Array<[Uint8Array, RegExp]> = [
      [lsstBytes.subarray(0, 1000), /not a readable FITS file/],
      [lsstBytes.subarray(0, Math.floor(lsstBytes.length / 2)), /raw raw\.fz/],
      [new TextEncoder().encode('hello world'), /not a readable FITS file/],
      [encodeRaw(withPrimary(lsst, (c) => c.filter((x) => x.key !== 'GROUPID'))), /keyword GROUPID is missing/],
      [encodeRaw(withPrimary(lsst, (c) => c.map((x) => (x.key === 'EXPID' ? { ...x, value: 123 } : x)))), /keyword EXPID is 123/],
      [encodeRaw(withPrimary(lsst, (c) => c.map((x) => (x.key === 'BAND' ? { ...x, value: 'g' } : x)))), /keyword BAND is 'g'/],
      [encodeRaw(withPrimary(lsst, (c) => c.map((x) => (x.key === 'INSTRUME' ? { ...x, value: 'HSC' } : x)))), /keyword INSTRUME: unknown instrument 'HSC'/],
      [encodeRaw({ ...lsst, hdus: lsst.hdus.filter((h) => h.name !== 'Segment03') }), /HDU Segment03 is missing/],
      [encodeRaw({ ...lsst, hdus: lsst.hdus.map((h) => (h.name === 'Segment12' ? { ...h, name: 'Segment99' } : h)) }), /HDU Segment12 is missing/],
      [
        encodeRaw({ ...lsst, hdus: lsst.hdus.map((h) => (h.name === 'Segment12' ? { ...h, height: 2047, data: h.data.subarray(0, 576 * 2047) } : h)) }),
        /HDU Segment12 is 576x2047, expected 576x2048/,
      ],
      [
        encodeRaw({
          ...lsst,
          hdus: lsst.hdus.map((h) => (h.name === 'Segment05' ? { ...h, header: h.header.map((c) => (c.key === 'DATASEC' ? { ...c, value: '[1:509,1:2000]' } : c)) } : h)),
        }),
        /HDU Segment05 keyword DATASEC is '\[1:509,1:2000\]', the geometry says \[4:512,1:2000\]/,
      ],
    ];
    for (const [bytes, re] of cases) {
      let err: unknown;
      try {
        readRawExposure(bytes, {}, { name: 'raw.fz' });
      } catch (e) {
        err = e;
      }
      expect(err, String(re)).toBeInstanceOf(InvalidInputError);
      expect((err as Error).message).toMatch(re);
    }
  });
});
