/**
 * Every error this package throws or reports carries one of these codes; switch on `code`, never
 * on `message`. Codes that a server sends to a peer or client travel in error frames and close
 * reasons too, so they are stable across versions.
 */
export type TransportErrorCode =
  /** The node that answered is not the leader; `leaderHint` / `leaderUrl` say where to go. */
  | 'NOT_LEADER'
  /** A request did not complete within its `timeoutMs`. */
  | 'TIMEOUT'
  /** No node could serve the request right now (no leader, no connection); retrying may help. */
  | 'UNAVAILABLE'
  /** A client token or a peer proof was wrong, or a peer certificate was missing or untrusted. */
  | 'UNAUTHORIZED'
  /** A peer announced another cluster id. */
  | 'WRONG_CLUSTER'
  /** A frame exceeded `maxFrameBytes`. */
  | 'FRAME_TOO_LARGE'
  /** A frame could not be decoded or matched no frame schema. */
  | 'BAD_FRAME'
  /** A well-formed request frame carried invalid fields (unknown kind, bad id, bad timeout). */
  | 'BAD_REQUEST'
  /** The handshake did not complete within `handshakeTimeoutMs`. */
  | 'HANDSHAKE_TIMEOUT'
  /** Nothing arrived on a connection for `idleTimeoutMs`. */
  | 'IDLE_TIMEOUT'
  /** The server already holds `maxConnections` WebSocket connections. */
  | 'TOO_MANY_CONNECTIONS'
  /** A bound on in-flight or pending requests or on subscriptions was reached. */
  | 'OVERLOADED'
  /** A newer connection from the same peer replaced this one. */
  | 'REPLACED'
  /** The caller's AbortSignal fired before the request completed. */
  | 'ABORTED'
  /** The connection or server was closed by its owner. */
  | 'CLOSED'
  /** An option broke its rule; the message names the option and the rule. */
  | 'INVALID_OPTION'
  /** A method argument has the wrong type or shape. */
  | 'INVALID_ARGUMENT'
  /** The request handler threw or returned something that cannot be encoded. */
  | 'INTERNAL';

const CODES: ReadonlySet<string> = new Set<TransportErrorCode>([
  'NOT_LEADER',
  'TIMEOUT',
  'UNAVAILABLE',
  'UNAUTHORIZED',
  'WRONG_CLUSTER',
  'FRAME_TOO_LARGE',
  'BAD_FRAME',
  'BAD_REQUEST',
  'HANDSHAKE_TIMEOUT',
  'IDLE_TIMEOUT',
  'TOO_MANY_CONNECTIONS',
  'OVERLOADED',
  'REPLACED',
  'ABORTED',
  'CLOSED',
  'INVALID_OPTION',
  'INVALID_ARGUMENT',
  'INTERNAL',
]);

/** True when `code` is one of this package's own codes (as opposed to an application's code). */
export function isTransportErrorCode(code: string): code is TransportErrorCode {
  return CODES.has(code);
}

/** Extra facts some errors carry: where the leader is, for `NOT_LEADER`. */
export interface TransportErrorDetails {
  readonly cause?: unknown;
  readonly leaderHint?: string;
  readonly leaderUrl?: string;
}

/** The error class of `@distsync/transport-ws`. */
export class TransportError extends Error {
  override readonly name = 'TransportError' as const;
  readonly code: TransportErrorCode;
  readonly leaderHint: string | undefined;
  readonly leaderUrl: string | undefined;

  constructor(code: TransportErrorCode, message: string, details: TransportErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.leaderHint = details.leaderHint;
    this.leaderUrl = details.leaderUrl;
  }
}

/**
 * An error the server's application handler returned with a code of its own (for example
 * `DEADLOCK` or `CONFLICT` from a service). The transport passes such codes through untouched.
 */
export class RemoteError extends Error {
  override readonly name = 'RemoteError' as const;
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** Builds the error for an option that broke its rule, naming the option and the rule. */
export function invalidOption(option: string, rule: string, value: unknown): TransportError {
  return new TransportError('INVALID_OPTION', `${option} must be ${rule} (got ${describe(value)})`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value);
  }
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  return typeof value;
}

/** WebSocket close codes this package uses (4000-4999 is the range for applications). */
export const CLOSE_CODES: Readonly<Record<TransportErrorCode | 'NORMAL' | 'GOING_AWAY', number>> = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  NOT_LEADER: 4307,
  TIMEOUT: 4408,
  UNAVAILABLE: 4503,
  UNAUTHORIZED: 4401,
  WRONG_CLUSTER: 4403,
  FRAME_TOO_LARGE: 4413,
  BAD_FRAME: 4400,
  BAD_REQUEST: 4422,
  HANDSHAKE_TIMEOUT: 4418,
  IDLE_TIMEOUT: 4410,
  TOO_MANY_CONNECTIONS: 4429,
  OVERLOADED: 4420,
  REPLACED: 4409,
  ABORTED: 4499,
  CLOSED: 4000,
  INVALID_OPTION: 4001,
  INVALID_ARGUMENT: 4002,
  INTERNAL: 4500,
};

/** Maps a close code back to its error code; 1009 is ws's own "message too big". */
export function codeOfClose(closeCode: number): TransportErrorCode | undefined {
  if (closeCode === 1009) return 'FRAME_TOO_LARGE';
  for (const [code, value] of Object.entries(CLOSE_CODES)) {
    if (value === closeCode && isTransportErrorCode(code)) return code;
  }
  return undefined;
}
