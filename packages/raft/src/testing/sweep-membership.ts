// The sweep's membership faults (opt-in with `membershipChanges`): fresh nodes join as learners,
// learners are promoted, members (the leader too) are removed, all while the other faults
// strike. The liveness phases then heal a set that holds a majority of every configuration any
// log has seen, since a pending config entry may still commit and change who must answer.
import type { Membership, NodeId } from '../messages.js';
import { decodeConfigEntry } from '../core/membership.js';
import type { Prng } from './prng.js';
import type { Simulator } from './simulator.js';

/** Joining nodes are named `j1`, `j2`, ...; at most this many join in one run. */
const maxJoined = 3;
/** The sweep never removes voters below this count, so the cluster keeps some redundancy. */
const minVoters = 2;

/** Every node id the simulator runs, joined ones included. */
export function everyNodeId(sim: Simulator): NodeId[] {
  return sim.allNodes.map((node) => node.id);
}

function currentLeader(sim: Simulator): NodeId | undefined {
  return sim.leaders().sort((a, b) => b.term - a.term)[0]?.id;
}

/** One random single-server change proposed at the current leader (refusals are fine). */
export function membershipFault(sim: Simulator, random: Prng): void {
  const leader = currentLeader(sim);
  if (leader === undefined) return;
  const { voters, learners } = sim.node(leader).membership;
  const joined = sim.allNodes.length - sim.nodeIds.length;
  const actions: (() => void)[] = [];
  if (joined < maxJoined) {
    actions.push(() => {
      const id = `j${joined + 1}`;
      sim.addNode(id);
      sim.proposeConfChange(leader, { type: 'add-learner', node: id });
    });
  }
  if (learners.length > 0) {
    actions.push(() => {
      sim.proposeConfChange(leader, { type: 'promote', node: random.pick(learners) });
    });
  }
  if (voters.length > minVoters || learners.length > 0) {
    actions.push(() => {
      const removable = voters.length > minVoters ? [...voters, ...learners] : learners;
      sim.proposeConfChange(leader, { type: 'remove', node: random.pick(removable) });
    });
  }
  if (actions.length > 0) random.pick(actions)();
}

/** Every configuration in any node's log, and the bootstrap one. */
function knownConfigs(sim: Simulator): Membership[] {
  const configs: Membership[] = [{ voters: [...sim.nodeIds], learners: [] }];
  for (const node of sim.allNodes) {
    for (const entry of node.log) {
      if (entry.type === 'config') configs.push(decodeConfigEntry(entry.data).membership);
    }
  }
  return configs;
}

function holdsMajority(set: ReadonlySet<NodeId>, config: Membership): boolean {
  const present = config.voters.filter((id) => set.has(id)).length;
  return present > config.voters.length / 2;
}

/**
 * The nodes to heal in the majority phase: every node but one random one, if that still holds a
 * majority of every known configuration; otherwise every node.
 */
export function healableMajority(sim: Simulator, random: Prng): NodeId[] {
  const ids = everyNodeId(sim);
  const left = random.pick(ids);
  const kept = new Set(ids.filter((id) => id !== left));
  return knownConfigs(sim).every((config) => holdsMajority(kept, config)) ? [...kept] : ids;
}

/** The members (voters and learners) in force on the node that applied the most. */
export function finalMembers(sim: Simulator): NodeId[] {
  const ahead = [...sim.allNodes].sort((a, b) => b.applied.length - a.applied.length)[0];
  if (ahead === undefined) return [...sim.nodeIds];
  const { voters, learners } = ahead.membership;
  return [...voters, ...learners];
}
