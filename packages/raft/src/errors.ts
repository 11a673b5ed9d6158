/**
 * Every error `@distsync/raft` throws carries one of these codes. Throws are reserved for
 * programmer errors and unrecoverable faults; expected outcomes (a follower asked to propose, a
 * command that timed out) are returned as values such as `{ ok: false, code: 'NOT_LEADER' }`.
 */
export type RaftErrorCode =
  /** An option passed to a constructor broke its rule; the message names the option and the rule. */
  | 'INVALID_OPTION'
  /** A method argument has the wrong type or shape (an unknown state machine, a bad node id). */
  | 'INVALID_ARGUMENT'
  /** A method was called in a state that does not allow it (start after stop). */
  | 'INVALID_STATE'
  /** Stable storage failed (a rejected `sync()`); the node stops acknowledging anything. */
  | 'STORAGE_FAILED'
  /** Snapshot bytes could not be decoded or restored. */
  | 'BAD_SNAPSHOT'
  /** An internal invariant broke (corrupt state): the node crashes loudly instead of limping on. */
  | 'INVARIANT_VIOLATED';

/** The one error class of `@distsync/raft`; switch on `code`, never on `message`. */
export class RaftError extends Error {
  override readonly name: 'RaftError' = 'RaftError';
  readonly code: RaftErrorCode;

  constructor(code: RaftErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Builds the error for an option that broke its rule, naming the option and the rule. */
export function invalidOption(option: string, rule: string, value: unknown): RaftError {
  return new RaftError('INVALID_OPTION', `${option} must be ${rule} (got ${describe(value)})`);
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
