import { describe, expect, it } from 'vitest';
import { InvalidInputError, NoWorkError } from '../core/errors.ts';
import { buildPushEnvelope, parsePushEnvelope } from '../messaging/push-envelope.ts';
import { encodeNextVisit, type NextVisit } from './next-visit.ts';
import { detectCarrier, readNextVisitRequest, type HeaderSource } from './next-visit-event.ts';
import { decodeAnyNextVisit, parseFanOutNextVisit } from './next-visit-fanout.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const readers = { readPushEnvelope: parsePushEnvelope };
const read = (headers: HeaderSource, body: string | Uint8Array) =>
  readNextVisitRequest(headers, typeof body === 'string' ? enc(body) : body, readers);

/** The visit every shape below describes. */
const expected: NextVisit = {
  instrument: 'LSSTCam',
  detector: 94,
  group: '2025050100042',
  snaps: 2,
  filter: 'r_57',
  ra: 150.1,
  dec: -3.2,
  kind: 'SCIENCE',
};

/** The fan-out message (FORMATS.md D) for the same visit, JSON values. */
const fanOut = {
  salIndex: 1,
  scriptSalIndex: 100017,
  instrument: 'LSSTCam',
  groupId: '2025050100042',
  coordinateSystem: 2,
  position: [150.1, -3.2],
  startTime: 1746068682.0,
  rotationSystem: 2,
  cameraAngle: 90.0,
  filters: 'r_57',
  dome: 2,
  duration: 39.0,
  nimages: 2,
  survey: 'BLOCK-365',
  totalCheckpoints: 0,
  private_sndStamp: 1746068680.5,
  detector: 94,
};

/** The same message as KEDA's Redis stream carries it: every value a string. */
const fanOutStrings: Record<string, string> = {
  salIndex: '1',
  scriptSalIndex: '100017',
  instrument: 'LSSTCam',
  groupId: '2025050100042',
  coordinateSystem: '2',
  position: '[150.1, -3.2]',
  startTime: '1746068682.0',
  rotationSystem: '2',
  cameraAngle: '90.0',
  filters: 'r_57',
  dome: '2',
  duration: '39.0',
  nimages: '2',
  survey: 'BLOCK-365',
  totalCheckpoints: '0',
  private_sndStamp: '1746068680.5',
  detector: '94',
};

const pushBody = (data: Uint8Array | string): string =>
  JSON.stringify(
    buildPushEnvelope({
      subscription: 'projects/p/subscriptions/nextVisit-sub',
      messageId: '123',
      publishTime: '2025-05-01T03:04:05.678Z',
      data: typeof data === 'string' ? enc(data) : data,
      attributes: { instrument: 'LSSTCam' },
    }),
  );

/** The headers Knative KafkaSource sends with a record (FORMATS.md C4). */
const kafkaSourceHeaders = (extra: Record<string, string> = {}): Record<string, string> => ({
  'ce-specversion': '1.0',
  'ce-type': 'dev.knative.kafka.event',
  'ce-source': '/apis/v1/namespaces/prompt/kafkasources/next-visit#lsst.sal.ScriptQueue.logevent_nextVisit',
  'ce-subject': 'partition:0#42',
  'ce-id': 'partition:0/offset:42',
  'ce-time': '2025-05-01T03:04:05.678Z',
  'ce-key': 'LSSTCam',
  'ce-kafkaheaderproducer': 'fan-out',
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  'content-type': 'application/json',
  ...extra,
});

const STRUCTURED = { 'content-type': 'application/cloudevents+json; charset=utf-8' };
const event = (fields: Record<string, unknown>): string =>
  JSON.stringify({
    specversion: '1.0',
    id: 'u',
    source: 'lsst.sal.ScriptQueue.logevent_nextVisit',
    type: 'com.example.kafka',
    time: '2025-05-01T03:04:05.678Z',
    ...fields,
  });

describe('detectCarrier', () => {
  it.each([
    [{ 'content-type': 'application/json' }, 'pubsub-push'],
    [{}, 'pubsub-push'],
    [kafkaSourceHeaders(), 'cloudevent-binary'],
    [{ 'Ce-SpecVersion': '1.0' }, 'cloudevent-binary'],
    [STRUCTURED, 'cloudevent-structured'],
    [{ 'Content-Type': 'Application/CloudEvents+JSON' }, 'cloudevent-structured'],
    [{ 'content-type': 'application/cloudevents-batch+json' }, 'cloudevent-structured'],
    [new Headers({ 'ce-specversion': '1.0' }), 'cloudevent-binary'],
  ] as const)('%j → %s', (headers, carrier) => {
    expect(detectCarrier(headers)).toBe(carrier);
  });
});

describe('readNextVisitRequest: every carrier and shape gives the same nextVisit', () => {
  const cases: Array<[string, HeaderSource, string | Uint8Array, string, string]> = [
    ['Pub/Sub push, canonical fields', { 'content-type': 'application/json' }, pushBody(encodeNextVisit(expected)), 'pubsub-push', 'canonical'],
    ['Pub/Sub push, fan-out fields', { 'content-type': 'application/json' }, pushBody(JSON.stringify(fanOut)), 'pubsub-push', 'fan-out'],
    ['Pub/Sub push, fan-out fields as strings', {}, pushBody(JSON.stringify(fanOutStrings)), 'pubsub-push', 'fan-out'],
    ['binary CloudEvent from KafkaSource, canonical fields', kafkaSourceHeaders(), encodeNextVisit(expected), 'cloudevent-binary', 'canonical'],
    ['binary CloudEvent from KafkaSource, fan-out fields', kafkaSourceHeaders(), JSON.stringify(fanOut), 'cloudevent-binary', 'fan-out'],
    ['binary CloudEvent, data a JSON string holding JSON', kafkaSourceHeaders(), JSON.stringify(JSON.stringify(fanOut)), 'cloudevent-binary', 'fan-out'],
    ['binary CloudEvent without content-type', { ...kafkaSourceHeaders(), 'content-type': undefined } as HeaderSource, JSON.stringify(fanOutStrings), 'cloudevent-binary', 'fan-out'],
    ['structured CloudEvent, data an object', STRUCTURED, event({ data: fanOut }), 'cloudevent-structured', 'fan-out'],
    ['structured CloudEvent, data a JSON string (the fan-out service)', STRUCTURED, event({ datacontenttype: 'application/json', data: JSON.stringify(fanOut) }), 'cloudevent-structured', 'fan-out'],
    ['structured CloudEvent, data_base64', STRUCTURED, event({ data_base64: Buffer.from(JSON.stringify(fanOut)).toString('base64') }), 'cloudevent-structured', 'fan-out'],
    ['structured CloudEvent, data_base64 of canonical fields', STRUCTURED, event({ data_base64: Buffer.from(encodeNextVisit(expected)).toString('base64') }), 'cloudevent-structured', 'canonical'],
    ['structured CloudEvent, data with values as strings', STRUCTURED, event({ data: fanOutStrings }), 'cloudevent-structured', 'fan-out'],
    ['structured CloudEvent, data a JSON string of strings', STRUCTURED, event({ data: JSON.stringify(fanOutStrings) }), 'cloudevent-structured', 'fan-out'],
  ];

  it.each(cases)('%s', (_name, headers, body, carrier, shape) => {
    const r = read(headers, body);
    expect(r.visit).toEqual(expected);
    expect(r.carrier).toBe(carrier);
    expect(r.shape).toBe(shape);
    if (shape === 'fan-out') {
      expect(r.scriptQueue).toMatchObject({ groupId: '2025050100042', survey: 'BLOCK-365', private_sndStamp: 1746068680.5, position: [150.1, -3.2], dome: 2 });
    }
  });

  it('keeps the carrier metadata', () => {
    const push = read({}, pushBody(encodeNextVisit(expected)));
    expect(push.messageId).toBe('123');
    expect(push.pubsub).toMatchObject({ subscription: 'projects/p/subscriptions/nextVisit-sub', attributes: { instrument: 'LSSTCam' } });
    const bin = read(kafkaSourceHeaders(), encodeNextVisit(expected));
    expect(bin.messageId).toBe('partition:0/offset:42');
    expect(bin.cloudEvent).toMatchObject({
      type: 'dev.knative.kafka.event',
      subject: 'partition:0#42',
      time: '2025-05-01T03:04:05.678Z',
      datacontenttype: 'application/json',
      extensions: { key: 'LSSTCam', kafkaheaderproducer: 'fan-out' },
    });
    const st = read(STRUCTURED, event({ data: fanOut, knativearrivaltime: '2025-05-01T03:04:06Z' }));
    expect(st.cloudEvent).toMatchObject({ id: 'u', source: 'lsst.sal.ScriptQueue.logevent_nextVisit', extensions: { knativearrivaltime: '2025-05-01T03:04:06Z' } });
  });

  it('decodes percent-encoded binary-mode header values (CloudEvents 1.0.2)', () => {
    const r = read(kafkaSourceHeaders({ 'ce-source': 'night%20run%25%22x%22', 'ce-key': '%C3%A9' }), encodeNextVisit(expected));
    expect(r.cloudEvent?.source).toBe('night run%"x"');
    expect(r.cloudEvent?.extensions.key).toBe('é');
  });

  it('takes nimages 0 ("unknown") as the instrument snap count', () => {
    expect(parseFanOutNextVisit({ ...fanOut, nimages: 0 }).visit.snaps).toBe(2);
    expect(parseFanOutNextVisit({ ...fanOut, nimages: '1' }).visit.snaps).toBe(1);
  });

  it('takes kind when present, SCIENCE otherwise', () => {
    expect(parseFanOutNextVisit({ ...fanOut, kind: 'FLAT' }).visit.kind).toBe('FLAT');
    expect(parseFanOutNextVisit(fanOut).visit.kind).toBe('SCIENCE');
  });
});

describe('readNextVisitRequest: malformed input is refused with the reason', () => {
  const bad: Array<[string, HeaderSource, string | Uint8Array, RegExp]> = [
    // Pub/Sub push
    ['push: body not JSON', {}, 'not json', /push envelope: the body is not JSON/],
    ['push: no message', {}, '{}', /push envelope: message is missing/],
    ['push: empty data', {}, JSON.stringify({ message: { messageId: '1', publishTime: '2025-05-01T00:00:00Z', attributes: { a: 'b' } }, subscription: 'projects/p/subscriptions/s' }), /message\.data is empty/],
    ['push: nextVisit not JSON', {}, pushBody('{"instrument":'), /message\.data is not JSON/],
    // binary mode
    ['binary: ce-id missing', { ...kafkaSourceHeaders(), 'ce-id': undefined } as HeaderSource, encodeNextVisit(expected), /binary mode\): header ce-id is missing/],
    ['binary: ce-type empty', kafkaSourceHeaders({ 'ce-type': '' }), encodeNextVisit(expected), /header ce-type is empty/],
    ['binary: specversion 0.3', kafkaSourceHeaders({ 'ce-specversion': '0.3' }), encodeNextVisit(expected), /ce-specversion "0\.3" is not supported/],
    ['binary: bad percent-encoding', kafkaSourceHeaders({ 'ce-source': 'a%zz' }), encodeNextVisit(expected), /ce-source .* malformed percent-encoding/],
    ['binary: bad time', kafkaSourceHeaders({ 'ce-time': 'yesterday' }), encodeNextVisit(expected), /ce-time "yesterday" is not an RFC 3339/],
    ['binary: empty body', kafkaSourceHeaders(), '', /the body \(the event data\) is empty/],
    ['binary: data not JSON', kafkaSourceHeaders(), '{"salIndex":', /CloudEvent data is not JSON/],
    ['binary: data not UTF-8', kafkaSourceHeaders(), new Uint8Array([0x7b, 0xff, 0xfe]), /CloudEvent data is not UTF-8/],
    ['binary: Avro record', kafkaSourceHeaders(), new Uint8Array([0, 0, 0, 4, 76, 2, 3]), /Confluent framing \(schema id 1100\)/],
    ['binary: JSON string of a JSON string', kafkaSourceHeaders(), JSON.stringify(JSON.stringify(JSON.stringify(fanOut))), /another JSON string/],
    // structured mode
    ['structured: body not JSON', STRUCTURED, '{', /structured mode\): the body is not JSON/],
    ['structured: body an array', STRUCTURED, '[]', /the body is not a JSON object/],
    ['structured: batch mode', { 'content-type': 'application/cloudevents-batch+json' }, '[]', /batch mode .* is not accepted/],
    ['structured: id missing', STRUCTURED, JSON.stringify({ specversion: '1.0', source: 's', type: 't', data: fanOut }), /structured mode\): id is missing/],
    ['structured: type not a string', STRUCTURED, event({ type: 5, data: fanOut }), /type must be a string, not a number/],
    ['structured: no data', STRUCTURED, event({}), /has neither data nor data_base64/],
    ['structured: data and data_base64', STRUCTURED, event({ data: fanOut, data_base64: 'e30=' }), /both data and data_base64/],
    ['structured: data_base64 not base64', STRUCTURED, event({ data_base64: 'not base64!' }), /data_base64 is not base64/],
    ['structured: data a string that is not JSON', STRUCTURED, event({ data: '{"salIndex": 1' }), /CloudEvent data is a string that is not JSON text/],
    ['structured: data an array', STRUCTURED, event({ data: [fanOut] }), /nextVisit must be a JSON object/],
    ['structured: extension an object', STRUCTURED, event({ data: fanOut, extra: { a: 1 } }), /extension attribute extra must be a string, number or boolean/],
    // canonical fields inside a CloudEvent keep their own messages
    ['canonical: bad kind', kafkaSourceHeaders(), JSON.stringify({ ...expected, kind: 'SKY' }), /kind must be one of/],
  ];

  it.each(bad)('%s', (_name, headers, body, why) => {
    expect(() => read(headers, body)).toThrow(InvalidInputError);
    expect(() => read(headers, body)).toThrow(why);
  });
});

describe('fan-out fields: coercion and garbage', () => {
  const wrong: Array<[string, Record<string, unknown>, RegExp]> = [
    ['detector with letters', { detector: '4x' }, /detector must be an integer \(a number or a string of digits\), not "4x"/],
    ['detector a fraction', { detector: '4.5' }, /detector must be an integer/],
    ['detector a float number', { detector: 4.5 }, /detector must be an integer/],
    ['detector off the camera', { detector: 400 }, /detector 400 does not exist on LSSTCam/],
    ['detector missing (visit-level ScriptQueue message)', { detector: undefined }, /detector is missing: a ScriptQueue nextVisit is per visit/],
    ['nimages blank', { nimages: '' }, /nimages must be an integer/],
    ['nimages too many', { nimages: 3 }, /nimages 3 exceeds the 2 snap\(s\) LSSTCam takes/],
    ['nimages negative', { nimages: '-1' }, /nimages must be ≥ 0/],
    ['startTime garbage', { startTime: 'soon' }, /startTime must be a finite number \(a number or a decimal string\), not "soon"/],
    ['startTime hex', { startTime: '0x10' }, /startTime must be a finite number/],
    ['startTime with spaces', { startTime: ' 12' }, /startTime must be a finite number/],
    ['private_sndStamp NaN text', { private_sndStamp: 'nan' }, /private_sndStamp must be a finite number/],
    ['cameraAngle a boolean', { cameraAngle: true }, /cameraAngle must be a finite number/],
    ['position unparsable text', { position: '[150.1, -3.2' }, /position "\[150\.1, -3\.2" is not a JSON array/],
    ['position one number', { position: [150.1] }, /position must be two numbers/],
    ['position words', { position: ['a', 'b'] }, /position must be two finite numbers/],
    ['ra out of range', { position: [360, 0] }, /position\[0\] \(ra\) must be in \[0, 360\)/],
    ['dec out of range', { position: '[10, 95]' }, /position\[1\] \(dec\) must be in \[-90, 90\]/],
    ['coordinateSystem OBSERVED', { coordinateSystem: '3' }, /coordinateSystem 3 \(OBSERVED\) gives no \(ra, dec\)/],
    ['coordinateSystem unknown', { coordinateSystem: 9 }, /coordinateSystem 9 is not one of 1 NONE, 2 ICRS, 3 OBSERVED, 4 MOUNT/],
    ['dome unknown', { dome: '7' }, /dome 7 is not one of 1 CLOSED, 2 OPEN, 3 EITHER/],
    ['rotationSystem garbage', { rotationSystem: 'SKY' }, /rotationSystem must be an integer/],
    ['groupId a timestamp', { groupId: '2025-05-01T03:04:05.678' }, /groupId '2025-05-01T03:04:05\.678' is not YYYYMMDDnnnnn/],
    ['groupId a number', { groupId: 2025050100042 }, /groupId must be a string, not 2025050100042/],
    ['filters a list', { filters: 'r_57,i_39' }, /filters "r_57,i_39" lists several filters/],
    ['filters empty', { filters: '' }, /filters is empty/],
    ['filters unknown', { filters: 'SDSSr_65mm~empty' }, /filters 'SDSSr_65mm~empty' is not a filter of LSSTCam/],
    ['instrument unknown', { instrument: 'HSC' }, /instrument "HSC" must be one of LSSTCam, LSSTComCam, LATISS, DECam/],
    ['kind unknown', { kind: 'SKY' }, /kind "SKY" must be one of SCIENCE, BIAS, DARK, FLAT/],
    ['survey a number', { survey: 5 }, /survey must be a string/],
  ];

  it.each(wrong)('%s', (_name, change, why) => {
    const msg = { ...fanOut, ...change };
    expect(() => parseFanOutNextVisit(msg)).toThrow(InvalidInputError);
    expect(() => parseFanOutNextVisit(msg)).toThrow(why);
    // The same through a structured CloudEvent, data as a JSON string.
    expect(() => read(STRUCTURED, event({ data: JSON.stringify(msg) }))).toThrow(why);
  });

  it('names every bad field at once', () => {
    let message = '';
    try {
      parseFanOutNextVisit({ ...fanOutStrings, detector: 'x', dome: '0', startTime: 'y', groupId: 'g' });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^invalid nextVisit \(fan-out fields\): /);
    for (const field of ['detector', 'dome', 'startTime', 'groupId']) expect(message).toMatch(new RegExp(`(: |; )${field} `));
    expect(message.split('; ')).toHaveLength(4);
  });

  it('treats a blank instrument as "not an observation": no work, not an error', () => {
    for (const instrument of ['', '  ']) {
      expect(() => parseFanOutNextVisit({ ...fanOut, instrument })).toThrow(NoWorkError);
      expect(() => read(STRUCTURED, event({ data: JSON.stringify({ ...fanOut, instrument }) }))).toThrow(/not an observation/);
    }
  });

  it('accepts integers sent as numbers with a zero fraction nowhere but in float fields', () => {
    expect(parseFanOutNextVisit({ ...fanOut, startTime: '1746068682', cameraAngle: '-1.5e1' }).scriptQueue).toMatchObject({ startTime: 1746068682, cameraAngle: -15 });
    expect(() => parseFanOutNextVisit({ ...fanOut, salIndex: '1.0' })).toThrow(/salIndex must be an integer/);
  });

  it('decodes bytes of either shape', () => {
    expect(decodeAnyNextVisit(enc(JSON.stringify(fanOut))).visit).toEqual(expected);
    expect(decodeAnyNextVisit(encodeNextVisit(expected)).shape).toBe('canonical');
    expect(() => decodeAnyNextVisit(new Uint8Array(0))).toThrow(/is empty/);
  });
});
