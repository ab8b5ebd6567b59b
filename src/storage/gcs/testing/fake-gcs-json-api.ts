import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/*
 * An in-process HTTP server that speaks the part of the Cloud Storage JSON API the official
 * Node client (`@google-cloud/storage` 7) uses for the GCS store, for tests on a machine with
 * no emulator. It is strict: every request's method, path, query and (for uploads) multipart
 * body is checked against the JSON API documentation, and each deviation is recorded in
 * `problems` (tests assert it stays empty) and answered with an error, so the client cannot
 * pass a test by sending something real Cloud Storage would not accept.
 *
 * What is checked, and where the documentation says so (all under
 * https://cloud.google.com/storage/docs/):
 *
 * - Endpoints. Metadata requests go to `/storage/v1/…`, uploads to `/upload/storage/v1/…`
 *   (json_api/v1/objects/insert, json_api/v1/how-tos/multipart-upload). Object names are one
 *   percent-encoded path segment, '/' written %2F (request-endpoints#encoding): a raw '/' after
 *   `/o/` is a problem.
 * - Query parameters. Each method accepts its own documented parameters plus the standard ones
 *   (alt, callback, fields, key, prettyPrint, quotaUser, userProject: json_api/v1/parameters#query);
 *   any other parameter is a problem. Parameters the fake does not implement (delimiter,
 *   startOffset, versions, generation preconditions, …) are problems too, never ignored.
 * - objects.insert (json_api/v1/objects/insert): POST, `uploadType=multipart` (the only upload
 *   type implemented), the name from `name` (which overrides the metadata's) or the metadata.
 *   The body is multipart/related (RFC 2387) with a `boundary` parameter and exactly two parts,
 *   each delimited by `--boundary` and closed by `--boundary--` (how-tos/multipart-upload): the
 *   metadata part first, `Content-Type: application/json`, holding a JSON object; the media part
 *   second, with a Content-Type of its own. The metadata's contentType must agree with the media
 *   part's (as Google's storage-testbench requires). md5Hash and crc32c in the metadata are
 *   checked against the bytes received, and a mismatch is refused with 400 before anything is
 *   stored (data-validation: "When you supply an object's MD5 or CRC32C hash in an object upload
 *   request"). The answer is the object resource.
 * - objects.get (json_api/v1/objects/get): GET; `alt=json` (default) answers the resource,
 *   `alt=media` the bytes with Content-Type, X-Goog-Generation, X-Goog-Metageneration, X-Goog-Hash
 *   (`crc32c=…,md5=…`), X-Goog-Stored-Content-Encoding and X-Goog-Stored-Content-Length (header
 *   list: json_api/v1/parameters; X-Goog-Hash and X-Goog-Generation are described in
 *   xml-api/reference-headers). A Range header is not implemented and is a problem.
 * - objects.list (json_api/v1/objects/list): GET; `prefix`, `maxResults` (at most 1000),
 *   `pageToken`; items in lexicographic (UTF-8 byte) order; `nextPageToken` while more remain;
 *   `fields` partial responses (json_api/v1/how-tos/performance#partial-response) for the
 *   `a,b(c,d)` form.
 * - objects.delete (json_api/v1/objects/delete): DELETE; empty body (204).
 * - buckets.get (json_api/v1/buckets/get): GET; the bucket resource. buckets.insert
 *   (json_api/v1/buckets/insert): POST `/storage/v1/b?project=P` with a JSON bucket resource whose
 *   `name` is required (409 when it exists).
 * - notifications.insert (json_api/v1/notifications/insert): POST a JSON notification resource
 *   with `topic` (`//pubsub.googleapis.com/projects/P/topics/T`) and `payload_format`
 *   (JSON_API_V1 or NONE) required, `event_types`, `object_name_prefix` and `custom_attributes`
 *   optional; the answer is the resource with its `id`.
 * - Errors (json_api/v1/status-codes): the status with `{"error": {"code", "message", "errors":
 *   [{"domain", "reason", "message"}]}}`, Content-Type application/json; charset=UTF-8.
 * - Resources (json_api/v1/objects#resource, buckets#resource): int64 and uint64 fields
 *   (generation, metageneration, size) are JSON strings; times are RFC 3339; md5Hash and crc32c
 *   (big-endian) are base64. Generations are microsecond timestamps, increasing.
 *
 * Accepted although the documentation's words differ: the client sends the metadata part as
 * `application/json` without `; charset=UTF-8` (JSON is UTF-8 by RFC 8259, and Cloud Storage
 * accepts the client's uploads), and frames the upload with `Transfer-Encoding: chunked`
 * instead of a Content-Length (HTTP/1.1 framing, listed among the JSON API's headers).
 *
 * Not modelled: authentication (the client sends no credentials to an http:// endpoint), ACLs,
 * versioning, soft delete, resumable and XML API uploads, gzip transcoding.
 */

export type FakeGcsOp =
  | 'buckets.get'
  | 'buckets.insert'
  | 'objects.insert'
  | 'objects.get'
  | 'objects.media'
  | 'objects.list'
  | 'objects.delete'
  | 'notifications.insert';

export interface RecordedRequest {
  readonly op: FakeGcsOp | 'unknown';
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** For uploads: the metadata part, parsed. */
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** For uploads: the media part's Content-Type and length. */
  readonly media?: { readonly contentType: string; readonly length: number };
}

export interface FakeGcsError {
  readonly status: number;
  readonly reason: string;
  readonly message: string;
}

export interface FakeNotification {
  readonly bucket: string;
  readonly resource: Readonly<Record<string, unknown>>;
}

export interface FakeGcsServer {
  /** http://127.0.0.1:PORT, for the client's `apiEndpoint`. */
  readonly endpoint: string;
  readonly requests: readonly RecordedRequest[];
  /** Requests that deviated from the documented wire format, or used what the fake lacks. */
  readonly problems: readonly string[];
  readonly notifications: readonly FakeNotification[];
  createBucket(name: string): void;
  /** Writes an object directly (no HTTP), e.g. names no store would write. */
  putObject(bucket: string, name: string, bytes: Uint8Array, contentType?: string): void;
  /** Answers the next `times` requests of `op` with this error instead. */
  failNext(op: FakeGcsOp, error: FakeGcsError, times?: number): void;
  /** Closes the connection of the next request of `op` without an answer. */
  dropNext(op: FakeGcsOp): void;
  /** Flips a byte of the next upload's media on arrival, as a fault in transit would. */
  corruptNextUpload(): void;
  close(): Promise<void>;
}

interface StoredObjectState {
  bytes: Buffer;
  contentType: string;
  generation: bigint;
  metageneration: number;
  created: string;
  md5: string;
  crc32c: string;
}

const STANDARD_PARAMS = ['alt', 'callback', 'fields', 'key', 'prettyPrint', 'quotaUser', 'userProject'];

/** Documented parameters per method (beyond the standard ones), and those the fake implements. */
const PARAMS: Record<FakeGcsOp, { documented: string[]; implemented: string[] }> = {
  'buckets.get': { documented: ['ifMetagenerationMatch', 'ifMetagenerationNotMatch', 'projection'], implemented: [] },
  'buckets.insert': {
    documented: ['project', 'enableObjectRetention', 'predefinedAcl', 'predefinedDefaultObjectAcl', 'projection'],
    implemented: ['project'],
  },
  'objects.insert': {
    documented: [
      'uploadType', 'name', 'contentEncoding', 'ifGenerationMatch', 'ifGenerationNotMatch', 'ifMetagenerationMatch',
      'ifMetagenerationNotMatch', 'kmsKeyName', 'predefinedAcl', 'projection',
    ],
    implemented: ['uploadType', 'name'],
  },
  'objects.get': {
    documented: [
      'generation', 'ifGenerationMatch', 'ifGenerationNotMatch', 'ifMetagenerationMatch', 'ifMetagenerationNotMatch',
      'projection', 'softDeleted', 'restoreToken',
    ],
    implemented: [],
  },
  'objects.media': {
    documented: ['generation', 'ifGenerationMatch', 'ifGenerationNotMatch', 'ifMetagenerationMatch', 'ifMetagenerationNotMatch'],
    implemented: [],
  },
  'objects.list': {
    documented: [
      'delimiter', 'endOffset', 'includeFoldersAsPrefixes', 'includeTrailingDelimiter', 'matchGlob', 'maxResults', 'pageToken',
      'prefix', 'projection', 'softDeleted', 'startOffset', 'versions',
    ],
    implemented: ['maxResults', 'pageToken', 'prefix'],
  },
  'objects.delete': {
    documented: ['generation', 'ifGenerationMatch', 'ifGenerationNotMatch', 'ifMetagenerationMatch', 'ifMetagenerationNotMatch'],
    implemented: [],
  },
  'notifications.insert': { documented: [], implemented: [] },
};
/** Standard parameters the fake honours; `alt` is checked per method. */
const STANDARD_IMPLEMENTED = ['alt', 'fields', 'prettyPrint'];

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface FakeGcsOptions {
  /**
   * Also serve metadata requests at `/b/…` (no `/storage/v1`), where the Node client sends them
   * when STORAGE_EMULATOR_HOST is set (its base URL is then the variable's value as given;
   * nodejs-storage#2069). This is an emulator convention (the Firebase Storage emulator's), not
   * part of the documented API; uploads still go to `/upload/storage/v1/…`.
   */
  readonly rootMetadataPaths?: boolean;
}

export async function startFakeGcsJsonApi(options: FakeGcsOptions = {}): Promise<FakeGcsServer> {
  const buckets = new Map<string, Map<string, StoredObjectState>>();
  const requests: RecordedRequest[] = [];
  const problems: string[] = [];
  const notifications: FakeNotification[] = [];
  const failures: Array<{ op: FakeGcsOp; error: FakeGcsError; times: number }> = [];
  const drops = new Set<FakeGcsOp>();
  let corruptNext = false;
  let lastGeneration = 0n;
  let notificationIds = 0;

  const nextGeneration = (): bigint => {
    const now = BigInt(Date.now()) * 1000n;
    lastGeneration = now > lastGeneration ? now : lastGeneration + 1n;
    return lastGeneration;
  };

  const problem = (what: string): Refusal => {
    problems.push(what);
    return new Refusal(400, 'invalid', `fake GCS JSON API: ${what}`);
  };

  const store = (bucket: string, name: string, bytes: Buffer, contentType: string): StoredObjectState => {
    const objects = buckets.get(bucket);
    if (!objects) throw new Refusal(404, 'notFound', 'The specified bucket does not exist.');
    const generation = nextGeneration();
    const state: StoredObjectState = {
      bytes,
      contentType,
      generation,
      metageneration: 1,
      created: new Date(Number(generation / 1000n)).toISOString(),
      md5: createHash('md5').update(bytes).digest('base64'),
      crc32c: crc32cBase64(bytes),
    };
    objects.set(name, state);
    return state;
  };

  const resource = (bucket: string, name: string, o: StoredObjectState, base: string): Record<string, unknown> => {
    const path = `b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(name)}`;
    return {
      kind: 'storage#object',
      id: `${bucket}/${name}/${o.generation}`,
      selfLink: `${base}/storage/v1/${path}`,
      mediaLink: `${base}/download/storage/v1/${path}?generation=${o.generation}&alt=media`,
      name,
      bucket,
      generation: String(o.generation),
      metageneration: String(o.metageneration),
      contentType: o.contentType,
      storageClass: 'STANDARD',
      size: String(o.bytes.length),
      md5Hash: o.md5,
      crc32c: o.crc32c,
      etag: createHash('sha1').update(`${o.generation}/${o.metageneration}`).digest('base64').slice(0, 12),
      timeCreated: o.created,
      updated: o.created,
      timeStorageClassUpdated: o.created,
    };
  };

  type Route = { op: FakeGcsOp; bucket: string; object?: string; unescaped?: undefined } | { unescaped: true };
  const route = (method: string, rawPath: string): Route | undefined => {
    const path = options.rootMetadataPaths && rawPath.startsWith('/b/') ? `/storage/v1${rawPath}` : rawPath;
    let m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(path);
    if (m && method === 'POST') return { op: 'objects.insert', bucket: decodeSegment(m[1]) };
    if (path === '/storage/v1/b' && method === 'POST') return { op: 'buckets.insert', bucket: '' };
    m = /^\/storage\/v1\/b\/([^/]+)$/.exec(path);
    if (m && method === 'GET') return { op: 'buckets.get', bucket: decodeSegment(m[1]) };
    m = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(path);
    if (m && method === 'GET') return { op: 'objects.list', bucket: decodeSegment(m[1]) };
    m = /^\/storage\/v1\/b\/([^/]+)\/notificationConfigs$/.exec(path);
    if (m && method === 'POST') return { op: 'notifications.insert', bucket: decodeSegment(m[1]) };
    m = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path);
    if (m) {
      if (m[2].includes('/')) return { unescaped: true };
      if (method === 'GET') return { op: 'objects.get', bucket: decodeSegment(m[1]), object: decodeSegment(m[2]) };
      if (method === 'DELETE') return { op: 'objects.delete', bucket: decodeSegment(m[1]), object: decodeSegment(m[2]) };
    }
    return undefined;
  };

  const checkQuery = (op: FakeGcsOp, query: Record<string, string>, repeated: string[]): void => {
    if (repeated.length > 0) throw problem(`${op}: query parameter '${repeated[0]}' is given twice`);
    const { documented, implemented } = PARAMS[op];
    for (const name of Object.keys(query)) {
      if (!documented.includes(name) && !STANDARD_PARAMS.includes(name)) throw problem(`${op}: '${name}' is not a documented query parameter`);
      if (!implemented.includes(name) && !STANDARD_IMPLEMENTED.includes(name)) {
        throw problem(`${op}: query parameter '${name}' is documented but this fake does not implement it`);
      }
    }
    const alt = query.alt;
    if (alt !== undefined && alt !== 'json' && !(alt === 'media' && op === 'objects.media')) throw problem(`${op}: alt=${alt} is not valid here`);
    if (query.prettyPrint !== undefined && query.prettyPrint !== 'true' && query.prettyPrint !== 'false') {
      throw problem(`${op}: prettyPrint must be true or false`);
    }
  };

  const handle = async (req: http.IncomingMessage, body: Buffer, base: string): Promise<{ status: number; headers: Record<string, string>; body?: Buffer | string }> => {
    const url = new URL(req.url ?? '/', base);
    const query: Record<string, string> = {};
    const repeated: string[] = [];
    for (const [k, v] of url.searchParams) {
      if (k in query) repeated.push(k);
      query[k] = v;
    }
    const method = req.method ?? 'GET';
    const routed = route(method, url.pathname);
    if (routed?.unescaped) {
      requests.push({ op: 'unknown', method, path: url.pathname, query, headers: req.headers });
      throw problem(`object name in ${method} ${url.pathname} is not one percent-encoded path segment ('/' must be %2F)`);
    }
    if (!routed) {
      requests.push({ op: 'unknown', method, path: url.pathname, query, headers: req.headers });
      problems.push(`${method} ${url.pathname} is not a JSON API request this fake implements`);
      throw new Refusal(501, 'notImplemented', `fake GCS JSON API: ${method} ${url.pathname} is not implemented`);
    }
    const op: FakeGcsOp = routed.op === 'objects.get' && query.alt === 'media' ? 'objects.media' : routed.op;
    const record: { -readonly [K in keyof RecordedRequest]: RecordedRequest[K] } = { op, method, path: url.pathname, query, headers: req.headers };
    requests.push(record);

    const failure = failures.find((f) => f.op === op);
    if (failure) {
      if (--failure.times <= 0) failures.splice(failures.indexOf(failure), 1);
      throw new Refusal(failure.error.status, failure.error.reason, failure.error.message);
    }
    checkQuery(op, query, repeated);
    if (op !== 'objects.insert' && op !== 'notifications.insert' && op !== 'buckets.insert' && body.length > 0) {
      throw problem(`${op}: a request body is not allowed`);
    }
    const objects = buckets.get(routed.bucket);
    const json = (status: number, value: unknown): { status: number; headers: Record<string, string>; body: string } => ({
      status,
      headers: { 'content-type': 'application/json; charset=UTF-8' },
      body: JSON.stringify(query.fields !== undefined ? partial(value, query.fields, problem) : value),
    });
    const noBucket = (): Refusal => new Refusal(404, 'notFound', 'The specified bucket does not exist.');

    const bucketResource = (name: string): Record<string, unknown> => ({
      kind: 'storage#bucket',
      id: name,
      selfLink: `${base}/storage/v1/b/${encodeURIComponent(name)}`,
      name,
      projectNumber: '0',
      metageneration: '1',
      location: 'US',
      storageClass: 'STANDARD',
      etag: 'CAE=',
      timeCreated: '2026-01-01T00:00:00.000Z',
      updated: '2026-01-01T00:00:00.000Z',
    });

    switch (op) {
      case 'buckets.insert': {
        if (query.project === undefined || query.project === '') throw new Refusal(400, 'required', 'Required parameter: project');
        let r: Record<string, unknown>;
        try {
          r = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        } catch {
          throw problem('buckets.insert: the body is not JSON');
        }
        if (typeof r.name !== 'string' || r.name === '') throw new Refusal(400, 'required', 'Required field: name');
        if (buckets.has(r.name)) throw new Refusal(409, 'conflict', 'Your previous request to create the named bucket succeeded and you already own it.');
        buckets.set(r.name, new Map());
        return json(200, bucketResource(r.name));
      }
      case 'buckets.get': {
        if (!objects) throw noBucket();
        return json(200, bucketResource(routed.bucket));
      }
      case 'objects.insert': {
        if (query.uploadType !== 'multipart') throw problem(`objects.insert: uploadType '${query.uploadType ?? ''}' is not multipart`);
        const { metadata, mediaType, media } = parseMultipart(req.headers['content-type'], body, problem);
        if (corruptNext && media.length > 0) {
          corruptNext = false;
          media[media.length >> 1] ^= 0xff;
        }
        record.metadata = metadata;
        record.media = { contentType: mediaType, length: media.length };
        const name = query.name ?? (typeof metadata.name === 'string' ? metadata.name : undefined);
        if (name === undefined || name === '') throw new Refusal(400, 'required', 'Required parameter: name');
        if (Buffer.byteLength(name) > 1024) throw new Refusal(400, 'invalid', 'The object name is too long.');
        if (metadata.contentType !== undefined && metadata.contentType !== mediaType) {
          throw problem(`objects.insert: metadata contentType '${String(metadata.contentType)}' differs from the media part's '${mediaType}'`);
        }
        if (!objects) throw noBucket();
        const md5 = createHash('md5').update(media).digest('base64');
        if (metadata.md5Hash !== undefined && metadata.md5Hash !== md5) {
          throw new Refusal(400, 'invalid', `Provided MD5 hash "${String(metadata.md5Hash)}" doesn't match calculated MD5 hash "${md5}".`);
        }
        const crc = crc32cBase64(media);
        if (metadata.crc32c !== undefined && metadata.crc32c !== crc) {
          throw new Refusal(400, 'invalid', `Provided CRC32C "${String(metadata.crc32c)}" doesn't match calculated CRC32C "${crc}".`);
        }
        const state = store(routed.bucket, name, Buffer.from(media), typeof metadata.contentType === 'string' ? metadata.contentType : mediaType);
        return json(200, resource(routed.bucket, name, state, base));
      }
      case 'objects.get':
      case 'objects.media': {
        if (!objects) throw noBucket();
        const name = routed.object ?? '';
        const o = objects.get(name);
        if (!o) throw new Refusal(404, 'notFound', `No such object: ${routed.bucket}/${name}`);
        if (op === 'objects.get') return json(200, resource(routed.bucket, name, o, base));
        if (req.headers.range !== undefined) throw problem('objects.get alt=media: Range requests are not implemented');
        return {
          status: 200,
          headers: {
            'content-type': o.contentType,
            'content-length': String(o.bytes.length),
            'x-goog-generation': String(o.generation),
            'x-goog-metageneration': String(o.metageneration),
            'x-goog-hash': `crc32c=${o.crc32c},md5=${o.md5}`,
            'x-goog-stored-content-encoding': 'identity',
            'x-goog-stored-content-length': String(o.bytes.length),
          },
          body: o.bytes,
        };
      }
      case 'objects.list': {
        if (!objects) throw noBucket();
        const prefix = query.prefix ?? '';
        let max = 1000;
        if (query.maxResults !== undefined) {
          if (!/^\d+$/.test(query.maxResults) || Number(query.maxResults) < 1) throw problem(`objects.list: maxResults '${query.maxResults}' is not a positive integer`);
          max = Math.min(Number(query.maxResults), 1000);
        }
        const after = query.pageToken !== undefined ? Buffer.from(query.pageToken, 'base64url').toString('utf8') : undefined;
        const names = [...objects.keys()]
          .filter((n) => n.startsWith(prefix) && (after === undefined || Buffer.compare(Buffer.from(n), Buffer.from(after)) > 0))
          .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
        const page = names.slice(0, max);
        const out: Record<string, unknown> = { kind: 'storage#objects' };
        if (names.length > max) out.nextPageToken = Buffer.from(page[page.length - 1]).toString('base64url');
        if (page.length > 0) out.items = page.map((n) => resource(routed.bucket, n, objects.get(n)!, base));
        return json(200, out);
      }
      case 'objects.delete': {
        if (!objects) throw noBucket();
        const name = routed.object ?? '';
        if (!objects.delete(name)) throw new Refusal(404, 'notFound', `No such object: ${routed.bucket}/${name}`);
        return { status: 204, headers: {} };
      }
      case 'notifications.insert': {
        const type = String(req.headers['content-type'] ?? '');
        if (!/^application\/json(\s*;\s*charset=utf-8)?$/i.test(type)) throw problem(`notifications.insert: Content-Type '${type}' is not application/json`);
        let r: Record<string, unknown>;
        try {
          r = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        } catch {
          throw problem('notifications.insert: the body is not JSON');
        }
        const known = ['topic', 'payload_format', 'event_types', 'object_name_prefix', 'custom_attributes'];
        for (const k of Object.keys(r)) if (!known.includes(k)) throw problem(`notifications.insert: '${k}' is not a writable notification property`);
        if (typeof r.topic !== 'string' || !/^\/\/pubsub\.googleapis\.com\/projects\/[^/]+\/topics\/[^/]+$/.test(r.topic)) {
          throw problem(`notifications.insert: topic ${JSON.stringify(r.topic)} is not //pubsub.googleapis.com/projects/P/topics/T`);
        }
        if (r.payload_format !== 'JSON_API_V1' && r.payload_format !== 'NONE') throw problem('notifications.insert: payload_format must be JSON_API_V1 or NONE');
        const types = ['OBJECT_FINALIZE', 'OBJECT_METADATA_UPDATE', 'OBJECT_DELETE', 'OBJECT_ARCHIVE'];
        if (r.event_types !== undefined && !(Array.isArray(r.event_types) && r.event_types.every((t) => types.includes(t as string)))) {
          throw problem('notifications.insert: event_types holds an unknown event type');
        }
        if (r.object_name_prefix !== undefined && typeof r.object_name_prefix !== 'string') throw problem('notifications.insert: object_name_prefix is not a string');
        if (!objects) throw noBucket();
        const id = String(++notificationIds);
        const created = {
          kind: 'storage#notification',
          id,
          selfLink: `${base}/storage/v1/b/${encodeURIComponent(routed.bucket)}/notificationConfigs/${id}`,
          etag: id,
          ...r,
        };
        notifications.push({ bucket: routed.bucket, resource: created });
        return json(200, created);
      }
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const base = `http://${req.headers.host ?? '127.0.0.1'}`;
      let peek: Route | undefined;
      try {
        peek = route(req.method ?? 'GET', new URL(req.url ?? '/', base).pathname);
      } catch {
        // A malformed path: `handle` answers it.
      }
      const peekOp = peek && !peek.unescaped ? (peek.op === 'objects.get' && /[?&]alt=media(&|$)/.test(req.url ?? '') ? 'objects.media' : peek.op) : undefined;
      if (peekOp && drops.delete(peekOp)) {
        req.socket.destroy();
        return;
      }
      handle(req, Buffer.concat(chunks), base).then(
        (r) => {
          res.writeHead(r.status, r.headers);
          res.end(r.body);
        },
        (e: unknown) => {
          const status = e instanceof Refusal ? e.status : 500;
          const reason = e instanceof Refusal ? e.reason : 'backendError';
          const message = e instanceof Error ? e.message : String(e);
          res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
          res.end(JSON.stringify({ error: { code: status, message, errors: [{ message, domain: 'global', reason }] } }));
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    problems,
    notifications,
    createBucket(name) {
      if (!buckets.has(name)) buckets.set(name, new Map());
    },
    putObject(bucket, name, bytes, contentType = 'application/octet-stream') {
      store(bucket, name, Buffer.from(bytes), contentType);
    },
    failNext(op, error, times = 1) {
      failures.push({ op, error, times });
    },
    dropNext(op) {
      drops.add(op);
    },
    corruptNextUpload() {
      corruptNext = true;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
    },
  };
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new Refusal(400, 'invalid', `malformed percent-encoding in '${s}'`);
  }
}

/**
 * Splits a multipart/related body (RFC 2046 §5.1.1, RFC 2387) into the metadata and media
 * parts of an objects.insert upload, refusing anything else.
 */
function parseMultipart(
  contentType: string | undefined,
  body: Buffer,
  problem: (what: string) => Refusal,
): { metadata: Record<string, unknown>; mediaType: string; media: Buffer } {
  const m = /^multipart\/related\s*;\s*boundary=("?)([^";]{1,70})\1\s*$/i.exec(contentType ?? '');
  if (!m) throw problem(`objects.insert: Content-Type '${contentType ?? ''}' is not multipart/related with a boundary`);
  const dash = Buffer.from(`--${m[2]}`);
  const delimiter = Buffer.from(`\r\n--${m[2]}`);
  if (!body.subarray(0, dash.length).equals(dash)) throw problem('objects.insert: the body does not start with --boundary');
  const parts: Buffer[] = [];
  let at = dash.length;
  for (;;) {
    const after = body.subarray(at, at + 2).toString('latin1');
    if (after === '--') {
      // Close delimiter; only transport padding and an epilogue may follow.
      if (!/^(\r\n[\s\S]*)?$/.test(body.subarray(at + 2).toString('latin1').replace(/^[ \t]*/, ''))) {
        throw problem('objects.insert: unexpected bytes after the closing --boundary--');
      }
      break;
    }
    if (after !== '\r\n') throw problem('objects.insert: a boundary line is not followed by CRLF');
    const next = body.indexOf(delimiter, at + 2);
    if (next < 0) throw problem('objects.insert: the body has no closing --boundary--');
    parts.push(body.subarray(at + 2, next));
    at = next + delimiter.length;
  }
  if (parts.length !== 2) throw problem(`objects.insert: a multipart upload has 2 parts, not ${parts.length}`);
  const [meta, data] = parts.map((p, i) => {
    const headers: Record<string, string> = {};
    // A part without headers starts with the blank line itself.
    if (p.subarray(0, 2).toString('latin1') === '\r\n') return { headers, content: p.subarray(2) };
    const end = p.indexOf('\r\n\r\n');
    if (end < 0) throw problem(`objects.insert: part ${i + 1} has no blank line after its headers`);
    for (const line of p.subarray(0, end).toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw problem(`objects.insert: part ${i + 1} has a malformed header line '${line}'`);
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    return { headers, content: p.subarray(end + 4) };
  });
  const metaType = meta.headers['content-type'];
  if (metaType === undefined || !/^application\/json(\s*;\s*charset=utf-8)?$/i.test(metaType)) {
    throw problem(`objects.insert: the first (metadata) part's Content-Type is '${metaType ?? ''}', not application/json`);
  }
  let metadata: unknown;
  try {
    metadata = JSON.parse(meta.content.toString('utf8'));
  } catch {
    throw problem('objects.insert: the metadata part is not JSON');
  }
  if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) throw problem('objects.insert: the metadata part is not a JSON object');
  const mediaType = data.headers['content-type'];
  if (mediaType === undefined || mediaType === '') throw problem('objects.insert: the second (media) part has no Content-Type');
  return { metadata: metadata as Record<string, unknown>, mediaType, media: Buffer.from(data.content) };
}

/** A partial response for `fields` of the form `a,b(c,d)`. */
function partial(value: unknown, fields: string, problem: (what: string) => Refusal): unknown {
  const parse = (s: string): Map<string, string | undefined> => {
    const out = new Map<string, string | undefined>();
    let depth = 0;
    let start = 0;
    const push = (piece: string): void => {
      const m = /^([A-Za-z0-9_]+)(?:\((.*)\))?$/s.exec(piece.trim());
      if (!m) throw problem(`fields selector '${piece}' is not of the form name or name(sub,…) (the fake implements only these)`);
      out.set(m[1], m[2]);
    };
    for (let i = 0; i < s.length; i++) {
      if (s[i] === '(') depth++;
      else if (s[i] === ')') depth--;
      else if (s[i] === ',' && depth === 0) {
        push(s.slice(start, i));
        start = i + 1;
      }
    }
    if (depth !== 0) throw problem(`fields '${s}' has unbalanced parentheses`);
    push(s.slice(start));
    return out;
  };
  const select = (v: unknown, spec: Map<string, string | undefined>): unknown => {
    if (Array.isArray(v)) return v.map((x) => select(x, spec));
    if (!v || typeof v !== 'object') return v;
    const out: Record<string, unknown> = {};
    for (const [name, sub] of spec) {
      const x = (v as Record<string, unknown>)[name];
      if (x !== undefined) out[name] = sub === undefined ? x : select(x, parse(sub));
    }
    return out;
  };
  return select(value, parse(fields));
}

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC32C (Castagnoli, RFC 4960 appendix B), base64 of its big-endian bytes, as Cloud Storage reports it. */
export function crc32cBase64(bytes: Uint8Array): string {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC32C_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((c ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}
