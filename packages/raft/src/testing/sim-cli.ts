// The simulator's command line: sweeps seeds over 1, 3, 5 and 7 nodes with every fault kind, or
// replays one seed. Bounded in seeds and in wall-clock time; stops at the first failure and prints
// its replay command.
//
//   pnpm --filter @distsync/raft sim --seeds 100000 [--from 1] [--nodes 1,3,5,7] [--max-seconds 600]
//   pnpm --filter @distsync/raft sim --seed 42 --nodes 5 [--chaos-ms 3000] [--trace]
//   either form takes [--membership] (membership changes) and [--disk-faults] (full disks, fsync
//   EIO, slow fsyncs) to add those fault kinds.
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { realFactories } from './real-factories.js';
import type { SimRaftOptions } from './simulator.js';
import { SimulationFailure } from './simulator.js';
import type { SweepRunResult } from './sweep.js';
import { runSweepSeed } from './sweep.js';

interface CliOptions {
  seeds: number;
  from: number;
  seed: number | undefined;
  nodes: number[];
  chaosMs: number;
  maxSeconds: number;
  progressEvery: number;
  traceLines: number;
  raftOverrides: SimRaftOptions;
  membership: boolean;
  diskFaults: boolean;
}

function positiveInteger(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 0) {
    throw new RangeError(`--${name} must be a non-negative integer (got ${value})`);
  }
  return parsed;
}

function parseCli(argv: string[]): CliOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      seeds: { type: 'string' },
      from: { type: 'string' },
      seed: { type: 'string' },
      nodes: { type: 'string' },
      'chaos-ms': { type: 'string' },
      'max-seconds': { type: 'string' },
      'progress-every': { type: 'string' },
      'trace-lines': { type: 'string' },
      raft: { type: 'string' },
      membership: { type: 'boolean' },
      'disk-faults': { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  });
  const nodes = (values.nodes ?? '1,3,5,7')
    .split(',')
    .map((part) => positiveInteger('nodes', part, 3));
  if (nodes.some((count) => count < 1 || count > 15))
    throw new RangeError('--nodes must list sizes between 1 and 15');
  return {
    seeds: positiveInteger('seeds', values.seeds, 1000),
    from: positiveInteger('from', values.from, 1),
    seed: values.seed === undefined ? undefined : positiveInteger('seed', values.seed, 0),
    nodes,
    chaosMs: positiveInteger('chaos-ms', values['chaos-ms'], 3000),
    maxSeconds: positiveInteger('max-seconds', values['max-seconds'], 3600),
    membership: values.membership ?? false,
    diskFaults: values['disk-faults'] ?? false,
    raftOverrides: values.raft === undefined ? {} : (JSON.parse(values.raft) as SimRaftOptions),
    traceLines: Math.max(1, positiveInteger('trace-lines', values['trace-lines'], 50)),
    progressEvery: Math.max(1, positiveInteger('progress-every', values['progress-every'], 1000)),
  };
}

function runOne(options: CliOptions, init: { seed: number; nodes: number }): SweepRunResult {
  return runSweepSeed({
    ...init,
    chaosMs: options.chaosMs,
    factories: realFactories,
    traceLinesOnFailure: options.traceLines,
    raftOverrides: options.raftOverrides,
    membershipChanges: options.membership,
    diskFaults: options.diskFaults,
  });
}

function replay(options: CliOptions, seed: number): void {
  const nodes = options.nodes[0] ?? 3;
  const result = runOne(options, { seed, nodes });
  process.stdout.write(`seed ${seed} with ${nodes} nodes passed: ${JSON.stringify(result)}\n`);
}

function sweep(options: CliOptions): number {
  const started = performance.now();
  let windowStart = started;
  let run = 0;
  let events = 0;
  for (let seed = options.from; run < options.seeds; seed++, run++) {
    if ((performance.now() - started) / 1000 > options.maxSeconds) {
      process.stdout.write(`stopped after --max-seconds ${options.maxSeconds}\n`);
      break;
    }
    const nodes = options.nodes[seed % options.nodes.length] ?? 3;
    events += runOne(options, { seed, nodes }).events;
    if ((run + 1) % options.progressEvery === 0) {
      const now = performance.now();
      const rate = (options.progressEvery / (now - windowStart)) * 1000;
      windowStart = now;
      process.stdout.write(
        `${run + 1} seeds (up to ${seed}), ${rate.toFixed(1)} seeds/s, ${events} events\n`,
      );
    }
  }
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `${run} seeds passed in ${seconds.toFixed(1)} s, zero invariant violations\n`,
  );
  return run;
}

function main(): void {
  const options = parseCli(process.argv.slice(2).filter((arg) => arg !== '--'));
  try {
    if (options.seed !== undefined) replay(options, options.seed);
    else sweep(options);
  } catch (error) {
    if (error instanceof SimulationFailure) {
      process.stderr.write(`${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw error;
  }
}

main();
