import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.ts';
import { createPubSubBroker } from './pubsub-broker.ts';
import { pubsubOptionsFromUrl, resolveClientOptions } from './pubsub-options.ts';

const ENV_KEYS = ['PUBSUB_EMULATOR_HOST', 'CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB', 'PUBSUB_PROJECT_ID'] as const;

describe('pubsub:// URLs', () => {
  const noEnv = {} as NodeJS.ProcessEnv;

  it('takes the project from the host', () => {
    expect(pubsubOptionsFromUrl(new URL('pubsub://prompt-proto'), noEnv)).toEqual({ projectId: 'prompt-proto' });
    expect(pubsubOptionsFromUrl(new URL('pubsub://prompt-proto/'), noEnv)).toEqual({ projectId: 'prompt-proto' });
  });

  it('reads transport, endpoint and emulator parameters', () => {
    expect(pubsubOptionsFromUrl(new URL('pubsub://p1?transport=rest'), noEnv)).toEqual({ projectId: 'p1', transport: 'rest' });
    expect(pubsubOptionsFromUrl(new URL('pubsub://p1?endpoint=us-central1-pubsub.googleapis.com:443'), noEnv)).toEqual({
      projectId: 'p1',
      apiEndpoint: 'us-central1-pubsub.googleapis.com:443',
    });
    expect(pubsubOptionsFromUrl(new URL('pubsub://p1?emulator=127.0.0.1:8085&transport=grpc'), noEnv)).toEqual({
      projectId: 'p1',
      emulatorHost: '127.0.0.1:8085',
      transport: 'grpc',
    });
  });

  it('takes PUBSUB_EMULATOR_HOST from a given environment, and passes nothing for process.env', () => {
    expect(pubsubOptionsFromUrl(new URL('pubsub://p1'), { PUBSUB_EMULATOR_HOST: 'localhost:8085' })).toEqual({
      projectId: 'p1',
      emulatorHost: 'localhost:8085',
    });
    // With process.env the official client reads the variable itself: nothing to pass.
    expect(pubsubOptionsFromUrl(new URL('pubsub://p1'), process.env)).toEqual({ projectId: 'p1' });
    // An explicit endpoint wins over the environment.
    expect(
      pubsubOptionsFromUrl(new URL('pubsub://p1?endpoint=pubsub.googleapis.com'), { PUBSUB_EMULATOR_HOST: 'localhost:8085' }),
    ).toEqual({ projectId: 'p1', apiEndpoint: 'pubsub.googleapis.com' });
  });

  it.each([
    ['nats://p1', /not pubsub:\/\/PROJECT/],
    ['pubsub://', /names no project/],
    ['pubsub://p1:8085', /takes no port/],
    ['pubsub://user:secret@p1', /credentials do not go in the URL/],
    ['pubsub://p1/topics/x', /unexpected path/],
    ['pubsub://p1?transport=http', /transport must be grpc or rest/],
    ['pubsub://p1?endpoint=a:1&emulator=b:2', /endpoint or emulator, not both/],
    ['pubsub://p1?region=eu', /unknown parameter "region"/],
  ])('refuses %s', (url, message) => {
    const err = (() => {
      try {
        pubsubOptionsFromUrl(new URL(url), noEnv);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
  });
});

describe('client options', () => {
  const saved: Partial<Record<(typeof ENV_KEYS)[number], string>> = {};
  beforeEach(() => {
    for (const key of ENV_KEYS) {
      saved[key] = process.env[key];
      delete process.env[key];
    }
  });
  afterEach(() => {
    for (const key of ENV_KEYS) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  });
  const stub = { stand: 'in' };

  it('production: gRPC to pubsub.googleapis.com with Application Default Credentials', () => {
    const r = resolveClientOptions({ projectId: 'p1' }, stub);
    expect(r.emulator).toBe(false);
    expect(r.transport).toBe('grpc');
    expect(r.endpoint).toBe('pubsub.googleapis.com:443');
    expect(r.clientConfig.projectId).toBe('p1');
    expect(r.clientConfig.servicePath).toBeUndefined();
    expect(r.clientConfig.apiEndpoint).toBeUndefined();
    expect(r.clientConfig.sslCreds).toBeUndefined();
    expect(r.clientConfig.authClient).toBeUndefined();
    expect(r.clientConfig.fallback).toBeUndefined();
  });

  it('production over REST: the fallback transport, still with credentials', () => {
    const r = resolveClientOptions({ projectId: 'p1', transport: 'rest' }, stub);
    expect(r.clientConfig.fallback).toBe(true);
    expect(r.clientConfig.protocol).toBeUndefined();
    expect(r.clientConfig.authClient).toBeUndefined();
  });

  it('PUBSUB_EMULATOR_HOST is honoured by the official client itself', () => {
    process.env.PUBSUB_EMULATOR_HOST = 'localhost:8085';
    const r = resolveClientOptions({ projectId: 'p1' }, stub);
    expect(r.emulator).toBe(true);
    expect(r.endpoint).toBe('localhost:8085');
    expect(r.clientConfig.servicePath).toBe('localhost');
    expect(r.clientConfig.port).toBe(8085);
    expect(r.clientConfig.sslCreds).toBeDefined(); // plaintext channel credentials
    expect(r.clientConfig.apiEndpoint).toBeUndefined(); // we passed nothing
    expect(r.clientConfig.authClient).toBe(stub);
  });

  it('PUBSUB_EMULATOR_HOST over REST: plain HTTP, no credentials', () => {
    process.env.PUBSUB_EMULATOR_HOST = 'localhost:8085';
    const r = resolveClientOptions({ projectId: 'p1', transport: 'rest' }, stub);
    expect(r.clientConfig.fallback).toBe(true);
    expect(r.clientConfig.protocol).toBe('http');
    expect(r.clientConfig.authClient).toBe(stub);
  });

  it('an explicit emulatorHost or apiEndpoint wins over PUBSUB_EMULATOR_HOST', () => {
    process.env.PUBSUB_EMULATOR_HOST = 'localhost:8085';
    const emu = resolveClientOptions({ projectId: 'p1', emulatorHost: '127.0.0.1:9999' }, stub);
    expect(emu.emulator).toBe(true);
    expect(emu.endpoint).toBe('127.0.0.1:9999');
    const regional = resolveClientOptions({ projectId: 'p1', apiEndpoint: 'europe-west1-pubsub.googleapis.com:443' }, stub);
    expect(regional.emulator).toBe(false);
    expect(regional.endpoint).toBe('europe-west1-pubsub.googleapis.com:443');
    expect(regional.clientConfig.sslCreds).toBeUndefined();
    expect(regional.clientConfig.authClient).toBeUndefined();
  });

  it('refuses bad options with ConfigError', () => {
    expect(() => resolveClientOptions({ projectId: 'bad project' })).toThrow(ConfigError);
    expect(() => resolveClientOptions({ projectId: 'p1', transport: 'http' as never })).toThrow(/transport/);
    expect(() => resolveClientOptions({ projectId: 'p1', apiEndpoint: 'a:1', emulatorHost: 'b:2' })).toThrow(/not both/);
    expect(() => resolveClientOptions({ projectId: 'p1', emulatorHost: 'not a host' })).toThrow(/host\[:port\]/);
    expect(() => createPubSubBroker({ projectId: 'p1', minAckDeadlineSeconds: 0 })).toThrow(/minAckDeadlineSeconds/);
    expect(() => createPubSubBroker({ projectId: 'p1', requestTimeoutMs: -1 })).toThrow(/requestTimeoutMs/);
  });

  it.each(['grpc', 'rest'] as const)('unusable credentials are a ConfigError (%s), not an unhandled rejection', async (transport) => {
    const broker = createPubSubBroker({
      projectId: 'p1',
      apiEndpoint: 'pubsub.googleapis.com',
      transport,
      clientOptions: { keyFilename: '/nonexistent/service-account.json' },
    });
    const err = await broker.ensureTopic('nextVisit').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain('create topic nextVisit');
    // Again: a new attempt, the same answer.
    await expect(broker.publish('nextVisit', [{ data: new Uint8Array([1]) }])).rejects.toBeInstanceOf(ConfigError);
    await broker.close();
  });
});
