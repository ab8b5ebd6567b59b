import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/errors.ts';
import { parseFilter } from './filter.ts';

const latiss = { instrument: 'LATISS', detector: '0', 'ce-type': 'com.example.kafka' };
const lsstcam = { instrument: 'LSSTCam', detector: '94' };
const none = {};

function m(filter: string, attrs: Record<string, string>): boolean {
  return parseFilter(filter).matches(attrs);
}

function problem(filter: string): string {
  try {
    parseFilter(filter);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return (err as Error).message;
  }
  throw new Error(`filter ${filter} was accepted`);
}

describe('parseFilter: matching', () => {
  it('an empty filter matches everything', () => {
    expect(parseFilter('').ast).toBeUndefined();
    expect(m('', none)).toBe(true);
    expect(m('   ', latiss)).toBe(true);
  });

  it('= compares values exactly (case-sensitive)', () => {
    expect(m('attributes.instrument = "LATISS"', latiss)).toBe(true);
    expect(m('attributes.instrument="LATISS"', latiss)).toBe(true);
    expect(m('attributes.instrument = "latiss"', latiss)).toBe(false);
    expect(m('attributes.instrument = "LATISS"', lsstcam)).toBe(false);
    expect(m('attributes.instrument = "LATISS"', none)).toBe(false);
  });

  it('!= is the negation of =, so a message without the key matches', () => {
    expect(m('attributes.instrument != "LATISS"', lsstcam)).toBe(true);
    expect(m('attributes.instrument != "LATISS"', latiss)).toBe(false);
    expect(m('attributes.instrument != "LATISS"', none)).toBe(true);
  });

  it('attributes:KEY tests that the key exists', () => {
    expect(m('attributes:detector', latiss)).toBe(true);
    expect(m('attributes:detector', none)).toBe(false);
    expect(m('attributes:"detector"', latiss)).toBe(true);
  });

  it('hasPrefix tests a value prefix', () => {
    expect(m('hasPrefix(attributes.instrument, "LSST")', lsstcam)).toBe(true);
    expect(m('hasPrefix( attributes.instrument , "LSST" )', lsstcam)).toBe(true);
    expect(m('hasPrefix(attributes.instrument, "LSST")', latiss)).toBe(false);
    expect(m('hasPrefix(attributes.instrument, "")', latiss)).toBe(true);
    expect(m('hasPrefix(attributes.instrument, "")', none)).toBe(false);
  });

  it('NOT and - negate', () => {
    expect(m('NOT attributes:detector', none)).toBe(true);
    expect(m('NOT attributes:detector', latiss)).toBe(false);
    expect(m('-attributes:detector', none)).toBe(true);
    expect(m('NOT(attributes:detector)', latiss)).toBe(false);
    expect(m('NOT NOT attributes:detector', latiss)).toBe(true);
    expect(m('NOT hasPrefix(attributes.instrument, "LSST")', latiss)).toBe(true);
  });

  it('AND, OR and parentheses', () => {
    const f = '(attributes.instrument = "LATISS" OR attributes.instrument = "LSSTCam") AND attributes:detector';
    expect(m(f, latiss)).toBe(true);
    expect(m(f, lsstcam)).toBe(true);
    expect(m(f, { instrument: 'LATISS' })).toBe(false);
    expect(m(f, { instrument: 'DECam', detector: '1' })).toBe(false);
    expect(m('attributes:a AND attributes:b AND attributes:c', { a: '', b: '', c: '' })).toBe(true);
    expect(m('attributes:a OR attributes:b OR attributes:c', { c: '' })).toBe(true);
    expect(m('NOT attributes:a AND attributes:b', { b: '' })).toBe(true); // NOT binds tighter
    expect(m('((attributes:a))', { a: '' })).toBe(true);
  });

  it('keys with hyphens, quoted keys and escapes', () => {
    expect(m('attributes.ce-type = "com.example.kafka"', latiss)).toBe(true);
    expect(m('attributes."odd key.x" = "v"', { 'odd key.x': 'v' })).toBe(true);
    expect(m(String.raw`attributes.q = "say \"hi\"\n"`, { q: 'say "hi"\n' })).toBe(true);
    expect(m(String.raw`attributes.u = "\u00e9\x41\101"`, { u: 'éAA' })).toBe(true);
    expect(m("attributes.s = 'single'", { s: 'single' })).toBe(true);
  });

  it('exposes the parsed tree', () => {
    expect(parseFilter('attributes.a = "1" OR NOT attributes:b').ast).toEqual({
      kind: 'or',
      operands: [
        { kind: 'eq', key: 'a', value: '1' },
        { kind: 'not', operand: { kind: 'has', key: 'b' } },
      ],
    });
  });

  it('does not see inherited object properties as attributes', () => {
    expect(m('attributes:constructor', none)).toBe(false);
    expect(m('attributes:toString', {})).toBe(false);
  });
});

describe('parseFilter: errors name the problem', () => {
  it('an unquoted value', () => {
    expect(problem('attributes.instrument = LATISS')).toMatch(/column 25: the value compared with attributes.instrument must be a string literal in quotes, found "LATISS"/);
  });
  it('mixing AND and OR without parentheses', () => {
    expect(problem('attributes:a AND attributes:b OR attributes:c')).toMatch(/AND and OR cannot be mixed without parentheses/);
  });
  it('lower-case operators', () => {
    expect(problem('attributes:a and attributes:b')).toMatch(/write AND instead of and/);
    expect(problem('not attributes:a')).toMatch(/write NOT instead of not/);
  });
  it('unbalanced parentheses', () => {
    expect(problem('(attributes:a')).toMatch(/missing "\)" for the "\(" at column 1/);
    expect(problem('attributes:a)')).toMatch(/unbalanced "\)"/);
  });
  it('unknown fields, functions and operators', () => {
    expect(problem('data = "x"')).toMatch(/expected a condition .* found "data"/);
    expect(problem('hasSuffix(attributes.a, "x")')).toMatch(/found "hasSuffix"/);
    expect(problem('attributes.a > "1"')).toMatch(/expected "=" or "!=" after attributes.a, found ">"/);
    expect(problem('attributes.a = "1" "2"')).toMatch(/unexpected/);
  });
  it('bad keys and strings', () => {
    expect(problem('attributes.')).toMatch(/expected an attribute key after "attributes."/);
    expect(problem('attributes:""')).toMatch(/cannot be empty/);
    expect(problem('attributes.a = "open')).toMatch(/column 16: unterminated string literal/);
    expect(problem(String.raw`attributes.a = "\q"`)).toMatch(/unknown escape \\q/);
    expect(problem(String.raw`attributes.a = "\u12"`)).toMatch(/needs 4 hex digits/);
  });
  it('hasPrefix arguments', () => {
    expect(problem('hasPrefix(attributes.a)')).toMatch(/expected "," between the arguments of hasPrefix/);
    expect(problem('hasPrefix(attributes.a, x)')).toMatch(/second argument/);
    expect(problem('hasPrefix("a", "b")')).toMatch(/first argument/);
  });
  it('dangling operators and length', () => {
    expect(problem('attributes:a AND')).toMatch(/unexpected end of filter/);
    expect(problem('NOT')).toMatch(/unexpected end of filter/);
    expect(problem('NOTattributes:a')).toMatch(/found "NOTattributes"/);
    expect(problem(`attributes.a = "${'x'.repeat(300)}"`)).toMatch(/the maximum is 256/);
  });
  it('quotes the whole filter in the message', () => {
    expect(problem('attributes.x = y')).toContain('invalid filter "attributes.x = y"');
  });
});
