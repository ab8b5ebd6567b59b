import { createHash } from 'node:crypto';
import { InvalidInputError } from '../core/errors.ts';

/** The namespace of every dataset id: UUIDv5(URL namespace, 'urn:prompt-processing:registry:dataset'). */
export const DATASET_ID_NAMESPACE = uuidV5('6ba7b811-9dad-11d1-80b4-00c04fd430c8', 'urn:prompt-processing:registry:dataset');

/** RFC 4122 name-based UUID, version 5 (SHA-1). */
export function uuidV5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  if (ns.length !== 16) throw new InvalidInputError(`not a UUID: '${namespace}'`);
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  const b = hash.subarray(0, 16);
  b[6] = (b[6] & 0x0f) | 0x50;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The id of a dataset, the same in every process that computes it: two writers racing to insert
 * the same (dataset type, run, data ID) agree on it.
 */
export function datasetId(datasetType: string, run: string, dataIdKey: string): string {
  return uuidV5(DATASET_ID_NAMESPACE, JSON.stringify([datasetType, run, dataIdKey]));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A UUID in lower case; InvalidInputError for anything else. */
export function normaliseDatasetId(id: string): string {
  const lower = typeof id === 'string' ? id.toLowerCase() : '';
  if (!UUID.test(lower)) throw new InvalidInputError(`dataset id must be a UUID, got ${JSON.stringify(id)}`);
  return lower;
}
