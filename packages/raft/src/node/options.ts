// RaftNode's options, their defaults and their validation (STYLE.md 20, 23): every limit has a
// named default with its unit last and is checked at construction with a message naming the rule.
import { invalidOption } from '../errors.js';
import { NodeIdSchema } from '../messages.js';
import type { NodeId } from '../messages.js';
import type { LogStorage, RaftCoreOptions, RandomSource } from '../core/types.js';
import type { Transport } from '../transport.js';
import type { EnvelopeCodec } from './codec.js';
import type { AnyStateMachine } from './registry.js';
import type { Scheduler } from './scheduler.js';

/** Bounds on the work a node accepts; every one is enforced before any work is done. */
export interface RaftNodeLimits {
  /** Commands waiting for their entry to apply on this node. Default 10000. */
  readonly maxPendingCommands: number;
  /** Linearizable queries waiting for their read index. Default 10000. */
  readonly maxPendingQueries: number;
  /** Encoded size of one command envelope. Default 1 MiB. */
  readonly maxCommandBytes: number;
  /** How long `command` waits for its entry to apply. Default 5000 ms. */
  readonly commandTimeoutMs: number;
  /** How long a linearizable `query` waits for its read index. Default 5000 ms. */
  readonly queryTimeoutMs: number;
  /** Client sessions kept; the one with the oldest applied time is evicted first. Default 10000. */
  readonly maxSessions: number;
  /** How often a node whose disk is full retries its sync. Default 500 ms. */
  readonly storageRetryMs: number;
}

export const defaultLimits: RaftNodeLimits = {
  maxPendingCommands: 10_000,
  maxPendingQueries: 10_000,
  maxCommandBytes: 1024 * 1024,
  commandTimeoutMs: 5000,
  queryTimeoutMs: 5000,
  maxSessions: 10_000,
  storageRetryMs: 500,
};

/** Core options the host passes through untouched. */
export type RaftNodeCoreOptions = Omit<
  RaftCoreOptions,
  'id' | 'peers' | 'storage' | 'random' | 'electionTicks' | 'heartbeatTicks' | 'appliedIndex'
>;

export interface RaftNodeOptions {
  readonly id: NodeId;
  /** Voters at bootstrap (this node included) when storage holds no membership yet. */
  readonly peers: readonly NodeId[];
  readonly storage: LogStorage;
  readonly transport: Transport;
  /** The registry: each machine is addressed by its `name`, which must be unique. */
  readonly stateMachines: readonly AnyStateMachine[];
  /** Milliseconds per core tick. Default 100. */
  readonly tickIntervalMs?: number;
  /** Election timeout in ticks (drawn in [electionTicks, 2*electionTicks)). Default 10. */
  readonly electionTicks?: number;
  /** Heartbeat interval in ticks. Default 1. */
  readonly heartbeatTicks?: number;
  readonly limits?: Partial<RaftNodeLimits>;
  /** Passed to the core. `forwardProposals` defaults to true here: followers forward commands. */
  readonly core?: RaftNodeCoreOptions;
  /** Clock and tick timer. Default: real timers. */
  readonly scheduler?: Scheduler;
  /** Randomness for election jitter. Default: a PRNG seeded from `seed`, else from the clock. */
  readonly random?: RandomSource;
  readonly seed?: number;
  /** Entry payload encoding. Default: JSON in UTF-8. */
  readonly codec?: EnvelopeCodec;
  /** Take a snapshot once this many entries applied since the last one. Default 10000. */
  readonly snapshotEveryEntries?: number;
  /** Take a snapshot once this much applied entry data (bytes) since the last one. Default 64 MiB. */
  readonly snapshotEveryBytes?: number;
  /**
   * Entries kept in the log behind each snapshot, so a follower that is a little behind catches
   * up from the log instead of receiving a whole snapshot. 0 keeps none. Default 5000 (as etcd).
   */
  readonly snapshotKeepEntries?: number;
  /**
   * A snapshot due by `snapshotEveryEntries` also waits until the entry bytes applied since the
   * last snapshot reach this multiple of that snapshot's size, so a large state is snapshotted
   * less often and the cost per write stays bounded. 0 turns it off. Default 0.5.
   */
  readonly snapshotLogRatio?: number;
  /**
   * How long one slice of an incremental snapshot (`StateMachine.beginSnapshot`) may run before
   * the node yields to the event loop, in milliseconds. Default 10.
   */
  readonly snapshotSliceMs?: number;
}

/** When the node snapshots its state machines and how much log it keeps behind a snapshot. */
export interface SnapshotPolicy {
  readonly everyEntries: number;
  readonly everyBytes: number;
  readonly keepEntries: number;
  readonly logRatio: number;
  readonly sliceMs: number;
}

export const DEFAULT_SNAPSHOT_EVERY_ENTRIES = 10_000;
export const DEFAULT_SNAPSHOT_EVERY_BYTES: number = 64 * 1024 * 1024;
export const DEFAULT_SNAPSHOT_KEEP_ENTRIES = 5000;
export const DEFAULT_SNAPSHOT_LOG_RATIO = 0.5;
export const DEFAULT_SNAPSHOT_SLICE_MS = 10;

/** Fills in and validates the snapshot thresholds. */
export function resolveSnapshotPolicy(options: RaftNodeOptions): SnapshotPolicy {
  const keepEntries = options.snapshotKeepEntries ?? DEFAULT_SNAPSHOT_KEEP_ENTRIES;
  if (!Number.isSafeInteger(keepEntries) || keepEntries < 0) {
    throw invalidOption('snapshotKeepEntries', 'a non-negative integer', keepEntries);
  }
  return {
    everyEntries: positiveInteger(
      'snapshotEveryEntries',
      options.snapshotEveryEntries ?? DEFAULT_SNAPSHOT_EVERY_ENTRIES,
    ),
    everyBytes: positiveInteger(
      'snapshotEveryBytes',
      options.snapshotEveryBytes ?? DEFAULT_SNAPSHOT_EVERY_BYTES,
    ),
    keepEntries,
    logRatio: nonNegativeNumber(
      'snapshotLogRatio',
      options.snapshotLogRatio ?? DEFAULT_SNAPSHOT_LOG_RATIO,
    ),
    sliceMs: nonNegativeNumber(
      'snapshotSliceMs',
      options.snapshotSliceMs ?? DEFAULT_SNAPSHOT_SLICE_MS,
    ),
  };
}

function nonNegativeNumber(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw invalidOption(name, 'a finite number of at least 0', value);
  }
  return value;
}

export interface ResolvedTiming {
  readonly tickIntervalMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw invalidOption(name, 'a positive integer', value);
  return value;
}

/** Validates identity, timing and the registry; returns the timing with defaults filled in. */
export function validateOptions(options: RaftNodeOptions): ResolvedTiming {
  if (!NodeIdSchema.safeParse(options.id).success) {
    throw invalidOption('id', 'a node id (1-64 letters, digits, ".", "_", "-")', options.id);
  }
  const peers = new Set<string>();
  for (const peer of options.peers) {
    if (!NodeIdSchema.safeParse(peer).success)
      throw invalidOption('peers', 'a list of node ids', peer);
    if (peers.has(peer)) throw invalidOption('peers', 'a list without duplicates', peer);
    peers.add(peer);
  }
  validateMachines(options.stateMachines);
  const timing = {
    tickIntervalMs: positiveInteger('tickIntervalMs', options.tickIntervalMs ?? 100),
    electionTicks: positiveInteger('electionTicks', options.electionTicks ?? 10),
    heartbeatTicks: positiveInteger('heartbeatTicks', options.heartbeatTicks ?? 1),
  };
  if (timing.electionTicks <= timing.heartbeatTicks) {
    throw invalidOption('electionTicks', 'greater than heartbeatTicks', timing.electionTicks);
  }
  return timing;
}

function validateMachines(machines: readonly AnyStateMachine[]): void {
  const names = new Set<string>();
  for (const machine of machines) {
    if (typeof machine.name !== 'string' || machine.name.length === 0) {
      throw invalidOption('stateMachines[].name', 'a non-empty string', machine.name);
    }
    if (names.has(machine.name)) {
      throw invalidOption('stateMachines[].name', 'unique in the registry', machine.name);
    }
    names.add(machine.name);
    if ((machine.nextDeadline === undefined) !== (machine.timerCommand === undefined)) {
      throw invalidOption(
        `stateMachines[${machine.name}]`,
        'defining both nextDeadline and timerCommand, or neither',
        machine.name,
      );
    }
  }
}

/** Fills in and validates the limits. */
export function resolveLimits(limits: Partial<RaftNodeLimits> | undefined): RaftNodeLimits {
  const resolved = { ...defaultLimits, ...limits };
  for (const [name, value] of Object.entries(resolved)) positiveInteger(`limits.${name}`, value);
  return resolved;
}
