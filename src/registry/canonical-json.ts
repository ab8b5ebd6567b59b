import { InvalidInputError } from '../core/errors.ts';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * Checks that a value is plain JSON (objects, arrays, strings, finite numbers, booleans, null;
 * properties holding undefined are dropped) and returns a copy with object keys sorted, so that
 * equal records give equal text.
 */
export function canonicalise(v: unknown, where: string): Json {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new InvalidInputError(`${where} is ${v}, which JSON cannot hold`);
    return v;
  }
  if (Array.isArray(v)) return v.map((x, i) => canonicalise(x, `${where}[${i}]`));
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      throw new InvalidInputError(`${where} is a ${(v as object).constructor?.name ?? 'non-plain object'}; records hold plain JSON only`);
    }
    const out: { [k: string]: Json } = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = canonicalise(x, `${where}.${k}`);
    }
    return out;
  }
  throw new InvalidInputError(`${where} is a ${typeof v}, which JSON cannot hold`);
}

export function canonicalJson(v: unknown, where: string): string {
  return JSON.stringify(canonicalise(v, where));
}
