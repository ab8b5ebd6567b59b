import { describe, expect, it } from 'vitest';
import { Card, formatReal } from './card.ts';
import { Header } from './header.ts';
import { FitsError } from './errors.ts';
import { InvalidInputError } from '../core/errors.ts';

const rec = (s: string): string => s.padEnd(80);

function headerBytes(records: string[]): Uint8Array {
  const text = [...records.map(rec), rec('END')].join('');
  const padded = text.padEnd(Math.ceil(text.length / 2880) * 2880);
  return new Uint8Array(Buffer.from(padded, 'latin1'));
}

describe('Card parsing', () => {
  it('parses fixed-format values and comments lazily, keeping the raw image', () => {
    const img = rec('NAXIS1  =                  576 / length of data axis 1');
    const c = Card.fromImage(img);
    expect(c.key).toBe('NAXIS1');
    expect(c.value).toBe(576);
    expect(c.comment).toBe('length of data axis 1');
    expect(c.image).toBe(img);
    expect(c.toString()).toBe(img);
  });

  it('parses reals with lower-case and D exponents, logicals and undefined values', () => {
    expect(Card.fromImage(rec('CD1_1   =       -2.7078566e-07 / x')).value).toBeCloseTo(-2.7078566e-7, 20);
    expect(Card.fromImage(rec('X       = 1.5D+03')).value).toBe(1500);
    expect(Card.fromImage(rec('X       = -.5')).value).toBe(-0.5);
    expect(Card.fromImage(rec('X       = 1.')).value).toBe(1);
    expect(Card.fromImage(rec('SIMPLE  =                    T')).value).toBe(true);
    expect(Card.fromImage(rec('EXTEND  =                    F / no')).value).toBe(false);
    const u = Card.fromImage(rec('UNDEF   =                      / nothing here'));
    expect(u.value).toBeNull();
    expect(u.comment).toBe('nothing here');
  });

  it('parses strings: doubled quotes, trailing spaces, slashes inside, empty', () => {
    expect(Card.fromImage(rec("OBSERVER= 'O''Brien '           / name")).value).toBe("O'Brien");
    expect(Card.fromImage(rec("DATE    = '2020/01/02'  / a / b")).value).toBe('2020/01/02');
    expect(Card.fromImage(rec("DATE    = '2020/01/02'  / a / b")).comment).toBe('a / b');
    expect(Card.fromImage(rec("E       = ''")).value).toBe('');
    expect(Card.fromImage(rec("LEAD    = '  x'")).value).toBe('  x');
    expect(Card.fromImage(rec("BIASSEC =  '[   4:  13,   1: 520]'     / Overscan region")).value).toBe('[   4:  13,   1: 520]');
  });

  it('keeps integers beyond 2^53 exact as bigint', () => {
    const c = Card.fromImage(rec('BIG     = 12345678901234567890'));
    expect(c.value).toBe(12345678901234567890n);
    expect(Card.fromImage(rec('BIG     = 9007199254740991')).value).toBe(9007199254740991);
  });

  it('treats COMMENT, HISTORY, blank keys and odd "COMMENT =" cards as commentary', () => {
    const c = Card.fromImage(rec('COMMENT   FITS (Flexible Image Transport System) format'));
    expect(c.isCommentary).toBe(true);
    expect(c.value).toBe('  FITS (Flexible Image Transport System) format');
    const odd = Card.fromImage(rec('COMMENT ='));
    expect(odd.isCommentary).toBe(true);
    expect(odd.key).toBe('COMMENT');
    expect(odd.value).toBe('=');
    const blank = Card.fromImage(rec('        ---- Checksums ----'));
    expect(blank.key).toBe('');
    expect(blank.value).toBe('---- Checksums ----');
    expect(Card.fromImage(rec('HISTORY x')).isCommentary).toBe(true);
  });

  it('parses HIERARCH cards', () => {
    const c = Card.fromImage(rec("HIERARCH ESO DET CHIP1 ID = 'ccd55' / chip id"));
    expect(c.isHierarch).toBe(true);
    expect(c.key).toBe('ESO DET CHIP1 ID');
    expect(c.value).toBe('ccd55');
    expect(c.comment).toBe('chip id');
  });

  it('returns non-standard tokens as text', () => {
    expect(Card.fromImage(rec('CPLX    = (1.0, 2.0)')).value).toBe('(1.0, 2.0)');
  });
});

describe('Card formatting', () => {
  it('writes fixed format: numbers and logicals right-justified to column 30', () => {
    expect(Card.create('NAXIS1', 576, 'axis').image).toBe(rec('NAXIS1  =                  576 / axis'));
    expect(Card.create('SIMPLE', true).image).toBe(rec('SIMPLE  =                    T'));
    expect(Card.create('XTENSION', 'IMAGE').image).toBe(rec("XTENSION= 'IMAGE   '"));
    expect(Card.create('UNDEF', null, 'c').image).toBe(rec('UNDEF   =                      / c'));
    expect(Card.create('big', 12345678901234567890n).image).toBe(rec('BIG     = 12345678901234567890'));
  });

  it('formats reals with a decimal point and an upper-case exponent, round-tripping exactly', () => {
    expect(formatReal(0.1)).toBe('0.1');
    expect(formatReal(1e-30)).toBe('1.0E-30');
    expect(formatReal(1.5e20)).toBe('1.5E+20');
    expect(formatReal(-2.7078566e-7)).toBe('-2.7078566E-07');
    expect(formatReal(1e300)).toBe('1.0E+300');
    expect(formatReal(-0)).toBe('-0.0');
    expect(formatReal(123456.75)).toBe('123456.75');
    for (const v of [Math.PI, -1 / 3, 6.02214076e23, 2 ** -1074, Number.MAX_VALUE, 0.000123, 1e16 + 2]) {
      const c = Card.fromImage(Card.create('V', v).image);
      expect(c.value).toBe(v);
    }
    expect(() => Card.create('V', NaN)).toThrow(FitsError);
  });

  it('escapes quotes and truncates only over-long comments of non-strings', () => {
    const c = Card.create('NAME', "it's", 'c');
    expect(c.image).toBe(rec("NAME    = 'it''s   '           / c"));
    const long = Card.create('N', 1, 'x'.repeat(100));
    expect(long.image.length).toBe(80);
    expect(Card.fromImage(long.image).value).toBe(1);
  });

  it('uses HIERARCH for long or non-standard keys', () => {
    const c = Card.create('ESO DET CHIP ID', 'a');
    expect(c.image.startsWith("HIERARCH ESO DET CHIP ID = 'a       '")).toBe(true);
    expect(Card.create('HIERARCH X', 3).image.startsWith('HIERARCH X = 3')).toBe(true);
    expect(() => Card.create('BAD=KEY', 1)).toThrow(FitsError);
  });

  it('rejects non-ASCII text', () => {
    expect(() => Card.create('S', 'café')).toThrow(FitsError);
  });

  it('writes long strings with & and CONTINUE records and reads them back (astropy-compatible)', () => {
    const values = [
      'a'.repeat(69),
      'b'.repeat(200),
      "q'".repeat(60),
      "'".repeat(150),
      'x'.repeat(66) + "'" + 'y'.repeat(80),
      'ends with spaces inside   ' + 'z'.repeat(70),
    ];
    for (const v of values) {
      for (const comment of ['', 'short comment', 'a very long comment '.repeat(8).trim()]) {
        const c = Card.create('LONGKEY', v, comment);
        expect(c.image.length % 80).toBe(0);
        expect(c.recordCount).toBeGreaterThan(1);
        const parsed = Card.fromImage(c.image);
        expect(parsed.value).toBe(v.trimEnd());
        expect(parsed.comment).toBe(comment);
        for (let r = 1; r < c.recordCount; r++) expect(c.image.slice(r * 80, r * 80 + 10)).toBe('CONTINUE  ');
      }
    }
  });

  it('splits long commentary text over several cards', () => {
    const cards = Card.commentary('HISTORY', 'h'.repeat(150));
    expect(cards.length).toBe(3);
    expect(cards.map((c) => c.value).join('')).toBe('h'.repeat(150));
  });
});

describe('Header', () => {
  it('builds from CardInput, gets case-insensitively and with typed getters', () => {
    const h = Header.fromCards([
      { key: 'OBJECT', value: 'M13', comment: 'target' },
      { key: 'EXPTIME', value: 30.5 },
      { key: 'NAXIS1', value: 100 },
      { key: 'FLAG', value: false },
      { key: 'COMMENT', value: 'hello' },
      { key: 'HISTORY', value: 'one' },
      { key: 'HISTORY', value: 'two' },
      { key: 'ESO DET ID', value: 'x' },
      { key: 'UNDEF' },
    ]);
    expect(h.get('object')).toBe('M13');
    expect(h.getString('OBJECT')).toBe('M13');
    expect(h.getNumber('exptime')).toBe(30.5);
    expect(h.getInt('NAXIS1')).toBe(100);
    expect(h.getBool('FLAG')).toBe(false);
    expect(h.get('UNDEF')).toBeNull();
    expect(h.get('MISSING')).toBeUndefined();
    expect(h.has('comment')).toBe(true);
    expect(h.getAll('HISTORY')).toEqual(['one', 'two']);
    expect(h.get('HIERARCH ESO DET ID')).toBe('x');
    expect(h.get('eso det id')).toBe('x');
    expect(h.toString().length % 80).toBe(0);
  });

  it('throws FitsError naming the keyword, HDU and byte offset', () => {
    const { header } = Header.parse(headerBytes(['SIMPLE  =                    T', "OBJECT  = 'x'", 'NAXIS   = 2.5']), 0, {
      file: 'f.fits',
      hdu: 0,
      offset: 0,
    });
    expect(() => header.getInt('MISSING')).toThrow(/HDU 0.*keyword MISSING/);
    try {
      header.getInt('NAXIS');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(FitsError);
      expect(e).toBeInstanceOf(InvalidInputError);
      const fe = e as FitsError;
      expect(fe.keyword).toBe('NAXIS');
      expect(fe.hduIndex).toBe(0);
      expect(fe.byteOffset).toBe(160);
      expect(fe.message).toMatch(/f\.fits, HDU 0, keyword NAXIS, byte offset 160/);
    }
    expect(() => header.getNumber('OBJECT')).toThrow(/expected a number, found string 'x'/);
    expect(() => header.getBool('OBJECT')).toThrow(FitsError);
    expect(() => header.getString('NAXIS')).toThrow(FitsError);
  });

  it('set replaces in place (keeping the comment) or appends; delete removes', () => {
    const h = Header.fromCards([
      { key: 'A', value: 1, comment: 'first' },
      { key: 'B', value: 2 },
    ]);
    h.set('A', 10);
    expect(h.keys()).toEqual(['A', 'B']);
    expect(h.get('A')).toBe(10);
    expect(h.getComment('A')).toBe('first');
    h.set('C', 'three', 'new');
    expect(h.keys()).toEqual(['A', 'B', 'C']);
    h.set('COMMENT', 'a note');
    expect(h.keys()).toEqual(['A', 'B', 'C', 'COMMENT']);
    h.delete('b');
    expect(h.keys()).toEqual(['A', 'C', 'COMMENT']);
    expect(h.has('B')).toBe(false);
  });

  it('set with an unchanged value keeps the original bytes', () => {
    const raw = rec('EXPTIME =               30.000 / seconds');
    const { header } = Header.parse(headerBytes(['SIMPLE  =                    T', raw.trimEnd()]), 0);
    header.set('EXPTIME', 30);
    expect(header.card('EXPTIME')?.image).toBe(raw);
    header.set('EXPTIME', 31);
    expect(header.card('EXPTIME')?.image).toBe(rec('EXPTIME =                   31 / seconds'));
  });

  it('parses bytes: merges CONTINUE records, stops at END, reports the data offset', () => {
    const bytes = headerBytes([
      'SIMPLE  =                    T',
      "LONG    = 'abc&'",
      "CONTINUE  'def&'",
      "CONTINUE  'ghi' / the comment",
      "ORPHAN  = 'x'",
      "CONTINUE  'not joined'",
      'HIERARCH A B C = 5',
    ]);
    const { header, dataOffset } = Header.parse(bytes, 0);
    expect(dataOffset).toBe(2880);
    expect(header.get('LONG')).toBe('abcdefghi');
    expect(header.getComment('LONG')).toBe('the comment');
    expect(header.card('LONG')?.recordCount).toBe(3);
    expect(header.get('ORPHAN')).toBe('x');
    expect(header.has('CONTINUE')).toBe(true);
    expect(header.get('A B C')).toBe(5);
    // Writing back gives the same bytes.
    expect(Buffer.from(header.toBytes()).equals(Buffer.from(bytes))).toBe(true);
  });

  it('throws FitsError with the offset when END is missing', () => {
    const bytes = new Uint8Array(Buffer.from(rec('SIMPLE  =                    T').repeat(36), 'latin1'));
    expect(() => Header.parse(bytes, 0, { hdu: 0 })).toThrow(/no END card.*|.*byte offset 2880/);
  });
});
