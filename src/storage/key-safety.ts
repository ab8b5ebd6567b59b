import { InvalidInputError } from '../core/errors.ts';

/**
 * Checks that an object key stays inside its bucket when mapped onto a file system or a URL:
 * relative, no empty, '.' or '..' segments, no backslash or control characters.
 */
export function assertSafeKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidInputError('object key is empty');
  if (key.length > 1024) throw new InvalidInputError(`object key '${key.slice(0, 64)}…' is longer than 1024 characters`);
  if (key.startsWith('/')) throw new InvalidInputError(`object key '${key}' is absolute`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(key)) throw new InvalidInputError(`object key '${key}' contains a control character or backslash`);
  for (const seg of key.split('/')) {
    if (seg === '') throw new InvalidInputError(`object key '${key}' has an empty path segment`);
    if (seg === '.' || seg === '..') throw new InvalidInputError(`object key '${key}' has a '${seg}' segment`);
  }
}

/** A prefix for listing: empty, or a safe key optionally ending in '/'. */
export function assertSafePrefix(prefix: string): void {
  if (prefix === '') return;
  assertSafeKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
}
