// Bad input never changes a node's state: malformed, misaddressed, foreign, stale or impossible
// messages are refused with a reason, options are validated at construction with messages that
// name the option, API misuse throws, and corrupt stored state refuses to start.
import { describe, expect, it } from 'vitest';
import { MemoryStorage, RaftCore, RaftError } from '@distsync/raft';
import type { RaftMessage, RaftStatus } from '@distsync/raft';
import { TestNetwork, createTestCore, drainMessages } from '@distsync/raft/testing';

/** A 3-node network where a leads term 1 and two entries are committed everywhere. */
function cluster(): TestNetwork {
  const network = new TestNetwork({ ids: ['a', 'b', 'c'] });
  network.campaign('a');
  network.propose('a', 'x');
  return network;
}

function append(fields: Partial<Record<string, unknown>> = {}): RaftMessage {
  return {
    type: 'AppendEntries',
    from: 'a',
    to: 'b',
    term: 1,
    prevLogIndex: 2,
    prevLogTerm: 1,
    entries: [],
    leaderCommit: 2,
    ...fields,
  };
}

/** Steps `message` into b and checks it was refused with `code` and changed nothing. */
function expectRefused(message: RaftMessage, code: string, node = 'b'): void {
  const network = cluster();
  const core = network.core(node);
  drainMessages(network.node(node));
  const before: RaftStatus = core.status();
  const result = core.step(message);
  expect(result).toMatchObject({ ok: false, code });
  expect(result.ok ? '' : result.reason).not.toBe('');
  expect(core.status()).toEqual(before);
  expect(core.hasReady()).toBe(false);
}

describe('messages that are refused without any state change', () => {
  it('refuses votes and answers from a node outside the membership', () => {
    // Leader messages (AppendEntries, Heartbeat, ...) from non-members are accepted, so a joining
    // node can follow a leader it does not know yet; everything else is refused.
    expectRefused(
      {
        type: 'RequestVote',
        from: 'z',
        to: 'b',
        term: 5,
        preVote: false,
        lastLogIndex: 9,
        lastLogTerm: 4,
        transfer: false,
      },
      'UNKNOWN_PEER',
    );
    expectRefused(
      { type: 'AppendEntriesResponse', from: 'z', to: 'b', term: 5, success: false, matchIndex: 0 },
      'UNKNOWN_PEER',
    );
  });

  it('refuses messages that claim to come from the node itself', () => {
    expectRefused(append({ from: 'b' }), 'UNKNOWN_PEER');
  });

  it('refuses messages addressed to another node', () => {
    expectRefused(append({ to: 'c' }), 'WRONG_RECIPIENT');
  });

  it.each([
    ['NaN term', { term: Number.NaN }],
    ['negative term', { term: -1 }],
    ['fractional term', { term: 1.5 }],
    ['term beyond MAX_SAFE_INTEGER', { term: Number.MAX_SAFE_INTEGER + 2 }],
    ['infinite term', { term: Number.POSITIVE_INFINITY }],
    ['NaN prevLogIndex', { prevLogIndex: Number.NaN }],
    ['negative prevLogTerm', { prevLogTerm: -3 }],
    ['unsafe leaderCommit', { leaderCommit: 2 ** 60 }],
    ['string term', { term: '1' }],
    [
      'entry with a negative index',
      { entries: [{ index: -1, term: 1, type: 'normal', data: new Uint8Array() }] },
    ],
    [
      'entry whose data is not bytes',
      { entries: [{ index: 3, term: 1, type: 'normal', data: 'x' }] },
    ],
    ['entries that are not an array', { entries: 'nope' }],
  ])('refuses an AppendEntries with a %s as ABSURD_VALUE', (_name, fields) => {
    expectRefused(append(fields), 'ABSURD_VALUE');
  });

  it.each([
    ['an empty forwarded proposal', { type: 'Propose', from: 'b', to: 'a', term: 1, entries: [] }],
    [
      'a read context that is not a string',
      { type: 'ReadIndex', from: 'b', to: 'a', term: 1, context: 7 },
    ],
    [
      'an oversized heartbeat read context',
      { type: 'HeartbeatResponse', from: 'b', to: 'a', term: 1, readContext: 'x'.repeat(300) },
    ],
    [
      'a snapshot without a membership',
      {
        type: 'InstallSnapshot',
        from: 'b',
        to: 'a',
        term: 1,
        lastIncludedIndex: 5,
        lastIncludedTerm: 1,
        membership: null,
        offset: 0,
        data: new Uint8Array(),
        done: true,
      },
    ],
  ])('refuses %s as ABSURD_VALUE', (_name, message) => {
    expectRefused(message as unknown as RaftMessage, 'ABSURD_VALUE', 'a');
  });

  it('refuses a message of an unknown type as ABSURD_VALUE', () => {
    expectRefused({ ...append(), type: 'Gossip' } as unknown as RaftMessage, 'ABSURD_VALUE');
  });

  it.each([
    [
      'a gap in the entries',
      { entries: [{ index: 4, term: 1, type: 'normal', data: new Uint8Array() }] },
    ],
    [
      'an entry from a later term than the message',
      { entries: [{ index: 3, term: 2, type: 'normal', data: new Uint8Array() }] },
    ],
    ['a prevLogTerm later than the message term', { prevLogTerm: 2 }],
  ])('refuses an AppendEntries with %s as INDEX_OUT_OF_RANGE', (_name, fields) => {
    expectRefused(append(fields), 'INDEX_OUT_OF_RANGE');
  });

  it('refuses a heartbeat whose commit index lies beyond the log as INDEX_OUT_OF_RANGE', () => {
    expectRefused(
      { type: 'Heartbeat', from: 'a', to: 'b', term: 1, leaderCommit: 99 },
      'INDEX_OUT_OF_RANGE',
    );
  });

  it('refuses an acknowledgement beyond the leader log, which would commit unwritten entries', () => {
    expectRefused(
      {
        type: 'AppendEntriesResponse',
        from: 'b',
        to: 'a',
        term: 1,
        success: true,
        matchIndex: 1000,
      },
      'INDEX_OUT_OF_RANGE',
      'a',
    );
  });

  it('refuses NaN and negative numbers in responses and vote requests', () => {
    expectRefused(
      {
        type: 'AppendEntriesResponse',
        from: 'b',
        to: 'a',
        term: 1,
        success: false,
        matchIndex: 0,
        rejectedIndex: Number.NaN,
      },
      'ABSURD_VALUE',
      'a',
    );
    expectRefused(
      {
        type: 'RequestVote',
        from: 'c',
        to: 'b',
        term: 5,
        preVote: false,
        lastLogIndex: -1,
        lastLogTerm: 1,
        transfer: false,
      },
      'ABSURD_VALUE',
    );
  });

  it('refuses a message from an older term as STALE_TERM and only tells the sender the term', () => {
    const network = cluster();
    const node = network.node('b');
    drainMessages(node);
    const before = node.core.status();
    const result = node.core.step(
      append({ term: 0, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0 }),
    );
    expect(result).toMatchObject({ ok: false, code: 'STALE_TERM' });
    expect(node.core.status()).toEqual(before);
    expect(drainMessages(node)).toEqual([
      { type: 'AppendEntriesResponse', from: 'b', to: 'a', term: 1, success: false, matchIndex: 0 },
    ]);
  });
});

describe('impossible but well-formed requests are answered as Raft says', () => {
  it('answers an AppendEntries far beyond the log with a normal rejection and hints', () => {
    const network = cluster();
    const node = network.node('b');
    drainMessages(node);
    const before = node.core.status();
    const far = Number.MAX_SAFE_INTEGER - 10;
    expect(node.core.step(append({ prevLogIndex: far, prevLogTerm: 1 }))).toEqual({ ok: true });
    expect(drainMessages(node)).toEqual([
      {
        type: 'AppendEntriesResponse',
        from: 'b',
        to: 'a',
        term: 1,
        success: false,
        matchIndex: 0,
        rejectedIndex: far,
        conflictIndex: 3,
      },
    ]);
    expect(node.core.status()).toEqual(before);
  });
});

describe('options', () => {
  const base = () => ({
    id: 'a',
    peers: ['a', 'b', 'c'],
    storage: new MemoryStorage(),
    random: () => 0.5,
  });

  it.each([
    [{ electionTicks: 3, heartbeatTicks: 3 }, 'electionTicks must be greater than heartbeatTicks'],
    [{ electionTicks: 0 }, 'electionTicks must be a positive integer'],
    [{ heartbeatTicks: 1.5 }, 'heartbeatTicks must be a positive integer'],
    [{ maxInflightMessages: 0 }, 'maxInflightMessages must be a positive integer'],
    [{ maxEntriesPerMessage: -1 }, 'maxEntriesPerMessage must be a positive integer'],
    [{ maxBytesPerMessage: Number.NaN }, 'maxBytesPerMessage must be a positive integer'],
    [{ maxUncommittedEntries: 0 }, 'maxUncommittedEntries must be a positive integer'],
    [{ id: '' }, 'id must be a node id'],
    [{ peers: ['a', 'a'] }, 'peers must be free of duplicates'],
    [{ random: 'nope' }, 'random must be a function'],
    [{ appliedIndex: 5 }, 'appliedIndex must be at most the stored commit index 0'],
  ])('rejects %j with a message naming the option', (override, message) => {
    const create = () =>
      new RaftCore({ ...base(), ...override } as ConstructorParameters<typeof RaftCore>[0]);
    expect(create).toThrow(RaftError);
    expect(create).toThrow(message);
    try {
      create();
    } catch (error) {
      expect((error as RaftError).code).toBe('INVALID_OPTION');
    }
  });
});

describe('API misuse and corrupt state', () => {
  it('throws INVALID_CALL for ready() twice without advance() and for a foreign Ready', () => {
    const network = cluster();
    const core = network.core('a');
    core.propose(new Uint8Array([1]));
    const ready = core.ready();
    expect(() => core.ready()).toThrow(expect.objectContaining({ code: 'INVALID_CALL' }));
    expect(() => {
      core.advance({ ...ready });
    }).toThrow(expect.objectContaining({ code: 'INVALID_CALL' }));
    core.advance(ready);
  });

  it('throws INVALID_ARGUMENT for proposals that are not bytes and empty read contexts', () => {
    const { core } = createTestCore({ id: 'a', peers: ['a'] });
    expect(() => core.propose('text' as unknown as Uint8Array)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => core.readIndex('')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => core.readIndex('x'.repeat(257))).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  it('refuses to start when the stored commit index lies beyond the stored log', () => {
    const storage = new MemoryStorage({ voters: ['a'], learners: [] });
    storage.setHardState({ term: 1, vote: null, commit: 5 });
    expect(() => new RaftCore({ id: 'a', peers: ['a'], storage, random: () => 0 })).toThrow(
      expect.objectContaining({ code: 'INVARIANT_VIOLATED' }),
    );
  });

  it('refuses to start when the stored term is not a safe integer', () => {
    const storage = new MemoryStorage({ voters: ['a'], learners: [] });
    storage.setHardState({ term: Number.NaN, vote: null, commit: 0 });
    expect(() => new RaftCore({ id: 'a', peers: ['a'], storage, random: () => 0 })).toThrow(
      expect.objectContaining({ code: 'INVARIANT_VIOLATED' }),
    );
  });
});
