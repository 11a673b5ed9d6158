// Command-line options of `pnpm bench <suite...>`, validated with messages that name the flag.
import { parseArgs } from 'node:util';
import { BenchError } from './errors.js';

export interface BenchOptions {
  readonly suites: readonly string[];
  readonly quick: boolean;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly concurrency: readonly number[];
  readonly failoverRounds: number;
  readonly maxOperationsPerRun: number;
  /** Which systems run (`distsync`, `etcd`); all by default. */
  readonly systems: readonly string[] | undefined;
  readonly resultsDir: string | undefined;
  readonly help: boolean;
}

export const DEFAULT_CONCURRENCY: readonly number[] = [1, 16, 64, 256];
export const DEFAULT_DURATION_MS = 5000;
export const QUICK_DURATION_MS = 1000;
export const DEFAULT_FAILOVER_ROUNDS = 5;
export const QUICK_FAILOVER_ROUNDS = 2;
export const DEFAULT_MAX_OPERATIONS_PER_RUN = 1_000_000;

export const USAGE = `usage: pnpm bench <suite...> [options]

suites:
  kv                    kv puts and linearizable gets, failover, RSS, first write (vs etcd)

options:
  --quick               short runs for a smoke test (1 s per level, 2 failover rounds)
  --duration-ms <n>     measured time per concurrency level (default 5000)
  --warmup-ms <n>       unmeasured warm-up per level (default duration / 5, at most 1000)
  --concurrency <list>  closed-loop clients per level, e.g. 1,16,64,256 (the default)
  --failover-rounds <n> kill -9 rounds, the median is reported (default 5)
  --max-ops <n>         upper bound of operations per level (default 1000000)
  --systems <list>      only these systems, e.g. distsync or etcd (default: all)
  --results-dir <path>  where the JSON results go (default tooling/bench/results)
  -h, --help            this text`;

function positiveInteger(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new BenchError(
      'BAD_OPTION',
      `${flag} must be a positive integer (got ${JSON.stringify(raw)})`,
    );
  }
  return value;
}

function list(raw: string | undefined): string[] | undefined {
  return raw
    ?.split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

export function parseOptions(argv: readonly string[]): BenchOptions {
  // pnpm may pass the `--` that separates its own flags from ours.
  const args = argv[0] === '--' ? argv.slice(1) : [...argv];
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      'duration-ms': { type: 'string' },
      'warmup-ms': { type: 'string' },
      concurrency: { type: 'string' },
      'failover-rounds': { type: 'string' },
      'max-ops': { type: 'string' },
      systems: { type: 'string' },
      'results-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const quick = values.quick;
  const durationMs = positiveInteger(
    '--duration-ms',
    values['duration-ms'],
    quick ? QUICK_DURATION_MS : DEFAULT_DURATION_MS,
  );
  const concurrency = (list(values.concurrency) ?? DEFAULT_CONCURRENCY.map(String)).map((item) =>
    positiveInteger('--concurrency', item, 1),
  );
  if (concurrency.length === 0)
    throw new BenchError('BAD_OPTION', '--concurrency must list at least one number');
  return {
    suites: positionals,
    quick,
    durationMs,
    warmupMs:
      values['warmup-ms'] === '0'
        ? 0
        : positiveInteger(
            '--warmup-ms',
            values['warmup-ms'],
            Math.min(1000, Math.round(durationMs / 5)),
          ),
    concurrency,
    failoverRounds: positiveInteger(
      '--failover-rounds',
      values['failover-rounds'],
      quick ? QUICK_FAILOVER_ROUNDS : DEFAULT_FAILOVER_ROUNDS,
    ),
    maxOperationsPerRun: positiveInteger(
      '--max-ops',
      values['max-ops'],
      DEFAULT_MAX_OPERATIONS_PER_RUN,
    ),
    systems: list(values.systems),
    resultsDir: values['results-dir'],
    help: values.help,
  };
}
