import type { AmpGeometry } from '../instruments/index.ts';

/** Pixels of one raw HDU as stored (integer ADU), row-major, 0-based. */
export interface RawPlane {
  readonly width: number;
  readonly height: number;
  readonly data: Int32Array;
}

/** One amplifier of a raw exposure: its geometry, the HDU holding it, and its electronics. */
export interface RawAmp {
  readonly amp: AmpGeometry;
  /** The whole raw HDU the amplifier lives in (shared by the amps of a multi-amp HDU). */
  readonly raw: RawPlane;
  /** Gain (electrons per ADU), from the header when present, the nominal value otherwise. */
  readonly gainEPerAdu: number;
  /** Read noise (electrons). */
  readonly readNoiseE: number;
  /** Saturation level (ADU). */
  readonly saturationAdu: number;
}

/** A rectangle of bad or suspect pixels in detector coordinates (0-based, half-open). */
export interface Defect {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
  /** BAD (default) or SUSPECT. */
  readonly kind?: 'BAD' | 'SUSPECT';
}
