/**
 * Error classes shared by every concern. Adapters map library errors into these;
 * the activator's acknowledgement policy is decided by the class alone.
 */
export type ErrorCode =
  | 'INVALID_INPUT'
  | 'NO_WORK'
  | 'ALGORITHM'
  | 'TRANSIENT'
  | 'CONFIG'
  | 'FITS'
  | 'NOT_FOUND';

export class PromptError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Input that can never succeed (bad message, bad key, bad file): acknowledge and log the reason. */
export class InvalidInputError extends PromptError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_INPUT', message, options);
  }
}

/** Nothing to do (another instrument, a duplicate): acknowledge. */
export class NoWorkError extends PromptError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NO_WORK', message, options);
  }
}

/** A science algorithm failed on valid input: acknowledge and record it. */
export class AlgorithmError extends PromptError {
  readonly metadata: Readonly<Record<string, unknown>>;
  constructor(message: string, metadata: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('ALGORITHM', message, options);
    this.metadata = Object.freeze({ ...metadata });
  }
}

/** A failure a retry can fix (a service down, a timeout on a dependency): answer 5xx. */
export class TransientError extends PromptError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TRANSIENT', message, options);
  }
}

/** Wrong configuration: raised at start-up only. */
export class ConfigError extends PromptError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIG', message, options);
  }
}

/** Something asked for does not exist. */
export class NotFoundError extends PromptError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NOT_FOUND', message, options);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
