import type { z } from 'zod';
import { ConfigError } from '../core/errors.ts';

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/**
 * Parses a stage configuration with its schema: defaults filled in, cross-field checks run
 * (the schema's refinements), the result deeply frozen. A bad configuration is a ConfigError
 * naming every offending field.
 */
export function parseConfig<S extends z.ZodTypeAny>(schema: S, input: unknown, what: string): Readonly<z.output<S>> {
  const r = schema.safeParse(input ?? {});
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid ${what} config: ${issues}`, { cause: r.error });
  }
  return deepFreeze(r.data as z.output<S>);
}
