import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/errors.ts';
import { boxHeight, boxWidth, getInstrument, INSTRUMENT_NAMES } from './index.ts';

describe('instruments', () => {
  it('has the real detector counts', () => {
    const cam = getInstrument('LSSTCam');
    expect(cam.detectors).toHaveLength(205);
    expect(cam.detectors.filter((d) => d.purpose === 'SCIENCE')).toHaveLength(189);
    expect(cam.detectors.filter((d) => d.purpose === 'GUIDER')).toHaveLength(8);
    expect(cam.detectors.filter((d) => d.purpose === 'WAVEFRONT')).toHaveLength(8);
    expect(cam.detector(94).name).toBe('R22_S11');
    expect(cam.detector(189).name).toBe('R00_SG0');
    expect(getInstrument('LSSTComCam').detectors).toHaveLength(9);
    expect(getInstrument('LATISS').detectors).toHaveLength(1);
    const decam = getInstrument('DECam');
    expect(decam.detectors).toHaveLength(62);
    expect(decam.detector(33).name).toBe('N2');
    expect(decam.detector(1).name).toBe('S29');
    expect(decam.detector(62).name).toBe('N31');
  });

  it('has unique detector ids and names', () => {
    for (const name of INSTRUMENT_NAMES) {
      const inst = getInstrument(name);
      expect(new Set(inst.detectors.map((d) => d.id)).size).toBe(inst.detectors.length);
      expect(new Set(inst.detectors.map((d) => d.name)).size).toBe(inst.detectors.length);
    }
  });

  it('takes the documented number of snaps', () => {
    expect(getInstrument('LSSTCam').snaps).toBe(2);
    expect(getInstrument('LSSTComCam').snaps).toBe(2);
    expect(getInstrument('LATISS').snaps).toBe(1);
    expect(getInstrument('DECam').snaps).toBe(1);
  });

  it.each([
    ['ITL', 'LSSTComCam', 4, 4072, 4000, 16, 576, 2048, 3, 509, 2000, 64, 48],
    ['E2V', 'LSSTCam', 94, 4096, 4004, 16, 576, 2048, 10, 512, 2002, 54, 46],
  ] as const)('%s CCD geometry', (type, instName, det, w, h, nAmps, rw, rh, pre, dw, dh, so, po) => {
    const g = getInstrument(instName).detector(det).geometry();
    expect(g.ccdType).toBe(type);
    expect([g.width, g.height]).toEqual([w, h]);
    expect(g.amps).toHaveLength(nAmps);
    for (const a of g.amps) {
      const hdu = g.rawHdus.find((x) => x.name === a.hduName);
      expect([hdu?.width, hdu?.height]).toEqual([rw, rh]);
      expect(boxWidth(a.prescan)).toBe(pre);
      expect([boxWidth(a.rawData), boxHeight(a.rawData)]).toEqual([dw, dh]);
      expect(boxWidth(a.serialOverscan)).toBe(so);
      expect(boxHeight(a.parallelOverscan)).toBe(po);
      expect(pre + dw + so).toBe(rw);
      expect(dh + po).toBe(rh);
    }
    // The amplifiers tile the trimmed detector exactly once.
    const cover = new Uint8Array(g.width * g.height);
    for (const a of g.amps) {
      for (let y = a.detector.y0; y < a.detector.y1; y++) for (let x = a.detector.x0; x < a.detector.x1; x++) cover[y * g.width + x]++;
    }
    expect(cover.every((c) => c === 1)).toBe(true);
  });

  it('has half-size wavefront sensors with 8 amplifiers', () => {
    const wf = getInstrument('LSSTCam').detectors.find((d) => d.purpose === 'WAVEFRONT');
    const g = wf?.geometry();
    expect(g?.amps).toHaveLength(8);
    expect([g?.width, g?.height]).toEqual([4072, 2000]);
  });

  it('has the DECam raw layout: one 2160x4146 HDU with two 1024x4096 amplifiers', () => {
    const g = getInstrument('DECam').detector(25).geometry();
    expect(g.rawHdus).toEqual([{ name: 'S1', index: 1, width: 2160, height: 4146 }]);
    expect(g.amps.map((a) => a.name)).toEqual(['B', 'A']);
    for (const a of g.amps) {
      expect([boxWidth(a.rawData), boxHeight(a.rawData)]).toEqual([1024, 4096]);
      expect(boxWidth(a.serialOverscan)).toBe(50);
      expect(boxWidth(a.prescan)).toBe(6);
      expect(boxHeight(a.parallelOverscan)).toBe(50);
    }
    expect([g.width, g.height]).toEqual([2048, 4096]);
  });

  it('names what is wrong for unknown instruments, detectors and filters', () => {
    expect(() => getInstrument('HSC')).toThrow(InvalidInputError);
    expect(() => getInstrument('HSC')).toThrow(/unknown instrument 'HSC'.*LSSTCam/);
    expect(() => getInstrument('LATISS').detector(3)).toThrow(/detector 3 does not exist on LATISS/);
    expect(() => getInstrument('LSSTCam').filter('r')).toThrow(/filter 'r' is not a filter of LSSTCam/);
  });
});
