import { InvalidInputError } from '../core/errors.ts';
import { DIMENSIONS, type DataIdValue, type Dimension } from '../registry/index.ts';

export type WhereConstraint = Partial<Record<Dimension, DataIdValue | DataIdValue[]>>;

/**
 * Parses the data-ID constraints of `prompt butler query-datasets --where`: terms joined by AND,
 * each `dim = value` or `dim IN (v1, v2, …)`; strings in single or double quotes, numbers bare.
 * Example: `instrument='LATISS' AND detector IN (0, 1) AND visit = 2026112700001`.
 */
export function parseWhere(text: string): WhereConstraint {
  const out: WhereConstraint = {};
  const src = text.trim();
  if (src === '') return out;
  let i = 0;
  const fail = (why: string): never => {
    throw new InvalidInputError(`--where '${text}': ${why} at character ${i + 1}`);
  };
  const ws = (): void => {
    while (i < src.length && /\s/.test(src[i])) i++;
  };
  const ident = (): string => {
    ws();
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (!m) fail('expected a dimension name');
    i += (m as RegExpExecArray)[0].length;
    return (m as RegExpExecArray)[0];
  };
  const value = (): DataIdValue => {
    ws();
    const q = src[i];
    if (q === "'" || q === '"') {
      const end = src.indexOf(q, i + 1);
      if (end < 0) fail('unterminated string');
      const v = src.slice(i + 1, end);
      i = end + 1;
      return v;
    }
    const m = /^-?\d+(\.\d+)?/.exec(src.slice(i));
    if (!m) fail('expected a quoted string or a number');
    i += (m as RegExpExecArray)[0].length;
    return Number((m as RegExpExecArray)[0]);
  };
  for (;;) {
    const dim = ident();
    if (!(DIMENSIONS as readonly string[]).includes(dim)) {
      throw new InvalidInputError(`--where '${text}': '${dim}' is not a dimension (known: ${DIMENSIONS.join(', ')})`);
    }
    ws();
    let v: DataIdValue | DataIdValue[];
    if (src[i] === '=') {
      i++;
      v = value();
    } else if (/^IN\b/i.test(src.slice(i))) {
      i += 2;
      ws();
      if (src[i] !== '(') fail("expected '(' after IN");
      i++;
      const list: DataIdValue[] = [];
      for (;;) {
        list.push(value());
        ws();
        if (src[i] === ',') {
          i++;
          continue;
        }
        if (src[i] === ')') {
          i++;
          break;
        }
        fail("expected ',' or ')'");
      }
      v = list;
    } else {
      return fail("expected '=' or IN");
    }
    if (dim in out) throw new InvalidInputError(`--where '${text}': '${dim}' is constrained twice`);
    out[dim as Dimension] = v;
    ws();
    if (i >= src.length) return out;
    if (!/^AND\b/i.test(src.slice(i))) fail("expected AND (only AND-ed terms are supported)");
    i += 3;
  }
}
