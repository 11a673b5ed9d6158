/**
 * Every refusal of the lock state machine and every error the lock client throws carries one of
 * these codes; switch on `code`, never on `message`. The state machine returns its codes as values
 * (`{ ok: false, code, message }`); the client throws `LockError` with them.
 */
export type LockErrorCode =
  /** A malformed command or option: a lock name outside 1-256 UTF-8 bytes, a negative timeout. */
  | 'BAD_REQUEST'
  /** The wait ended before a grant: its `timeoutMs` passed, a try-lock found the lock taken. */
  | 'TIMEOUT'
  /** Waiting would close a cycle in the wait-for graph; this request was the youngest in it. */
  | 'DEADLOCK'
  /** Releasing (or upgrading) a lock this session does not hold. */
  | 'NOT_HELD'
  /** Acquiring a lock this session already holds or waits for (not taken `reentrant`). */
  | 'ALREADY_HELD'
  /** The lock's wait queue is full (`maxWaitersPerLock`). */
  | 'TOO_MANY_WAITERS'
  /** A limit of the state machine is reached (`maxLocks`, `maxHoldCount`). */
  | 'LIMIT_REACHED'
  /** The owner session does not exist: it expired or was deleted (its locks were released). */
  | 'SESSION_EXPIRED'
  /** Client: the session was lost (keep-alive refused), so every lock it held is gone. */
  | 'SESSION_LOST'
  /** Client: the caller's `AbortSignal` fired before the grant. */
  | 'ABORTED'
  /** Client: `close()` was called. */
  | 'CLOSED';

/** The codes the state machine answers (the rest are the client's own). */
export type LockRefusalCode = Exclude<LockErrorCode, 'SESSION_LOST' | 'ABORTED' | 'CLOSED'>;

/** The one error class of `@distsync/lock-manager`. */
export class LockError extends Error {
  override readonly name = 'LockError';
  readonly code: LockErrorCode;

  constructor(code: LockErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

const CODES: ReadonlySet<string> = new Set<LockErrorCode>([
  'BAD_REQUEST',
  'TIMEOUT',
  'DEADLOCK',
  'NOT_HELD',
  'ALREADY_HELD',
  'TOO_MANY_WAITERS',
  'LIMIT_REACHED',
  'SESSION_EXPIRED',
  'SESSION_LOST',
  'ABORTED',
  'CLOSED',
]);

/** True when `code` is one of this package's codes. */
export function isLockErrorCode(code: unknown): code is LockErrorCode {
  return typeof code === 'string' && CODES.has(code);
}
