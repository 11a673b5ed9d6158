// The deterministic sweep with membership changes among the faults: fresh nodes join as learners
// and are promoted, members (leaders too) are removed, while messages are lost, duplicated and
// reordered, partitions come and go and nodes crash. Every invariant is checked after every
// event; afterwards a set holding a majority of every configuration seen must commit within the
// bound, and every final member must hold every acknowledged proposal.
import { describe, expect, it } from 'vitest';
import { realFactories, runSweepSeed } from '@distsync/raft/testing';
import type { SweepRunResult } from '@distsync/raft/testing';

const seedsPerSize = 100;
const commitBoundMs = 5000;

describe('deterministic sweep with membership changes', () => {
  for (const [offset, nodes] of [1, 3, 5, 7].entries()) {
    it(`${seedsPerSize} seeds starting from ${nodes} nodes: no violation, and the cluster recovers`, () => {
      const results: SweepRunResult[] = [];
      const first = 50_001 + offset * seedsPerSize;
      for (let seed = first; seed < first + seedsPerSize; seed++) {
        results.push(
          runSweepSeed({
            seed,
            nodes,
            factories: realFactories,
            commitBoundMs,
            membershipChanges: true,
          }),
        );
      }
      const acknowledged = results.reduce((sum, result) => sum + result.acknowledged, 0);
      expect(acknowledged).toBeGreaterThan(seedsPerSize * 10);
      for (const result of results) expect(result.recoveryMs).toBeLessThanOrEqual(commitBoundMs);
      // Membership really changed: in most runs, and several times in some.
      const changed = results.filter((result) => result.configEntries > 0).length;
      expect(changed).toBeGreaterThan(seedsPerSize / 2);
      expect(results.some((result) => result.configEntries >= 3)).toBe(true);
    }, 120_000);
  }
});
