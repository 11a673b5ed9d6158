// Tests of the simulator itself: its generator and queue are deterministic, and its invariant
// checker really fails on broken histories, both fed directly and through a whole simulated
// cluster of deliberately broken cores.
import { describe, expect, it } from 'vitest';
import type { Entry, NodeId } from '@distsync/raft';
import type { LogStorage, Ready, Role } from '@distsync/raft';
import {
  EventQueue,
  InvariantChecker,
  InvariantViolation,
  SimulationFailure,
  Simulator,
  createPrng,
} from '@distsync/raft/testing';
import type { NodeView, SimCore, SimFactories } from '@distsync/raft/testing';

const encoder = new TextEncoder();

function entry(index: number, term: number, data: string): Entry {
  return { index, term, type: 'normal', data: encoder.encode(data) };
}

function view(init: {
  id: NodeId;
  role?: Role;
  term: number;
  commit?: number;
  log: Entry[];
}): NodeView {
  return { alive: true, role: 'follower', commit: 0, ...init };
}

describe('createPrng', () => {
  it('gives the same sequence for the same seed and different ones for different seeds', () => {
    const a = createPrng(42);
    const b = createPrng(42);
    const c = createPrng(43);
    const seqA = Array.from({ length: 8 }, () => a.next());
    const seqB = Array.from({ length: 8 }, () => b.next());
    const seqC = Array.from({ length: 8 }, () => c.next());
    expect(seqA).toEqual(seqB);
    expect(seqA).not.toEqual(seqC);
    for (const value of seqA) expect(value >= 0 && value < 1).toBe(true);
  });

  it('draws integers within bounds, covering both ends', () => {
    const random = createPrng(7);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(random.int(3, 6));
    expect([...seen].sort()).toEqual([3, 4, 5, 6]);
  });
});

describe('EventQueue', () => {
  it('pops by time, and by insertion order among equal times', () => {
    const queue = new EventQueue<string>({ maxEvents: 100 });
    queue.push(5, 'c');
    queue.push(1, 'a');
    queue.push(5, 'd');
    queue.push(1, 'b');
    queue.push(0.5, 'first');
    const order: string[] = [];
    for (let event = queue.pop(); event !== undefined; event = queue.pop()) order.push(event.value);
    expect(order).toEqual(['first', 'a', 'b', 'c', 'd']);
  });

  it('refuses to grow beyond maxEvents', () => {
    const queue = new EventQueue<number>({ maxEvents: 2 });
    queue.push(1, 1);
    queue.push(2, 2);
    expect(() => {
      queue.push(3, 3);
    }).toThrow(/maxEvents/);
  });
});

describe('InvariantChecker fed broken histories', () => {
  function violation(run: () => void): InvariantViolation {
    try {
      run();
    } catch (error) {
      if (error instanceof InvariantViolation) return error;
      throw error;
    }
    throw new Error('expected an invariant violation');
  }

  it('catches two leaders in one term', () => {
    const checker = new InvariantChecker();
    const a = view({ id: 'a', role: 'leader', term: 2, log: [] });
    const b = view({ id: 'b', role: 'leader', term: 2, log: [] });
    checker.afterStep([a]);
    expect(
      violation(() => {
        checker.afterStep([a, b]);
      }).invariant,
    ).toBe('ELECTION_SAFETY');
  });

  it('catches two logs that share (index, term) but differ', () => {
    const checker = new InvariantChecker();
    const first = [entry(1, 1, 'x')];
    checker.onAppend(view({ id: 'a', term: 1, log: first }), {
      entries: first,
      previousLastIndex: 0,
    });
    const other = [entry(1, 1, 'y')];
    const error = violation(() => {
      checker.onAppend(view({ id: 'b', term: 1, log: other }), {
        entries: other,
        previousLastIndex: 0,
      });
    });
    expect(error.invariant).toBe('LOG_MATCHING');
  });

  it('catches a shared (index, term) whose predecessors differ', () => {
    const checker = new InvariantChecker();
    const logA = [entry(1, 1, 'x'), entry(2, 3, 'z')];
    checker.onAppend(view({ id: 'a', term: 3, log: logA }), {
      entries: logA,
      previousLastIndex: 0,
    });
    const logB = [entry(1, 2, 'w'), logA[1]!];
    const error = violation(() => {
      checker.onAppend(view({ id: 'b', term: 3, log: logB }), {
        entries: logB,
        previousLastIndex: 0,
      });
    });
    expect(error.invariant).toBe('LOG_MATCHING');
  });

  it('catches two nodes applying different entries at one index', () => {
    const checker = new InvariantChecker();
    const logA = [entry(1, 1, 'x')];
    const logB = [entry(1, 2, 'y')];
    checker.onApply(view({ id: 'a', term: 1, commit: 1, log: logA }), logA[0]!);
    const error = violation(() => {
      checker.onApply(view({ id: 'b', term: 2, commit: 1, log: logB }), logB[0]!);
    });
    expect(error.invariant).toBe('STATE_MACHINE_SAFETY');
  });

  it('catches a later leader that lacks a committed entry', () => {
    const checker = new InvariantChecker();
    const committed = [entry(1, 1, 'x')];
    checker.afterStep([view({ id: 'a', role: 'leader', term: 1, commit: 1, log: committed })]);
    const error = violation(() => {
      checker.afterStep([view({ id: 'b', role: 'leader', term: 2, commit: 0, log: [] })]);
    });
    expect(error.invariant).toBe('LEADER_COMPLETENESS');
  });

  it('catches a vote granted twice in one term, and a commit going back', () => {
    const checker = new InvariantChecker();
    const vote = {
      type: 'RequestVoteResponse',
      from: 'a',
      term: 3,
      preVote: false,
      granted: true,
    } as const;
    checker.onSend({ ...vote, to: 'b' });
    expect(
      violation(() => {
        checker.onSend({ ...vote, to: 'c' });
      }).invariant,
    ).toBe('SINGLE_VOTE');
    const log = [entry(1, 1, 'x'), entry(2, 1, 'y')];
    checker.afterStep([view({ id: 'a', term: 1, commit: 2, log })]);
    const error = violation(() => {
      checker.afterStep([view({ id: 'a', term: 1, commit: 1, log })]);
    });
    expect(error.invariant).toBe('MONOTONIC_COMMIT');
  });

  it('accepts a consistent history', () => {
    const checker = new InvariantChecker();
    const log = [entry(1, 1, 'x'), entry(2, 1, 'y')];
    const a = view({ id: 'a', role: 'leader', term: 1, commit: 2, log });
    const b = view({ id: 'b', term: 1, commit: 2, log });
    checker.onAppend(a, { entries: log, previousLastIndex: 0 });
    checker.onAppend(b, { entries: log, previousLastIndex: 0 });
    for (const e of log) {
      checker.onApply(a, e);
      checker.onApply(b, e);
    }
    expect(() => {
      checker.afterStep([a, b]);
    }).not.toThrow();
    expect(checker.committedCount).toBe(2);
  });
});

/** A core that, on its first tick, declares itself leader of term 1 and commits its own entry. */
class SelfCrowningCore implements SimCore {
  private pending: Ready | undefined;
  private crowned = false;

  constructor(private readonly id: NodeId) {}

  tick(): void {
    if (this.crowned) return;
    this.crowned = true;
    const own = entry(1, 1, `from ${this.id}`);
    this.pending = {
      softState: { role: 'leader', leaderId: this.id },
      hardState: { term: 1, vote: this.id, commit: 1 },
      entries: [own],
      snapshot: undefined,
      messages: [],
      committedEntries: [own],
      readStates: [],
      mustSync: true,
    };
  }
  step(): { ok: true } {
    return { ok: true };
  }
  propose(): { ok: false; code: 'NOT_LEADER'; leaderHint: null } {
    return { ok: false, code: 'NOT_LEADER', leaderHint: null };
  }
  readIndex(): { ok: false; code: 'NOT_LEADER'; leaderHint: null } {
    return { ok: false, code: 'NOT_LEADER', leaderHint: null };
  }
  transferLeadership(): { ok: false; code: 'NOT_LEADER'; leaderHint: null } {
    return { ok: false, code: 'NOT_LEADER', leaderHint: null };
  }
  hasReady(): boolean {
    return this.pending !== undefined;
  }
  ready(): Ready {
    if (this.pending === undefined) throw new Error('no ready');
    return this.pending;
  }
  advance(): void {
    this.pending = undefined;
  }
}

/** Storage that the fake core never reads: only the host's writes matter here. */
function nullStorage(): LogStorage {
  return {
    initialState: () => ({
      hardState: { term: 0, vote: null, commit: 0 },
      membership: { voters: [], learners: [] },
    }),
    entries: () => [],
    term: () => undefined,
    firstIndex: () => 1,
    lastIndex: () => 0,
    snapshot: () => ({
      metadata: { index: 0, term: 0, membership: { voters: [], learners: [] } },
      data: new Uint8Array(),
    }),
    append: () => undefined,
    setHardState: () => undefined,
    applySnapshot: () => undefined,
    createSnapshot: () => {
      throw new Error('nullStorage holds no entries to snapshot');
    },
    compact: () => undefined,
    sync: () => Promise.resolve(),
  };
}

const brokenFactories: SimFactories = {
  createCore: (options) => new SelfCrowningCore(options.id),
  createStorage: () => nullStorage(),
};

describe('Simulator with a deliberately broken core', () => {
  it('stops at the first violation with the seed, a replay command and the trace', () => {
    const sim = new Simulator({ seed: 1234, nodes: 3, factories: brokenFactories });
    let failure: unknown;
    try {
      sim.runFor(1000);
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(SimulationFailure);
    const report = failure as SimulationFailure;
    expect(report.code).toBe('INVARIANT_VIOLATED');
    expect(report.seed).toBe(1234);
    expect(report.message).toMatch(/LOG_MATCHING|ELECTION_SAFETY/);
    expect(report.message).toContain('pnpm --filter @distsync/raft sim --seed 1234 --nodes 3');
    expect(report.traceTail.length).toBeGreaterThan(0);
    expect(report.traceTail.join('\n')).toMatch(/role leader/);
  });
});

/** A one-node "cluster" that commits proposals at once but answers reads with index 0. */
class StaleReadCore implements SimCore {
  private pending: Ready | undefined;
  private lastIndex = 0;

  constructor(private readonly id: NodeId) {}

  private emit(fields: Partial<Ready>): void {
    this.pending = {
      softState: { role: 'leader', leaderId: this.id },
      hardState: undefined,
      entries: [],
      snapshot: undefined,
      messages: [],
      committedEntries: [],
      readStates: [],
      mustSync: false,
      ...fields,
    };
  }
  tick(): void {
    // Time does nothing here: the node leads from the start.
  }
  step(): { ok: true } {
    return { ok: true };
  }
  propose(data: Uint8Array): { ok: true; index: number; term: number } {
    const index = ++this.lastIndex;
    const own: Entry = { index, term: 1, type: 'normal', data };
    this.emit({
      hardState: { term: 1, vote: this.id, commit: index },
      entries: [own],
      committedEntries: [own],
      mustSync: true,
    });
    return { ok: true, index, term: 1 };
  }
  readIndex(context: string): { ok: true } {
    this.emit({ readStates: [{ context, index: 0 }] });
    return { ok: true };
  }
  transferLeadership(): { ok: false; code: 'NOT_LEADER'; leaderHint: null } {
    return { ok: false, code: 'NOT_LEADER', leaderHint: null };
  }
  hasReady(): boolean {
    return this.pending !== undefined;
  }
  ready(): Ready {
    if (this.pending === undefined) throw new Error('no ready');
    return this.pending;
  }
  advance(): void {
    this.pending = undefined;
  }
}

describe('Simulator read checks', () => {
  it('fails a read served below an index acknowledged before the read began', () => {
    const sim = new Simulator({
      seed: 9,
      nodes: 1,
      factories: {
        createCore: (options) => new StaleReadCore(options.id),
        createStorage: () => nullStorage(),
      },
    });
    sim.propose('n1', 'x');
    expect(sim.isAcknowledged('x')).toBe(true);
    expect(() => sim.read('n1')).toThrow(/STALE_READ/);
  });
});
