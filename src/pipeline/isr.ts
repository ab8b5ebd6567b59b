import { z } from 'zod';
import type { MaskedImage } from '../core/image.ts';
import { parseConfig } from './config.ts';
import { medianInPlace } from './lib/stats.ts';
import { AssemblyConfig, runAssembly, type AssemblyAmpDiagnostics } from './stages/assembly/assembly.ts';
import {
  CalibrateSignatureConfig,
  runCalibrateSignature,
  type CalibrationMasters,
} from './stages/calibrate-signature/calibrate-signature.ts';
import { measureOverscan, OverscanConfig } from './stages/overscan/overscan.ts';
import type { RawExposure } from './stages/raw-input/raw-input.ts';
import type { Defect } from './types.ts';

/**
 * Instrument-signature removal of one snap: overscan per amplifier → assembly (gain, variance,
 * saturation and defect masks) → calibrate-signature (bias, dark, flat). One nested config.
 */
export const IsrConfig = z.object({
  overscan: OverscanConfig.default({}),
  assembly: AssemblyConfig.default({}),
  calibrate: CalibrateSignatureConfig.default({}),
});
export type IsrConfig = z.output<typeof IsrConfig>;
export type IsrConfigInput = z.input<typeof IsrConfig>;

export function makeIsrConfig(input: IsrConfigInput = {}): IsrConfig {
  return parseConfig(IsrConfig, input, 'isr');
}

/** Runs `fn` as the named sub-stage; the runner injects one that times it. */
export type StageHook = <T>(stage: string, fn: () => T) => T;
const untimed: StageHook = (_stage, fn) => fn();

export interface IsrInput {
  readonly raw: RawExposure;
  readonly masters?: CalibrationMasters;
  readonly defects?: readonly Defect[];
  /** Image, variance (and mask) planes for the exposure (see AssemblyInput.planes); new ones when not given. */
  readonly planes?: { readonly image: Float32Array; readonly variance: Float32Array; readonly mask?: Int32Array };
}

export interface OverscanAmpDiagnostics {
  readonly name: string;
  readonly levelMeanAdu: number;
  readonly residualNoiseAdu: number;
}

export interface IsrResult {
  readonly exposure: MaskedImage;
  readonly overscan: readonly OverscanAmpDiagnostics[];
  /** Median over amps of the overscan residual noise (ADU). */
  readonly overscanNoiseAdu: number;
  /** Mean over amps of the subtracted overscan level (ADU). */
  readonly overscanLevelAdu: number;
  readonly amps: readonly AssemblyAmpDiagnostics[];
  readonly saturatedPixels: number;
  readonly defectPixels: number;
  readonly biasApplied: boolean;
  readonly darkApplied: boolean;
  readonly flatApplied: boolean;
  readonly newBadPixels: number;
}

export function runIsr(input: IsrInput, cfg: IsrConfig = makeIsrConfig(), hook: StageHook = untimed): IsrResult {
  const { raw } = input;
  // The overscan levels are measured per amp and subtracted during assembly (one pass over the pixels).
  const trimmed = hook('overscan', () => raw.amps.map((a) => ({ a, os: measureOverscan({ amp: a.amp, raw: a.raw }, cfg.overscan) })));
  const asm = hook('assembly', () =>
    runAssembly(
      {
        width: raw.geometry.width,
        height: raw.geometry.height,
        amps: trimmed.map(({ a, os }) => ({
          amp: a.amp,
          levels: os,
          raw: a.raw,
          gainEPerAdu: a.gainEPerAdu,
          readNoiseE: a.readNoiseE,
          saturationAdu: a.saturationAdu,
        })),
        defects: input.defects,
        planes: input.planes,
      },
      cfg.assembly,
    ),
  );
  const cal = hook('calibrateSignature', () =>
    // The assembled exposure is ours: calibrate it in place.
    runCalibrateSignature({ exposure: asm.exposure, masters: input.masters ?? {}, darkTimeS: raw.darkTimeS }, cfg.calibrate, { inPlace: true }),
  );
  const noise = Float32Array.from(trimmed, (t) => t.os.residualNoiseAdu);
  let level = 0;
  for (const t of trimmed) level += t.os.levelMeanAdu;
  return {
    exposure: cal.exposure,
    overscan: trimmed.map(({ a, os }) => ({ name: a.amp.name, levelMeanAdu: os.levelMeanAdu, residualNoiseAdu: os.residualNoiseAdu })),
    overscanNoiseAdu: medianInPlace(noise, noise.length),
    overscanLevelAdu: level / Math.max(1, trimmed.length),
    amps: asm.amps,
    saturatedPixels: asm.saturatedPixels,
    defectPixels: asm.defectPixels,
    biasApplied: cal.biasApplied,
    darkApplied: cal.darkApplied,
    flatApplied: cal.flatApplied,
    newBadPixels: cal.newBadPixels,
  };
}
