// The Raft paper's rules, ported from etcd-io/raft `raft_paper_test.go`. Each test names the
// section it checks. Pre-vote and check-quorum are off here: the paper describes plain Raft.
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '@distsync/raft';
import type {
  AppendEntries,
  AppendEntriesResponse,
  Entry,
  HardState,
  NodeId,
  RaftCore,
  RaftMessage,
} from '@distsync/raft';
import {
  TestNetwork,
  applyReady,
  createTestCore,
  drainMessages,
  entriesWithTerms,
} from '@distsync/raft/testing';

interface Node {
  core: RaftCore;
  storage: MemoryStorage;
}

const plain = { preVote: false, checkQuorum: false };
const encode = (text: string): Uint8Array => new TextEncoder().encode(text);

function ids(size: number): NodeId[] {
  return Array.from({ length: size }, (_, i) => `n${i + 1}`);
}

function newNode(
  peers: readonly NodeId[],
  setup: { entries?: Entry[]; hardState?: HardState; id?: NodeId; seed?: number } = {},
): Node {
  const storage = new MemoryStorage({ voters: [...peers], learners: [] });
  if (setup.entries !== undefined) storage.append(setup.entries);
  if (setup.hardState !== undefined) storage.setHardState(setup.hardState);
  return createTestCore({
    id: setup.id ?? peers[0]!,
    peers,
    storage,
    overrides: plain,
    ...(setup.seed === undefined ? {} : { seed: setup.seed }),
  });
}

/** Makes `node` a follower of `leader` in `term` through a heartbeat, as a real leader would. */
function makeFollower(node: Node, term: number, leader: NodeId): void {
  const id = node.core.status().id;
  node.core.step({ type: 'Heartbeat', from: leader, to: id, term, leaderCommit: 0 });
  drainMessages(node);
}

/** Makes `node` leader: it campaigns and every other voter grants its vote. */
function makeLeader(node: Node): void {
  node.core.campaign();
  const { id, term, membership } = node.core.status();
  for (const voter of membership.voters) {
    if (voter === id) continue;
    node.core.step({
      type: 'RequestVoteResponse',
      from: voter,
      to: id,
      term,
      preVote: false,
      granted: true,
    });
  }
  expect(node.core.status().role).toBe('leader');
}

function acceptAndReply(message: RaftMessage): AppendEntriesResponse {
  if (message.type !== 'AppendEntries')
    throw new Error(`expected AppendEntries, got ${message.type}`);
  return {
    type: 'AppendEntriesResponse',
    from: message.to,
    to: message.from,
    term: message.term,
    success: true,
    matchIndex: message.prevLogIndex + message.entries.length,
  };
}

/** Replicates the leader's no-op to every follower and persists, so tests start from a commit. */
function commitNoop(node: Node): void {
  for (const message of drainMessages(node)) {
    if (message.type === 'AppendEntries') node.core.step(acceptAndReply(message));
  }
  drainMessages(node);
}

function sortByRecipient<T extends RaftMessage>(messages: T[]): T[] {
  return [...messages].sort((a, b) => a.to.localeCompare(b.to));
}

function storedTerms(storage: MemoryStorage): number[] {
  const last = storage.lastIndex();
  return storage.entries({ low: storage.firstIndex(), high: last + 1 }).map((entry) => entry.term);
}

describe('5.1 terms', () => {
  it.each(['follower', 'candidate', 'leader'] as const)(
    'a %s that sees a higher term adopts it and becomes follower',
    (role) => {
      const node = newNode(['a', 'b', 'c']);
      if (role === 'follower') makeFollower(node, 1, 'b');
      if (role === 'candidate') node.core.campaign();
      if (role === 'leader') makeLeader(node);
      node.core.step({
        type: 'AppendEntries',
        from: 'b',
        to: 'a',
        term: 2,
        prevLogIndex: 0,
        prevLogTerm: 0,
        entries: [],
        leaderCommit: 0,
      });
      expect(node.core.status()).toMatchObject({ term: 2, role: 'follower', leaderId: 'b' });
    },
  );

  it('ignores a request with a stale term and changes nothing', () => {
    const node = newNode(['a', 'b', 'c'], { hardState: { term: 2, vote: null, commit: 0 } });
    const before = node.core.status();
    const result = node.core.step({
      type: 'AppendEntries',
      from: 'b',
      to: 'a',
      term: 1,
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries: entriesWithTerms(1, [1]),
      leaderCommit: 0,
    });
    expect(result).toMatchObject({ ok: false, code: 'STALE_TERM' });
    expect(node.core.status()).toEqual(before);
  });
});

describe('5.2 leader election', () => {
  it('starts as a follower', () => {
    expect(newNode(['a', 'b', 'c']).core.status().role).toBe('follower');
  });

  it('a leader sends heartbeats with commit = min(match, commit) on its heartbeat tick', () => {
    const node = newNode(['a', 'b', 'c']);
    makeLeader(node);
    drainMessages(node);
    for (let i = 0; i < 10; i++) node.core.propose(encode(`e${i}`));
    drainMessages(node);
    node.core.tick();
    const beats = drainMessages(node).filter((message) => message.type === 'Heartbeat');
    expect(sortByRecipient(beats)).toEqual([
      { type: 'Heartbeat', from: 'a', to: 'b', term: 1, leaderCommit: 0 },
      { type: 'Heartbeat', from: 'a', to: 'c', term: 1, leaderCommit: 0 },
    ]);
  });

  it.each(['follower', 'candidate'] as const)(
    'a %s that hears nothing for an election timeout starts an election in the next term',
    (role) => {
      const node = newNode(['a', 'b', 'c']);
      if (role === 'follower') makeFollower(node, 1, 'b');
      else node.core.campaign();
      drainMessages(node);
      for (let i = 1; i < 2 * 10; i++) node.core.tick();
      expect(node.core.status()).toMatchObject({ term: 2, role: 'candidate', vote: 'a' });
      const requests = sortByRecipient(drainMessages(node));
      expect(requests).toEqual(
        ['b', 'c'].map((to) => ({
          type: 'RequestVote',
          from: 'a',
          to,
          term: 2,
          preVote: false,
          lastLogIndex: 0,
          lastLogTerm: 0,
          transfer: false,
        })),
      );
    },
  );

  it.each([
    { size: 1, votes: {}, role: 'leader' },
    { size: 3, votes: { n2: true, n3: true }, role: 'leader' },
    { size: 3, votes: { n2: true }, role: 'leader' },
    { size: 5, votes: { n2: true, n3: true, n4: true, n5: true }, role: 'leader' },
    { size: 5, votes: { n2: true, n3: true, n4: true }, role: 'leader' },
    { size: 5, votes: { n2: true, n3: true }, role: 'leader' },
    { size: 3, votes: { n2: false, n3: false }, role: 'follower' },
    { size: 5, votes: { n2: false, n3: false, n4: false, n5: false }, role: 'follower' },
    { size: 5, votes: { n2: true, n3: false, n4: false, n5: false }, role: 'follower' },
    { size: 3, votes: {}, role: 'candidate' },
    { size: 5, votes: { n2: true }, role: 'candidate' },
    { size: 5, votes: { n2: false, n3: false }, role: 'candidate' },
    { size: 5, votes: {}, role: 'candidate' },
  ])('one round of votes: $size nodes, votes $votes -> $role', ({ size, votes, role }) => {
    const node = newNode(ids(size));
    node.core.campaign();
    for (const [from, granted] of Object.entries(votes)) {
      node.core.step({
        type: 'RequestVoteResponse',
        from,
        to: 'n1',
        term: 1,
        preVote: false,
        granted,
      });
    }
    expect(node.core.status()).toMatchObject({ role, term: 1 });
  });

  it.each([
    { vote: null, candidate: 'b', refused: false },
    { vote: null, candidate: 'c', refused: false },
    { vote: 'b', candidate: 'b', refused: false },
    { vote: 'c', candidate: 'c', refused: false },
    { vote: 'b', candidate: 'c', refused: true },
    { vote: 'c', candidate: 'b', refused: true },
  ])('a follower that voted for $vote answers $candidate: refused=$refused', (row) => {
    const node = newNode(['a', 'b', 'c'], { hardState: { term: 1, vote: row.vote, commit: 0 } });
    node.core.step({
      type: 'RequestVote',
      from: row.candidate,
      to: 'a',
      term: 1,
      preVote: false,
      lastLogIndex: 0,
      lastLogTerm: 0,
      transfer: false,
    });
    expect(drainMessages(node)).toEqual([
      {
        type: 'RequestVoteResponse',
        from: 'a',
        to: row.candidate,
        term: 1,
        preVote: false,
        granted: !row.refused,
      },
    ]);
  });

  it.each([1, 2])('a candidate falls back to follower on AppendEntries at term %d', (term) => {
    const node = newNode(['a', 'b', 'c']);
    node.core.campaign();
    expect(node.core.status().role).toBe('candidate');
    node.core.step({
      type: 'AppendEntries',
      from: 'b',
      to: 'a',
      term,
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries: [],
      leaderCommit: 0,
    });
    expect(node.core.status()).toMatchObject({ role: 'follower', term, leaderId: 'b' });
  });

  it.each(['follower', 'candidate'] as const)(
    'a %s draws every election timeout in [electionTicks, 2 * electionTicks)',
    (role) => {
      const node = newNode(['a', 'b', 'c']);
      const seen = new Set<number>();
      for (let round = 0; round < 500; round++) {
        const term = node.core.status().term + 1;
        if (role === 'follower') makeFollower(node, term, 'b');
        else node.core.campaign();
        drainMessages(node);
        let ticks = 0;
        do {
          node.core.tick();
          ticks++;
        } while (drainMessages(node).length === 0);
        seen.add(ticks);
      }
      expect([...seen].sort((a, b) => a - b)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    },
  );

  it.each(['follower', 'candidate'] as const)(
    'randomized timeouts rarely let several %ss time out in the same tick',
    (role) => {
      const peers = ids(5);
      const nodes = peers.map((id, i) => newNode(peers, { id, seed: 100 + i }));
      let conflicts = 0;
      for (let round = 0; round < 1000; round++) {
        for (const node of nodes) {
          const { id, term } = node.core.status();
          if (role === 'follower') makeFollower(node, term + 1, id === 'n1' ? 'n2' : 'n1');
          else node.core.campaign();
          drainMessages(node);
        }
        let timedOut = 0;
        while (timedOut === 0) {
          for (const node of nodes) {
            node.core.tick();
            if (drainMessages(node).length > 0) timedOut++;
          }
        }
        if (timedOut > 1) conflicts++;
      }
      expect(conflicts / 1000).toBeLessThanOrEqual(0.3);
    },
  );
});

describe('5.3 log replication', () => {
  it('the leader appends a proposal, persists it and sends it with the preceding index and term', () => {
    const node = newNode(['a', 'b', 'c']);
    makeLeader(node);
    commitNoop(node);
    const last = node.core.status().lastIndex;
    node.core.propose(encode('some data'));
    const ready = node.core.ready();
    const entry = { index: last + 1, term: 1, type: 'normal', data: encode('some data') };
    expect(ready.entries).toEqual([entry]);
    expect(node.core.status()).toMatchObject({ lastIndex: last + 1, commitIndex: last });
    expect(sortByRecipient([...ready.messages])).toEqual(
      ['b', 'c'].map((to) => ({
        type: 'AppendEntries',
        from: 'a',
        to,
        term: 1,
        prevLogIndex: last,
        prevLogTerm: 1,
        entries: [entry],
        leaderCommit: last,
      })),
    );
  });

  it('the leader commits a replicated entry, hands it out to apply and tells followers', () => {
    const node = newNode(['a', 'b', 'c']);
    makeLeader(node);
    commitNoop(node);
    const last = node.core.status().lastIndex;
    node.core.propose(encode('some data'));
    for (const message of drainMessages(node)) node.core.step(acceptAndReply(message));
    expect(node.core.status().commitIndex).toBe(last + 1);
    const ready = applyReady(node);
    expect(ready.committedEntries.map((entry) => entry.index)).toEqual([last + 1]);
    const appends = sortByRecipient(ready.messages.filter((m) => m.type === 'AppendEntries'));
    expect(appends.map((message) => [message.to, message.leaderCommit])).toEqual([
      ['b', last + 1],
      ['c', last + 1],
    ]);
  });

  it.each([
    { size: 1, acceptors: [], committed: true },
    { size: 3, acceptors: [], committed: false },
    { size: 3, acceptors: ['n2'], committed: true },
    { size: 3, acceptors: ['n2', 'n3'], committed: true },
    { size: 5, acceptors: [], committed: false },
    { size: 5, acceptors: ['n2'], committed: false },
    { size: 5, acceptors: ['n2', 'n3'], committed: true },
    { size: 5, acceptors: ['n2', 'n3', 'n4'], committed: true },
    { size: 5, acceptors: ['n2', 'n3', 'n4', 'n5'], committed: true },
  ])('an entry commits once a majority holds it: $size nodes, acks $acceptors', (row) => {
    const node = newNode(ids(row.size));
    makeLeader(node);
    commitNoop(node);
    const last = node.core.status().lastIndex;
    node.core.propose(encode('some data'));
    for (const message of drainMessages(node)) {
      if (row.acceptors.includes(message.to)) node.core.step(acceptAndReply(message));
    }
    expect(node.core.status().commitIndex > last).toBe(row.committed);
  });

  it.each([[[]], [[2]], [[1, 2]], [[1]]])(
    'committing an entry commits the earlier leaders entries before it (log terms %j)',
    (terms) => {
      const node = newNode(['a', 'b', 'c'], {
        entries: entriesWithTerms(1, terms),
        hardState: { term: 2, vote: null, commit: 0 },
      });
      makeLeader(node);
      node.core.propose(encode('some data'));
      for (const message of drainMessages(node)) {
        if (message.type === 'AppendEntries') node.core.step(acceptAndReply(message));
      }
      const committed = applyReady(node).committedEntries;
      const last = terms.length;
      expect(committed.map((entry) => [entry.index, entry.term])).toEqual([
        ...terms.map((term, i) => [i + 1, term]),
        [last + 1, 3],
        [last + 2, 3],
      ]);
    },
  );

  it.each([
    { entries: [['some data', 1]], commit: 1 },
    {
      entries: [
        ['some data', 1],
        ['some data2', 1],
      ],
      commit: 2,
    },
    {
      entries: [
        ['some data2', 1],
        ['some data', 1],
      ],
      commit: 2,
    },
    {
      entries: [
        ['some data', 1],
        ['some data2', 1],
      ],
      commit: 1,
    },
  ] as const)('a follower applies entries up to the commit it learns ($commit)', (row) => {
    const node = newNode(['a', 'b', 'c']);
    makeFollower(node, 1, 'b');
    const entries = row.entries.map(([text, term], i) => ({
      index: i + 1,
      term,
      type: 'normal' as const,
      data: encode(text),
    }));
    node.core.step({
      type: 'AppendEntries',
      from: 'b',
      to: 'a',
      term: 1,
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries,
      leaderCommit: row.commit,
    });
    expect(node.core.status().commitIndex).toBe(row.commit);
    expect(applyReady(node).committedEntries).toEqual(entries.slice(0, row.commit));
  });

  it.each([
    { prevLogTerm: 0, prevLogIndex: 0, response: { success: true, matchIndex: 1 } },
    { prevLogTerm: 1, prevLogIndex: 1, response: { success: true, matchIndex: 1 } },
    { prevLogTerm: 2, prevLogIndex: 2, response: { success: true, matchIndex: 2 } },
    {
      prevLogTerm: 1,
      prevLogIndex: 2,
      response: {
        success: false,
        matchIndex: 0,
        rejectedIndex: 2,
        conflictIndex: 2,
        conflictTerm: 2,
      },
    },
    // etcd uses prevLogTerm 3 at term 2 here, which no leader can send (and the core refuses).
    {
      prevLogTerm: 2,
      prevLogIndex: 3,
      response: { success: false, matchIndex: 0, rejectedIndex: 3, conflictIndex: 3 },
    },
  ])(
    'a follower checks AppendEntries at ($prevLogIndex, $prevLogTerm) against its log',
    ({ prevLogTerm, prevLogIndex, response }) => {
      const node = newNode(['a', 'b', 'c'], {
        entries: entriesWithTerms(1, [1, 2]),
        hardState: { term: 2, vote: null, commit: 1 },
      });
      makeFollower(node, 2, 'b');
      node.core.step({
        type: 'AppendEntries',
        from: 'b',
        to: 'a',
        term: 2,
        prevLogIndex,
        prevLogTerm,
        entries: [],
        leaderCommit: 0,
      });
      expect(drainMessages(node)).toEqual([
        { type: 'AppendEntriesResponse', from: 'a', to: 'b', term: 2, ...response },
      ]);
    },
  );

  it.each([
    { prev: [2, 2], entries: entriesWithTerms(3, [3]), log: [1, 2, 3], unstable: [3] },
    { prev: [1, 1], entries: entriesWithTerms(2, [3, 4]), log: [1, 3, 4], unstable: [3, 4] },
    { prev: [0, 0], entries: entriesWithTerms(1, [1]), log: [1, 2], unstable: [] },
    { prev: [0, 0], entries: entriesWithTerms(1, [3]), log: [3], unstable: [3] },
  ])(
    'a follower drops conflicting entries and appends new ones (prev $prev -> log $log)',
    ({ prev, entries, log, unstable }) => {
      const node = newNode(['a', 'b', 'c'], { entries: entriesWithTerms(1, [1, 2]) });
      makeFollower(node, 2, 'b');
      // Term 4 rather than etcd's 2: a leader never sends entries from a term after its own.
      node.core.step({
        type: 'AppendEntries',
        from: 'b',
        to: 'a',
        term: 4,
        prevLogIndex: prev[0]!,
        prevLogTerm: prev[1]!,
        entries,
        leaderCommit: 0,
      });
      const ready = applyReady(node);
      expect(ready.entries.map((entry) => entry.term)).toEqual(unstable);
      expect(storedTerms(node.storage)).toEqual(log);
    },
  );

  // Figure 7: the leader (terms 1 1 1 4 4 5 5 6 6 6) at term 8 meets followers (a)-(f).
  it.each([
    [[1, 1, 1, 4, 4, 5, 5, 6, 6]],
    [[1, 1, 1, 4]],
    [[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6]],
    [[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]],
    [[1, 1, 1, 4, 4, 4, 4]],
    [[1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]],
  ])('the leader brings a Figure 7 follower log %j in line with its own', (followerTerms) => {
    const leaderTerms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const network = new TestNetwork({
      ids: ['a', 'b', 'c'],
      options: plain,
      storage: (id) => {
        const storage = new MemoryStorage({ voters: ['a', 'b', 'c'], learners: [] });
        if (id === 'a') {
          storage.append(entriesWithTerms(1, leaderTerms));
          storage.setHardState({ term: 8, vote: null, commit: leaderTerms.length });
        } else if (id === 'b') {
          storage.append(entriesWithTerms(1, followerTerms));
          storage.setHardState({ term: 7, vote: null, commit: 0 });
        }
        return storage;
      },
    });
    // c is a silent voter that grants its vote by hand: b alone may refuse (its log can be newer).
    network.drop('a', 'c', 1);
    network.drop('b', 'c', 1);
    network.campaign('a');
    network.send({
      type: 'RequestVoteResponse',
      from: 'c',
      to: 'a',
      term: 9,
      preVote: false,
      granted: true,
    });
    expect(network.core('a').status().role).toBe('leader');
    network.propose('a', 'x');
    const leaderLog = storedTerms(network.node('a').storage);
    expect(leaderLog).toEqual([...leaderTerms, 9, 9]);
    expect(storedTerms(network.node('b').storage)).toEqual(leaderLog);
  });
});

describe('5.4 safety', () => {
  it.each([
    { terms: [1], wantTerm: 2 },
    { terms: [1, 2], wantTerm: 3 },
  ])('a vote request carries the candidate last index and term ($terms)', ({ terms, wantTerm }) => {
    const node = newNode(['a', 'b', 'c']);
    node.core.step({
      type: 'AppendEntries',
      from: 'b',
      to: 'a',
      term: wantTerm - 1,
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries: entriesWithTerms(1, terms),
      leaderCommit: 0,
    });
    drainMessages(node);
    for (let i = 1; i < 20; i++) node.core.tick();
    const requests = sortByRecipient(drainMessages(node));
    expect(requests.map((message) => message.to)).toEqual(['b', 'c']);
    for (const message of requests) {
      expect(message).toMatchObject({
        type: 'RequestVote',
        term: wantTerm,
        lastLogIndex: terms.length,
        lastLogTerm: terms[terms.length - 1],
      });
    }
  });

  it.each([
    { terms: [1], lastLogTerm: 1, lastLogIndex: 1, refused: false },
    { terms: [1], lastLogTerm: 1, lastLogIndex: 2, refused: false },
    { terms: [1, 1], lastLogTerm: 1, lastLogIndex: 1, refused: true },
    { terms: [1], lastLogTerm: 2, lastLogIndex: 1, refused: false },
    { terms: [1], lastLogTerm: 2, lastLogIndex: 2, refused: false },
    { terms: [1, 1], lastLogTerm: 2, lastLogIndex: 1, refused: false },
    { terms: [2], lastLogTerm: 1, lastLogIndex: 1, refused: true },
    { terms: [2], lastLogTerm: 1, lastLogIndex: 2, refused: true },
    { terms: [2, 2], lastLogTerm: 1, lastLogIndex: 1, refused: true },
    { terms: [1, 1], lastLogTerm: 1, lastLogIndex: 1, refused: true },
  ])(
    'a voter with log $terms refuses a candidate at ($lastLogIndex, $lastLogTerm): $refused',
    ({ terms, lastLogTerm, lastLogIndex, refused }) => {
      const node = newNode(['a', 'b'], { entries: entriesWithTerms(1, terms) });
      node.core.step({
        type: 'RequestVote',
        from: 'b',
        to: 'a',
        term: 3,
        preVote: false,
        lastLogIndex,
        lastLogTerm,
        transfer: false,
      });
      const responses = drainMessages(node);
      expect(responses).toHaveLength(1);
      expect(responses[0]).toMatchObject({ type: 'RequestVoteResponse', granted: !refused });
    },
  );

  it.each([
    { acked: 1, commit: 0 },
    { acked: 2, commit: 0 },
    { acked: 3, commit: 3 },
  ])('the leader commits by counting replicas only for its own term (ack $acked)', (row) => {
    const node = newNode(['a', 'b'], {
      entries: entriesWithTerms(1, [1, 2]),
      hardState: { term: 2, vote: null, commit: 0 },
    });
    makeLeader(node);
    drainMessages(node);
    node.core.propose(new Uint8Array(0));
    node.core.step({
      type: 'AppendEntriesResponse',
      from: 'b',
      to: 'a',
      term: 3,
      success: true,
      matchIndex: row.acked,
    });
    expect(node.core.status().commitIndex).toBe(row.commit);
  });
});

// Keeps the AppendEntries type import meaningful for readers of the helpers above.
export type { AppendEntries };
