import { InvalidInputError } from '../core/errors.ts';

/** Where in a FITS file a problem was found. Every field is optional. */
export interface FitsErrorContext {
  /** File name (as given to readFits) or another label for the byte source. */
  readonly file?: string;
  /** 0-based HDU index. */
  readonly hdu?: number;
  /** Header keyword involved. */
  readonly keyword?: string;
  /** Byte offset in the (decompressed) file. */
  readonly offset?: number;
}

function describe(context: FitsErrorContext): string {
  const parts: string[] = [];
  if (context.file) parts.push(context.file);
  if (context.hdu !== undefined) parts.push(`HDU ${context.hdu}`);
  if (context.keyword !== undefined) parts.push(`keyword ${context.keyword === '' ? '(blank)' : context.keyword}`);
  if (context.offset !== undefined) parts.push(`byte offset ${context.offset}`);
  return parts.join(', ');
}

/**
 * A FITS file or FITS input that cannot be read or written. The message names the HDU index,
 * keyword and byte offset whenever they are known; the same values are kept as properties.
 */
export class FitsError extends InvalidInputError {
  readonly file: string | undefined;
  readonly hduIndex: number | undefined;
  readonly keyword: string | undefined;
  readonly byteOffset: number | undefined;
  /** The message without the location prefix. */
  readonly detail: string;

  constructor(message: string, context: FitsErrorContext = {}, options?: { cause?: unknown }) {
    const where = describe(context);
    super(where ? `FITS ${where}: ${message}` : `FITS: ${message}`, options);
    this.detail = message;
    this.file = context.file;
    this.hduIndex = context.hdu;
    this.keyword = context.keyword;
    this.byteOffset = context.offset;
  }

  /** The same error with missing location fields filled from `context`. */
  withContext(context: FitsErrorContext): FitsError {
    const merged: FitsErrorContext = {
      file: this.file ?? context.file,
      hdu: this.hduIndex ?? context.hdu,
      keyword: this.keyword ?? context.keyword,
      offset: this.byteOffset ?? context.offset,
    };
    return new FitsError(this.detail, merged, { cause: this.cause });
  }
}
