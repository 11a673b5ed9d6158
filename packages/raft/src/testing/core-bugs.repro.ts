// Reproductions of core bugs the simulator found, kept out of the test suite until they are
// fixed (see /work/notes/core-bugs.md). Run: pnpm exec tsx --conditions @distsync/source src/testing/core-bugs.repro.ts
// Each prints PASS once the core is fixed, FAIL while the bug is present.
import { Simulator } from './simulator.js';
import { realFactories } from './real-factories.js';

/** Bug 1: a lost AppendEntriesResponse with full inflights stalls a follower forever. */
function lostResponseWithFullInflights(): boolean {
  const sim = new Simulator({
    seed: 1,
    nodes: 3,
    factories: realFactories,
    raft: { electionTicks: 10, heartbeatTicks: 1, maxInflightMessages: 1 },
  });
  sim.runUntil(() => sim.leaders().length === 1, 5000);
  const leader = sim.leaders()[0]!.id;
  const follower = sim.nodeIds.find((id) => id !== leader)!;
  sim.propose(leader, 'first');
  sim.runFor(100);
  // The follower's answer to the next AppendEntries is lost: the leader's only inflight slot
  // for it stays taken.
  sim.cutOneWay(follower, leader);
  sim.propose(leader, 'second');
  sim.runFor(20);
  sim.heal();
  sim.propose(leader, 'third');
  const caughtUp = sim.runUntil(
    () => sim.node(follower).applied.length >= sim.node(leader).commit,
    5000,
  );
  process.stdout.write(
    `bug 1 (lost response, full inflights): ${caughtUp ? 'PASS' : 'FAIL'}: follower ${follower} applied ${sim.node(follower).applied.length}, leader ${leader} commit ${sim.node(leader).commit}\n`,
  );
  return caughtUp;
}

const results = [lostResponseWithFullInflights()];
process.exitCode = results.every(Boolean) ? 0 : 1;
