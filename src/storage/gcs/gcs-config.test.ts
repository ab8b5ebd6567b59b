import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.ts';
import { isGcsBucketName, parseGcsUrl, resolveGcsSettings, validateGcsStoreConfig, type GcsStoreConfig } from './gcs-config.ts';

describe('parseGcsUrl', () => {
  const good: Array<[string, GcsStoreConfig]> = [
    ['gs://rubin-raw', { bucket: 'rubin-raw' }],
    ['gs://rubin-raw/', { bucket: 'rubin-raw' }],
    ['gs://rubin-raw/some/prefix', { bucket: 'rubin-raw', prefix: 'some/prefix' }],
    ['gs://rubin-raw/some/prefix/', { bucket: 'rubin-raw', prefix: 'some/prefix' }],
    ['GS://rubin-raw/p', { bucket: 'rubin-raw', prefix: 'p' }],
    ['gs://my.bucket_1/a%20b', { bucket: 'my.bucket_1', prefix: 'a b' }],
    [
      'gs://rubin-raw/repo?endpoint=http%3A%2F%2F127.0.0.1%3A4443&project=rubin-prompt-1',
      { bucket: 'rubin-raw', prefix: 'repo', apiEndpoint: 'http://127.0.0.1:4443', projectId: 'rubin-prompt-1' },
    ],
    ['gs://b12/x?endpoint=https://storage.example.internal', { bucket: 'b12', prefix: 'x', apiEndpoint: 'https://storage.example.internal' }],
    ['gs://b12?project=example.com:my-project', { bucket: 'b12', projectId: 'example.com:my-project' }],
    [`gs://${'a'.repeat(63)}`, { bucket: 'a'.repeat(63) }],
    [`gs://${'a'.repeat(63)}.${'b'.repeat(63)}`, { bucket: `${'a'.repeat(63)}.${'b'.repeat(63)}` }],
  ];
  it.each(good)('%s', (url, expected) => {
    expect(parseGcsUrl(url)).toEqual(expected);
  });

  const bad: Array<[string, RegExp]> = [
    ['s3://bucket/x', /not of the form gs:\/\/bucket/],
    ['gs:bucket/x', /not of the form/],
    ['gs://', /no bucket name/],
    ['gs:///prefix', /no bucket name/],
    ['gs://Rubin-Raw/x', /'Rubin-Raw' is not a Cloud Storage bucket name/],
    ['gs://ab', /'ab' is not a Cloud Storage bucket name/],
    [`gs://${'a'.repeat(64)}`, /not a Cloud Storage bucket name/],
    [`gs://${'a'.repeat(64)}.b`, /not a Cloud Storage bucket name/],
    ['gs://a..b/x', /not a Cloud Storage bucket name/],
    ['gs://192.168.5.4', /not a Cloud Storage bucket name/],
    ['gs://goog-raw', /not starting with "goog"/],
    ['gs://my-google-raw', /not a Cloud Storage bucket name/],
    ['gs://bucket:4443/x', /give the server as \?endpoint=/],
    ['gs://bucket/x#frag', /fragment/],
    ['gs://bucket//x', /prefix '\/x' is not a usable key prefix|empty path segment/],
    ['gs://bucket/a/../b', /'\.\.' segment/],
    ['gs://bucket/a/./b', /'\.' segment/],
    ['gs://bucket/a%ZZ', /malformed percent-encoding/],
    ['gs://bucket/x?endpoint=ftp://h', /not an http:\/\/ or https:\/\/ URL/],
    ['gs://bucket/x?endpoint=not a url', /is not a URL/],
    ['gs://bucket/x?endpoint=http://h:1/?a=b', /has a query or fragment/],
    ['gs://bucket/x?project=My_Project', /not a project ID/],
    ['gs://bucket/x?project=abc', /not a project ID/],
    ['gs://bucket/x?endpont=http://h', /unknown parameter 'endpont' \(known: endpoint, project\)/],
    ['gs://bucket/x?region=us', /unknown parameter 'region'/],
    ['gs://bucket/x?project=abcdef&project=ghijkl', /'project' is given twice/],
  ];
  it.each(bad)('%s is a ConfigError', (url, message) => {
    expect(() => parseGcsUrl(url)).toThrow(ConfigError);
    expect(() => parseGcsUrl(url)).toThrow(message);
  });

  it('refuses credentials in the URL without repeating them', () => {
    for (const url of ['gs://user:hunter2@bucket/x', 'gs://bucket/x?endpoint=http%3A%2F%2Fuser%3Ahunter2%40host%3A4443']) {
      let err: unknown;
      try {
        parseGcsUrl(url);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/credentials/);
      expect((err as Error).message).not.toContain('hunter2');
    }
  });
});

describe('isGcsBucketName', () => {
  it('follows the naming rules', () => {
    for (const ok of ['abc', 'a-b_c.d', '0abc9', 'rubin-embargo-raw']) expect(isGcsBucketName(ok)).toBe(true);
    for (const no of ['', 'ab', '-abc', 'abc-', 'ABC', 'a b', 'goog123', 'xgooglex', '1.2.3.4', 'a..b']) {
      expect(isGcsBucketName(no)).toBe(false);
    }
  });
});

describe('validateGcsStoreConfig', () => {
  it('checks pageSize, maxRetries and the credential options', () => {
    expect(() => validateGcsStoreConfig({ bucket: 'bkt', pageSize: 0 })).toThrow(/pageSize 0 is not a whole number from 1 to 1000/);
    expect(() => validateGcsStoreConfig({ bucket: 'bkt', pageSize: 1001 })).toThrow(/from 1 to 1000/);
    expect(() => validateGcsStoreConfig({ bucket: 'bkt', maxRetries: -1 })).toThrow(/maxRetries -1/);
    expect(() => validateGcsStoreConfig({ bucket: 'bkt', credentials: {}, keyFilename: '/k.json' })).toThrow(/either credentials or keyFilename/);
    expect(() => validateGcsStoreConfig({ bucket: 'bkt', pageSize: 5, maxRetries: 0 })).not.toThrow();
  });
});

describe('resolveGcsSettings', () => {
  it('normalizes the prefix to end in one slash', () => {
    expect(resolveGcsSettings({ bucket: 'bkt', prefix: 'a/b' }, {}).keyPrefix).toBe('a/b/');
    expect(resolveGcsSettings({ bucket: 'bkt', prefix: 'a/b/' }, {}).keyPrefix).toBe('a/b/');
    expect(resolveGcsSettings({ bucket: 'bkt' }, {}).keyPrefix).toBe('');
  });

  it("leaves Google's endpoint to the client, and sends credentials only to https:// custom endpoints", () => {
    expect(resolveGcsSettings({ bucket: 'bkt' }, {})).toMatchObject({ apiEndpoint: undefined, server: undefined, useAuthWithCustomEndpoint: false });
    expect(resolveGcsSettings({ bucket: 'bkt', apiEndpoint: 'http://127.0.0.1:4443/' }, {})).toMatchObject({
      apiEndpoint: 'http://127.0.0.1:4443',
      server: 'http://127.0.0.1:4443',
      useAuthWithCustomEndpoint: false,
    });
    expect(resolveGcsSettings({ bucket: 'bkt', apiEndpoint: 'https://storage-psc.p.googleapis.com' }, {}).useAuthWithCustomEndpoint).toBe(true);
  });

  it('defaults pageSize to 1000 and maxRetries to 3', () => {
    expect(resolveGcsSettings({ bucket: 'bkt' }, {})).toMatchObject({ pageSize: 1000, maxRetries: 3 });
  });

  it('leaves STORAGE_EMULATOR_HOST to the client, naming it as the server', () => {
    const s = resolveGcsSettings({ bucket: 'bkt' }, { STORAGE_EMULATOR_HOST: 'http://127.0.0.1:9199' });
    expect(s).toMatchObject({ apiEndpoint: undefined, server: 'http://127.0.0.1:9199', useAuthWithCustomEndpoint: false });
    // The same server given both ways is one server, and an emulator gets no credentials.
    const same = resolveGcsSettings({ bucket: 'bkt', apiEndpoint: 'https://emu:9199/' }, { STORAGE_EMULATOR_HOST: 'https://emu:9199' });
    expect(same.useAuthWithCustomEndpoint).toBe(false);
  });

  it('refuses an endpoint that differs from STORAGE_EMULATOR_HOST, and values the client cannot use', () => {
    expect(() => resolveGcsSettings({ bucket: 'bkt', apiEndpoint: 'http://a:1' }, { STORAGE_EMULATOR_HOST: 'http://b:2' })).toThrow(
      /differs from STORAGE_EMULATOR_HOST.*metadata requests to one and uploads to the other/,
    );
    expect(() => resolveGcsSettings({ bucket: 'bkt' }, { STORAGE_EMULATOR_HOST: 'localhost:4443' })).toThrow(
      /STORAGE_EMULATOR_HOST "localhost:4443" has no http:\/\/ or https:\/\/.*http:\/\/localhost:4443/,
    );
    expect(() => resolveGcsSettings({ bucket: 'bkt' }, { STORAGE_EMULATOR_HOST: '' })).toThrow(/set but empty/);
  });
});
