// RaftNode membership change end to end over the in-memory network with real 10 ms ticks: a
// three-node cluster grows to four (the new node joins as a learner, catches up and is
// promoted), the leader removes itself and a new leader keeps committing; graceful stop hands
// the lead over. Every wait is on a promise or an event, never on a sleep.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MemoryStorage, RaftNode } from '@distsync/raft';
import type { Membership, NodeId, StateMachine } from '@distsync/raft';
import { createMemoryCluster } from '@distsync/raft/testing';
import type { MemoryCluster } from '@distsync/raft/testing';

const AddCommand = z.object({ by: z.number().int() });

class Counter implements StateMachine<z.infer<typeof AddCommand>, unknown, number> {
  readonly name = 'counter';
  readonly commandSchema = AddCommand;
  readonly querySchema = z.unknown();
  value = 0;
  apply(command: z.infer<typeof AddCommand>): number {
    this.value += command.by;
    return this.value;
  }
  query(): number {
    return this.value;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(String(this.value));
  }
  restore(bytes: Uint8Array): void {
    this.value = Number(new TextDecoder().decode(bytes));
  }
}

let cluster: MemoryCluster | undefined;
const extra: RaftNode[] = [];

afterEach(async () => {
  await cluster?.stop();
  await Promise.all(extra.map((node) => node.stop()));
  cluster = undefined;
  extra.length = 0;
});

/** A node that knows no cluster yet: it waits to be added by the leader. */
function joiningNode(
  id: NodeId,
  seen: Membership[],
  storage: MemoryStorage = new MemoryStorage(),
): { node: RaftNode; counter: Counter } {
  const counter = new Counter();
  const node = new RaftNode({
    id,
    peers: [],
    storage,
    transport: cluster!.network.transport(id),
    stateMachines: [counter],
    tickIntervalMs: 10,
    seed: 99,
    onMembershipChange: (membership) => seen.push(membership),
  });
  node.start();
  extra.push(node);
  return { node, counter };
}

async function addUntilOk(node: RaftNode, total: number): Promise<void> {
  for (let i = 0; i < total; i++) {
    const result = await node.command('counter', { by: 1 });
    expect(result).toMatchObject({ ok: true });
  }
}

describe('RaftNode membership change', () => {
  it('grows 3 -> 4 with a learner that catches up and is promoted, then removes the leader', async () => {
    const counters = new Map<NodeId, Counter>();
    cluster = createMemoryCluster({
      stateMachines: (id) => {
        const counter = new Counter();
        counters.set(id, counter);
        return [counter];
      },
    });
    const leader = await cluster.waitForLeader();
    await addUntilOk(leader, 20);

    const seen: Membership[] = [];
    const n4Storage = new MemoryStorage();
    const { node: n4, counter: c4 } = joiningNode('n4', seen, n4Storage);
    const added = await leader.changeMembership({ type: 'add-voter', node: 'n4' });
    expect(added).toMatchObject({
      ok: true,
      membership: { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] },
    });
    // The learner caught up before its promotion: it holds every counter increment.
    await addUntilOk(leader, 1);
    await waitFor(() => c4.value === 21);
    expect(seen[0]).toEqual({ voters: ['n1', 'n2', 'n3'], learners: ['n4'] });
    expect(n4.status().membership.voters).toContain('n4');

    // A restart rebuilds the membership from the log (no bootstrap peers, no snapshot).
    await n4.stop();
    const restarted = joiningNode('n4', [], n4Storage);
    await waitFor(() => restarted.counter.value === 21);
    expect(restarted.node.status().membership.voters).toEqual(['n1', 'n2', 'n3', 'n4']);

    const removed = await leader.changeMembership({ type: 'remove', node: leader.id });
    expect(removed).toMatchObject({ ok: true });
    const all = [...cluster.nodes, restarted.node];
    const next = await waitForLeaderAmong(all, leader.id);
    expect(next.status().membership.voters).not.toContain(leader.id);
    expect(leader.status().role).not.toBe('leader');
    await addUntilOk(next, 5);
    for (const node of all) {
      if (node.id === leader.id) continue;
      await waitFor(
        () => (node.id === 'n4' ? restarted.counter : counters.get(node.id))!.value === 26,
      );
    }
  });

  it('refuses nonsense and follower calls with codes, and stop({ transferLeadership }) hands over', async () => {
    cluster = createMemoryCluster({ stateMachines: () => [new Counter()] });
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((node) => node !== leader)!;
    await waitFor(() => follower.status().leaderId === leader.id);
    expect(await follower.changeMembership({ type: 'remove', node: 'n1' })).toMatchObject({
      ok: false,
      code: 'NOT_LEADER',
      leaderHint: leader.id,
    });
    expect(await leader.changeMembership({ type: 'promote', node: 'zz' })).toMatchObject({
      ok: false,
      code: 'INVALID_CHANGE',
    });
    await addUntilOk(leader, 3);
    await leader.stop({ transferLeadership: true });
    // The new leader was elected through the transfer, before any election timeout elapsed.
    const next = await waitForLeaderAmong(cluster.nodes, leader.id);
    expect(next.id).not.toBe(leader.id);
    await addUntilOk(next, 1);
  });
});

/** Resolves once `check` holds, checked on every role change and commit of any node. */
async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function waitForLeaderAmong(nodes: readonly RaftNode[], exclude: NodeId): Promise<RaftNode> {
  let found: RaftNode | undefined;
  await waitFor(() => {
    found = nodes.find(
      (node) =>
        node.id !== exclude && node.status().state === 'running' && node.role.type === 'leader',
    );
    return found !== undefined;
  });
  return found!;
}
