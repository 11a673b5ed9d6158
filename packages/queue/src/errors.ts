/**
 * The stable codes of `@distsync/queue`. The state machine returns them as values
 * (`{ ok: false, code, message }`); `QueueError` carries them when the client throws. They are a
 * subset of the node's API codes, so a queue hosted by `apps/node` answers the same code over HTTP
 * and over /client.
 */
export type QueueErrorCode =
  /** Malformed input: a bad queue name, priority out of 0-9, an unknown operation. HTTP 400. */
  | 'BAD_REQUEST'
  /** The queue, message or consumer session does not exist. HTTP 404. */
  | 'NOT_FOUND'
  /** `createQueue` with options other than the existing queue's. HTTP 409. */
  | 'CONFLICT'
  /** A receipt whose lease expired, was settled, or belongs to an older delivery. HTTP 409. */
  | 'STALE_RECEIPT'
  /** A message (body and headers as JSON) over the queue's `maxMessageBytes`. HTTP 413. */
  | 'TOO_LARGE'
  /** The queue holds `maxLength` messages: the overflow policy is to reject the send. HTTP 429. */
  | 'QUEUE_FULL'
  /** A machine-wide limit (`maxQueues`, `maxMessages`, `maxBatch`) is reached. HTTP 507. */
  | 'LIMIT_REACHED'
  /** The client's own wait ran out (a receive or a command); a command may still apply. */
  | 'TIMEOUT'
  /** The client was closed, or the cluster refused for a reason of its own (NO_LEADER...). */
  | 'UNAVAILABLE';

/** The one error class of `@distsync/queue`; switch on `code`, never on `message`. */
export class QueueError extends Error {
  override readonly name = 'QueueError';
  readonly code: QueueErrorCode | (string & {});

  constructor(
    code: QueueErrorCode | (string & {}),
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
  }
}
