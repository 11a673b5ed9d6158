// Small pure pieces of the host loop, kept apart so the loop itself reads as the Ready contract.
import type { ProposeResult, ReadIndexResult, SoftState } from '../core/types.js';
import type { RoleState } from './events.js';
import type { AnyStateMachine } from './registry.js';
import { failure } from './results.js';
import type { QueryResult, RaftNodeFailure } from './results.js';
import { z } from 'zod';

/** Maps a refused proposal to the result a caller sees. */
export function proposeFailure(result: Extract<ProposeResult, { ok: false }>): RaftNodeFailure {
  switch (result.code) {
    case 'NOT_LEADER':
      return failure('NOT_LEADER', notLeaderMessage(result.leaderHint), result.leaderHint);
    case 'TRANSFER_IN_PROGRESS':
      return failure('NOT_LEADER', 'leadership is being transferred; retry', result.leaderHint);
    case 'TOO_MANY_UNCOMMITTED':
      return failure(
        'TOO_MANY_PENDING',
        'the leader holds too many uncommitted entries',
        result.leaderHint,
      );
  }
}

/**
 * Maps a refused ReadIndex to a result, or undefined when the read should be issued again later:
 * a new leader that has not committed in its term yet, or (with forwarding) an election.
 */
export function readIndexFailure(
  result: Extract<ReadIndexResult, { ok: false }>,
  forwarding: boolean,
): RaftNodeFailure | undefined {
  switch (result.code) {
    case 'NOT_LEADER':
      if (forwarding && result.leaderHint === null) return undefined;
      return failure('NOT_LEADER', notLeaderMessage(result.leaderHint), result.leaderHint);
    case 'LEADER_NOT_READY':
      return undefined;
  }
}

/** A refusal because no leader is known yet (an election is running). */
export function isLeaderUnknown(result: Extract<ProposeResult, { ok: false }>): boolean {
  return result.code === 'NOT_LEADER' && result.leaderHint === null;
}

export function notLeaderMessage(leaderHint: string | null): string {
  return leaderHint === null
    ? 'no leader is known; retry'
    : `this node is not the leader; try ${leaderHint}`;
}

/** The watched role state for a core soft state in `term`. */
export function roleStateOf(soft: SoftState, term: number): RoleState {
  switch (soft.role) {
    case 'follower':
      return { type: 'follower', term, leaderId: soft.leaderId };
    case 'pre-candidate':
      return { type: 'pre-candidate', term };
    case 'candidate':
      return { type: 'candidate', term };
    case 'leader':
      return { type: 'leader', term };
  }
}

/** Runs a validated query; a machine that throws on a query answers BAD_REQUEST, not a crash. */
export function runQuery(machine: AnyStateMachine, query: unknown, index: number): QueryResult {
  try {
    const value: unknown = machine.query(query);
    return { ok: true, value, index };
  } catch (error) {
    return failure('BAD_REQUEST', `${machine.name} query failed: ${String(error)}`);
  }
}

/** Validates a query; the parsed value or a BAD_REQUEST failure. */
export function parseQuery(
  machine: AnyStateMachine,
  query: unknown,
): { ok: true; query: unknown } | RaftNodeFailure {
  const parsed = machine.querySchema.safeParse(query);
  if (parsed.success) return { ok: true, query: parsed.data };
  return failure('BAD_REQUEST', `invalid ${machine.name} query: ${z.prettifyError(parsed.error)}`);
}

/** A BAD_REQUEST failure for a per-call timeout that is not a positive finite number. */
export function checkTimeout(timeoutMs: number | undefined): RaftNodeFailure | undefined {
  if (timeoutMs === undefined || (Number.isFinite(timeoutMs) && timeoutMs > 0)) return undefined;
  return failure('BAD_REQUEST', `timeoutMs must be a positive number (got ${timeoutMs})`);
}

/** Calls `onAbort` once if `signal` fires; returns the function that removes the listener. */
export function watchAbort(
  signal: AbortSignal | undefined,
  onAbort: () => void,
): (() => void) | undefined {
  if (signal === undefined) return undefined;
  signal.addEventListener('abort', onAbort, { once: true });
  return () => {
    signal.removeEventListener('abort', onAbort);
  };
}
