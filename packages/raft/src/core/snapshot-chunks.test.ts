// Chunked InstallSnapshot in the core: bounded chunks, one in flight per follower while
// heartbeats keep flowing, lost chunks resent, restarts from offset 0, and the size bound.
import { describe, expect, it } from 'vitest';
import { RaftCore, MemoryStorage, seededRandom } from '@distsync/raft';
import type { InstallSnapshot, RaftMessage } from '@distsync/raft';
import { TestNetwork, createTestCore } from '@distsync/raft/testing';

const membership = { voters: ['a', 'b', 'c'], learners: [] };
/** 1000 bytes that differ from position to position, so a misplaced chunk would show. */
const state = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) % 251);

function recordDeliveries(network: TestNetwork): RaftMessage[] {
  const delivered: RaftMessage[] = [];
  network.observer = ({ message, dropped }) => {
    if (!dropped) delivered.push(message);
  };
  return delivered;
}

/** Leader `a` with a log compacted past everything `c` holds; `c` is still cut off. */
function compactedNetwork(chunkBytes = 100): { network: TestNetwork; snapshotIndex: number } {
  const network = new TestNetwork({
    ids: ['a', 'b', 'c'],
    options: { electionTicks: 10, maxSnapshotChunkBytes: chunkBytes },
  });
  network.campaign('a');
  network.isolate('c');
  for (let i = 0; i < 5; i++) network.propose('a', `entry-${i}`);
  const leader = network.node('a');
  const snapshotIndex = leader.core.status().commitIndex;
  leader.storage.createSnapshot({ index: snapshotIndex, data: state });
  leader.storage.compact(snapshotIndex);
  return { network, snapshotIndex };
}

function chunksTo(messages: readonly RaftMessage[], to: string): InstallSnapshot[] {
  return messages.filter(
    (message): message is InstallSnapshot =>
      message.type === 'InstallSnapshot' && message.to === to,
  );
}

function chunk(fields: Partial<InstallSnapshot>): InstallSnapshot {
  return {
    type: 'InstallSnapshot',
    from: 'a',
    to: 'b',
    term: 3,
    lastIncludedIndex: 40,
    lastIncludedTerm: 2,
    membership,
    offset: 0,
    data: new Uint8Array(100),
    done: false,
    ...fields,
  };
}

describe('chunked InstallSnapshot: leader side', () => {
  it('sends the snapshot in chunks of at most maxSnapshotChunkBytes, in order, the last one done', () => {
    const { network, snapshotIndex } = compactedNetwork(128);
    const delivered = recordDeliveries(network);
    network.recover();
    network.tick('a', 2);
    const chunks = chunksTo(delivered, 'c');
    expect(chunks.map((message) => message.offset)).toEqual([0, 128, 256, 384, 512, 640, 768, 896]);
    expect(chunks.every((message) => message.data.byteLength <= 128)).toBe(true);
    expect(chunks.map((message) => message.done)).toEqual([...Array<boolean>(7).fill(false), true]);
    const follower = network.node('c');
    expect(follower.storage.snapshot().metadata.index).toBe(snapshotIndex);
    expect(follower.storage.snapshot().data).toEqual(state);
    network.propose('a', 'after');
    expect(follower.core.status().commitIndex).toBe(snapshotIndex + 1);
  });

  it('keeps one chunk in flight per follower while heartbeats go out every heartbeat tick', () => {
    const { network } = compactedNetwork();
    const delivered = recordDeliveries(network);
    network.recover();
    network.ignore('InstallSnapshotResponse');
    network.tick('a', 1);
    const sentBefore = chunksTo(delivered, 'c').length;
    expect(sentBefore).toBe(1);
    const heartbeatsBefore = delivered.filter((m) => m.type === 'Heartbeat' && m.to === 'c').length;
    network.tick('a', 3);
    // No answer came back, so no second chunk went out, but a heartbeat did on every tick.
    expect(chunksTo(delivered, 'c')).toHaveLength(1);
    const heartbeats = delivered.filter((m) => m.type === 'Heartbeat' && m.to === 'c').length;
    expect(heartbeats - heartbeatsBefore).toBe(3);
    const progress = network
      .core('a')
      .status()
      .progress?.find((p) => p.id === 'c');
    expect(progress?.state).toBe('snapshot');
  });

  it('resends a chunk whose answer was lost from the same offset, and the follower skips what it holds', () => {
    const { network, snapshotIndex } = compactedNetwork();
    const delivered = recordDeliveries(network);
    network.recover();
    network.ignore('InstallSnapshotResponse');
    network.tick('a', 1);
    network.recover();
    network.tick('a', 5);
    const offsets = chunksTo(delivered, 'c').map((message) => message.offset);
    // Chunk 0 went twice (its answer was lost); the follower then asked for 100 and on.
    expect(offsets).toEqual([0, 0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
    expect(network.node('c').storage.snapshot().metadata.index).toBe(snapshotIndex);
    expect(network.node('c').storage.snapshot().data).toEqual(state);
  });

  it('restarts from offset 0 when the follower reports a mismatch', () => {
    const { network, snapshotIndex } = compactedNetwork();
    const delivered = recordDeliveries(network);
    network.recover();
    network.ignore('InstallSnapshotResponse');
    network.tick('a', 1);
    network.recover();
    const term = network.core('a').status().term;
    network.send({
      type: 'InstallSnapshotResponse',
      from: 'c',
      to: 'a',
      term,
      lastIncludedIndex: snapshotIndex,
      nextOffset: 0,
      success: false,
    });
    expect(
      network
        .core('a')
        .status()
        .progress?.find((p) => p.id === 'c')?.state,
    ).toBe('probe');
    network.tick('a', 1);
    const offsets = chunksTo(delivered, 'c').map((message) => message.offset);
    expect(offsets.slice(0, 3)).toEqual([0, 0, 100]);
    expect(network.node('c').storage.snapshot().data).toEqual(state);
  });
});

describe('chunked InstallSnapshot: a newer snapshot', () => {
  it('moves on to the latest snapshot once the follower holds all the one in flight covers', () => {
    const { network, snapshotIndex } = compactedNetwork();
    const delivered = recordDeliveries(network);
    network.recover();
    network.ignore('InstallSnapshot');
    network.tick('a', 1);
    // Meanwhile the log moves on and is compacted again.
    for (let i = 0; i < 3; i++) network.propose('a', `more-${i}`);
    const leader = network.node('a');
    const newer = leader.core.status().commitIndex;
    leader.storage.createSnapshot({ index: newer, data: state });
    leader.storage.compact(newer);
    network.recover();
    // The follower reports it holds everything up to the first snapshot (as it does when it
    // caught up while the chunks were in flight).
    const term = leader.core.status().term;
    network.send({
      type: 'AppendEntriesResponse',
      from: 'c',
      to: 'a',
      term,
      success: true,
      matchIndex: snapshotIndex,
    });
    const sent = chunksTo(delivered, 'c');
    expect(sent.at(-1)?.lastIncludedIndex).toBe(newer);
    expect(network.node('c').storage.snapshot().metadata.index).toBe(newer);
  });
});

describe('chunked InstallSnapshot: follower side', () => {
  function responses(node: { core: RaftCore }): RaftMessage[] {
    const ready = node.core.ready();
    node.core.advance(ready);
    return [...ready.messages];
  }

  it('answers each chunk with the next offset and hands the snapshot out only when done', () => {
    const node = createTestCore({ id: 'b', peers: ['a', 'b', 'c'] });
    node.core.step(chunk({ offset: 0, data: state.subarray(0, 400) }));
    let ready = node.core.ready();
    expect(ready.snapshot).toBeUndefined();
    expect(ready.messages).toMatchObject([{ nextOffset: 400, success: true }]);
    node.core.advance(ready);
    node.core.step(chunk({ offset: 400, data: state.subarray(400), done: true }));
    ready = node.core.ready();
    expect(ready.snapshot?.metadata.index).toBe(40);
    expect(ready.snapshot?.data).toEqual(state);
    expect(ready.messages).toMatchObject([{ nextOffset: 1000, success: true }]);
  });

  it('refuses a chunk that skips ahead and drops what it assembled, so the leader starts over', () => {
    const node = createTestCore({ id: 'b', peers: ['a', 'b', 'c'] });
    node.core.step(chunk({ offset: 0 }));
    responses(node);
    node.core.step(chunk({ offset: 300 }));
    expect(responses(node)).toMatchObject([{ nextOffset: 0, success: false }]);
    // What was held is gone: even the chunk that would have been next is refused now.
    node.core.step(chunk({ offset: 100 }));
    expect(responses(node)).toMatchObject([{ nextOffset: 0, success: false }]);
  });

  it('starts over when a different snapshot begins, and never mixes the two', () => {
    const node = createTestCore({ id: 'b', peers: ['a', 'b', 'c'] });
    node.core.step(chunk({ offset: 0, data: new Uint8Array(100).fill(1) }));
    responses(node);
    const newer = { lastIncludedIndex: 50 };
    node.core.step(chunk({ ...newer, offset: 0, data: new Uint8Array(100).fill(2) }));
    responses(node);
    node.core.step(chunk({ ...newer, offset: 100, data: new Uint8Array(100).fill(3), done: true }));
    const ready = node.core.ready();
    expect(ready.snapshot?.metadata.index).toBe(50);
    expect(ready.snapshot?.data).toEqual(
      Uint8Array.from([...Array<number>(100).fill(2), ...Array<number>(100).fill(3)]),
    );
  });

  it('refuses a snapshot larger than maxSnapshotBytes, and every later chunk of it at once', () => {
    const node = createTestCore({
      id: 'b',
      peers: ['a', 'b', 'c'],
      overrides: { maxSnapshotBytes: 150 },
    });
    node.core.step(chunk({ offset: 0 }));
    expect(responses(node)).toMatchObject([{ nextOffset: 100, success: true }]);
    node.core.step(chunk({ offset: 100, done: true }));
    expect(responses(node)).toMatchObject([{ success: false }]);
    node.core.step(chunk({ offset: 0 }));
    expect(responses(node)).toMatchObject([{ success: false }]);
    expect(node.core.hasReady()).toBe(false);
    expect(node.core.status().commitIndex).toBe(0);
  });

  it('answers a snapshot it already covers with a successful append at its commit index', () => {
    const network = new TestNetwork({ ids: ['a', 'b', 'c'] });
    network.campaign('a');
    network.propose('a', 'x');
    const follower = network.node('b');
    const commit = follower.core.status().commitIndex;
    follower.core.step(chunk({ term: network.core('a').status().term, lastIncludedIndex: commit }));
    expect(responses(follower)).toMatchObject([
      { type: 'AppendEntriesResponse', success: true, matchIndex: commit },
    ]);
  });
});

describe('chunked InstallSnapshot options', () => {
  it('refuses chunk and snapshot bounds that are not positive integers, naming the option', () => {
    const base = { id: 'a', peers: ['a'], storage: new MemoryStorage(), random: seededRandom(1) };
    expect(() => new RaftCore({ ...base, maxSnapshotChunkBytes: 0 })).toThrow(
      /maxSnapshotChunkBytes must be a positive integer/,
    );
    expect(() => new RaftCore({ ...base, maxSnapshotBytes: -1 })).toThrow(
      /maxSnapshotBytes must be a positive integer/,
    );
  });
});
