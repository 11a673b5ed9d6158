// One randomized run per seed: a chaos phase with every fault kind (loss, duplication, delay,
// long reordering, partitions of any shape, one-way cuts, crashes that lose unsynced writes,
// clock drift) under client load, then a majority is healed and must commit a new entry within
// a bound, then everything is healed and every acknowledged proposal must be on every node.
import type { NodeId } from '../messages.js';
import type { Prng } from './prng.js';
import { createPrng } from './prng.js';
import type { NetworkOptions } from './sim-network.js';
import { SimClient } from './sim-client.js';
import type { SimFactories } from './sim-node.js';
import type { SimRaftOptions } from './simulator.js';
import { Simulator } from './simulator.js';
import {
  everyNodeId,
  finalMembers,
  healableMajority,
  membershipFault,
} from './sweep-membership.js';

export interface SweepRunOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly factories: SimFactories;
  /** Virtual duration of the chaos phase. Default 3,000 ms. */
  readonly chaosMs?: number;
  /** Bound for a healed majority to commit a new entry. Default 5,000 ms. */
  readonly commitBoundMs?: number;
  /** Trace lines shown on failure. Default 50. */
  readonly traceLinesOnFailure?: number;
  /** Core settings that replace the randomly drawn ones (to pin a configuration). */
  readonly raftOverrides?: SimRaftOptions;
  /**
   * Adds membership changes to the faults (nodes join as learners, are promoted, members and
   * leaders are removed); the liveness phases then follow the configurations. Default false,
   * which leaves every other seed's run exactly as before.
   */
  readonly membershipChanges?: boolean;
  /**
   * Adds disk faults to the faults: full disks that stall a node's host loop, fsync EIO that stops
   * a node until it restarts, slow fsyncs. Drawn from a PRNG stream of their own, so the default
   * (false) leaves every other seed's run exactly as before.
   */
  readonly diskFaults?: boolean;
}

export interface SweepRunResult {
  readonly seed: number;
  readonly nodes: number;
  readonly events: number;
  readonly virtualMs: number;
  readonly acknowledged: number;
  readonly maxTerm: number;
  readonly faults: number;
  /** Virtual ms from healing a majority until its new entry was acknowledged. */
  readonly recoveryMs: number;
  /** Linearizable reads served (each checked against the proposals acknowledged before it). */
  readonly reads: number;
  /** Syncs that hit a full disk, failed with EIO, or were slow (all zero without disk faults). */
  readonly diskFaults: { stalls: number; ioErrors: number; slowSyncs: number };
  /** Membership changes (config entries) applied by the node that applied the most. */
  readonly configEntries: number;
  /** A hash of the whole trace: equal for two runs of one seed, if the simulator is deterministic. */
  readonly traceFingerprint: string;
}

const tickMs = 10;

/** The replay command for one sweep run. */
export function sweepReplayCommand(options: {
  seed: number;
  nodes: number;
  chaosMs: number;
  raftOverrides?: SimRaftOptions | undefined;
  membershipChanges?: boolean | undefined;
  diskFaults?: boolean | undefined;
}): string {
  const overrides = options.raftOverrides ?? {};
  const raft = Object.keys(overrides).length === 0 ? '' : ` --raft '${JSON.stringify(overrides)}'`;
  const membership = options.membershipChanges === true ? ' --membership' : '';
  const disk = options.diskFaults === true ? ' --disk-faults' : '';
  return `pnpm --filter @distsync/raft sim --seed ${options.seed} --nodes ${options.nodes} --chaos-ms ${options.chaosMs}${raft}${membership}${disk}`;
}

function randomNetwork(random: Prng): NetworkOptions {
  const delayMsMax = random.int(1, 30);
  return {
    dropRate: random.pick([0, 0.01, 0.05, 0.1, 0.2]),
    duplicateRate: random.pick([0, 0, 0.02, 0.1]),
    delayMsMin: random.int(0, Math.min(5, delayMsMax)),
    delayMsMax,
    longDelayRate: random.pick([0, 0, 0.01, 0.03]),
    longDelayMsMax: random.int(delayMsMax, 600),
  };
}

/** Core settings vary per seed too, so that every code path (flow control, forwarding, no pre-vote) runs. */
function randomRaftOptions(random: Prng): SimRaftOptions {
  return {
    electionTicks: random.pick([5, 10, 10, 20]),
    heartbeatTicks: random.pick([1, 1, 2]),
    preVote: random.chance(0.8),
    checkQuorum: random.chance(0.8),
    forwardProposals: random.chance(0.2),
    maxEntriesPerMessage: random.pick([1, 4, 64, 256]),
    maxBytesPerMessage: random.pick([16, 1024, 1024 * 1024]),
    maxInflightMessages: random.pick([1, 2, 16, 256]),
    maxUncommittedEntries: random.pick([8, 10_000]),
    maxCommittedBytesPerReady: random.pick([8, 64 * 1024 * 1024]),
  };
}

function randomGroups(random: Prng, ids: readonly NodeId[]): NodeId[][] {
  const groupCount = random.int(2, Math.max(2, Math.min(3, ids.length)));
  const groups: NodeId[][] = Array.from({ length: groupCount }, () => []);
  for (const id of ids) random.pick(groups).push(id);
  return groups;
}

/** Schedules one random fault and the next one after it, until `endMs`. */
function scheduleFaults(init: {
  sim: Simulator;
  random: Prng;
  endMs: number;
  count: { faults: number };
  membership: boolean;
}): void {
  const { sim, random, endMs, count, membership } = init;
  const delay = random.int(20, 400);
  if (sim.now + delay >= endMs) return;
  sim.schedule(delay, 'fault', () => {
    count.faults++;
    if (membership && random.chance(0.2)) membershipFault(sim, random);
    else injectFault(sim, random, membership ? everyNodeId(sim) : sim.nodeIds);
    scheduleFaults(init);
  });
}

function injectFault(sim: Simulator, random: Prng, ids: readonly NodeId[]): void {
  const roll = random.next();
  if (roll < 0.15) sim.heal();
  else if (roll < 0.3) sim.partition(randomGroups(random, ids));
  else if (roll < 0.42) sim.cutOneWay(random.pick(ids), random.pick(ids));
  else if (roll < 0.5) sim.disconnect(random.pick(ids));
  else if (roll < 0.58) sim.connect(random.pick(ids));
  else if (roll < 0.74) {
    const alive = sim.allNodes.filter((node) => node.alive);
    if (alive.length === 0) return;
    // Leaders are crashed more often: that is where the interesting histories are.
    const leaders = alive.filter((node) => node.role === 'leader');
    const victim =
      leaders.length > 0 && random.chance(0.5) ? random.pick(leaders) : random.pick(alive);
    sim.crash(victim.id);
    const downtime = random.int(10, 1200);
    sim.schedule(downtime, `restart ${victim.id}`, () => {
      if (!sim.node(victim.id).alive) sim.restart(victim.id);
    });
  } else if (roll < 0.77) {
    const down = sim.allNodes.filter((node) => !node.alive);
    if (down.length > 0) sim.restart(random.pick(down).id);
  } else if (roll < 0.82) {
    const leader = sim.leaders()[0];
    if (leader !== undefined) sim.transferLeadership(leader.id, random.pick(ids));
  } else {
    sim.configureNetwork(randomNetwork(random));
  }
}

/** Proposes through `client` until one proposal is acknowledged or `boundMs` passed. */
function commitWithin(init: { sim: Simulator; client: SimClient; boundMs: number }): boolean {
  const { sim, client, boundMs } = init;
  const before = sim.acknowledgedCount;
  client.start();
  const committed = sim.runUntil(() => sim.acknowledgedCount > before, boundMs);
  client.stop();
  return committed;
}

function createSweepSimulator(init: {
  options: SweepRunOptions;
  random: Prng;
  chaosMs: number;
}): Simulator {
  const { options, random, chaosMs } = init;
  return new Simulator({
    seed: options.seed,
    nodes: options.nodes,
    factories: options.factories,
    tickMs,
    clockDriftMax: 0.05,
    network: randomNetwork(random),
    raft: { ...randomRaftOptions(random), ...options.raftOverrides },
    crashBeforeSyncRate: random.pick([0, 0.001, 0.005, 0.02]),
    tornWriteRate: random.pick([0, 0.5, 1]),
    crashDowntimeMs: random.int(10, 500),
    traceLinesOnFailure: options.traceLinesOnFailure ?? 50,
    replayCommand: sweepReplayCommand({
      seed: options.seed,
      nodes: options.nodes,
      chaosMs,
      raftOverrides: options.raftOverrides,
      membershipChanges: options.membershipChanges,
      diskFaults: options.diskFaults,
    }),
  });
}

/**
 * Schedules one random disk fault and the next one after it, until `endMs`, from the disk
 * faults' own PRNG stream: full disks (leaders more often), fsync EIO, slow fsyncs.
 */
function scheduleDiskFaults(init: { sim: Simulator; random: Prng; endMs: number }): void {
  const { sim, random, endMs } = init;
  const delay = random.int(50, 600);
  if (sim.now + delay >= endMs) return;
  sim.schedule(delay, 'disk fault', () => {
    injectDiskFault(sim, random);
    scheduleDiskFaults(init);
  });
}

function injectDiskFault(sim: Simulator, random: Prng): void {
  const alive = sim.allNodes.filter((node) => node.alive);
  if (alive.length === 0) return;
  const leaders = alive.filter((node) => node.role === 'leader');
  const victim =
    leaders.length > 0 && random.chance(0.5) ? random.pick(leaders) : random.pick(alive);
  const roll = random.next();
  if (roll < 0.55) sim.diskFull(victim.id, random.int(20, 1500));
  else if (roll < 0.75) sim.fsyncFailure(victim.id);
  else {
    sim.configureDisk({
      slowSyncRate: random.pick([0, 0.05, 0.2, 0.5]),
      slowSyncMsMax: random.int(1, 100),
    });
  }
}

/** Clients propose and read while faults strike; returns how many faults were injected. */
function chaosPhase(init: {
  sim: Simulator;
  random: Prng;
  chaosMs: number;
  membership: boolean;
}): number {
  const { sim, random, chaosMs, membership } = init;
  const count = { faults: 0 };
  const clients = Array.from(
    { length: random.int(1, 3) },
    (_, i) =>
      new SimClient({
        sim,
        random: random.fork(),
        options: { name: `c${i + 1}`, intervalMs: random.int(10, 80), readRate: 0.3 },
      }),
  );
  for (const client of clients) client.start();
  scheduleFaults({ sim, random, endMs: chaosMs, count, membership });
  sim.runFor(chaosMs);
  for (const client of clients) client.stop();
  return count.faults;
}

/**
 * Heals a random majority (the rest stays cut off, possibly down): it alone must commit a new
 * entry within `boundMs`. Returns the virtual time that took.
 */
function majorityPhase(init: {
  sim: Simulator;
  random: Prng;
  boundMs: number;
  membership: boolean;
  diskFaults: boolean;
}): number {
  const { sim, random, boundMs } = init;
  // Space is back, no fsync fails any more: held Readies go on at their next retry.
  if (init.diskFaults) sim.endDiskFaults();
  const majority = init.membership
    ? healableMajority(sim, random)
    : random.shuffle(sim.nodeIds).slice(0, Math.floor(sim.nodeIds.length / 2) + 1);
  sim.configureNetwork({ dropRate: 0, duplicateRate: 0, longDelayRate: 0 });
  sim.configureCrashes({ crashBeforeSyncRate: 0 });
  sim.partition([majority]);
  for (const id of majority) if (!sim.node(id).alive) sim.restart(id);
  const healedAt = sim.now;
  const probe = new SimClient({
    sim,
    random: random.fork(),
    options: { name: 'probe', intervalMs: 50 },
  });
  if (!commitWithin({ sim, client: probe, boundMs })) {
    const message = `healed majority [${majority.join(',')}] committed nothing within ${boundMs} ms`;
    throw sim.failure(new Error(message), 'LIVENESS');
  }
  return sim.now - healedAt;
}

/** Heals everything: a new entry commits, and every node converges on every acknowledged one. */
function convergencePhase(init: {
  sim: Simulator;
  random: Prng;
  boundMs: number;
  membership: boolean;
}): void {
  const { sim, random, boundMs } = init;
  sim.heal();
  for (const node of sim.allNodes) if (!node.alive) sim.restart(node.id);
  const final = new SimClient({
    sim,
    random: random.fork(),
    options: { name: 'final', intervalMs: 50 },
  });
  if (!commitWithin({ sim, client: final, boundMs })) {
    throw sim.failure(
      new Error(`healed cluster committed nothing within ${boundMs} ms`),
      'LIVENESS',
    );
  }
  // The target moves while late acknowledgements arrive; converged means every node applied
  // everything any node knows committed.
  // An acknowledged index counts too: its node may have crashed since and lost the (unsynced)
  // commit index that covered it, while the entry itself waits, durable on a majority, for the
  // next leader to commit it again.
  const highestCommit = (): number =>
    Math.max(sim.acknowledgedIndex, ...sim.allNodes.map((node) => node.commit));
  // With membership changes only the final members keep receiving the log; who they are is
  // read again at every check, since the last config entries may still be applying.
  const members = (): readonly NodeId[] => (init.membership ? finalMembers(sim) : sim.nodeIds);
  const caughtUp = (): boolean => {
    const ids = members();
    const nodes = sim.allNodes.filter((node) => ids.includes(node.id));
    return nodes.every((node) => node.applied.length >= highestCommit());
  };
  const converged = sim.runUntil(caughtUp, boundMs);
  if (!converged) {
    const message = `nodes did not all apply index ${highestCommit()} within ${boundMs} ms`;
    throw sim.failure(new Error(message), 'LIVENESS');
  }
  sim.verifyAcknowledged(members());
}

/** Runs one seed; throws a SimulationFailure on any violation or missed bound. */
export function runSweepSeed(options: SweepRunOptions): SweepRunResult {
  const chaosMs = options.chaosMs ?? 3000;
  const boundMs = options.commitBoundMs ?? 5000;
  const random = createPrng(options.seed ^ 0x5eed);
  const sim = createSweepSimulator({ options, random, chaosMs });
  const membership = options.membershipChanges ?? false;
  const diskFaults = options.diskFaults ?? false;
  if (diskFaults) {
    const diskRandom = createPrng((options.seed ^ 0xd15c) >>> 0);
    sim.configureDisk({
      slowSyncRate: diskRandom.pick([0, 0.02, 0.1]),
      slowSyncMsMax: diskRandom.int(1, 50),
    });
    scheduleDiskFaults({ sim, random: diskRandom, endMs: chaosMs });
  }
  const faults = chaosPhase({ sim, random, chaosMs, membership });
  const recoveryMs = majorityPhase({ sim, random, boundMs, membership, diskFaults });
  convergencePhase({ sim, random, boundMs, membership });
  return {
    seed: options.seed,
    nodes: options.nodes,
    events: sim.eventCount,
    virtualMs: sim.now,
    acknowledged: sim.acknowledgedCount,
    maxTerm: Math.max(...sim.allNodes.map((node) => node.term)),
    faults,
    recoveryMs,
    reads: sim.readCount,
    diskFaults: sim.diskFaultStats,
    configEntries: Math.max(
      ...sim.allNodes.map((node) => node.applied.filter((entry) => entry.type === 'config').length),
    ),
    traceFingerprint: sim.trace.fingerprint,
  };
}
