import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../core/errors.ts';
import { readVerificationMetrics, writeVerificationMetrics, type VerificationContext } from './metrics-file.ts';
import { SYNTHETIC_AMPS, syntheticBias, syntheticMasterBias } from './testing.ts';
import { makeVerifyCalibrationConfig, runVerifyCalibration } from './verify-calibration.ts';

const context: VerificationContext = {
  instrument: 'LSSTComCam',
  detector: 4,
  detectorName: 'R22_S11',
  group: '2025050100201',
  visit: 2025050100201,
  kind: 'BIAS',
  exposureIds: [2025050100201, 2025050100202],
  filter: 'r_03',
  snaps: 2,
  exposureTimeS: 0,
  darkTimeS: 0.86,
  master: 'bias/LSSTComCam/4/sha1:0123abcd',
};

const cfg = makeVerifyCalibrationConfig();
const failing = runVerifyCalibration(
  { kind: 'BIAS', exposure: syntheticBias({ seed: 51, offsetE: 5 }), master: syntheticMasterBias(), exposureTimeS: 0, darkTimeS: 0, amps: SYNTHETIC_AMPS },
  cfg,
);
const noMaster = runVerifyCalibration({ kind: 'BIAS', exposure: syntheticBias({ seed: 52 }), master: null, exposureTimeS: 0, darkTimeS: 0 }, cfg);

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

/** The written document, changed by `edit`, as bytes. */
function corrupt(edit: (doc: { context: Record<string, unknown>; result: Record<string, unknown> & { metrics: Record<string, unknown>[] } }) => void): Uint8Array {
  const doc = JSON.parse(text(writeVerificationMetrics(failing, context)));
  edit(doc);
  return bytes(JSON.stringify(doc));
}

describe('calib_verification metrics file', () => {
  it('round-trips a result and its context, byte-stable, readable', () => {
    const b = writeVerificationMetrics(failing, context);
    expect(readVerificationMetrics(b)).toEqual({ context, result: failing });
    expect(Buffer.from(writeVerificationMetrics(failing, { ...context })).equals(Buffer.from(b))).toBe(true);
    const t = text(b);
    expect(t.startsWith('{\n  "format": "calib_verification",\n  "version": 1,\n  "context": {\n    "instrument": "LSSTComCam",')).toBe(true);
    expect(t.endsWith('}\n')).toBe(true);
    // one metric per line
    expect(t).toMatch(/\n {6}\{"name":"residualMean","value":[-\d.e]+,"unit":"electron","threshold":1,"pass":false,"doc":"[^"]+"\},\n/);
    // no-master results (null thresholds and pass values) and a minimal context too
    const minimal: VerificationContext = { instrument: 'LSSTComCam', detector: 4, group: '2025050100202', visit: 2025050100203, kind: 'BIAS' };
    expect(readVerificationMetrics(writeVerificationMetrics(noMaster, minimal))).toEqual({ context: minimal, result: noMaster });
  });

  it('refuses to write a result under the context of another kind', () => {
    expect(() => writeVerificationMetrics(failing, { ...context, kind: 'DARK' })).toThrow(InvalidInputError);
  });

  it('a corrupted document is an InvalidInputError naming the bad field', () => {
    const cases: Array<[Uint8Array, RegExp]> = [
      [corrupt((d) => (d.result.metrics[3].value = 'high')), /result\.metrics\.3\.value: Expected number, received string/],
      [corrupt((d) => delete d.context.group), /context\.group: Required/],
      [corrupt((d) => (d.result.status = 'pass')), /result\.status is 'pass', the metrics say 'fail'/],
      [corrupt((d) => (d.result.failed = [])), /result\.failed is \[\]/],
      [corrupt((d) => (d.result.kind = 'DARK')), /result\.kind is DARK, context\.kind BIAS/],
      [corrupt((d) => (d.context.detector = -1)), /context\.detector/],
      [corrupt((d) => ((d.result.metrics[0] as Record<string, unknown>).extra = 1)), /result\.metrics\.0: Unrecognized key\(s\) in object: 'extra'/],
      [corrupt((d) => (d.context.format = 'x')), /context: Unrecognized key/],
      [bytes(text(writeVerificationMetrics(failing, context)).slice(0, 200)), /not JSON/],
      [new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), /not UTF-8/],
      [bytes('[]'), /\(document\): Expected object, received array/],
    ];
    for (const [b, message] of cases) {
      expect(() => readVerificationMetrics(b)).toThrow(InvalidInputError);
      expect(() => readVerificationMetrics(b)).toThrow(message);
    }
  });
});
