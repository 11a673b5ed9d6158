// Outcomes a caller of RaftNode sees. They are returned, never thrown (STYLE.md 12): a follower,
// a timeout or a full queue is normal life in a cluster, not a programmer error.
import type { NodeId } from '../messages.js';

/** Why a command or a query did not produce a value. */
export type RaftNodeResultCode =
  /** This node cannot take the request now (no leader known, or forwarding is off); see `leaderHint`. */
  | 'NOT_LEADER'
  /** No answer within the timeout. A command may still apply later: retry with the same `seq`. */
  | 'TIMEOUT'
  /** The caller's `AbortSignal` fired. A command may still apply later, as with TIMEOUT. */
  | 'ABORTED'
  /** The request is invalid: unknown state machine, schema failure, stale sequence number. */
  | 'BAD_REQUEST'
  /** The node is stopped (or failed on storage) and takes no new work. */
  | 'STOPPED'
  /**
   * This node's disk is full: it acknowledges nothing and takes no new work until space is back.
   * The other nodes go on; retry there (or here later).
   */
  | 'STORAGE_STALLED'
  /** `maxPendingCommands` / `maxPendingQueries` (or the core's uncommitted limit) is reached. */
  | 'TOO_MANY_PENDING'
  /** The encoded command exceeds `maxCommandBytes`. */
  | 'TOO_LARGE';

export interface RaftNodeFailure {
  readonly ok: false;
  readonly code: RaftNodeResultCode;
  readonly message: string;
  /** The leader this node believes in, when the code is NOT_LEADER. */
  readonly leaderHint?: NodeId | null;
}

/** The result of `RaftNode.command`: the state machine's value and the entry's log index. */
export type CommandResult<Value = unknown> =
  { readonly ok: true; readonly value: Value; readonly index: number } | RaftNodeFailure;

/** The result of `RaftNode.query`: the value and the applied index it was read at. */
export type QueryResult<Value = unknown> =
  { readonly ok: true; readonly value: Value; readonly index: number } | RaftNodeFailure;

/** What applying one entry produced; identical on every replica, so it can be cached in sessions. */
export type AppliedResult =
  | { readonly ok: true; readonly value: unknown; readonly index: number }
  | { readonly ok: false; readonly code: 'BAD_REQUEST'; readonly message: string };

/** Builds a failure result. */
export function failure(
  code: RaftNodeResultCode,
  message: string,
  leaderHint?: NodeId | null,
): RaftNodeFailure {
  return leaderHint === undefined
    ? { ok: false, code, message }
    : { ok: false, code, message, leaderHint };
}
