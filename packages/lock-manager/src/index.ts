// The public entry of @distsync/lock-manager: the lock state machine and the lock client.
export { LockError, isLockErrorCode } from './errors.js';
export type { LockErrorCode, LockRefusalCode } from './errors.js';
export {
  LOCK_LIST_LIMIT_MAX,
  LOCK_NAME_BYTES_MAX,
  LOCK_TIMEOUT_MS_MAX,
  LockClientCommandSchema,
  LockCommandSchema,
  LockModeSchema,
  LockNameSchema,
  LockQuerySchema,
  LockSessionIdSchema,
  LockTimeoutMsSchema,
} from './messages.js';
export type {
  LockClientCommand,
  LockCommand,
  LockGrant,
  LockHolderView,
  LockMode,
  LockQuery,
  LockQueued,
  LockView,
  LockWaiterView,
} from './messages.js';
export type { LockResult } from './result.js';
export { DEFAULT_LOCK_LIMITS, createLockStateMachine } from './state-machine.js';
export type {
  LockEvent,
  LockLimits,
  LockRequestStatus,
  LockSessions,
  LockStateMachine,
  LockStateMachineOptions,
} from './state-machine.js';
export {
  DEFAULT_ACQUIRE_TIMEOUT_MS,
  DEFAULT_ANSWER_SLACK_MS,
  DEFAULT_SESSION_TTL_MS,
  LockClient,
} from './client.js';
export type {
  AcquireOptions,
  ClusterConnection,
  LockClientEvent,
  LockClientOptions,
  LockHandle,
  LockLossReason,
} from './client.js';
