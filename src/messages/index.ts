export type { NextVisit, VisitKind } from './next-visit.ts';
export { VISIT_KINDS, parseNextVisit, decodeNextVisit, encodeNextVisit, nextVisitAttributes } from './next-visit.ts';
export type { StorageEventType, StoredObject, StorageNotification } from './storage-notification.ts';
export { buildStorageNotification, parseStorageNotification, objectResource } from './storage-notification.ts';
export type { Outcome, OutcomeStatus } from './outcome.ts';
export { OUTCOME_STATUSES, encodeOutcome, decodeOutcome, outcomeKey, outcomeAttributes } from './outcome.ts';
