// Cheap structural checks on a message before the core acts on it. Messages normally arrive
// parsed by zod at the edge, but the core is the last line of defence: a NaN term or a negative
// index must never reach the state, so each is refused with a reason and no state change.
import type { AppendEntriesResponse, Entry, RaftMessage } from '../messages.js';
import type { StepRejection } from './types.js';

export interface Rejection {
  readonly code: StepRejection;
  readonly reason: string;
}

function isIndex(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function absurd(field: string, value: unknown): Rejection {
  return {
    code: 'ABSURD_VALUE',
    reason: `${field} must be a non-negative safe integer (got ${String(value)})`,
  };
}

/** The first field, if any, among `fields` that is not a non-negative safe integer. */
function firstAbsurd(fields: readonly (readonly [string, unknown])[]): Rejection | undefined {
  for (const [name, value] of fields) {
    if (!isIndex(value)) return absurd(name, value);
  }
  return undefined;
}

/**
 * Checks the numeric fields of each message type. Each case tests its fields directly: this runs
 * for every message, so it allocates nothing on the common path.
 */
function checkNumbers(message: RaftMessage): Rejection | undefined {
  switch (message.type) {
    case 'RequestVote':
      if (isIndex(message.lastLogIndex) && isIndex(message.lastLogTerm)) return undefined;
      return firstAbsurd([
        ['lastLogIndex', message.lastLogIndex],
        ['lastLogTerm', message.lastLogTerm],
      ]);
    case 'AppendEntries':
      if (
        isIndex(message.prevLogIndex) &&
        isIndex(message.prevLogTerm) &&
        isIndex(message.leaderCommit)
      ) {
        return undefined;
      }
      return firstAbsurd([
        ['prevLogIndex', message.prevLogIndex],
        ['prevLogTerm', message.prevLogTerm],
        ['leaderCommit', message.leaderCommit],
      ]);
    case 'AppendEntriesResponse':
      return checkResponseNumbers(message);
    case 'Heartbeat':
      return isIndex(message.leaderCommit)
        ? undefined
        : absurd('leaderCommit', message.leaderCommit);
    case 'ReadIndexResponse':
      return message.index === undefined || isIndex(message.index)
        ? undefined
        : absurd('index', message.index);
    case 'InstallSnapshot':
      return firstAbsurd([
        ['lastIncludedIndex', message.lastIncludedIndex],
        ['lastIncludedTerm', message.lastIncludedTerm],
        ['offset', message.offset],
      ]);
    case 'InstallSnapshotResponse':
      return firstAbsurd([
        ['lastIncludedIndex', message.lastIncludedIndex],
        ['nextOffset', message.nextOffset],
      ]);
    case 'RequestVoteResponse':
    case 'HeartbeatResponse':
    case 'TimeoutNow':
    case 'Propose':
    case 'ReadIndex':
      return undefined;
  }
}

function checkResponseNumbers(message: AppendEntriesResponse): Rejection | undefined {
  if (!isIndex(message.matchIndex)) return absurd('matchIndex', message.matchIndex);
  if (message.success) return undefined;
  return firstAbsurd([
    ['rejectedIndex', message.rejectedIndex ?? 0],
    ['conflictIndex', message.conflictIndex ?? 0],
    ['conflictTerm', message.conflictTerm ?? 0],
  ]);
}

/** Entries must be contiguous after `prevLogIndex`, with terms in `[prevLogTerm, term]`, rising. */
function checkEntries(message: {
  prevLogIndex: number;
  prevLogTerm: number;
  term: number;
  entries: readonly Entry[];
}): Rejection | undefined {
  const entries: unknown = message.entries;
  if (!Array.isArray(entries)) return { code: 'ABSURD_VALUE', reason: 'entries must be an array' };
  let previousTerm = message.prevLogTerm;
  for (let i = 0; i < message.entries.length; i++) {
    const entry = message.entries[i];
    if (entry === undefined || !isIndex(entry.index) || !isIndex(entry.term)) {
      return absurd(`entries[${i}].index/term`, entry?.index);
    }
    if (!(entry.data instanceof Uint8Array)) {
      return { code: 'ABSURD_VALUE', reason: `entries[${i}].data must be a Uint8Array` };
    }
    if (entry.index !== message.prevLogIndex + 1 + i) {
      return {
        code: 'INDEX_OUT_OF_RANGE',
        reason: `entries[${i}].index ${entry.index} does not follow prevLogIndex ${message.prevLogIndex} contiguously`,
      };
    }
    if (entry.term < previousTerm || entry.term > message.term) {
      return {
        code: 'INDEX_OUT_OF_RANGE',
        reason: `entries[${i}].term ${entry.term} is outside [${previousTerm}, ${message.term}]`,
      };
    }
    previousTerm = entry.term;
  }
  return undefined;
}

/** The state-independent checks: shape, numbers, and the entries of an AppendEntries. */
export function checkShape(message: RaftMessage): Rejection | undefined {
  if (typeof message.from !== 'string' || typeof message.to !== 'string') {
    return { code: 'ABSURD_VALUE', reason: 'from and to must be node id strings' };
  }
  if (!isIndex(message.term)) return absurd('term', message.term);
  const numbers = checkNumbers(message);
  if (numbers !== undefined) return numbers;
  if (message.type === 'AppendEntries') {
    if (message.prevLogTerm > message.term) {
      return {
        code: 'INDEX_OUT_OF_RANGE',
        reason: `prevLogTerm ${message.prevLogTerm} is beyond the message term ${message.term}`,
      };
    }
    if (message.prevLogIndex > Number.MAX_SAFE_INTEGER - message.entries.length) {
      return absurd('prevLogIndex', message.prevLogIndex);
    }
    return checkEntries(message);
  }
  return checkPayload(message);
}

function isContext(value: unknown): boolean {
  return typeof value === 'string' && value.length > 0 && value.length <= 256;
}

function isMembership(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const { voters, learners } = value as { voters?: unknown; learners?: unknown };
  const ids = (list: unknown): boolean =>
    Array.isArray(list) && list.every((id) => typeof id === 'string');
  return ids(voters) && ids(learners);
}

/** Non-numeric payloads the core stores or echoes: bytes, read contexts, membership. */
function checkPayload(message: RaftMessage): Rejection | undefined {
  const bad = (reason: string): Rejection => ({ code: 'ABSURD_VALUE', reason });
  switch (message.type) {
    case 'Propose': {
      const entries: unknown = message.entries;
      const valid =
        Array.isArray(entries) &&
        entries.length > 0 &&
        entries.every((data) => data instanceof Uint8Array);
      return valid ? undefined : bad('Propose entries must be a non-empty array of Uint8Array');
    }
    case 'InstallSnapshot':
      if (!(message.data instanceof Uint8Array))
        return bad('InstallSnapshot data must be a Uint8Array');
      return isMembership(message.membership)
        ? undefined
        : bad('InstallSnapshot membership must list voters and learners as node ids');
    case 'ReadIndex':
    case 'ReadIndexResponse':
      return isContext(message.context) ? undefined : bad('context must be 1-256 characters');
    case 'Heartbeat':
    case 'HeartbeatResponse':
      return message.readContext === undefined || isContext(message.readContext)
        ? undefined
        : bad('readContext must be 1-256 characters');
    default:
      return undefined;
  }
}
