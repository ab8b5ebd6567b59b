import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pixelToSky, type TanWcs } from '../../../astro/index.ts';
import { ConfigError, InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, makeMaskedImage, type MaskedImage } from '../../../core/image.ts';
import { readFits } from '../../../fits/index.ts';
import { astropyPython, makeTempDir, runPython, skipNotice } from '../../../fits/oracle-helpers.ts';
import { sipPixelToSky, sipWcsFromHeader, type SipWcs } from '../../lib/sip-wcs.ts';
import { cutoutToFitsImage, cutPostageStamps, makeCutoutsConfig, readDiaCutouts, stampAt, STAMP_KINDS, writeDiaCutouts, type PostageStamps } from './cutouts.ts';
import { packDiaSourceId } from './dia-source-id.ts';
import { DETECTOR, sceneWcs, VISIT } from './testing/synthetic-difference.ts';

const W = 120;
const H = 90;

/** Planes whose values encode the pixel: image = 1000·k + y·W + x, variance = image + 0.5, mask = p & 0xff. */
function ramp(k: number): MaskedImage {
  const m = makeMaskedImage(W, H);
  for (let p = 0; p < W * H; p++) {
    m.image[p] = 1000 * k + p;
    m.variance[p] = 1000 * k + p + 0.5;
    m.mask[p] = p & 0xff;
  }
  return m;
}

const images = { science: ramp(1), template: ramp(2), difference: ramp(3) };

function stampsAt(x: number[], y: number[], sizePx?: number): PostageStamps {
  return cutPostageStamps({ ...images, x: Float64Array.from(x), y: Float64Array.from(y), sizePx });
}

const SIP: SipWcs = {
  ...sceneWcs(W, H),
  sip: { order: 2, a: Float64Array.from([2e-6, -1e-6, 3e-6]), b: Float64Array.from([-1e-6, 2e-6, 1e-6]) },
};

describe('cutPostageStamps', () => {
  it('cuts centred stamps of the three images, NaN / NO_DATA off the detector', () => {
    const s = stampsAt([1.2, 60.49, 118.7], [2.4, 45.5, 88.9]);
    expect(s.count).toBe(3);
    expect(s.sizePx).toBe(31);
    // Centred on the rounded position (Math.round: 45.5 → 46).
    expect([s.x0[0], s.y0[0]]).toEqual([1 - 15, 2 - 15]);
    expect([s.x0[1], s.y0[1]]).toEqual([60 - 15, 46 - 15]);
    for (const kind of STAMP_KINDS) {
      for (let k = 0; k < 3; k++) {
        const st = stampAt(s, k, kind);
        // Expected stamp, pixel by pixel from the ramp.
        const img = new Float32Array(31 * 31).fill(NaN);
        const vr = new Float32Array(31 * 31).fill(NaN);
        const mk = new Int32Array(31 * 31).fill(MaskBit.NO_DATA);
        let valid = 0;
        for (let j = 0; j < 31; j++) {
          for (let i = 0; i < 31; i++) {
            const x = s.x0[k] + i;
            const y = s.y0[k] + j;
            if (x < 0 || y < 0 || x >= W || y >= H) continue;
            const p = y * W + x;
            img[j * 31 + i] = images[kind].image[p];
            vr[j * 31 + i] = images[kind].variance[p];
            mk[j * 31 + i] = images[kind].mask[p];
            valid++;
          }
        }
        expect(Array.from(st.image)).toEqual(Array.from(img));
        expect(Array.from(st.variance!)).toEqual(Array.from(vr));
        expect(Array.from(st.mask!)).toEqual(Array.from(mk));
        const nan = st.image.reduce((a, v) => a + (Number.isNaN(v) ? 1 : 0), 0);
        expect(nan).toBe(31 * 31 - valid);
        // The corner stamp: x 0..16 and y 0..17 are on the detector; the middle one is whole.
        if (k === 0) expect(valid).toBe(17 * 18);
        if (k === 1) expect(nan).toBe(0);
      }
    }
  });

  it('checks its inputs and config', () => {
    expect(() => stampsAt([1], [1, 2])).toThrow(InvalidInputError);
    expect(() => stampsAt([NaN], [1])).toThrow(/not finite/);
    expect(() => cutPostageStamps({ ...images, science: makeMaskedImage(10, 10), x: new Float64Array(1), y: new Float64Array(1) })).toThrow(/science is 10x10/);
    expect(makeCutoutsConfig().sizePx).toBe(31);
    expect(() => makeCutoutsConfig({ sizePx: 30 })).toThrow(ConfigError);
    expect(stampsAt([50], [50], 7).science.image.length).toBe(49);
  });
});

describe('cutout files', () => {
  it('writes a stamp as a FITS image whose WCS is the detector WCS shifted to the stamp', () => {
    const s = stampsAt([3.3, 70.2], [4.1, 40.8]);
    const wcsList: Array<TanWcs | SipWcs> = [sceneWcs(W, H), SIP];
    for (const wcs of wcsList) {
      for (let k = 0; k < 2; k++) {
        const st = stampAt(s, k, 'difference');
        const bytes = cutoutToFitsImage(st, wcs, s.x0[k], s.y0[k], { header: [{ key: 'BUNIT', value: 'electron' }] });
        const f = readFits(bytes);
        expect(f.hdus).toHaveLength(1);
        const hdu = f.hdus[0];
        expect(hdu.shape).toEqual([31, 31]);
        expect(Array.from(hdu.pixelsAsFloat32())).toEqual(Array.from(st.image));
        expect(hdu.header.get('BUNIT')).toBe('electron');
        expect(hdu.header.get('LTV1')).toBe(-s.x0[k]);
        const back = sipWcsFromHeader((key) => hdu.header.get(key));
        expect(back).not.toBeNull();
        const truth: SipWcs = 'sip' in wcs ? (wcs as SipWcs) : { ...wcs, sip: null };
        expect(back!.sip !== null).toBe(truth.sip !== null);
        const a = new Float64Array(2);
        const b = new Float64Array(2);
        for (const [i, j] of [
          [0, 0],
          [15, 15],
          [30, 7],
        ]) {
          sipPixelToSky(back!, i, j, a);
          if (truth.sip) sipPixelToSky(truth, s.x0[k] + i, s.y0[k] + j, b);
          else pixelToSky(wcs, s.x0[k] + i, s.y0[k] + j, b);
          expect(Math.abs(a[0] - b[0]) * 3600).toBeLessThan(1e-6);
          expect(Math.abs(a[1] - b[1]) * 3600).toBeLessThan(1e-6);
        }
      }
    }
    const full = readFits(cutoutToFitsImage(stampAt(s, 1, 'science'), null, s.x0[1], s.y0[1], { includeVarianceAndMask: true }));
    expect(full.hdus.map((h) => h.name)).toEqual(['PRIMARY', 'VARIANCE', 'MASK']);
    expect(Array.from(full.hdu('MASK').pixels())).toEqual(Array.from(stampAt(s, 1, 'science').mask!));
    expect(full.hdus[0].header.get('CTYPE1')).toBeUndefined();
  });

  it('round-trips the dia_cutouts table, NaN padding and ids included', () => {
    const s = stampsAt([1.2, 60.49, 118.7, 30], [2.4, 45.5, 88.9, 30]);
    const ids = BigInt64Array.from([0, 1, 2, 3], (r) => packDiaSourceId(VISIT, DETECTOR, r));
    const bytes = writeDiaCutouts(s, ids, [{ key: 'VISIT', value: VISIT }]);
    const back = readDiaCutouts(bytes);
    expect(Array.from(back.diaSourceId)).toEqual(Array.from(ids));
    expect(back.stamps.count).toBe(4);
    expect(back.stamps.sizePx).toBe(31);
    expect(Array.from(back.stamps.x0)).toEqual(Array.from(s.x0));
    expect(Array.from(back.stamps.y0)).toEqual(Array.from(s.y0));
    for (const kind of STAMP_KINDS) {
      expect(Array.from(back.stamps[kind].image)).toEqual(Array.from(s[kind].image));
      expect(Array.from(back.stamps[kind].variance)).toEqual(Array.from(s[kind].variance));
      expect(Array.from(back.stamps[kind].mask)).toEqual(Array.from(s[kind].mask));
    }
    expect(back.primaryHeader.get('VISIT')).toBe(VISIT);
    const table = readFits(bytes).hdu('CUTOUTS').table();
    expect(table.columns.find((c) => c.name === 'differenceVariance')?.dims).toEqual([31, 31]);
    // An empty file is fine too.
    expect(readDiaCutouts(writeDiaCutouts(stampsAt([], []), new BigInt64Array(0))).stamps.count).toBe(0);
    expect(() => writeDiaCutouts(s, new BigInt64Array(2))).toThrow(InvalidInputError);
  });

  it('rejects a cutouts file with a missing or wrongly-typed column, naming it', () => {
    const s = stampsAt([40], [40], 5);
    const bytes = writeDiaCutouts(s, new BigInt64Array(1));
    const patch = (from: string, to: string): Uint8Array => {
      const text = Buffer.from(bytes).toString('latin1');
      const at = text.indexOf(from);
      expect(at).toBeGreaterThan(0);
      const out = Uint8Array.from(bytes);
      out.set(Buffer.from(to, 'latin1'), at);
      return out;
    };
    expect(() => readDiaCutouts(patch("'templateMask'", "'templateMasx'"))).toThrow(/column templateMask is missing/);
    // 25E → 25J keeps the row length: the type check names the column.
    const text = Buffer.from(bytes).toString('latin1');
    expect(text.match(/TFORM\d+\s*=\s*'25E\s*'/g)).toHaveLength(6);
    const card = /TFORM\d+\s*=\s*'25E\s*'/.exec(text)![0];
    expect(() => readDiaCutouts(patch(card, card.replace('25E', '25J')))).toThrow(/column science has TFORM '25J', expected '25E'/);
  });

  it('is read by astropy as 31x31 stamps [astropy]', () => {
    const py = astropyPython();
    if (!py) {
      skipNotice('astropy cross-check of the cutouts', 'no python3 with astropy');
      return;
    }
    const s = stampsAt([1.2, 60.49], [2.4, 45.5]);
    const tmp = makeTempDir('dia-cutouts-');
    try {
      const file = path.join(tmp.dir, 'cutouts.fits');
      writeFileSync(file, writeDiaCutouts(s, BigInt64Array.from([5n, 6n])));
      const out = runPython(
        'import sys, json, numpy as np\nfrom astropy.io import fits\nt = fits.open(sys.argv[1])["CUTOUTS"].data\n' +
          'd = t["difference"]\nprint(json.dumps({"shape": list(d.shape), "v": float(d[1][3, 2]), "nan": int(np.isnan(d[0]).sum()), "id": [int(v) for v in t["diaSourceId"]]}))',
        [file],
      );
      const got = JSON.parse(out) as { shape: number[]; v: number; nan: number; id: number[] };
      expect(got.shape).toEqual([2, 31, 31]);
      expect(got.v).toBe(stampAt(s, 1, 'difference').image[3 * 31 + 2]);
      expect(got.nan).toBe(31 * 31 - 17 * 18);
      expect(got.id).toEqual([5, 6]);
    } finally {
      tmp.cleanup();
    }
  });
});
