import { describe, expect, it } from 'vitest';
import { base64ByteLength, canonicalBase64, decodeBase64, encodeBase64 } from './base64.ts';

describe('base64', () => {
  it('decodes standard and URL-safe, padded or not', () => {
    expect([...decodeBase64('+/8=')!]).toEqual([0xfb, 0xff]);
    expect([...decodeBase64('-_8')!]).toEqual([0xfb, 0xff]);
    expect(decodeBase64('')!.byteLength).toBe(0);
  });
  it('refuses what is not base64', () => {
    for (const bad of ['a', 'ab$c', 'abc=d', 'a===', 'ab=', 'YQ= =', ' YQ==']) expect(decodeBase64(bad), bad).toBeUndefined();
  });
  it('canonicalises to padded standard base64', () => {
    expect(canonicalBase64('YQ==')).toBe('YQ==');
    expect(canonicalBase64('YQ')).toBe('YQ==');
    expect(canonicalBase64('-_8')).toBe('+/8=');
    expect(canonicalBase64('Y$')).toBeUndefined();
  });
  it('computes the decoded length', () => {
    for (let n = 0; n < 10; n++) expect(base64ByteLength(encodeBase64(new Uint8Array(n)))).toBe(n);
  });
});
