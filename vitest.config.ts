import { availableParallelism } from 'node:os';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/**
 * The projects whose files run longest (they start real node processes, or simulate thousands of
 * seeds), in the order their files should start. Vitest's own order is project by project, by
 * name, with a file's last duration known only from a local cache that a fresh clone lacks: CI
 * then started the 50 s testkit campaign last, alone on one worker while the other sat idle.
 */
const LONGEST_FIRST = ['demo', 'testkit', 'node', 'raft'];

class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification): number => {
      const index = LONGEST_FIRST.indexOf(file.project.name);
      return index < 0 ? LONGEST_FIRST.length : index;
    };
    // Array.prototype.sort is stable: within a project, Vitest's order (cached durations, else
    // the larger file first) stays.
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

// One Vitest for the whole workspace: every package, app and tooling folder with a
// `vitest.config.ts` of its own (a three-line `defineProject`) joins as a project.
export default defineConfig({
  test: {
    projects: [
      'packages/*/vitest.config.ts',
      'apps/*/vitest.config.ts',
      'tooling/*/vitest.config.ts',
    ],
    reporters: process.env.CI ? ['default'] : ['default'],
    // At least two files at once (Vitest's default is one fewer than the cores: one on a 2-core
    // CI machine). The slow files mostly wait on child processes, sockets and timers, so a single
    // worker left a core idle for most of the run.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    sequence: { sequencer: LongestFirstSequencer },
  },
});
