import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/errors.ts';
import { parseWhere } from './where.ts';

describe('--where data-ID constraints', () => {
  it('parses equalities and IN-lists joined by AND', () => {
    expect(parseWhere(`instrument='LATISS' AND detector IN (0, 1) and visit = 2026112700001`)).toEqual({
      instrument: 'LATISS',
      detector: [0, 1],
      visit: 2026112700001,
    });
    expect(parseWhere('band = "r"')).toEqual({ band: 'r' });
    expect(parseWhere('  ')).toEqual({});
  });
  it.each([
    ['colour = 1', /'colour' is not a dimension/],
    ['detector = ', /expected a quoted string or a number/],
    ["instrument = 'LATISS", /unterminated string/],
    ['detector IN 1, 2', /expected '\(' after IN/],
    ['detector = 1 OR detector = 2', /expected AND/],
    ['detector = 1 AND detector = 2', /constrained twice/],
    ['detector > 1', /expected '=' or IN/],
  ])('refuses %j clearly', (expr, why) => {
    expect(() => parseWhere(expr)).toThrow(InvalidInputError);
    expect(() => parseWhere(expr)).toThrow(why);
  });
});
