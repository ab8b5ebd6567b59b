import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.ts';
import { openObjectStore } from '../backends.ts';
import { parseS3Url, resolveS3Settings, type S3StoreConfig } from './s3-config.ts';

describe('parseS3Url', () => {
  const good: Array<[string, S3StoreConfig]> = [
    ['s3://rubin-raw', { bucket: 'rubin-raw' }],
    ['s3://rubin-raw/', { bucket: 'rubin-raw' }],
    ['s3://rubin-raw/some/prefix', { bucket: 'rubin-raw', prefix: 'some/prefix' }],
    ['s3://rubin-raw/some/prefix/', { bucket: 'rubin-raw', prefix: 'some/prefix' }],
    ['S3://rubin-raw/p', { bucket: 'rubin-raw', prefix: 'p' }],
    ['s3://my.bucket_1/a%20b', { bucket: 'my.bucket_1', prefix: 'a b' }],
    [
      's3://rubin-raw/repo?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=us-west-2',
      { bucket: 'rubin-raw', prefix: 'repo', endpoint: 'http://127.0.0.1:9000', region: 'us-west-2' },
    ],
    ['s3://b12/x?endpoint=https://storage.googleapis.com', { bucket: 'b12', prefix: 'x', endpoint: 'https://storage.googleapis.com' }],
    ['s3://b12?forcePathStyle=false&pageSize=50', { bucket: 'b12', forcePathStyle: false, pageSize: 50 }],
    ['s3://b12?region=auto', { bucket: 'b12', region: 'auto' }],
  ];
  it.each(good)('%s', (url, expected) => {
    expect(parseS3Url(url)).toEqual(expected);
  });

  const bad: Array<[string, RegExp]> = [
    ['gs://bucket/x', /not of the form s3:\/\/bucket/],
    ['s3:bucket/x', /not of the form/],
    ['s3://', /no bucket name/],
    ['s3:///prefix', /no bucket name/],
    ['s3://Rubin-Raw/x', /'Rubin-Raw' is not a bucket name/],
    ['s3://ab', /'ab' is not a bucket name/],
    ['s3://a..b/x', /not a bucket name/],
    ['s3://bucket:9000/x', /give the server as \?endpoint=/],
    ['s3://bucket/x#frag', /fragment/],
    ['s3://bucket//x', /prefix '\/x' is not a usable key prefix|empty path segment/],
    ['s3://bucket/a/../b', /'\.\.' segment/],
    ['s3://bucket/a/./b', /'\.' segment/],
    ['s3://bucket/a%ZZ', /malformed percent-encoding/],
    ['s3://bucket/x?endpoint=ftp://h', /not an http:\/\/ or https:\/\/ URL/],
    ['s3://bucket/x?endpoint=not a url', /is not a URL/],
    ['s3://bucket/x?region=US_EAST', /not a region name/],
    ['s3://bucket/x?forcePathStyle=yes', /forcePathStyle must be true or false/],
    ['s3://bucket/x?pageSize=0', /pageSize 0 is not a whole number from 1 to 1000/],
    ['s3://bucket/x?pageSize=5000', /from 1 to 1000/],
    ['s3://bucket/x?pageSize=ten', /pageSize must be a whole number/],
    ['s3://bucket/x?endpont=http://h', /unknown parameter 'endpont'/],
    ['s3://bucket/x?region=a&region=b', /'region' is given twice/],
  ];
  it.each(bad)('%s is a ConfigError', (url, message) => {
    expect(() => parseS3Url(url)).toThrow(ConfigError);
    expect(() => parseS3Url(url)).toThrow(message);
  });

  it('refuses credentials in the URL without repeating them', () => {
    for (const url of ['s3://AKIAXXXX:hunter2@bucket/x', 's3://bucket/x?endpoint=http%3A%2F%2Fuser%3Ahunter2%40host%3A9000']) {
      let err: unknown;
      try {
        parseS3Url(url);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/credentials/);
      expect((err as Error).message).not.toContain('hunter2');
    }
  });
});

describe('resolveS3Settings', () => {
  it('takes the endpoint from the config, else S3_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL', () => {
    const env = {
      S3_ENDPOINT_URL: 'http://s3-endpoint:1',
      AWS_ENDPOINT_URL_S3: 'http://aws-s3:2',
      AWS_ENDPOINT_URL: 'http://aws:3',
    };
    expect(resolveS3Settings({ bucket: 'bkt', endpoint: 'http://cfg:9' }, env).endpoint).toBe('http://cfg:9');
    expect(resolveS3Settings({ bucket: 'bkt' }, env).endpoint).toBe('http://s3-endpoint:1');
    expect(resolveS3Settings({ bucket: 'bkt' }, { ...env, S3_ENDPOINT_URL: '' }).endpoint).toBe('http://aws-s3:2');
    expect(resolveS3Settings({ bucket: 'bkt' }, { AWS_ENDPOINT_URL: 'http://aws:3' }).endpoint).toBe('http://aws:3');
    expect(resolveS3Settings({ bucket: 'bkt' }, {}).endpoint).toBeUndefined();
  });

  it('uses path-style addressing with an endpoint unless told otherwise', () => {
    expect(resolveS3Settings({ bucket: 'bkt' }, {}).forcePathStyle).toBe(false);
    expect(resolveS3Settings({ bucket: 'bkt' }, { AWS_ENDPOINT_URL: 'http://h:1' }).forcePathStyle).toBe(true);
    expect(resolveS3Settings({ bucket: 'bkt', endpoint: 'http://h:1', forcePathStyle: false }, {}).forcePathStyle).toBe(false);
  });

  it('takes the region from the config, AWS_REGION, AWS_DEFAULT_REGION, else us-east-1', () => {
    expect(resolveS3Settings({ bucket: 'bkt', region: 'eu-west-1' }, { AWS_REGION: 'x-1' }).region).toBe('eu-west-1');
    expect(resolveS3Settings({ bucket: 'bkt' }, { AWS_REGION: 'us-west-2', AWS_DEFAULT_REGION: 'ap-south-1' }).region).toBe('us-west-2');
    expect(resolveS3Settings({ bucket: 'bkt' }, { AWS_DEFAULT_REGION: 'ap-south-1' }).region).toBe('ap-south-1');
    expect(resolveS3Settings({ bucket: 'bkt' }, {}).region).toBe('us-east-1');
  });

  it('normalizes the prefix to end in one slash', () => {
    expect(resolveS3Settings({ bucket: 'bkt', prefix: 'a/b' }, {}).keyPrefix).toBe('a/b/');
    expect(resolveS3Settings({ bucket: 'bkt', prefix: 'a/b/' }, {}).keyPrefix).toBe('a/b/');
    expect(resolveS3Settings({ bucket: 'bkt' }, {}).keyPrefix).toBe('');
  });

  it('refuses a bad endpoint from the environment, naming the variable', () => {
    expect(() => resolveS3Settings({ bucket: 'bkt' }, { AWS_ENDPOINT_URL_S3: 'localhost:9000' })).toThrow(/AWS_ENDPOINT_URL_S3/);
  });
});

describe('openObjectStore with s3:// URLs', () => {
  it('opens an S3 store without touching the network', async () => {
    const store = openObjectStore('s3://rubin-raw/prefix?endpoint=http%3A%2F%2F127.0.0.1%3A1');
    expect(store.bucket).toBe('rubin-raw');
    expect(store.capabilities).toEqual({ notifications: false });
    await store.close();
  });

  it('names the supported forms for an unknown scheme', () => {
    expect(() => openObjectStore('az://bucket/x')).toThrow(/supported: file:\/\/\/dir, s3:\/\/bucket.*gs:\/\/bucket/);
  });
});
