// Membership change in the deterministic simulator (issue 5): while a minority partition is
// active and a client keeps writing, a node is added (learner, then promoted), the partitioned
// minority node is removed, then the leader removes itself. The simulator checks after every
// event that no term has two leaders (and log matching, leader completeness, state machine
// safety); at the end no acknowledged write is lost and the removed nodes cannot disturb.
import { describe, expect, it } from 'vitest';
import type { ConfChange, NodeId } from '@distsync/raft';
import { Simulator, realFactories } from '@distsync/raft/testing';

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

/** The leader of the highest term among the nodes that are up, if any. */
function leaderOf(sim: Simulator): NodeId | undefined {
  return sim.leaders().sort((a, b) => b.term - a.term)[0]?.id;
}

/**
 * Proposes `change` at whichever node leads until the leader has applied it (a leader may be
 * replaced while the change commits: the next one carries it on or it is proposed again).
 */
function changeAndWait(sim: Simulator, change: ConfChange): void {
  let proposedAtMs = -Infinity;
  const applied = sim.runUntil(() => {
    const leader = leaderOf(sim);
    if (leader === undefined) return false;
    if (hasApplied(sim.node(leader).membership, change)) return true;
    // One attempt per 5 ms of virtual time keeps the trace readable.
    if (sim.now - proposedAtMs >= 5) {
      proposedAtMs = sim.now;
      sim.proposeConfChange(leader, change);
    }
    return false;
  }, 20_000);
  if (!applied) console.log(sim.trace.tail(60).join('\n'));
  expect(applied, `${change.type} ${change.node} applied`).toBe(true);
}

function hasApplied(
  membership: { voters: readonly NodeId[]; learners: readonly NodeId[] },
  change: ConfChange,
): boolean {
  switch (change.type) {
    case 'add-learner':
      return membership.learners.includes(change.node);
    case 'promote':
    case 'add-voter':
      return membership.voters.includes(change.node);
    case 'remove':
      return !membership.voters.includes(change.node) && !membership.learners.includes(change.node);
  }
}

/** A client that proposes a new value at the current leader every `everyMs`, forever. */
function startClient(sim: Simulator, everyMs: number): () => number {
  let sent = 0;
  const write = (): void => {
    const leader = leaderOf(sim);
    if (leader !== undefined) sim.propose(leader, `w${sent++}`);
    sim.schedule(everyMs, 'client write', write);
  };
  sim.schedule(everyMs, 'client write', write);
  return () => sent;
}

describe('membership change in the simulator', () => {
  it.each(SEEDS)(
    'seed %i: add a node, remove a partitioned node and the leader while clients write',
    (seed) => {
      const sim = new Simulator({
        seed,
        nodes: 3,
        factories: realFactories,
        network: { dropRate: 0.02, duplicateRate: 0.01 },
        // Odd seeds run without pre-vote and check-quorum, so nothing but the membership check
        // stands between the removed node's higher-term vote requests and the leader.
        raft: seed % 2 === 1 ? { preVote: false, checkQuorum: false } : {},
        // Seeds above 4 snapshot and compact, so the new node catches up from a snapshot and
        // the membership travels in snapshot metadata.
        ...(seed > 4 ? { snapshotEveryEntries: 40 } : {}),
      });
      expect(sim.runUntil(() => leaderOf(sim) !== undefined, 5000)).toBe(true);
      const first = leaderOf(sim)!;
      const [minority] = sim.nodeIds.filter((id) => id !== first);
      const majority = sim.nodeIds.filter((id) => id !== minority);
      startClient(sim, 15);
      sim.addNode('n4');
      sim.partition([[...majority, 'n4'], [minority!]]);
      // About 100 writes before n4 is added: with snapshots on, the log it needs is compacted.
      sim.runFor(1500);

      changeAndWait(sim, { type: 'add-learner', node: 'n4' });
      sim.runFor(300);
      changeAndWait(sim, { type: 'promote', node: 'n4' });
      changeAndWait(sim, { type: 'remove', node: minority! });
      const remover = leaderOf(sim)!;
      changeAndWait(sim, { type: 'remove', node: remover });
      // The leader led until its removal committed (and applied); it now hands over to a
      // remaining voter and steps down for good.
      const remaining = ['n1', 'n2', 'n3', 'n4'].filter((id) => id !== minority && id !== remover);
      expect(
        sim.runUntil(() => {
          const leader = leaderOf(sim);
          return leader !== undefined && remaining.includes(leader);
        }, 10_000),
      ).toBe(true);

      // The removed minority node never heard of its removal; once healed it campaigns, and the
      // remaining voters must ignore it: their leader keeps its term.
      const settled = leaderOf(sim)!;
      const term = sim.node(settled).term;
      const acknowledgedBefore = sim.acknowledgedCount;
      sim.heal();
      sim.configureNetwork({ dropRate: 0, duplicateRate: 0 });
      sim.runFor(3000);
      expect(leaderOf(sim)).toBe(settled);
      expect(sim.node(settled).term).toBe(term);
      expect(sim.leaders().map((node) => node.id)).toEqual([settled]);
      expect(sim.node(minority!).role).not.toBe('leader');
      expect(sim.node(remover).role).not.toBe('leader');
      expect(sim.node(settled).membership.voters.sort()).toEqual([...remaining].sort());
      // Writes kept being acknowledged through all of it, and none was lost on the survivors.
      expect(sim.acknowledgedCount).toBeGreaterThan(acknowledgedBefore);
      sim.verifyAcknowledged(remaining);
      if (seed > 4) expect(sim.node('n4').snapshotsInstalled).toBeGreaterThan(0);
    },
  );
});
