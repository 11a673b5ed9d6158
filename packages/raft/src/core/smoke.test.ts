// Proves the basics end to end: a 3-node network elects a leader, replicates and commits.
import { describe, expect, it } from 'vitest';
import { TestNetwork } from '@distsync/raft/testing';

describe('RaftCore smoke', () => {
  it('elects a leader and commits a proposal on every node', () => {
    const network = new TestNetwork({ ids: ['a', 'b', 'c'] });
    network.campaign('a');
    expect(network.core('a').status().role).toBe('leader');
    const result = network.propose('a', 'hello');
    expect(result).toMatchObject({ ok: true, index: 2, term: 1 });
    for (const id of ['a', 'b', 'c']) {
      const status = network.core(id).status();
      expect(status.commitIndex).toBe(2);
      expect(network.node(id).applied.map((entry) => entry.type)).toEqual(['noop', 'normal']);
    }
  });

  it('elects a leader by ticking alone', () => {
    const network = new TestNetwork({ ids: ['a', 'b', 'c'], seed: 3 });
    network.tick(undefined, 25);
    const leader = network.leader();
    expect(leader).toBeDefined();
    network.propose(leader!, 'x');
    for (const id of ['a', 'b', 'c']) expect(network.core(id).status().commitIndex).toBe(2);
  });
});
