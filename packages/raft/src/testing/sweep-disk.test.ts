// Disk faults in the simulator: full disks stall a node's host loop (its Ready held, nothing sent
// or applied until space is back, while its core keeps ticking), fsync EIO stops a node until it
// restarts from its durable state, slow fsyncs delay a Ready. A sweep mixes them with every other
// fault kind (and, for some seeds, membership changes); focused scenarios check the stories the
// issue tells; a deliberately wrong host proves the checkers catch a Ready sent before its sync.
import { describe, expect, it } from 'vitest';
import {
  SimClient,
  SimulationFailure,
  Simulator,
  createPrng,
  realFactories,
  runSweepSeed,
} from '@distsync/raft/testing';
import type { SimulatorOptions, SweepRunResult } from '@distsync/raft/testing';

const seedsPerSize = 150;
const commitBoundMs = 5000;

describe('deterministic sweep with disk faults', () => {
  for (const [offset, nodes] of [1, 3, 5, 7].entries()) {
    it(`${seedsPerSize} seeds on ${nodes} node(s), a quarter with membership changes: no violation, and the cluster recovers`, () => {
      const results: SweepRunResult[] = [];
      const first = 70_001 + offset * seedsPerSize;
      for (let seed = first; seed < first + seedsPerSize; seed++) {
        results.push(
          runSweepSeed({
            seed,
            nodes,
            factories: realFactories,
            commitBoundMs,
            diskFaults: true,
            membershipChanges: seed % 4 === 0,
          }),
        );
      }
      const acknowledged = results.reduce((sum, result) => sum + result.acknowledged, 0);
      expect(acknowledged).toBeGreaterThan(seedsPerSize * 10);
      for (const result of results) expect(result.recoveryMs).toBeLessThanOrEqual(commitBoundMs);
      // Every disk fault kind really struck, in many runs.
      const struck = (kind: 'stalls' | 'ioErrors' | 'slowSyncs'): number =>
        results.filter((result) => result.diskFaults[kind] > 0).length;
      expect(struck('stalls')).toBeGreaterThan(seedsPerSize / 3);
      expect(struck('ioErrors')).toBeGreaterThan(seedsPerSize / 5);
      expect(struck('slowSyncs')).toBeGreaterThan(seedsPerSize / 5);
    }, 120_000);
  }

  it('a seed with disk faults replays identically, and its replay command names them', () => {
    const run = (): SweepRunResult =>
      runSweepSeed({ seed: 777, nodes: 5, factories: realFactories, diskFaults: true });
    const first = run();
    expect(run()).toEqual(first);
    expect(first.diskFaults.stalls + first.diskFaults.ioErrors).toBeGreaterThan(0);
    const plain = runSweepSeed({ seed: 777, nodes: 5, factories: realFactories });
    expect(plain.traceFingerprint).not.toBe(first.traceFingerprint);
    expect(plain.diskFaults).toEqual({ stalls: 0, ioErrors: 0, slowSyncs: 0 });
  }, 30_000);
});

function cluster(overrides: Partial<SimulatorOptions> = {}): Simulator {
  return new Simulator({
    seed: 11,
    nodes: 5,
    factories: realFactories,
    network: { delayMsMin: 1, delayMsMax: 5, longDelayMsMax: 5 },
    raft: { electionTicks: 10, heartbeatTicks: 1, preVote: true, checkQuorum: true },
    ...overrides,
  });
}

function writer(sim: Simulator, name = 'c1'): SimClient {
  const client = new SimClient({
    sim,
    random: createPrng(5),
    options: { name, intervalMs: 20, ackTimeoutMs: 200 },
  });
  client.start();
  return client;
}

function leaderOf(sim: Simulator): string {
  expect(sim.runUntil(() => sim.leaders().length === 1, 2000)).toBe(true);
  return sim.leaders()[0]!.id;
}

/** Every node applied every index any node committed (and every acknowledged one). */
function converge(sim: Simulator): void {
  const target = (): number =>
    Math.max(sim.acknowledgedIndex, ...sim.allNodes.map((node) => node.commit));
  const done = (): boolean => sim.allNodes.every((node) => node.applied.length >= target());
  expect(sim.runUntil(done, 5000)).toBe(true);
  sim.verifyAcknowledged();
}

describe('disk full', () => {
  it("the leader's disk fills while clients write: another leader takes over, nothing acknowledged is lost, the stalled node rejoins", () => {
    const sim = cluster();
    const client = writer(sim);
    const stalled = leaderOf(sim);
    sim.runFor(300);
    const acknowledgedBefore = sim.acknowledgedCount;
    expect(acknowledgedBefore).toBeGreaterThan(3);
    sim.diskFull(stalled, 3000);
    // Its next sync fails: the Ready is held, and nothing of it goes out.
    expect(sim.runUntil(() => sim.node(stalled).stalled, 200)).toBe(true);
    const newLeader = (): boolean =>
      sim.allNodes.some((node) => node.id !== stalled && node.role === 'leader');
    expect(sim.runUntil(newLeader, 2000)).toBe(true);
    sim.runFor(500);
    expect(sim.node(stalled).stalled).toBe(true);
    expect(sim.acknowledgedCount).toBeGreaterThan(acknowledgedBefore);
    // Space comes back: the held Ready goes on, the node follows the new leader and catches up.
    expect(sim.runUntil(() => !sim.node(stalled).stalled, 3000)).toBe(true);
    expect(sim.diskFaultStats.stalls).toBeGreaterThan(0);
    client.stop();
    converge(sim);
  });

  it('a crash during a stall loses the held writes, and the node recovers from its durable state', () => {
    const sim = cluster({ nodes: 3 });
    const client = writer(sim);
    const leader = leaderOf(sim);
    const follower = sim.nodeIds.find((id) => id !== leader)!;
    sim.runFor(200);
    sim.diskFull(follower, 5000);
    expect(sim.runUntil(() => sim.node(follower).stalled, 500)).toBe(true);
    const node = sim.node(follower);
    expect(node.unsyncedWriteCount).toBeGreaterThan(0);
    const durableBefore = node.durableState.entries.length;
    expect(node.log.length).toBeGreaterThan(durableBefore);
    sim.crash(follower);
    expect(node.durableState.entries.length).toBe(durableBefore);
    sim.endDiskFaults();
    sim.restart(follower);
    sim.runFor(300);
    client.stop();
    converge(sim);
  });
});

describe('fsync EIO', () => {
  it('the node stops at once, restarts from its durable state, and nothing acknowledged is lost', () => {
    const sim = cluster({ ioErrorDowntimeMs: 400 });
    const client = writer(sim);
    const victim = leaderOf(sim);
    sim.runFor(300);
    sim.fsyncFailure(victim);
    expect(sim.runUntil(() => !sim.node(victim).alive, 500)).toBe(true);
    expect(sim.diskFaultStats.ioErrors).toBe(1);
    const incarnation = sim.node(victim).incarnation;
    const acknowledged = sim.acknowledgedCount;
    // The others go on without it...
    expect(sim.runUntil(() => sim.acknowledgedCount > acknowledged + 3, 2000)).toBe(true);
    // ...and it comes back by itself, as an operator would restart it.
    expect(sim.runUntil(() => sim.node(victim).alive, 1000)).toBe(true);
    expect(sim.node(victim).incarnation).toBe(incarnation);
    sim.runFor(500);
    client.stop();
    converge(sim);
  });
});

describe('slow fsync', () => {
  it('every sync slow: the cluster still commits, and every node converges', () => {
    const sim = cluster({ slowSyncRate: 1, slowSyncMsMax: 30 });
    const client = writer(sim);
    leaderOf(sim);
    sim.runFor(1500);
    client.stop();
    expect(sim.acknowledgedCount).toBeGreaterThan(10);
    expect(sim.diskFaultStats.slowSyncs).toBeGreaterThan(20);
    sim.configureDisk({ slowSyncRate: 0 });
    converge(sim);
  });
});

describe('negative control: a host that sends a held Ready before its sync', () => {
  function followerDiskFull(faulty: boolean): Simulator {
    const sim = cluster({ nodes: 3, ...(faulty ? { faultyHost: 'send-before-sync' } : {}) });
    const client = writer(sim);
    const leader = leaderOf(sim);
    sim.runFor(200);
    sim.diskFull(
      sim.nodeIds.find((id) => id !== leader)!,
      500,
    );
    sim.runFor(1000);
    client.stop();
    return sim;
  }

  it('the correct host passes this scenario', () => {
    const sim = followerDiskFull(false);
    converge(sim);
  });

  it('the wrong host trips the checker (an acknowledgment before the entry was durable)', () => {
    let failure: unknown;
    try {
      followerDiskFull(true);
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(SimulationFailure);
    const simulationFailure = failure as SimulationFailure;
    expect(simulationFailure.code).toBe('INVARIANT_VIOLATED');
    expect(simulationFailure.message).toMatch(/READY_CONTRACT.*before it was durable/);
  });
});

describe('negative control without the host check: the safety invariants alone catch it', () => {
  // Both followers' disks fill; a wrong host acknowledges their held entries anyway, so the leader
  // commits them. The followers crash (losing those writes), the leader is cut off, and the
  // followers elect a leader without the committed entries.
  function lostAcknowledgment(faulty: boolean): Simulator {
    const sim = cluster({
      nodes: 3,
      ...(faulty ? { faultyHost: 'send-before-sync-unchecked' } : {}),
    });
    const leader = leaderOf(sim);
    const followers = sim.nodeIds.filter((id) => id !== leader);
    for (const id of followers) sim.diskFull(id, 60_000);
    const client = writer(sim);
    sim.runFor(300);
    client.stop();
    for (const id of followers) sim.crash(id);
    sim.disconnect(leader);
    sim.endDiskFaults();
    for (const id of followers) sim.restart(id);
    const elected = (): boolean =>
      sim.allNodes.some((node) => node.id !== leader && node.role === 'leader');
    expect(sim.runUntil(elected, 3000)).toBe(true);
    return sim;
  }

  it('the correct host: the leader commits nothing the crashes could lose', () => {
    const sim = lostAcknowledgment(false);
    sim.heal();
    converge(sim);
  });

  it('the wrong host: an entry committed on false acknowledgments is missing from a later leader', () => {
    let failure: unknown;
    try {
      lostAcknowledgment(true);
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(SimulationFailure);
    const simulationFailure = failure as SimulationFailure;
    expect(simulationFailure.code).toBe('INVARIANT_VIOLATED');
    expect(simulationFailure.message).toMatch(
      /LEADER_COMPLETENESS|STATE_MACHINE_SAFETY|ACKNOWLEDGED_LOST/,
    );
    expect(simulationFailure.message).not.toMatch(/READY_CONTRACT/);
  });
});
