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
  /** Also copy each suite's table, JSON and charts to the publish dir (docs/benchmarks). */
  readonly publish: boolean;
  readonly publishDir: string | undefined;
  /** Value sizes in bytes of the kv-value-size suite. */
  readonly valueSizes: readonly number[];
  /** Keys loaded by the kv-growth suite (checkpoints at 10k, 100k, 1M ... up to this). */
  readonly keys: number;
  /** Upper bound of a growth suite's load per system, in ms. */
  readonly growthBudgetMs: number;
  /** Held locks (lock-growth) and queued messages (queue-growth) at the last checkpoint. */
  readonly growthItems: number;
  readonly help: boolean;
}

export const DEFAULT_CONCURRENCY: readonly number[] = [1, 4, 16, 64, 256];
export const DEFAULT_DURATION_MS = 5000;
export const QUICK_DURATION_MS = 1000;
export const DEFAULT_FAILOVER_ROUNDS = 5;
export const QUICK_FAILOVER_ROUNDS = 2;
export const DEFAULT_MAX_OPERATIONS_PER_RUN = 1_000_000;
export const DEFAULT_VALUE_SIZES: readonly number[] = [100, 1024, 4096, 16_384, 65_536];
export const QUICK_VALUE_SIZES: readonly number[] = [100, 4096, 65_536];
/** etcd's default request limit is 1.5 MiB and distsync's body limit 1 MiB: values stay below. */
export const MAX_VALUE_BYTES: number = 512 * 1024;
export const DEFAULT_KEYS = 1_000_000;
export const QUICK_KEYS = 20_000;
export const MAX_KEYS = 10_000_000;
export const DEFAULT_GROWTH_BUDGET_MS = 180_000;
export const QUICK_GROWTH_BUDGET_MS = 30_000;
export const DEFAULT_GROWTH_ITEMS = 100_000;
export const QUICK_GROWTH_ITEMS = 10_000;
export const MAX_GROWTH_ITEMS = 1_000_000;
/** Range syntax `1..256` in --concurrency: powers of two from the first to the last. */
export const MAX_CONCURRENCY = 4096;

export const USAGE = `usage: pnpm bench <suite...> [options]

suites:
  kv                    kv puts and linearizable gets, failover, RSS, first write (vs etcd, Redis)
  kv-value-size         kv put/get throughput and latency per value size, 100 B to 64 KiB
  kv-growth             load --keys keys; RSS per node and put/get latency at 10k, 100k, 1M
  queue                 queue sends (single, batched), receive+ack, end-to-end latency
                        (vs BullMQ, RabbitMQ quorum queue, NATS JetStream)
  locks                 lock acquire+release cycles uncontended, grants/s with 8 contenders
                        (vs etcd's v3 lock service, Redlock on the running Redis)
  lock-growth           hold --growth-items locks; RSS per node and acquire+release latency of
                        a fresh lock at 1k, 10k, 100k held (vs etcd, Redlock)
  queue-growth          queue --growth-items messages; RSS per node and send, receive+ack
                        latency at 1k, 10k, 100k queued (vs BullMQ, RabbitMQ, NATS JetStream R3)
  all                   every registered suite, one after the other

options:
  --quick               short runs for a smoke test (1 s per level, 2 failover rounds)
  --duration-ms <n>     measured time per concurrency level (default 5000)
  --warmup-ms <n>       unmeasured warm-up per level (default duration / 5, at most 1000)
  --concurrency <list>  closed-loop clients per level, e.g. 1,4,16,64,256 (the default);
                        a range 1..256 means every power of two from 1 to 256
  --failover-rounds <n> kill -9 rounds, the median is reported (default 5)
  --max-ops <n>         upper bound of operations per level (default 1000000)
  --systems <list>      only these systems, e.g. distsync or etcd (default: all)
  --value-sizes <list>  kv-value-size: bytes per value (default 100,1024,4096,16384,65536)
  --keys <n>            kv-growth: keys to load (default 1000000, quick 20000)
  --growth-budget-ms <n> growth suites: load time bound per system (default 180000, quick 30000)
  --growth-items <n>    lock-growth, queue-growth: locks held / messages queued at the end
                        (default 100000, quick 10000)
  --results-dir <path>  where the JSON, markdown and SVG results go (default tooling/bench/results)
  --publish             also copy each suite's markdown, JSON and charts to docs/benchmarks/
  --publish-dir <path>  where --publish copies to (default <workspace>/docs/benchmarks)
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

/**
 * `1,16,64` or a range `1..256` (every power of two from the first to the last, the last
 * included even when it is not one), each a positive integer at most MAX_CONCURRENCY.
 */
export function parseConcurrency(raw: string | undefined): number[] {
  if (raw === undefined) return [...DEFAULT_CONCURRENCY];
  const range = /^\s*(\d+)\s*\.\.\s*(\d+)\s*$/.exec(raw);
  let levels: number[];
  if (range !== null) {
    const from = positiveInteger('--concurrency', range[1], 1);
    const to = positiveInteger('--concurrency', range[2], 1);
    if (from > to) {
      throw new BenchError('BAD_OPTION', `--concurrency range ${raw} goes down (${from} > ${to})`);
    }
    levels = [];
    for (let level = from; level < to; level *= 2) levels.push(level);
    levels.push(to);
  } else {
    levels = (list(raw) ?? []).map((item) => positiveInteger('--concurrency', item, 1));
  }
  if (levels.length === 0) {
    throw new BenchError('BAD_OPTION', '--concurrency must list at least one number');
  }
  const tooHigh = levels.find((level) => level > MAX_CONCURRENCY);
  if (tooHigh !== undefined) {
    throw new BenchError(
      'BAD_OPTION',
      `--concurrency ${tooHigh} is above ${MAX_CONCURRENCY} clients per level`,
    );
  }
  return [...new Set(levels)];
}

function boundedList(
  flag: string,
  raw: string | undefined,
  bounds: { fallback: readonly number[]; max: number },
): number[] {
  if (raw === undefined) return [...bounds.fallback];
  const values = (list(raw) ?? []).map((item) => positiveInteger(flag, item, 1));
  if (values.length === 0)
    throw new BenchError('BAD_OPTION', `${flag} must list at least one number`);
  const tooHigh = values.find((value) => value > bounds.max);
  if (tooHigh !== undefined) {
    throw new BenchError('BAD_OPTION', `${flag} ${tooHigh} is above the limit of ${bounds.max}`);
  }
  return values;
}

function list(raw: string | undefined): string[] | undefined {
  return raw
    ?.split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/**
 * The suites to run, in order: `all` is every known suite in registration order (once each);
 * a name that is not a known suite is UNKNOWN_SUITE, listing the known ones.
 */
export function expandSuites(requested: readonly string[], known: readonly string[]): string[] {
  const unknown = requested.filter((suite) => suite !== 'all' && !known.includes(suite));
  if (unknown.length > 0) {
    throw new BenchError(
      'UNKNOWN_SUITE',
      `unknown suite ${unknown.join(', ')}; known: ${known.join(', ')}, all`,
    );
  }
  return requested.includes('all') ? [...known] : [...new Set(requested)];
}

function parseOptionsRaw(args: string[]) {
  return parseArgs({
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
      publish: { type: 'boolean', default: false },
      'publish-dir': { type: 'string' },
      'value-sizes': { type: 'string' },
      keys: { type: 'string' },
      'growth-budget-ms': { type: 'string' },
      'growth-items': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

export function parseOptions(argv: readonly string[]): BenchOptions {
  // pnpm may pass the `--` that separates its own flags from ours.
  const args = argv[0] === '--' ? argv.slice(1) : [...argv];
  let parsed: ReturnType<typeof parseOptionsRaw>;
  try {
    parsed = parseOptionsRaw(args);
  } catch (error) {
    // node's own messages (`Unknown option '--x'`, `Option '--keys <value>' argument missing`).
    throw new BenchError('BAD_OPTION', error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  const quick = values.quick;
  const durationMs = positiveInteger(
    '--duration-ms',
    values['duration-ms'],
    quick ? QUICK_DURATION_MS : DEFAULT_DURATION_MS,
  );
  const concurrency = parseConcurrency(values.concurrency);
  const keys = positiveInteger('--keys', values.keys, quick ? QUICK_KEYS : DEFAULT_KEYS);
  if (keys > MAX_KEYS) {
    throw new BenchError('BAD_OPTION', `--keys ${keys} is above the limit of ${MAX_KEYS}`);
  }
  const growthItems = positiveInteger(
    '--growth-items',
    values['growth-items'],
    quick ? QUICK_GROWTH_ITEMS : DEFAULT_GROWTH_ITEMS,
  );
  if (growthItems > MAX_GROWTH_ITEMS) {
    throw new BenchError(
      'BAD_OPTION',
      `--growth-items ${growthItems} is above the limit of ${MAX_GROWTH_ITEMS}`,
    );
  }
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
    publish: values.publish || values['publish-dir'] !== undefined,
    publishDir: values['publish-dir'],
    valueSizes: boundedList('--value-sizes', values['value-sizes'], {
      fallback: quick ? QUICK_VALUE_SIZES : DEFAULT_VALUE_SIZES,
      max: MAX_VALUE_BYTES,
    }),
    keys,
    growthBudgetMs: positiveInteger(
      '--growth-budget-ms',
      values['growth-budget-ms'],
      quick ? QUICK_GROWTH_BUDGET_MS : DEFAULT_GROWTH_BUDGET_MS,
    ),
    growthItems,
    help: values.help,
  };
}
