// Defaults and validation for RaftCoreOptions (STYLE.md 20): every limit is checked once, at
// construction, with a message that names the option and the rule it broke.
import { NodeIdSchema } from '../messages.js';
import type { NodeId } from '../messages.js';
import { RaftError } from '../errors.js';
import type { RaftCoreOptions, RandomSource, Storage } from './types.js';

/** The options with every default filled in. */
export interface ResolvedOptions {
  readonly id: NodeId;
  readonly peers: readonly NodeId[];
  readonly storage: Storage;
  readonly random: RandomSource;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly forwardProposals: boolean;
  readonly maxEntriesPerMessage: number;
  readonly maxBytesPerMessage: number;
  readonly maxInflightMessages: number;
  readonly maxUncommittedEntries: number;
  readonly maxLearnerLagEntries: number;
  readonly maxCommittedBytesPerReady: number;
  readonly maxSnapshotChunkBytes: number;
  readonly maxSnapshotBytes: number;
  readonly appliedIndex: number;
}

export const DEFAULT_ELECTION_TICKS = 10;
export const DEFAULT_HEARTBEAT_TICKS = 1;
export const DEFAULT_MAX_ENTRIES_PER_MESSAGE = 256;
export const DEFAULT_MAX_BYTES_PER_MESSAGE: number = 1024 * 1024;
export const DEFAULT_MAX_INFLIGHT_MESSAGES = 256;
export const DEFAULT_MAX_UNCOMMITTED_ENTRIES = 10_000;
export const DEFAULT_MAX_LEARNER_LAG_ENTRIES = 256;
export const DEFAULT_MAX_COMMITTED_BYTES_PER_READY: number = 64 * 1024 * 1024;
/** Well under transport-ws's 4 MiB frame limit, so one chunk always fits in one frame. */
export const DEFAULT_MAX_SNAPSHOT_CHUNK_BYTES: number = 1024 * 1024;
export const DEFAULT_MAX_SNAPSHOT_BYTES: number = 1024 * 1024 * 1024;

function invalid(option: string, rule: string, value: unknown): RaftError {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return new RaftError('INVALID_OPTION', `${option} must be ${rule} (got ${shown})`);
}

function positiveInteger(option: string, value: number | undefined, fallback: number): number {
  const resolved = value ?? fallback;
  if (!Number.isSafeInteger(resolved) || resolved < 1) {
    throw invalid(option, 'a positive integer', resolved);
  }
  return resolved;
}

function checkId(option: string, value: unknown): NodeId {
  const parsed = NodeIdSchema.safeParse(value);
  if (!parsed.success) {
    throw invalid(option, 'a node id (1-64 letters, digits, ".", "_" or "-")', value);
  }
  return parsed.data;
}

function checkPeers(peers: unknown): readonly NodeId[] {
  if (!Array.isArray(peers)) throw invalid('peers', 'an array of node ids', peers);
  const ids = peers.map((peer) => checkId('peers[]', peer));
  if (new Set(ids).size !== ids.length) throw invalid('peers', 'free of duplicates', ids.join(','));
  return ids;
}

/** Fills in defaults and throws `INVALID_OPTION` for the first option that breaks its rule. */
export function resolveOptions(options: RaftCoreOptions): ResolvedOptions {
  const electionTicks = positiveInteger(
    'electionTicks',
    options.electionTicks,
    DEFAULT_ELECTION_TICKS,
  );
  const heartbeatTicks = positiveInteger(
    'heartbeatTicks',
    options.heartbeatTicks,
    DEFAULT_HEARTBEAT_TICKS,
  );
  if (electionTicks <= heartbeatTicks) {
    throw new RaftError(
      'INVALID_OPTION',
      `electionTicks must be greater than heartbeatTicks (got electionTicks ${electionTicks}, heartbeatTicks ${heartbeatTicks})`,
    );
  }
  if (typeof options.random !== 'function') {
    throw invalid('random', 'a function returning numbers in [0, 1)', options.random);
  }
  const appliedIndex = options.appliedIndex ?? 0;
  if (!Number.isSafeInteger(appliedIndex) || appliedIndex < 0) {
    throw invalid('appliedIndex', 'a non-negative integer', appliedIndex);
  }
  return {
    id: checkId('id', options.id),
    peers: checkPeers(options.peers),
    storage: options.storage,
    random: options.random,
    electionTicks,
    heartbeatTicks,
    preVote: options.preVote ?? true,
    checkQuorum: options.checkQuorum ?? true,
    forwardProposals: options.forwardProposals ?? false,
    maxEntriesPerMessage: positiveInteger(
      'maxEntriesPerMessage',
      options.maxEntriesPerMessage,
      DEFAULT_MAX_ENTRIES_PER_MESSAGE,
    ),
    maxBytesPerMessage: positiveInteger(
      'maxBytesPerMessage',
      options.maxBytesPerMessage,
      DEFAULT_MAX_BYTES_PER_MESSAGE,
    ),
    maxInflightMessages: positiveInteger(
      'maxInflightMessages',
      options.maxInflightMessages,
      DEFAULT_MAX_INFLIGHT_MESSAGES,
    ),
    maxUncommittedEntries: positiveInteger(
      'maxUncommittedEntries',
      options.maxUncommittedEntries,
      DEFAULT_MAX_UNCOMMITTED_ENTRIES,
    ),
    maxLearnerLagEntries: positiveInteger(
      'maxLearnerLagEntries',
      options.maxLearnerLagEntries,
      DEFAULT_MAX_LEARNER_LAG_ENTRIES,
    ),
    maxCommittedBytesPerReady: positiveInteger(
      'maxCommittedBytesPerReady',
      options.maxCommittedBytesPerReady,
      DEFAULT_MAX_COMMITTED_BYTES_PER_READY,
    ),
    maxSnapshotChunkBytes: positiveInteger(
      'maxSnapshotChunkBytes',
      options.maxSnapshotChunkBytes,
      DEFAULT_MAX_SNAPSHOT_CHUNK_BYTES,
    ),
    maxSnapshotBytes: positiveInteger(
      'maxSnapshotBytes',
      options.maxSnapshotBytes,
      DEFAULT_MAX_SNAPSHOT_BYTES,
    ),
    appliedIndex,
  };
}
