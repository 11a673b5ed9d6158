// The in-memory network: asynchronous batched delivery, partitions, one-way cuts and healing.
import { describe, expect, it } from 'vitest';
import type { RaftMessage } from '@distsync/raft';
import { createMemoryNetwork } from '@distsync/raft/testing';

function heartbeat(from: string, to: string): RaftMessage {
  return { type: 'Heartbeat', from, to, term: 1, leaderCommit: 0 };
}

/** Resolves with what each node received once the network has flushed its batch. */
function flushed(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('createMemoryNetwork', () => {
  it('delivers asynchronously, in order, and honours partitions, cuts and heal', async () => {
    const network = createMemoryNetwork();
    const received: string[] = [];
    for (const id of ['a', 'b', 'c']) {
      network.transport(id).onMessage((message) => received.push(`${message.from}->${message.to}`));
    }
    network.transport('a').send([heartbeat('a', 'b'), heartbeat('a', 'c')]);
    expect(received).toEqual([]);
    await flushed();
    expect(received).toEqual(['a->b', 'a->c']);

    received.length = 0;
    network.partition(['a'], ['b', 'c']);
    network.cut('c', 'b');
    network.transport('a').send([heartbeat('a', 'b')]);
    network.transport('b').send([heartbeat('b', 'c')]);
    network.transport('c').send([heartbeat('c', 'b')]);
    await flushed();
    expect(received).toEqual(['b->c']);

    received.length = 0;
    network.heal();
    network.transport('c').send([heartbeat('c', 'b'), heartbeat('c', 'a')]);
    await flushed();
    expect(received).toEqual(['c->b', 'c->a']);
    expect(network.stats()).toMatchObject({ delivered: 5, dropped: 2 });
  });

  it('drops messages in flight when a node is isolated before delivery', async () => {
    const network = createMemoryNetwork();
    const received: RaftMessage[] = [];
    network.transport('b').onMessage((message) => received.push(message));
    network.transport('a').send([heartbeat('a', 'b')]);
    network.isolate('b');
    await flushed();
    expect(received).toEqual([]);
    expect(network.stats().dropped).toBe(1);
  });
});
