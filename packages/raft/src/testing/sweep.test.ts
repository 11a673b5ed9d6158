// The deterministic sweep: 1,200 seeds over clusters of 1, 3, 5 and 7 nodes with every fault kind
// (loss, duplication, delay, long reordering, partitions of any shape, one-way cuts, crashes that
// lose unsynced writes, clock drift) and randomly drawn core settings. Invariants are checked after
// every event; after each chaos phase a healed majority must commit a new entry within 5 s of
// virtual time, and after full healing every node must hold every acknowledged proposal.
// `pnpm --filter @distsync/raft sim --seeds 100000` runs a longer sweep on demand.
import { describe, expect, it } from 'vitest';
import { realFactories, runSweepSeed } from '@distsync/raft/testing';
import type { SweepRunResult } from '@distsync/raft/testing';

const seedsPerSize = 300;
const commitBoundMs = 5000;

function sweep(nodes: number, firstSeed: number): SweepRunResult[] {
  const results: SweepRunResult[] = [];
  for (let seed = firstSeed; seed < firstSeed + seedsPerSize; seed++) {
    results.push(
      runSweepSeed({
        seed,
        nodes,
        factories: realFactories,
        commitBoundMs,
      }),
    );
  }
  return results;
}

describe('deterministic sweep', () => {
  for (const [offset, nodes] of [1, 3, 5, 7].entries()) {
    it(`${seedsPerSize} seeds on ${nodes} node(s): no violation, and a healed majority commits within ${commitBoundMs} ms`, () => {
      const results = sweep(nodes, 1 + offset * seedsPerSize);
      expect(results).toHaveLength(seedsPerSize);
      // The runs did real work: proposals were acknowledged, leaders changed, faults were injected.
      const acknowledged = results.reduce((sum, result) => sum + result.acknowledged, 0);
      expect(acknowledged).toBeGreaterThan(seedsPerSize * 10);
      expect(results.filter((result) => result.faults > 0).length).toBe(seedsPerSize);
      if (nodes > 1) expect(results.some((result) => result.maxTerm > 3)).toBe(true);
      for (const result of results) expect(result.recoveryMs).toBeLessThanOrEqual(commitBoundMs);
    }, 120_000);
  }
});

describe('simulator determinism', () => {
  it('the same seed gives the same trace, a different seed a different one', () => {
    const run = (seed: number): SweepRunResult =>
      runSweepSeed({
        seed,
        nodes: 5,
        factories: realFactories,
      });
    const first = run(4242);
    const again = run(4242);
    const other = run(4243);
    expect(again.traceFingerprint).toBe(first.traceFingerprint);
    expect(again).toEqual(first);
    expect(other.traceFingerprint).not.toBe(first.traceFingerprint);
  }, 30_000);
});
