/**
 * Every error `@distsync/raft` throws carries one of these codes. Throws are reserved for
 * programmer errors and corrupt state; expected outcomes (not the leader, a refused message) are
 * returned as values (`ProposeResult`, `StepResult`).
 */
export type RaftErrorCode =
  /** An option passed to a constructor broke its rule; the message names the option and the rule. */
  | 'INVALID_OPTION'
  /** A method argument has the wrong type or shape (for example proposal data that is not bytes). */
  | 'INVALID_ARGUMENT'
  /** A method was called out of order, for example `ready()` twice without `advance()`. */
  | 'INVALID_CALL'
  /** RaftNode: a method was called in a state that does not allow it (start after stop). */
  | 'INVALID_STATE'
  /** RaftNode: stable storage failed (a rejected `sync()`); the node acknowledges nothing more. */
  | 'STORAGE_FAILED'
  /** RaftNode: snapshot bytes could not be decoded or do not match the registered machines. */
  | 'BAD_SNAPSHOT'
  /** FileStorage: a WAL record in the middle of the log is damaged (the message names file and offset). */
  | 'WAL_CORRUPT'
  /** FileStorage: a snapshot file is damaged or one the WAL refers to is missing. */
  | 'SNAPSHOT_CORRUPT'
  /** FileStorage: the data directory is missing (with no parent), not a directory or not accessible. */
  | 'STORAGE_UNAVAILABLE'
  /** FileStorage: an fsync failed; the write is lost and the storage is fenced until reopened. */
  | 'FSYNC_FAILED'
  /** FileStorage: a write failed for a reason other than a full disk; the storage is fenced. */
  | 'WRITE_FAILED'
  /** FileStorage: the disk is full; nothing was acknowledged and a later `sync()` retries. */
  | 'NO_SPACE'
  /** FileStorage: the storage was closed. */
  | 'STORAGE_CLOSED'
  /**
   * An internal invariant failed (commit beyond the last index, a term going backwards, applied
   * beyond commit). The node's state is corrupt: stop the process rather than limp on.
   */
  | 'INVARIANT_VIOLATED';

/** The one error class of `@distsync/raft`; switch on `code`, never on `message`. */
export class RaftError extends Error {
  override readonly name = 'RaftError' as const;
  readonly code: RaftErrorCode;

  constructor(code: RaftErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Throws `INVARIANT_VIOLATED` unless `condition` holds: invariants stay checked in production. */
export function invariant(condition: boolean, describe: () => string): asserts condition {
  if (!condition) throw new RaftError('INVARIANT_VIOLATED', describe());
}

/** Builds the error for an option that broke its rule, naming the option and the rule. */
export function invalidOption(option: string, rule: string, value: unknown): RaftError {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return new RaftError('INVALID_OPTION', `${option} must be ${rule} (got ${shown})`);
}
