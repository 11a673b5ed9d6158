// The public entry of @distsync/raft/testing: the deterministic simulator and its parts.
export { EventQueue } from './event-queue.js';
export type { QueuedEvent } from './event-queue.js';
export { InvariantChecker, InvariantViolation, entryKey } from './invariants.js';
export type { AcknowledgedProposal, InvariantName, NodeView } from './invariants.js';
export { createPrng } from './prng.js';
export type { Prng } from './prng.js';
export { SimClient } from './sim-client.js';
export type { SimClientOptions } from './sim-client.js';
export {
  SimNetwork,
  labUnreliableNetwork,
  reliableNetwork,
  validateNetworkOptions,
} from './sim-network.js';
export type { NetworkOptions, NetworkStats } from './sim-network.js';
export { SimNode } from './sim-node.js';
export type {
  DurableState,
  FaultyHost,
  NodeHost,
  SimCore,
  SimFactories,
  SyncOutcome,
} from './sim-node.js';
export { SimulationFailure, Simulator } from './simulator.js';
export type { SimRaftOptions, SimulationFailureCode, SimulatorOptions } from './simulator.js';
export { LabCluster, labElectionTimeoutMs } from './lab-cluster.js';
export type { LabClusterOptions, LabStart } from './lab-cluster.js';
export { realFactories } from './real-factories.js';
export { runSweepSeed, sweepReplayCommand } from './sweep.js';
export type { SweepRunOptions, SweepRunResult } from './sweep.js';
export { Trace } from './trace.js';
// In-process RaftNode clusters over an in-memory transport (tests, examples, benchmarks).
export { createMemoryNetwork } from './memory-network.js';
export type { MemoryNetwork, MemoryNetworkStats } from './memory-network.js';
export { createMemoryCluster } from './memory-cluster.js';
export type { MemoryCluster, MemoryClusterOptions } from './memory-cluster.js';
export {
  TestNetwork,
  applyReady,
  createTestCore,
  drainMessages,
  entriesWithTerms,
} from './network.js';
export type { CoreOverrides, DeliveryObserver, TestNetworkOptions, TestNode } from './network.js';
// A fault-injecting in-memory file system for FileStorage (crashes, torn writes, EIO, ENOSPC).
export { FaultFs } from '../storage/fault-fs.js';
export type { FaultRule, TearBytes } from '../storage/fault-fs.js';
export { createListMachine } from './list-machine.js';
export type { ListMachine } from './list-machine.js';
