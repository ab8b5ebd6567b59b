/**
 * How the activator answers the carrier that delivered a nextVisit. Under Pub/Sub push every
 * status but 102/200/201/202/204 means "redeliver", so a message that can never succeed is
 * acknowledged (2xx) with its reason logged, and only failures a retry can fix get 5xx.
 */
export type Disposition =
  /** The request is not from our subscription (bad token). */
  | 'forbidden'
  /** This instance is already handling a request; another instance should take it. */
  | 'busy'
  /** The message can never succeed: malformed envelope or nextVisit. */
  | 'invalid'
  /** Not for us (another instrument) or already done: nothing to do. */
  | 'no-work'
  /** Processed, or failed in a way a retry cannot fix, or timed out waiting for images. */
  | 'done'
  /** Failed in a way a retry can fix (a service was unreachable). */
  | 'retry';

export interface Answer {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
}

export function pubsubPushAnswer(d: Disposition): Answer {
  switch (d) {
    case 'forbidden':
      return { status: 403 };
    case 'busy':
      return { status: 429, headers: { 'Retry-After': '1' } };
    case 'invalid':
    case 'no-work':
    case 'done':
      return { status: 200 };
    case 'retry':
      return { status: 503, headers: { 'Retry-After': '5' } };
  }
}
