// The public entry of @distsync/raft (STYLE.md 1): named exports only.
export {
  AppendEntriesResponseSchema,
  AppendEntriesSchema,
  EntrySchema,
  EntryTypeSchema,
  HeartbeatResponseSchema,
  HeartbeatSchema,
  IndexSchema,
  InstallSnapshotResponseSchema,
  InstallSnapshotSchema,
  MembershipSchema,
  NodeIdSchema,
  ProposeSchema,
  RaftMessageSchema,
  ReadIndexResponseSchema,
  ReadIndexSchema,
  RequestVoteResponseSchema,
  RequestVoteSchema,
  TermSchema,
  TimeoutNowSchema,
  parseRaftMessage,
} from './messages.js';
export type {
  AppendEntries,
  AppendEntriesResponse,
  Entry,
  EntryType,
  Heartbeat,
  HeartbeatResponse,
  InstallSnapshot,
  InstallSnapshotResponse,
  Membership,
  NodeId,
  Propose,
  RaftMessage,
  RaftMessageType,
  ReadIndex,
  ReadIndexResponse,
  RequestVote,
  RequestVoteResponse,
  TimeoutNow,
} from './messages.js';
export type * from './core/types.js';
export { RaftCore } from './core/raft-core.js';
export type { ConfChange, ConfChangeResult, ConfChangeType } from './core/membership.js';
export { MemoryStorage } from './core/memory-storage.js';
export { RaftError } from './errors.js';
export type { RaftErrorCode } from './errors.js';
export type { Transport } from './transport.js';
export type { ApplyContext, MachineResult, SnapshotJob, StateMachine } from './state-machine.js';
export {
  decodeJson,
  decodeJsonLines,
  encodeJson,
  encodeJsonLines,
  ok,
  refusal,
  utf8Length,
} from './state-machine.js';
export { ConcatJob, MapSnapshots, runToEnd } from './node/map-snapshots.js';
export type { MapSnapshotOptions, RowEncoder } from './node/map-snapshots.js';
export { RaftNode } from './node/raft-node.js';
export type {
  CommandOptions,
  QueryOptions,
  RaftNodeInit,
  RaftNodeState,
  RaftNodeStatus,
  MembershipChangeOptions,
  RegistrySnapshot,
  StopOptions,
} from './node/raft-node.js';
export type { MembershipChangeCode, MembershipChangeResult } from './node/membership-changes.js';
export { defaultLimits } from './node/options.js';
export type { RaftNodeCoreOptions, RaftNodeLimits, RaftNodeOptions } from './node/options.js';
export type {
  AppliedResult,
  CommandResult,
  QueryResult,
  RaftNodeFailure,
  RaftNodeResultCode,
} from './node/results.js';
export type { RaftNodeEventMap, RoleState, StorageState, SyncEvent } from './node/events.js';
export { jsonEnvelopeCodec } from './node/codec.js';
export type { CommandEnvelope, EnvelopeCodec } from './node/codec.js';
export { realScheduler, seededRandom } from './node/scheduler.js';
export type { Scheduler } from './node/scheduler.js';
export type { CoreFactory, CorePort } from './node/core-port.js';
export type { AnyStateMachine } from './node/registry.js';
// Durable storage (the only part of the package that touches node:fs).
export { FILE_STORAGE_DEFAULTS, FileStorage } from './storage/file-storage.js';
export type {
  FileStorageOptions,
  FileStorageStats,
  StorageHealth,
} from './storage/file-storage.js';
export { StorageError } from './storage/errors.js';
export type { StorageErrorCode } from './storage/errors.js';
export { nodeStorageFs } from './storage/fs.js';
export type { StorageFileHandle, StorageFs, StorageOpenMode } from './storage/fs.js';
