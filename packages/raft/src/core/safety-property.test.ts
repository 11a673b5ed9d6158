// Random schedules of ticks, proposals, partitions and lossy links never break Raft's safety
// properties: at most one leader per term, applied logs that are prefixes of one another (state
// machine safety), and commit indexes and terms that never go back.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { NodeId } from '@distsync/raft';
import { TestNetwork } from '@distsync/raft/testing';

type Action =
  | { kind: 'tick'; node: number; times: number }
  | { kind: 'tick-all'; times: number }
  | { kind: 'propose'; node: number }
  | { kind: 'isolate'; node: number }
  | { kind: 'drop'; from: number; to: number; fraction: number }
  | { kind: 'recover' };

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('tick-all' as const),
      times: fc.integer({ min: 1, max: 25 }),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('tick' as const),
      node: fc.nat(6),
      times: fc.integer({ min: 1, max: 12 }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('propose' as const), node: fc.nat(6) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('isolate' as const), node: fc.nat(6) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('drop' as const),
      from: fc.nat(6),
      to: fc.nat(6),
      fraction: fc.constantFrom(0.3, 0.7, 1),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('recover' as const) }) },
);

class SafetyChecker {
  private readonly leaders = new Map<number, NodeId>();
  private readonly commits = new Map<NodeId, number>();
  private readonly terms = new Map<NodeId, number>();

  constructor(private readonly network: TestNetwork) {}

  check(): void {
    const applied: string[][] = [];
    for (const [id, node] of this.network.nodes) {
      const status = node.core.status();
      if (status.role === 'leader') {
        const other = this.leaders.get(status.term);
        expect(other === undefined || other === id, `two leaders in term ${status.term}`).toBe(
          true,
        );
        this.leaders.set(status.term, id);
      }
      expect(status.commitIndex).toBeGreaterThanOrEqual(this.commits.get(id) ?? 0);
      expect(status.term).toBeGreaterThanOrEqual(this.terms.get(id) ?? 0);
      this.commits.set(id, status.commitIndex);
      this.terms.set(id, status.term);
      applied.push(node.applied.map((entry) => `${entry.index}/${entry.term}`));
    }
    for (const a of applied) {
      for (const b of applied) {
        const shorter = a.length <= b.length ? a : b;
        const longer = a.length <= b.length ? b : a;
        expect(longer.slice(0, shorter.length)).toEqual(shorter);
      }
    }
  }
}

interface Schedule {
  readonly seed: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly actions: readonly Action[];
}

const schedule: fc.Arbitrary<Schedule> = fc.record({
  seed: fc.nat(1_000_000),
  preVote: fc.boolean(),
  checkQuorum: fc.boolean(),
  actions: fc.array(action, { minLength: 20, maxLength: 150 }),
});

function run(size: number, { seed, preVote, checkQuorum, actions }: Schedule): void {
  const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const options = { electionTicks: 10, preVote, checkQuorum };
  const network = new TestNetwork({ ids, seed, options });
  const checker = new SafetyChecker(network);
  const pick = (index: number): NodeId => ids[index % size]!;
  for (const step of actions) {
    switch (step.kind) {
      case 'tick':
        network.tick(pick(step.node), step.times);
        break;
      case 'tick-all':
        network.tick(undefined, step.times);
        break;
      case 'propose':
        network.propose(pick(step.node), 'x');
        break;
      case 'isolate':
        network.isolate(pick(step.node));
        break;
      case 'drop':
        network.drop(pick(step.from), pick(step.to), step.fraction);
        break;
      case 'recover':
        network.recover();
        break;
    }
    checker.check();
  }
}

describe('safety under random schedules', () => {
  it.each([3, 5])('holds for %d nodes', (size) => {
    fc.assert(
      fc.property(schedule, (drawn) => {
        run(size, drawn);
      }),
      { numRuns: 100, seed: 4242 },
    );
  });
});
