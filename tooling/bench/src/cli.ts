// Entry of `pnpm bench <suite...>`: runs the named suites one after the other, prints each
// suite's markdown table to stdout (progress goes to stderr) and writes its JSON results.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchError } from './errors.js';
import { cleanupAll, installCleanupHandlers } from './harness/processes.js';
import type { SuiteOptions, SuiteOutput } from './harness/suite-report.js';
import { expandSuites, parseOptions, USAGE } from './options.js';
import { runCacheSuite } from './suites/cache.js';
import { runKvGrowthSuite } from './suites/kv-growth.js';
import { runKvValueSizeSuite } from './suites/kv-value-size.js';
import { runLockGrowthSuite } from './suites/lock-growth.js';
import { runLocksSuite } from './suites/locks.js';
import { runQueueGrowthSuite } from './suites/queue-growth.js';
import { runQueueSuite } from './suites/queue.js';
import { runKvSuite } from './suites/run-kv.js';

const SUITES = [
  'kv',
  'kv-value-size',
  'kv-growth',
  'queue',
  'locks',
  'cache',
  'lock-growth',
  'queue-growth',
] as const;

type SuiteRunner = (options: SuiteOptions) => Promise<SuiteOutput>;

const RUNNERS: Record<(typeof SUITES)[number], SuiteRunner> = {
  kv: runKvSuite,
  'kv-value-size': runKvValueSizeSuite,
  'kv-growth': runKvGrowthSuite,
  queue: runQueueSuite,
  locks: runLocksSuite,
  cache: runCacheSuite,
  'lock-growth': runLockGrowthSuite,
  'queue-growth': runQueueGrowthSuite,
};

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (options.help || options.suites.length === 0) {
    process.stdout.write(`${USAGE}\n`);
    return options.help ? 0 : 2;
  }
  const suites = expandSuites(options.suites, SUITES);
  installCleanupHandlers();
  const resultsDir =
    options.resultsDir === undefined
      ? join(dirname(fileURLToPath(import.meta.url)), '..', 'results')
      : resolve(options.resultsDir);
  for (const suite of suites) {
    const run = RUNNERS[suite as (typeof SUITES)[number]] as SuiteRunner | undefined;
    if (run === undefined) throw new BenchError('UNKNOWN_SUITE', `unknown suite ${suite}`);
    const output = await run({ bench: options, resultsDir, log });
    process.stdout.write(`\n${output.markdown}\n\nresults: ${output.resultsPath}\n`);
  }
  return 0;
}

main().then(
  (code) => {
    cleanupAll();
    process.exit(code);
  },
  (error: unknown) => {
    cleanupAll();
    const code = error instanceof BenchError ? ` [${error.code}]` : '';
    process.stderr.write(
      `bench failed${code}: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(error instanceof BenchError && error.code === 'BAD_OPTION' ? 2 : 1);
  },
);
