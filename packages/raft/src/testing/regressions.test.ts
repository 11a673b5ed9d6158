// Regression tests for core bugs the simulator found (/work/notes/core-bugs.md), each replayed as
// a small deterministic scenario in the simulator.
import { describe, expect, it } from 'vitest';
import { Simulator, realFactories } from '@distsync/raft/testing';

describe('core bugs found by the simulator', () => {
  it('bug 1: a follower whose ack was lost while its one inflight slot was taken catches up', () => {
    const sim = new Simulator({
      seed: 1,
      nodes: 3,
      factories: realFactories,
      raft: { electionTicks: 10, heartbeatTicks: 1, maxInflightMessages: 1 },
    });
    expect(sim.runUntil(() => sim.leaders().length === 1, 5000)).toBe(true);
    const leader = sim.leaders()[0]!.id;
    const follower = sim.nodeIds.find((id) => id !== leader)!;
    sim.propose(leader, 'first');
    sim.runFor(100);
    // The follower's answer to the next AppendEntries is lost; the leader's only slot stays taken.
    sim.cutOneWay(follower, leader);
    sim.propose(leader, 'second');
    sim.runFor(20);
    sim.heal();
    sim.propose(leader, 'third');
    const caughtUp = sim.runUntil(
      () => sim.node(follower).applied.length >= sim.node(leader).commit,
      5000,
    );
    expect(caughtUp).toBe(true);
    expect(sim.appliedPayload(follower, sim.node(leader).commit)).toBe('third');
  });
});
