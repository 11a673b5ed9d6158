// The error codes of @distsync/node: what the HTTP API, the /client handler and the CLI answer.
// Expected outcomes (a missing key, a version conflict) are returned values carrying one of these
// codes; `NodeError` is thrown only for configuration and programmer errors.

export type NodeErrorCode =
  /** Malformed input: invalid JSON, a wrong type, an unknown operation. HTTP 400. */
  | 'BAD_REQUEST'
  /** A missing or wrong client token. HTTP 401. */
  | 'UNAUTHORIZED'
  /** The key or session does not exist. HTTP 404. */
  | 'NOT_FOUND'
  /** No answer within the request's timeout (the write may still apply). HTTP 408. */
  | 'TIMEOUT'
  /** A compare-and-set whose expected version is not the current one. HTTP 409. */
  | 'CONFLICT'
  /** The request body exceeds `maxBodyBytes`, or the command exceeds the Raft limit. HTTP 413. */
  | 'TOO_LARGE'
  /** A lock request that would close a wait-for cycle (it was the youngest). HTTP 409. */
  | 'DEADLOCK'
  /** Releasing a lock the session does not hold. HTTP 409. */
  | 'NOT_HELD'
  /** Acquiring a lock the session already holds (not reentrant). HTTP 409. */
  | 'ALREADY_HELD'
  /** A lock request whose owner session expired or was deleted. HTTP 404. */
  | 'SESSION_EXPIRED'
  /** The lock's wait queue is full. HTTP 429. */
  | 'TOO_MANY_WAITERS'
  /** A queue receipt whose lease expired or was already settled. HTTP 409. */
  | 'STALE_RECEIPT'
  /** The queue holds its maxLength messages (overflow policy: reject the send). HTTP 429. */
  | 'QUEUE_FULL'
  /** A service limit is reached (`maxKeys`, `maxSessions`). HTTP 507. */
  | 'LIMIT_REACHED'
  /** A cache miss needed the backing store (Redis) and it is down. HTTP 503. */
  | 'STORE_UNAVAILABLE'
  /** No leader is known, so the request cannot be ordered. HTTP 503. */
  | 'NO_LEADER'
  /** The node is draining, stopped or overloaded: try another node. HTTP 503. */
  | 'UNAVAILABLE'
  /** A test-only fault-injection route on a node started without `faultInjection`. HTTP 403. */
  | 'FAULT_INJECTION_DISABLED'
  /** A bug: the handler threw. HTTP 500. */
  | 'INTERNAL'
  /** A configuration value broke its rule (the CLI exits with code 2). */
  | 'CONFIG_INVALID';

/** The HTTP status for each code. */
export const HTTP_STATUS_OF_CODE: Readonly<Record<NodeErrorCode, number>> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  TIMEOUT: 408,
  CONFLICT: 409,
  DEADLOCK: 409,
  NOT_HELD: 409,
  ALREADY_HELD: 409,
  SESSION_EXPIRED: 404,
  TOO_MANY_WAITERS: 429,
  STALE_RECEIPT: 409,
  QUEUE_FULL: 429,
  TOO_LARGE: 413,
  LIMIT_REACHED: 507,
  STORE_UNAVAILABLE: 503,
  NO_LEADER: 503,
  UNAVAILABLE: 503,
  FAULT_INJECTION_DISABLED: 403,
  INTERNAL: 500,
  CONFIG_INVALID: 400,
};

export class NodeError extends Error {
  readonly code: NodeErrorCode;
  /** For CONFIG_INVALID: the config field at fault (`port`, `peers.n2`). */
  readonly field: string | undefined;

  constructor(
    code: NodeErrorCode,
    message: string,
    options: { cause?: unknown; field?: string } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'NodeError';
    this.code = code;
    this.field = options.field;
  }
}

/** An operation's failure as the API answers it: `{ error: { code, message } }`. */
export interface ApiError {
  readonly code: NodeErrorCode;
  readonly message: string;
}

/** A service operation's outcome: a value, or an API error. */
export type OperationResult<Value = unknown> =
  { readonly ok: true; readonly value: Value } | { readonly ok: false; readonly error: ApiError };

/** Builds the failure side of an OperationResult. */
export function apiError(code: NodeErrorCode, message: string): { ok: false; error: ApiError } {
  return { ok: false, error: { code, message } };
}
