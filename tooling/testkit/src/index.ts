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
export { runCampaign, type CampaignOptions, type CampaignReport } from './campaign.js';
export {
  Cluster,
  freePorts,
  NETWORK_KINDS,
  resolveNetwork,
  workspaceRoot,
  type ClusterOptions,
  type NetworkKind,
  type PeerDrops,
  type NodeFaults,
  type NodeRuntime,
  type NodeStatus,
} from './cluster/cluster.js';
export {
  cleanupAll,
  installSignalHandlers,
  killHard,
  logTail,
  makeTempDir,
  removeTempDir,
  runningProcessCount,
  startProcess,
  stopGracefully,
  type ManagedProcess,
  type StartProcessOptions,
} from './cluster/processes.js';
export { LinkProxy, type ProxyDirection } from './cluster/proxy.js';
export { NetnsNetwork, netnsSupport, removeNetwork } from './cluster/netns.js';
export {
  NEMESES,
  NEMESIS_GROUPS,
  needsFaultInjection,
  parseNemeses,
  partitionGroups,
  runNemesis,
  type FaultRecord,
  type NemesisKind,
  type NemesisOptions,
} from './nemesis.js';
export { parseDuration } from './options.js';
export { Random } from './random.js';
export { formatReport } from './report.js';
export { createWorkloads, WORKLOAD_NAMES } from './workloads/index.js';
export { KvWorkload, type KvOp, type KvWorkloadOptions } from './workloads/kv.js';
export type {
  CheckerReport,
  OpStatus,
  Workload,
  WorkloadContext,
  WorkloadStats,
} from './workloads/types.js';
export { LockWorkload, type LockWorkloadOptions } from './workloads/lock.js';
export { QueueWorkload, type QueueWorkloadOptions } from './workloads/queue.js';
