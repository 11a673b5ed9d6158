export {
  checkLinearizable,
  partitionByKey,
  type LinearizabilityOptions,
  type LinearizabilityVerdict,
  type LinearizabilityWindow,
  type Model,
  type Operation,
  type StepResult,
} from './checkers/linearizability.js';
export {
  checkRegisters,
  registerModel,
  type RegisterInput,
  type RegisterOperation,
  type RegisterOutput,
  type RegisterValue,
  type RegisterVerdict,
} from './checkers/register.js';
export { TESTKIT_ERROR_CODES, TestkitError, type TestkitErrorCode } from './errors.js';
export {
  checkMutex,
  type AcquireOp,
  type MutexHistory,
  type MutexVerdict,
  type MutexViolation,
  type Outcome,
  type ReleaseOp,
  type ResourceWrite,
} from './checkers/mutex.js';
export {
  checkPerKeyOrder,
  checkTotalQueue,
  type AckOp,
  type OrderVerdict,
  type OrderViolation,
  type QueueAnomaly,
  type QueueHistory,
  type QueueVerdict,
  type ReceiveOp,
  type SendOp,
} from './checkers/queue.js';
