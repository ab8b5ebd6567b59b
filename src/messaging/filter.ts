/**
 * The Google Pub/Sub subscription filter language (attributes only):
 *
 *   attributes.KEY = "v"     attributes.KEY != "v"     attributes:KEY (has key)
 *   hasPrefix(attributes.KEY, "p")     NOT x     -x     x AND y     x OR y     ( x )
 *
 * KEY is letters, digits, '-' and '_', or a string literal. Strings take double or single quotes
 * and C-style escapes. As in Pub/Sub, AND and OR cannot be mixed without parentheses, operators
 * are upper case, and a filter is at most 256 bytes. `!=` is the negation of `=`: a message
 * without the key matches `attributes.k != "v"`.
 */
import { InvalidInputError } from '../core/errors.ts';

export const MAX_FILTER_BYTES = 256;

export type FilterNode =
  | { readonly kind: 'has'; readonly key: string }
  | { readonly kind: 'eq'; readonly key: string; readonly value: string }
  | { readonly kind: 'ne'; readonly key: string; readonly value: string }
  | { readonly kind: 'prefix'; readonly key: string; readonly prefix: string }
  | { readonly kind: 'not'; readonly operand: FilterNode }
  | { readonly kind: 'and' | 'or'; readonly operands: readonly FilterNode[] };

export type Attributes = Readonly<Record<string, string>>;

export interface MessageFilter {
  /** The filter text as given ('' = no filter). */
  readonly source: string;
  /** undefined when the filter is empty (everything matches). */
  readonly ast: FilterNode | undefined;
  matches(attributes: Attributes): boolean;
}

/** Parses a filter; throws InvalidInputError naming the problem and where it is. */
export function parseFilter(source: string): MessageFilter {
  if (typeof source !== 'string') throw new InvalidInputError('filter must be a string');
  const bytes = Buffer.byteLength(source, 'utf8');
  if (bytes > MAX_FILTER_BYTES) {
    throw new InvalidInputError(`invalid filter: ${bytes} bytes, the maximum is ${MAX_FILTER_BYTES}`);
  }
  if (source.trim() === '') return { source, ast: undefined, matches: () => true };
  const ast = new Parser(source).parseAll();
  return { source, ast, matches: (attributes) => evaluateFilter(ast, attributes) };
}

export function evaluateFilter(node: FilterNode, attributes: Attributes): boolean {
  switch (node.kind) {
    case 'has':
      return Object.hasOwn(attributes, node.key);
    case 'eq':
      return Object.hasOwn(attributes, node.key) && attributes[node.key] === node.value;
    case 'ne':
      return !(Object.hasOwn(attributes, node.key) && attributes[node.key] === node.value);
    case 'prefix':
      return Object.hasOwn(attributes, node.key) && attributes[node.key].startsWith(node.prefix);
    case 'not':
      return !evaluateFilter(node.operand, attributes);
    case 'and':
      return node.operands.every((o) => evaluateFilter(o, attributes));
    case 'or':
      return node.operands.some((o) => evaluateFilter(o, attributes));
  }
}

const KEY_CHAR = /[A-Za-z0-9_-]/;
const WORD_CHAR = /[A-Za-z0-9_]/;

class Parser {
  private pos = 0;
  constructor(private readonly src: string) {}

  parseAll(): FilterNode {
    const node = this.parseExpression();
    this.skipSpace();
    if (this.pos < this.src.length) {
      if (this.src[this.pos] === ')') this.fail('unbalanced ")"');
      this.fail(`unexpected ${this.describeHere()}; expected AND, OR or the end of the filter`);
    }
    return node;
  }

  private parseExpression(): FilterNode {
    const operands = [this.parseTerm()];
    let op: 'AND' | 'OR' | undefined;
    for (;;) {
      this.skipSpace();
      const word = this.peekWord();
      if (word === 'AND' || word === 'OR') {
        if (op !== undefined && op !== word) {
          this.fail(`AND and OR cannot be mixed without parentheses; group them, e.g. (a AND b) OR c`);
        }
        op = word;
        this.pos += word.length;
        operands.push(this.parseTerm());
      } else if (word === 'and' || word === 'or') {
        this.fail(`operators are upper case: write ${word.toUpperCase()} instead of ${word}`);
      } else {
        break;
      }
    }
    if (op === undefined) return operands[0];
    return { kind: op === 'AND' ? 'and' : 'or', operands };
  }

  private parseTerm(): FilterNode {
    this.skipSpace();
    const word = this.peekWord();
    if (word === 'NOT') {
      this.pos += 3;
      if (this.pos < this.src.length && !/[\s(]/.test(this.src[this.pos])) {
        this.fail('NOT must be followed by a space or "("');
      }
      return { kind: 'not', operand: this.parseTerm() };
    }
    if (word === 'not') this.fail('operators are upper case: write NOT instead of not');
    if (this.src[this.pos] === '-') {
      this.pos++;
      return { kind: 'not', operand: this.parseTerm() };
    }
    return this.parseFactor();
  }

  private parseFactor(): FilterNode {
    this.skipSpace();
    if (this.pos >= this.src.length) this.fail('unexpected end of filter; expected a condition');
    if (this.src[this.pos] === '(') {
      const open = this.pos;
      this.pos++;
      const inner = this.parseExpression();
      this.skipSpace();
      if (this.src[this.pos] !== ')') this.fail(`missing ")" for the "(" at column ${open + 1}`);
      this.pos++;
      return inner;
    }
    const word = this.peekWord();
    if (word === 'hasPrefix') {
      this.pos += word.length;
      this.skipSpace();
      this.expect('(', 'after hasPrefix');
      this.skipSpace();
      const key = this.parseAttributeRef('.', 'hasPrefix takes attributes.KEY as its first argument');
      this.skipSpace();
      this.expect(',', 'between the arguments of hasPrefix');
      this.skipSpace();
      const prefix = this.parseString('hasPrefix takes a string literal as its second argument');
      this.skipSpace();
      this.expect(')', 'to close hasPrefix(');
      return { kind: 'prefix', key, prefix };
    }
    if (word === 'attributes') {
      const sep = this.src[this.pos + word.length];
      if (sep === ':') {
        const key = this.parseAttributeRef(':', '');
        return { kind: 'has', key };
      }
      const key = this.parseAttributeRef('.', 'expected attributes.KEY or attributes:KEY');
      this.skipSpace();
      let kind: 'eq' | 'ne';
      if (this.src.startsWith('!=', this.pos)) {
        kind = 'ne';
        this.pos += 2;
      } else if (this.src[this.pos] === '=') {
        kind = 'eq';
        this.pos += 1;
      } else {
        this.fail(`expected "=" or "!=" after attributes.${key}, found ${this.describeHere()}`);
      }
      this.skipSpace();
      const value = this.parseString(`the value compared with attributes.${key} must be a string literal in quotes`);
      return { kind, key, value };
    }
    this.fail(
      `expected a condition (attributes.KEY = "v", attributes.KEY != "v", attributes:KEY, hasPrefix(attributes.KEY, "p"), NOT, - or "("), found ${this.describeHere()}`,
    );
  }

  /** Parses `attributes<sep>KEY` and returns KEY. */
  private parseAttributeRef(sep: '.' | ':', hint: string): string {
    if (!this.src.startsWith('attributes', this.pos)) this.fail(hint || 'expected attributes');
    this.pos += 'attributes'.length;
    if (this.src[this.pos] !== sep) this.fail(`${hint}: expected "${sep}" after attributes`);
    this.pos++;
    const c = this.src[this.pos];
    if (c === '"' || c === "'") {
      const key = this.parseString('');
      if (key === '') this.fail('an attribute key cannot be empty');
      return key;
    }
    const start = this.pos;
    while (this.pos < this.src.length && KEY_CHAR.test(this.src[this.pos])) this.pos++;
    if (this.pos === start) {
      this.fail(`expected an attribute key after "attributes${sep}" (letters, digits, - and _, or a quoted string)`);
    }
    return this.src.slice(start, this.pos);
  }

  private parseString(hint: string): string {
    const quote = this.src[this.pos];
    if (quote !== '"' && quote !== "'") this.fail(`${hint || 'expected a string literal'}, found ${this.describeHere()}`);
    const open = this.pos;
    this.pos++;
    let out = '';
    for (;;) {
      if (this.pos >= this.src.length) this.failAt(open, 'unterminated string literal');
      const c = this.src[this.pos];
      if (c === quote) {
        this.pos++;
        return out;
      }
      if (c === '\\') {
        out += this.parseEscape();
      } else {
        out += c;
        this.pos++;
      }
    }
  }

  private parseEscape(): string {
    const start = this.pos;
    this.pos++; // backslash
    const c = this.src[this.pos];
    this.pos++;
    const simple: Record<string, string> = {
      '\\': '\\', '"': '"', "'": "'", '`': '`', '?': '?',
      n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', v: '\v', a: '\x07',
    };
    if (c !== undefined && Object.hasOwn(simple, c)) return simple[c];
    const hex = (n: number): string => {
      const digits = this.src.slice(this.pos, this.pos + n);
      if (digits.length !== n || !/^[0-9A-Fa-f]+$/.test(digits)) this.failAt(start, `bad escape: \\${c} needs ${n} hex digits`);
      this.pos += n;
      const code = Number.parseInt(digits, 16);
      if (code > 0x10ffff) this.failAt(start, 'bad escape: code point out of range');
      return String.fromCodePoint(code);
    };
    if (c === 'x' || c === 'X') return hex(2);
    if (c === 'u') return hex(4);
    if (c === 'U') return hex(8);
    if (c !== undefined && /[0-7]/.test(c)) {
      const digits = this.src.slice(this.pos - 1, this.pos + 2);
      if (!/^[0-7]{3}$/.test(digits)) this.failAt(start, 'bad escape: an octal escape needs 3 digits');
      this.pos += 2;
      return String.fromCharCode(Number.parseInt(digits, 8));
    }
    this.failAt(start, `unknown escape \\${c ?? ''}`);
  }

  private expect(ch: string, where: string): void {
    if (this.src[this.pos] !== ch) this.fail(`expected "${ch}" ${where}, found ${this.describeHere()}`);
    this.pos++;
  }

  private peekWord(): string {
    let end = this.pos;
    while (end < this.src.length && WORD_CHAR.test(this.src[end])) end++;
    return this.src.slice(this.pos, end);
  }

  private skipSpace(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos])) this.pos++;
  }

  private describeHere(): string {
    if (this.pos >= this.src.length) return 'the end of the filter';
    const word = this.peekWord();
    return JSON.stringify(word || this.src[this.pos]);
  }

  private fail(message: string): never {
    this.failAt(this.pos, message);
  }

  private failAt(pos: number, message: string): never {
    throw new InvalidInputError(`invalid filter ${JSON.stringify(this.src)} at column ${pos + 1}: ${message}`);
  }
}
