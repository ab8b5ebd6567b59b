/**
 * FITS reading and writing. Other code imports only from here.
 *
 * Layers (as in astropy.io.fits): Card (one keyword record, raw bytes kept, parsed lazily) ->
 * Header (cards + keyword index) -> Hdu (primary/image, tile-compressed image, table; chosen from
 * the header, pixels decoded on first access) -> FitsFile. Tile codecs (RICE_1, GZIP_1, GZIP_2,
 * NOCOMPRESS) are looked up by ZCMPTYPE; RICE_1 tiles are decoded many at a time by a WebAssembly
 * kernel; quantized floats are restored with the standard subtractive-dither sequence.
 */
export { FitsError } from './errors.ts';
export type { FitsErrorContext } from './errors.ts';
export { Card } from './card.ts';
export type { CardInput, FitsValue } from './card.ts';
export { Header } from './header.ts';
export type { ImageArray, Scaling } from './pixels.ts';
export { physicalFloat32, physicalFloat32InPlace, scalingOf } from './pixels.ts';
export type { Hdu, HduType } from './hdu.ts';
export type { FitsTable, FitsTableColumn, TableColumnData, TableNumericArray, VarLengthRow } from './bintable.ts';
export { readFits } from './reader.ts';
export type { FitsFile, ReadFitsOptions } from './reader.ts';
export { planFits, writeFits, writeFitsChunks } from './writer.ts';
export type {
  ImageHduInput,
  ImageInputArray,
  PlannedFits,
  PrimaryHeaderInput,
  RiceCompressionInput,
  TableColumnInput,
  TableFormat,
  TableHduInput,
  WriteFitsOptions,
} from './writer.ts';
export { pixelStats } from './stats.ts';
export type { PixelStats } from './stats.ts';
export { fitsInfo, formatFitsInfo } from './info.ts';
export type { HduInfo } from './info.ts';
export { parseSection, formatSection } from './section.ts';
export type { Section } from './section.ts';
