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
