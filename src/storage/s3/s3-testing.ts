import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * An in-process S3-compatible server (s3rver, a dev dependency) on 127.0.0.1 with an
 * ephemeral port and a temporary directory, for tests. It knows one key pair, S3RVER/S3RVER,
 * checks the access key id and does not verify SigV4 signatures.
 */
export interface S3TestServer {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  createBucket(name: string): Promise<void>;
  /** Writes an object directly (one request, no ObjectStore): for bulk fixtures and foreign keys. */
  putObject(bucket: string, key: string, body: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export async function startS3TestServer(): Promise<S3TestServer> {
  enableSingleDesForS3rver();
  const { default: S3rver } = await import('s3rver');
  const directory = await mkdtemp(path.join(tmpdir(), 's3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const { S3Client, CreateBucketCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');
  const admin = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  return {
    endpoint,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    async createBucket(name) {
      await admin.send(new CreateBucketCommand({ Bucket: name }));
    },
    async putObject(bucket, key, body) {
      await admin.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    async close() {
      admin.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

let desShimmed = false;

/**
 * s3rver 3.7 encrypts ListObjectsV2 continuation tokens with single DES ('des', i.e. DES-CBC),
 * which OpenSSL 3 (Node ≥ 17) keeps in its legacy provider, so every truncated listing fails
 * with ERR_OSSL_EVP_UNSUPPORTED. Triple DES with three equal keys is DES, and 'des-ede3-cbc' is
 * in the default provider: this maps the one to the other. It only turns calls that would throw
 * into the same cipher; where 'des' works already nothing is changed.
 */
function enableSingleDesForS3rver(): void {
  if (desShimmed) return;
  desShimmed = true;
  const crypto = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
  try {
    crypto.createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
    return;
  } catch {
    // OpenSSL 3 without the legacy provider.
  }
  type CipherFactory = (algorithm: string, key: Buffer, iv: Buffer | null, options?: object) => unknown;
  const triple = (key: Buffer): Buffer => Buffer.concat([key, key, key]);
  const wrap = (original: CipherFactory): CipherFactory => (algorithm, key, iv, options) =>
    algorithm.toLowerCase() === 'des' || algorithm.toLowerCase() === 'des-cbc'
      ? original('des-ede3-cbc', triple(key), iv, options)
      : original(algorithm, key, iv, options);
  const c = crypto as unknown as { createCipheriv: CipherFactory; createDecipheriv: CipherFactory };
  c.createCipheriv = wrap(c.createCipheriv.bind(crypto));
  c.createDecipheriv = wrap(c.createDecipheriv.bind(crypto));
}
