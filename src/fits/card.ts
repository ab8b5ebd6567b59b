/**
 * One FITS header card (keyword record). A card read from a file keeps its raw 80-character
 * record(s) and parses the value and comment only when asked; writing it back gives the same
 * bytes. A long string value (CONTINUE convention) is one logical card whose `image` is several
 * 80-character records.
 */
import { FitsError } from './errors.ts';

/** A header value. `null` is the undefined value (a card with an empty value field). */
export type FitsValue = string | number | boolean | bigint | null;

/**
 * Input for one card. `key` 'COMMENT', 'HISTORY' or '' makes a commentary card whose text is
 * `value`. Keys longer than 8 characters, or holding characters outside A-Z 0-9 - _, are written
 * with the HIERARCH convention.
 */
export interface CardInput {
  key: string;
  value?: FitsValue;
  comment?: string;
}

export const CARD_LENGTH = 80;
const COMMENTARY_KEYS: ReadonlySet<string> = new Set(['COMMENT', 'HISTORY', '']);
const STANDARD_KEY = /^[A-Z0-9_-]{0,8}$/;
const INT_TOKEN = /^[+-]?\d+$/;
const REAL_TOKEN = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[EeDd][+-]?\d+)?$/;
const PRINTABLE = /^[\x20-\x7e]*$/;
/** Characters of string value that fit in one CONTINUE record: 80 - "CONTINUE  '" - "&'". */
const CONTINUE_CAPACITY = CARD_LENGTH - 13;

/** Normalise a key for lookup: upper case, trimmed, without a leading 'HIERARCH '. */
export function normalizeKey(key: string): string {
  let k = key.trim().toUpperCase();
  if (k.startsWith('HIERARCH ')) k = k.slice(9).trim();
  return k;
}

export function isCommentaryKey(key: string): boolean {
  return COMMENTARY_KEYS.has(key.trim().toUpperCase());
}

interface ParsedField {
  value: FitsValue;
  comment: string;
  /** For string values: the raw string content before trimming (to see a trailing '&'). */
  rawString: string | null;
}

/** Parse a value token that is not a quoted string. */
function parseToken(token: string): FitsValue {
  if (token === '') return null;
  if (token === 'T') return true;
  if (token === 'F') return false;
  if (INT_TOKEN.test(token)) {
    const n = Number(token);
    if (Number.isSafeInteger(n)) return n;
    return BigInt(token.startsWith('+') ? token.slice(1) : token);
  }
  if (REAL_TOKEN.test(token)) return Number(token.replace(/[dD]/, 'e'));
  // Complex values and non-standard tokens are returned as their text.
  return token;
}

/** Parse a value field (the text after '= '). */
function parseValueField(field: string): ParsedField {
  let i = 0;
  const n = field.length;
  while (i < n && field.charCodeAt(i) === 32) i++;
  if (i < n && field[i] === "'") {
    let content = '';
    let j = i + 1;
    let closed = false;
    while (j < n) {
      const q = field.indexOf("'", j);
      if (q < 0) break;
      content += field.slice(j, q);
      if (field[q + 1] === "'") {
        content += "'";
        j = q + 2;
      } else {
        j = q + 1;
        closed = true;
        break;
      }
    }
    if (!closed) {
      // Unterminated string: take the rest of the record (lenient, as astropy does with a warning).
      content += field.slice(j);
      j = n;
    }
    const rest = field.slice(j);
    const slash = rest.indexOf('/');
    return { value: content.trimEnd(), comment: slash >= 0 ? rest.slice(slash + 1).trim() : '', rawString: content };
  }
  const slash = field.indexOf('/', i);
  const token = (slash >= 0 ? field.slice(i, slash) : field.slice(i)).trim();
  return { value: parseToken(token), comment: slash >= 0 ? field.slice(slash + 1).trim() : '', rawString: null };
}

/** Format a finite number as a FITS real: always a decimal point, upper-case exponent. */
export function formatReal(v: number): string {
  if (!Number.isFinite(v)) throw new FitsError(`cannot write non-finite number ${v} in a header`);
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const expForm = v.toExponential();
  const eIdx = expForm.indexOf('e');
  const e = Number(expForm.slice(eIdx + 1));
  if (e >= -4 && e < 16) {
    const s = String(v);
    return s.includes('.') ? s : `${s}.0`;
  }
  let mant = expForm.slice(0, eIdx);
  if (!mant.includes('.')) mant += '.0';
  const abs = String(Math.abs(e)).padStart(2, '0');
  return `${mant}E${e < 0 ? '-' : '+'}${abs}`;
}

/** The value token of a non-string value, and whether it is right-justified at column 30. */
function formatScalar(value: number | boolean | bigint | null): string {
  if (value === null) return '';
  if (typeof value === 'boolean') return value ? 'T' : 'F';
  if (typeof value === 'bigint') return value.toString();
  if (Number.isSafeInteger(value) && !Object.is(value, -0)) return String(value);
  return formatReal(value);
}

function checkPrintable(text: string, what: string, key: string): void {
  if (!PRINTABLE.test(text)) {
    throw new FitsError(`${what} must be printable ASCII (0x20-0x7E)`, { keyword: key });
  }
}

/** Split `text` into pieces of at most `size` characters, at spaces when possible. */
function splitWords(text: string, size: number): string[] {
  const out: string[] = [];
  let rest = text;
  while (rest.length > size) {
    let cut = rest.lastIndexOf(' ', size);
    if (cut <= 0) cut = size;
    out.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  if (rest.length > 0 || out.length === 0) out.push(rest);
  return out;
}

/** Split an escaped string into pieces of at most `first`, then `others`, characters without breaking a '' pair. */
function splitEscaped(escaped: string, first: number, others: number): string[] {
  const pieces: string[] = [];
  let pos = 0;
  let cap = first;
  while (escaped.length - pos > cap) {
    let end = pos + cap;
    let quotes = 0;
    while (end - quotes - 1 >= pos && escaped[end - quotes - 1] === "'") quotes++;
    if (quotes % 2 === 1) end -= 1;
    pieces.push(escaped.slice(pos, end));
    pos = end;
    cap = others;
  }
  pieces.push(escaped.slice(pos));
  return pieces;
}

export class Card {
  /** The keyword as written (HIERARCH keys without the 'HIERARCH ' prefix). */
  readonly key: string;
  /** True for COMMENT, HISTORY, blank-keyword cards and other cards without a value indicator. */
  readonly isCommentary: boolean;
  readonly isHierarch: boolean;
  #image: string;
  #parsed: boolean;
  #value: FitsValue = null;
  #comment = '';

  private constructor(key: string, image: string, isCommentary: boolean, isHierarch: boolean) {
    this.key = key;
    this.#image = image;
    this.isCommentary = isCommentary;
    this.isHierarch = isHierarch;
    this.#parsed = false;
  }

  /**
   * A card from its raw record(s): 80 characters, or a multiple of 80 for a string card followed
   * by its CONTINUE records. Nothing beyond the keyword is parsed until asked.
   */
  static fromImage(image: string): Card {
    if (image.length === 0 || image.length % CARD_LENGTH !== 0) {
      throw new FitsError(`card image must be a multiple of 80 characters, got ${image.length}`);
    }
    if (image.startsWith('HIERARCH ')) {
      const eq = image.indexOf('=', 9);
      if (eq > 9 && eq < CARD_LENGTH) {
        return new Card(image.slice(9, eq).trim(), image, false, true);
      }
    }
    const key = image.slice(0, 8).trimEnd();
    const upper = key.toUpperCase();
    const hasIndicator = image[8] === '=' && upper !== 'CONTINUE';
    const commentary = COMMENTARY_KEYS.has(upper) || !hasIndicator;
    return new Card(key, image, commentary, false);
  }

  /** Build a value card (not commentary). Throws FitsError on a bad key or value. */
  static create(key: string, value: FitsValue, comment = ''): Card {
    const { key: k, hierarch } = Card.checkKey(key);
    if (COMMENTARY_KEYS.has(k)) {
      throw new FitsError(`'${k || '(blank)'}' is a commentary keyword; use Card.commentary`, { keyword: k });
    }
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new FitsError(`cannot write non-finite number ${value} in a header`, { keyword: k });
    }
    checkPrintable(comment, 'comment', k);
    if (typeof value === 'string') checkPrintable(value, 'string value', k);
    const image = Card.format(k, hierarch, value, comment);
    const card = new Card(k, image, false, hierarch);
    card.#value = value;
    card.#comment = comment;
    card.#parsed = true;
    return card;
  }

  /** Build commentary card(s): COMMENT, HISTORY or blank key; long text is split over several cards. */
  static commentary(key: string, text: string): Card[] {
    const k = key.trim().toUpperCase();
    if (!COMMENTARY_KEYS.has(k)) throw new FitsError(`'${key}' is not a commentary keyword`, { keyword: key });
    checkPrintable(text, 'commentary text', k);
    const width = CARD_LENGTH - 8;
    const pieces: string[] = [];
    if (text.length === 0) pieces.push('');
    for (let i = 0; i < text.length; i += width) pieces.push(text.slice(i, i + width));
    return pieces.map((p) => {
      const card = new Card(k, (k.padEnd(8) + p).padEnd(CARD_LENGTH), true, false);
      card.#value = p.trimEnd();
      card.#comment = '';
      card.#parsed = true;
      return card;
    });
  }

  /** Validate and normalise a keyword; decide whether it needs HIERARCH. */
  static checkKey(key: string): { key: string; hierarch: boolean } {
    let k = key.trim();
    let hierarch = false;
    if (k.toUpperCase().startsWith('HIERARCH ')) {
      k = k.slice(9).trim();
      hierarch = true;
    }
    const upper = k.toUpperCase();
    if (!hierarch && STANDARD_KEY.test(upper)) return { key: upper, hierarch: false };
    if (k.length === 0 || !PRINTABLE.test(k) || k.includes('=')) {
      throw new FitsError(`invalid keyword '${key}'`, { keyword: key });
    }
    return { key: hierarch ? k : upper, hierarch: true };
  }

  static format(key: string, hierarch: boolean, value: FitsValue, comment: string): string {
    const prefix = hierarch ? `HIERARCH ${key} = ` : `${key.padEnd(8)}= `;
    if (prefix.length > CARD_LENGTH - 1) throw new FitsError(`keyword too long`, { keyword: key });
    if (typeof value === 'string') {
      const escaped = value.replace(/'/g, "''");
      const quoted = `'${escaped.padEnd(8)}'`;
      const field = hierarch ? quoted : quoted.padEnd(20);
      const line = comment ? `${prefix}${field} / ${comment}` : prefix + field;
      if (line.length <= CARD_LENGTH) return line.padEnd(CARD_LENGTH);
      return Card.formatLongString(prefix, escaped, comment, key);
    }
    const token = formatScalar(value);
    const field = hierarch ? token : token.padStart(20);
    let line = prefix + field;
    if (line.length > CARD_LENGTH) throw new FitsError(`value too long for one card`, { keyword: key });
    if (comment) {
      const withComment = `${line} / ${comment}`;
      line = withComment.length <= CARD_LENGTH ? withComment : withComment.slice(0, CARD_LENGTH);
    }
    return line.padEnd(CARD_LENGTH);
  }

  /** Long string value: '&'-terminated pieces on the first card and CONTINUE cards, comment spread at word breaks. */
  private static formatLongString(prefix: string, escaped: string, comment: string, key: string): string {
    const firstCap = CARD_LENGTH - prefix.length - 3;
    if (firstCap < 1) throw new FitsError(`keyword too long for a long string value`, { keyword: key });
    const valuePieces = splitEscaped(escaped, firstCap, CONTINUE_CAPACITY);
    const records: string[] = [];
    for (let i = 0; i < valuePieces.length; i++) {
      const last = i === valuePieces.length - 1;
      const head = i === 0 ? prefix : 'CONTINUE  ';
      records.push(`${head}'${valuePieces[i]}${last ? '' : '&'}'`);
    }
    if (comment) {
      // The comment goes on the last record when it fits; otherwise that record is continued with
      // '&' and the comment is spread, at word breaks, over further CONTINUE records.
      // (Every value record is at most 79 characters, so there is always room for the '&'.)
      const lastIdx = records.length - 1;
      const tail = `${records[lastIdx]} / ${comment}`;
      if (tail.length <= CARD_LENGTH) {
        records[lastIdx] = tail;
      } else {
        records[lastIdx] = `${records[lastIdx].slice(0, -1)}&'`;
        const commentPieces = splitWords(comment, CARD_LENGTH - 16);
        for (let i = 0; i < commentPieces.length; i++) {
          const last = i === commentPieces.length - 1;
          records.push(`CONTINUE  '${last ? '' : '&'}' / ${commentPieces[i]}`);
        }
      }
    }
    return records.map((r) => r.padEnd(CARD_LENGTH)).join('');
  }

  /** The raw record(s): 80 characters, or a multiple of 80 for a long string with CONTINUE records. */
  get image(): string {
    return this.#image;
  }

  get value(): FitsValue {
    if (!this.#parsed) this.#parse();
    return this.#value;
  }

  get comment(): string {
    if (!this.#parsed) this.#parse();
    return this.#comment;
  }

  /** Number of 80-character records this card occupies. */
  get recordCount(): number {
    return this.#image.length / CARD_LENGTH;
  }

  /** The key as used for lookups (upper case). */
  get normalizedKey(): string {
    return this.key.toUpperCase();
  }

  toString(): string {
    return this.#image;
  }

  #parse(): void {
    this.#parsed = true;
    const image = this.#image;
    if (this.isCommentary) {
      this.#value = image.slice(8, CARD_LENGTH).trimEnd();
      this.#comment = '';
      return;
    }
    const start = this.isHierarch ? image.indexOf('=', 9) + 1 : 10;
    const first = parseValueField(image.slice(start, CARD_LENGTH));
    if (image.length === CARD_LENGTH || first.rawString === null) {
      this.#value = first.value;
      this.#comment = first.comment;
      return;
    }
    // Long string: join the pieces, dropping the '&' continuation markers.
    let value = '';
    const comments: string[] = [];
    let raw: string | null = first.rawString;
    if (first.comment) comments.push(first.comment);
    for (let r = 1; ; r++) {
      const trimmed = (raw ?? '').trimEnd();
      const more = trimmed.endsWith('&') && r * CARD_LENGTH < image.length;
      if (!more) {
        value += trimmed;
        break;
      }
      value += trimmed.slice(0, -1);
      const rec = image.slice(r * CARD_LENGTH, (r + 1) * CARD_LENGTH);
      const f = parseValueField(rec.slice(10));
      raw = f.rawString ?? '';
      if (f.comment) comments.push(f.comment);
    }
    this.#value = value;
    this.#comment = comments.join(' ');
  }
}
