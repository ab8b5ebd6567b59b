import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/errors.ts';
import { checkResourceId, resourceId, resourcePath } from './names.ts';

describe('resource names', () => {
  it('accepts Pub/Sub IDs', () => {
    for (const ok of ['nextVisit', 'LSSTCam-image', 'nextVisit-sub', 'a.b~c+d%2F_e', 'x'.repeat(255)]) {
      expect(checkResourceId('topic', ok)).toBe(ok);
    }
  });
  it('refuses others with the rule', () => {
    for (const bad of ['ab', '1abc', '-abc', 'goog-x', 'GOOGx', 'a b c', 'a/bc', 'x'.repeat(256), 'abc:publish']) {
      expect(() => checkResourceId('subscription', bad), bad).toThrow(InvalidInputError);
    }
    expect(() => checkResourceId('topic', 'ab')).toThrow('invalid topic name "ab": an ID must be 3-255 characters');
  });
  it('accepts full paths in the same project', () => {
    expect(resourcePath('p', 'topic', 'abc')).toBe('projects/p/topics/abc');
    expect(resourceId('topic', 'projects/p/topics/abc', 'p')).toBe('abc');
    expect(() => resourceId('topic', 'projects/q/topics/abc', 'p')).toThrow(/in project "q"/);
    expect(() => resourceId('topic', 'projects/p/subscriptions/abc', 'p')).toThrow(/expected projects\/\{project\}\/topics\/\{id\}/);
  });
});
