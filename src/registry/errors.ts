import { InvalidInputError } from '../core/errors.ts';

/**
 * A definition or row that contradicts one already in the registry (another dataset type
 * definition, another checksum for the same dataset, an overlapping certification). A retry
 * cannot fix it, so it is invalid input.
 */
export class ConflictError extends InvalidInputError {}
