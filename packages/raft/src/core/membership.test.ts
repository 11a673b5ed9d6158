// Single-server membership change in the core (Raft dissertation, chapter 4): learners, promotion,
// removal (the leader's own included), one change at a time, refusals with codes, removed nodes
// that cannot disturb, and the membership rebuilt after a restart from the log and a snapshot.
import { describe, expect, it } from 'vitest';
import { MemoryStorage, RaftCore } from '@distsync/raft';
import type { ConfChange, ConfChangeResult, RaftMessage, StepResult } from '@distsync/raft';
import { TestNetwork, drainMessages } from '@distsync/raft/testing';

function electedNetwork(options: ConstructorParameters<typeof TestNetwork>[0]): TestNetwork {
  const network = new TestNetwork(options);
  network.campaign(options.ids[0]!);
  expect(network.core(options.ids[0]!).status().role).toBe('leader');
  return network;
}

function change(network: TestNetwork, at: string, confChange: ConfChange): ConfChangeResult {
  const result = network.core(at).proposeConfChange(confChange);
  network.stabilize();
  return result;
}

/** A three-voter cluster led by `a` with `d` joined as a caught-up learner. */
function withLearner(overrides: ConstructorParameters<typeof TestNetwork>[0]['options'] = {}) {
  const network = electedNetwork({ ids: ['a', 'b', 'c'], options: overrides });
  network.join('d', typeof overrides === 'function' ? overrides('d') : overrides);
  network.propose('a', 'x');
  expect(change(network, 'a', { type: 'add-learner', node: 'd' })).toMatchObject({ ok: true });
  network.tick(undefined, 2);
  return network;
}

function results(network: TestNetwork): { message: RaftMessage; result: StepResult }[] {
  const seen: { message: RaftMessage; result: StepResult }[] = [];
  network.observer = ({ message, result }) => {
    if (result !== undefined) seen.push({ message, result });
  };
  return seen;
}

describe('adding a learner', () => {
  it('the learner receives and applies the whole log and learns the membership', () => {
    const network = withLearner();
    const leader = network.core('a').status();
    const learner = network.core('d').status();
    expect(leader.membership).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] });
    expect(learner.membership).toEqual(leader.membership);
    expect(learner.lastIndex).toBe(leader.lastIndex);
    expect(learner.appliedIndex).toBe(leader.commitIndex);
    expect(network.node('d').applied.map((entry) => entry.type)).toEqual([
      'noop',
      'normal',
      'config',
    ]);
  });

  it('reports the new membership once in Ready.membership', () => {
    const seen: unknown[] = [];
    const fresh = new TestNetwork({ ids: ['x'] });
    fresh.campaign('x');
    fresh.join('y');
    const x = fresh.node('x');
    x.core.proposeConfChange({ type: 'add-learner', node: 'y' });
    while (x.core.hasReady()) {
      const ready = x.core.ready();
      x.storage.append(ready.entries);
      if (ready.hardState) x.storage.setHardState(ready.hardState);
      if (ready.membership !== undefined) seen.push(ready.membership);
      x.core.advance(ready);
    }
    expect(seen).toEqual([{ voters: ['x'], learners: ['y'] }]);
  });

  it('a learner never counts for commit', () => {
    const network = withLearner();
    network.isolate('b');
    network.isolate('c');
    const result = network.propose('a', 'y');
    expect(result).toMatchObject({ ok: true });
    const index = result.ok && 'index' in result ? result.index : 0;
    expect(network.core('d').status().lastIndex).toBe(index);
    expect(network.core('a').status().commitIndex).toBeLessThan(index);
  });

  it('a learner never campaigns, however long it hears nothing', () => {
    const network = withLearner({ preVote: false });
    network.isolate('d');
    const before = network.core('d').status().term;
    network.tick('d', 100);
    expect(network.core('d').status()).toMatchObject({ role: 'follower', term: before });
  });
});

describe('promotion', () => {
  it('a caught-up learner becomes a voter and then counts for commit', () => {
    const network = withLearner();
    expect(change(network, 'a', { type: 'promote', node: 'd' })).toMatchObject({ ok: true });
    network.tick(undefined, 2);
    expect(network.core('a').status().membership).toEqual({
      voters: ['a', 'b', 'c', 'd'],
      learners: [],
    });
    // With four voters a and d alone are not a majority; a, b and d are.
    network.isolate('c');
    network.cut('a', 'b');
    const blocked = network.propose('a', 'y');
    const index = blocked.ok && 'index' in blocked ? blocked.index : 0;
    expect(network.core('a').status().commitIndex).toBeLessThan(index);
    network.recover();
    network.isolate('c');
    network.tick(undefined, 2);
    expect(network.core('a').status().commitIndex).toBeGreaterThanOrEqual(index);
  });

  it('is refused with LEARNER_BEHIND while the learner lags by more than the bound', () => {
    const network = withLearner({ maxLearnerLagEntries: 2 });
    network.isolate('d');
    for (let i = 0; i < 5; i++) network.propose('a', `e${i}`);
    expect(network.core('a').proposeConfChange({ type: 'promote', node: 'd' })).toMatchObject({
      ok: false,
      code: 'LEARNER_BEHIND',
      lagEntries: 5,
    });
    network.recover();
    network.tick(undefined, 2);
    expect(change(network, 'a', { type: 'promote', node: 'd' })).toMatchObject({ ok: true });
  });

  it('add-voter promotes a learner but refuses a node that never joined as one', () => {
    const network = withLearner();
    expect(network.core('a').proposeConfChange({ type: 'add-voter', node: 'e' })).toMatchObject({
      ok: false,
      code: 'LEARNER_REQUIRED',
    });
    expect(change(network, 'a', { type: 'add-voter', node: 'd' })).toMatchObject({ ok: true });
    network.tick(undefined, 2);
    expect(network.core('b').status().membership.voters).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('one change at a time and refusals', () => {
  it('refuses a second change until the first is applied', () => {
    const network = electedNetwork({ ids: ['a', 'b', 'c'] });
    network.join('d');
    network.join('e');
    const first = network.core('a').proposeConfChange({ type: 'add-learner', node: 'd' });
    expect(first).toMatchObject({ ok: true });
    expect(network.core('a').proposeConfChange({ type: 'add-learner', node: 'e' })).toMatchObject({
      ok: false,
      code: 'CHANGE_IN_PROGRESS',
      leaderHint: 'a',
    });
    network.stabilize();
    expect(change(network, 'a', { type: 'add-learner', node: 'e' })).toMatchObject({ ok: true });
  });

  it('a new leader refuses changes until it committed an entry of its own term', () => {
    const network = new TestNetwork({ ids: ['a', 'b', 'c'] });
    network.ignore('AppendEntriesResponse');
    network.campaign('a');
    expect(network.core('a').status().role).toBe('leader');
    expect(network.core('a').proposeConfChange({ type: 'remove', node: 'c' })).toMatchObject({
      ok: false,
      code: 'CHANGE_IN_PROGRESS',
    });
    network.recover();
    network.tick(undefined, 2);
    expect(change(network, 'a', { type: 'remove', node: 'c' })).toMatchObject({ ok: true });
  });

  it('refuses changes that make no sense with INVALID_CHANGE and a reason', () => {
    const network = withLearner();
    const a = network.core('a');
    const refused = (confChange: ConfChange): void => {
      const result = a.proposeConfChange(confChange);
      expect(result).toMatchObject({ ok: false, code: 'INVALID_CHANGE' });
      expect(result.ok ? '' : 'reason' in result ? result.reason : '').not.toBe('');
    };
    refused({ type: 'add-learner', node: 'b' });
    refused({ type: 'add-learner', node: 'd' });
    refused({ type: 'promote', node: 'z' });
    refused({ type: 'promote', node: 'b' });
    refused({ type: 'remove', node: 'z' });
    const single = electedNetwork({ ids: ['s'] });
    expect(single.core('s').proposeConfChange({ type: 'remove', node: 's' })).toMatchObject({
      ok: false,
      code: 'INVALID_CHANGE',
    });
  });

  it('a follower answers NOT_LEADER with a hint; malformed changes are programmer errors', () => {
    const network = electedNetwork({ ids: ['a', 'b', 'c'] });
    expect(network.core('b').proposeConfChange({ type: 'remove', node: 'c' })).toEqual({
      ok: false,
      code: 'NOT_LEADER',
      leaderHint: 'a',
    });
    const bad = { type: 'evict', node: 'c' } as unknown as ConfChange;
    expect(() => network.core('a').proposeConfChange(bad)).toThrow(/change.type/);
  });
});

describe('removal', () => {
  it('a removed follower learns it, stops campaigning and the rest keep committing', () => {
    const network = electedNetwork({ ids: ['a', 'b', 'c'], options: { preVote: false } });
    expect(change(network, 'a', { type: 'remove', node: 'c' })).toMatchObject({ ok: true });
    network.tick(undefined, 2);
    expect(network.core('c').status().membership.voters).toEqual(['a', 'b']);
    const term = network.core('c').status().term;
    network.tick('c', 100);
    expect(network.core('c').status()).toMatchObject({ role: 'follower', term });
    network.isolate('c');
    const result = network.propose('a', 'after');
    const index = result.ok && 'index' in result ? result.index : 0;
    expect(network.core('a').status().commitIndex).toBe(index);
  });

  it('a removed node that never heard of its removal cannot disturb: its votes are ignored', () => {
    const network = electedNetwork({ ids: ['a', 'b', 'c'], options: { preVote: false } });
    network.isolate('c');
    expect(change(network, 'a', { type: 'remove', node: 'c' })).toMatchObject({ ok: true });
    network.tick(undefined, 2);
    expect(network.core('a').status().membership.voters).toEqual(['a', 'b']);
    const seen = results(network);
    network.recover();
    network.tick('c', 50);
    network.tick(undefined, 5);
    const votes = seen.filter(({ message }) => message.type === 'RequestVote');
    expect(votes.length).toBeGreaterThan(0);
    for (const { result } of votes)
      expect(result).toMatchObject({ ok: false, code: 'UNKNOWN_PEER' });
    expect(network.core('a').status()).toMatchObject({ role: 'leader', term: 1 });
    expect(network.core('b').status()).toMatchObject({ term: 1, leaderId: 'a' });
  });

  it('a removed leader leads until the change commits, then steps down for a new leader', () => {
    const network = electedNetwork({ ids: ['a', 'b', 'c'] });
    network.propose('a', 'x');
    const result = network.core('a').proposeConfChange({ type: 'remove', node: 'a' });
    expect(result).toMatchObject({ ok: true });
    const index = result.ok ? result.index : 0;
    expect(network.core('a').status()).toMatchObject({ role: 'leader', commitIndex: index - 1 });
    network.stabilize();
    network.tick(undefined, 2);
    const a = network.core('a').status();
    expect(a.role).toBe('follower');
    expect(a.commitIndex).toBeGreaterThanOrEqual(index);
    const leader = network.leader();
    expect(leader === 'b' || leader === 'c').toBe(true);
    const status = network.core(leader!).status();
    expect(status.term).toBeGreaterThan(1);
    expect(status.membership).toEqual({ voters: ['b', 'c'], learners: [] });
    const next = network.propose(leader!, 'after');
    const nextIndex = next.ok && 'index' in next ? next.index : 0;
    expect(network.core(leader!).status().commitIndex).toBe(nextIndex);
    // The old leader stays quiet: it no longer campaigns.
    network.isolate('a');
    network.tick('a', 100);
    expect(network.core('a').status().role).toBe('follower');
  });
});

describe('removed leader hand-over and strangers without a leader', () => {
  it('a removed leader refuses proposals while it hands over, and steps down within an election timeout', () => {
    const network = electedNetwork({ ids: ['a', 'b', 'c'] });
    network.ignore('TimeoutNow');
    expect(change(network, 'a', { type: 'remove', node: 'a' })).toMatchObject({ ok: true });
    const a = network.core('a');
    expect(a.status().role).toBe('leader');
    expect(['b', 'c']).toContain(a.status().leadTransferee);
    expect(a.status().membership.voters).toEqual(['b', 'c']);
    expect(a.propose(new Uint8Array([1]))).toMatchObject({
      ok: false,
      code: 'TRANSFER_IN_PROGRESS',
    });
    // Followers learnt that the removal committed: heartbeats carried the commit index.
    network.tick('a', 1);
    expect(network.core('b').status().membership.voters).toEqual(['b', 'c']);
    network.tick('a', 10);
    expect(a.status().role).toBe('follower');
    network.recover();
    network.tick(undefined, 40);
    const leader = network.leader();
    expect(leader === 'b' || leader === 'c').toBe(true);
  });

  it('a node with no live leader answers a vote request from a candidate it does not know yet', () => {
    // A joined (or lagging) node may not have applied the entry that made the candidate a voter;
    // refusing it could leave no electable node, so without a leader the request is judged on
    // its merits.
    const core = new RaftCore({
      id: 'j',
      peers: [],
      storage: new MemoryStorage(),
      random: () => 0,
    });
    const result = core.step({
      type: 'RequestVote',
      from: 'n1',
      to: 'j',
      term: 3,
      preVote: false,
      lastLogIndex: 5,
      lastLogTerm: 2,
      transfer: false,
    });
    expect(result).toEqual({ ok: true });
    const messages = core.ready().messages;
    expect(messages).toMatchObject([{ type: 'RequestVoteResponse', to: 'n1', granted: true }]);
  });
});

describe('membership after a restart', () => {
  it('is rebuilt from the config entries in the log up to the applied index', () => {
    const network = withLearner();
    change(network, 'a', { type: 'promote', node: 'd' });
    network.tick(undefined, 2);
    const { storage } = network.node('b');
    const applied = network.core('b').status().appliedIndex;
    const restarted = new RaftCore({
      id: 'b',
      peers: ['a', 'b', 'c'],
      storage,
      random: () => 0.5,
      appliedIndex: applied,
    });
    expect(restarted.status().membership).toEqual({ voters: ['a', 'b', 'c', 'd'], learners: [] });
  });

  it('from an older applied index, re-applying the config entries restores it', () => {
    const network = withLearner();
    const { storage } = network.node('b');
    const restarted = {
      core: new RaftCore({ id: 'b', peers: [], storage, random: () => 0.5 }),
      storage,
    };
    expect(restarted.core.status().membership.learners).toEqual([]);
    drainMessages(restarted);
    expect(restarted.core.status().membership.learners).toEqual(['d']);
  });

  it('is recovered from the snapshot once the config entries are compacted away', () => {
    const network = withLearner();
    const node = network.node('b');
    const status = node.core.status();
    node.storage.createSnapshot({
      index: status.appliedIndex,
      data: new Uint8Array(0),
      membership: status.membership,
    });
    node.storage.compact(status.appliedIndex);
    const restarted = new RaftCore({
      id: 'b',
      peers: [],
      storage: node.storage,
      random: () => 0.5,
      appliedIndex: status.appliedIndex,
    });
    expect(restarted.status().membership).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] });
  });

  it('a joining node with empty storage knows no one and does not campaign', () => {
    const core = new RaftCore({
      id: 'n',
      peers: [],
      storage: new MemoryStorage(),
      random: () => 0,
    });
    for (let i = 0; i < 100; i++) core.tick();
    expect(core.status()).toMatchObject({
      role: 'follower',
      term: 0,
      membership: { voters: [], learners: [] },
    });
  });
});
