/**
 * A FITS header: an ordered list of cards plus a keyword index. It knows nothing of data.
 */
import { Buffer } from 'node:buffer';
import { CARD_LENGTH, Card, isCommentaryKey, normalizeKey } from './card.ts';
import type { CardInput, FitsValue } from './card.ts';
import { FitsError } from './errors.ts';
import type { FitsErrorContext } from './errors.ts';

export const BLOCK_SIZE = 2880;
const END_RECORD = 'END'.padEnd(CARD_LENGTH);

/** Where a header lives, used to make error messages precise. */
export interface HeaderContext {
  readonly file?: string;
  readonly hdu?: number;
  /** Byte offset of the header's first card in the file. */
  readonly offset?: number;
}

function describeValue(value: FitsValue): string {
  if (value === null) return 'undefined (empty value)';
  if (typeof value === 'string') return `string '${value}'`;
  if (typeof value === 'bigint') return `integer ${value}`;
  return `${typeof value} ${String(value)}`;
}

/** True when the string value in this value field ends with the CONTINUE marker '&'. */
function fieldContinues(field: string): boolean {
  const q = field.indexOf("'");
  if (q < 0 || field.slice(0, q).trim() !== '') return false;
  // Find the closing quote, skipping doubled quotes.
  let j = q + 1;
  for (;;) {
    const k = field.indexOf("'", j);
    if (k < 0) return field.slice(q + 1).trimEnd().endsWith('&');
    if (field[k + 1] === "'") {
      j = k + 2;
      continue;
    }
    return field.slice(q + 1, k).trimEnd().endsWith('&');
  }
}

export class Header {
  #cards: Card[];
  #index: Map<string, number[]> | null = null;
  #context: HeaderContext;

  constructor(cards: readonly Card[] = [], context: HeaderContext = {}) {
    this.#cards = [...cards];
    this.#context = context;
  }

  /** Build a header from card inputs (commentary keys give commentary cards). */
  static fromCards(cards: readonly CardInput[]): Header {
    const out: Card[] = [];
    for (const c of cards) {
      if (isCommentaryKey(c.key)) {
        const text = c.value === undefined || c.value === null ? '' : String(c.value);
        out.push(...Card.commentary(c.key, text));
      } else {
        out.push(Card.create(c.key, c.value === undefined ? null : c.value, c.comment ?? ''));
      }
    }
    return new Header(out);
  }

  /**
   * Parse the header that starts at `start` in `bytes`. Returns the header and the offset of the
   * first byte after the header's last 2880-byte block.
   */
  static parse(bytes: Uint8Array, start: number, context: HeaderContext = {}): { header: Header; dataOffset: number } {
    const records: string[] = [];
    let pos = start;
    let found = false;
    while (!found) {
      if (pos + CARD_LENGTH > bytes.length) {
        throw new FitsError('header has no END card (file truncated?)', { ...context, offset: pos });
      }
      const blockLen = Math.min(BLOCK_SIZE, bytes.length - pos);
      const text = Buffer.from(bytes.buffer, bytes.byteOffset + pos, blockLen).toString('latin1');
      for (let i = 0; i + CARD_LENGTH <= text.length; i += CARD_LENGTH) {
        const rec = text.slice(i, i + CARD_LENGTH);
        if (rec.startsWith('END') && rec.slice(3, 8).trim() === '') {
          found = true;
          break;
        }
        records.push(rec);
      }
      pos += BLOCK_SIZE;
    }
    const cards: Card[] = [];
    for (let i = 0; i < records.length; i++) {
      let image = records[i];
      if (i + 1 < records.length && records[i + 1].startsWith('CONTINUE') && image[8] === '=') {
        const first = Card.fromImage(image);
        if (!first.isCommentary) {
          const start = first.isHierarch ? image.indexOf('=', 9) + 1 : 10;
          let continues = fieldContinues(image.slice(start));
          while (continues && i + 1 < records.length && records[i + 1].startsWith('CONTINUE')) {
            const next = records[++i];
            image += next;
            continues = fieldContinues(next.slice(10));
          }
          cards.push(image.length === CARD_LENGTH ? first : Card.fromImage(image));
          continue;
        }
      }
      cards.push(Card.fromImage(image));
    }
    return { header: new Header(cards, context), dataOffset: pos };
  }

  /** Context (file, HDU index, byte offset) used in error messages. */
  get context(): HeaderContext {
    return this.#context;
  }

  /** Number of logical cards (a long string with CONTINUE records counts once). */
  get length(): number {
    return this.#cards.length;
  }

  cards(): readonly Card[] {
    return this.#cards;
  }

  /** Keywords in order (duplicates and commentary keys included). */
  keys(): string[] {
    return this.#cards.map((c) => c.key);
  }

  #indexMap(): Map<string, number[]> {
    if (this.#index) return this.#index;
    const map = new Map<string, number[]>();
    for (let i = 0; i < this.#cards.length; i++) {
      const k = this.#cards[i].normalizedKey;
      const list = map.get(k);
      if (list) list.push(i);
      else map.set(k, [i]);
    }
    this.#index = map;
    return map;
  }

  /** The first card with this keyword (case-insensitive, 'HIERARCH ' prefix optional). */
  card(key: string): Card | undefined {
    const list = this.#indexMap().get(normalizeKey(key));
    return list ? this.#cards[list[0]] : undefined;
  }

  /** All cards with this keyword, in order. */
  cardsWithKey(key: string): Card[] {
    const list = this.#indexMap().get(normalizeKey(key));
    return list ? list.map((i) => this.#cards[i]) : [];
  }

  has(key: string): boolean {
    return this.#indexMap().has(normalizeKey(key));
  }

  /** Value of the first card with this keyword; undefined when absent. For COMMENT/HISTORY: the first text. */
  get(key: string): FitsValue | undefined {
    const card = this.card(key);
    return card ? card.value : undefined;
  }

  /** Values of every card with this keyword (e.g. all HISTORY texts). */
  getAll(key: string): FitsValue[] {
    return this.cardsWithKey(key).map((c) => c.value);
  }

  getComment(key: string): string | undefined {
    return this.card(key)?.comment;
  }

  #errorContext(key: string): FitsErrorContext {
    const k = normalizeKey(key);
    const list = this.#indexMap().get(k);
    let offset = this.#context.offset;
    if (list && offset !== undefined) {
      for (let i = 0; i < list[0]; i++) offset += this.#cards[i].recordCount * CARD_LENGTH;
    }
    return { file: this.#context.file, hdu: this.#context.hdu, keyword: k, offset };
  }

  #require(key: string): FitsValue {
    const card = this.card(key);
    if (!card) throw new FitsError('missing required keyword', this.#errorContext(key));
    return card.value;
  }

  getString(key: string): string {
    const v = this.#require(key);
    if (typeof v !== 'string') throw new FitsError(`expected a string, found ${describeValue(v)}`, this.#errorContext(key));
    return v;
  }

  getNumber(key: string): number {
    const v = this.#require(key);
    if (typeof v === 'number') return v;
    if (typeof v === 'bigint') return Number(v);
    throw new FitsError(`expected a number, found ${describeValue(v)}`, this.#errorContext(key));
  }

  getInt(key: string): number {
    const v = this.#require(key);
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    if (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) {
      return Number(v);
    }
    throw new FitsError(`expected an integer, found ${describeValue(v)}`, this.#errorContext(key));
  }

  getBool(key: string): boolean {
    const v = this.#require(key);
    if (typeof v !== 'boolean') throw new FitsError(`expected T or F, found ${describeValue(v)}`, this.#errorContext(key));
    return v;
  }

  /** Optional number: `fallback` when absent; FitsError when present with a non-numeric value. */
  getNumberOr(key: string, fallback: number): number {
    return this.has(key) ? this.getNumber(key) : fallback;
  }

  getIntOr(key: string, fallback: number): number {
    return this.has(key) ? this.getInt(key) : fallback;
  }

  getStringOr(key: string, fallback: string): string {
    return this.has(key) ? this.getString(key) : fallback;
  }

  /**
   * Replace the first card with this keyword in place, or append one. The comment is kept when
   * `comment` is undefined. COMMENT/HISTORY/blank keys always append commentary card(s).
   */
  set(key: string, value: FitsValue, comment?: string): void {
    if (isCommentaryKey(key)) {
      this.#cards.push(...Card.commentary(key, value === null ? '' : String(value)));
      this.#index = null;
      return;
    }
    const k = normalizeKey(key);
    const list = this.#indexMap().get(k);
    if (list) {
      const i = list[0];
      const old = this.#cards[i];
      const newComment = comment ?? old.comment;
      if (!old.isCommentary && old.value === value && old.comment === newComment) return;
      this.#cards[i] = Card.create(old.isHierarch ? `HIERARCH ${old.key}` : key, value, newComment);
      return;
    }
    this.#cards.push(Card.create(key, value, comment ?? ''));
    this.#index = null;
  }

  /** Append a card even if the keyword exists already. */
  append(card: Card | CardInput): void {
    if (card instanceof Card) this.#cards.push(card);
    else if (isCommentaryKey(card.key)) this.#cards.push(...Card.commentary(card.key, card.value == null ? '' : String(card.value)));
    else this.#cards.push(Card.create(card.key, card.value ?? null, card.comment ?? ''));
    this.#index = null;
  }

  /** Remove every card with this keyword. */
  delete(key: string): void {
    const k = normalizeKey(key);
    if (!this.#indexMap().has(k)) return;
    this.#cards = this.#cards.filter((c) => c.normalizedKey !== k);
    this.#index = null;
  }

  clone(): Header {
    return new Header(this.#cards, this.#context);
  }

  /** The cards' records concatenated (multiple of 80 characters, no END). */
  toString(): string {
    let s = '';
    for (const c of this.#cards) s += c.image;
    return s;
  }

  /** The header as FITS bytes: cards, END, space padding to a multiple of 2880. */
  toBytes(): Uint8Array {
    const text = this.toString() + END_RECORD;
    const padded = text.padEnd(Math.ceil(text.length / BLOCK_SIZE) * BLOCK_SIZE);
    return new Uint8Array(Buffer.from(padded, 'latin1'));
  }
}
