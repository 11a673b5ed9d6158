// `pnpm verify --workload kv --nemesis all --time 60s --seed 7`: one campaign against a fresh
// cluster; prints progress and the report, writes history and report JSON to the results
// folder, and exits 1 when a checker found a violation (2 on bad options).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCampaign } from './campaign.js';
import { cleanupAll, installSignalHandlers } from './cluster/processes.js';
import { NETWORK_KINDS, workspaceRoot, type NetworkKind } from './cluster/cluster.js';
import { TestkitError } from './errors.js';
import { parseNemeses } from './nemesis.js';
import { parseDuration } from './options.js';
import { formatReport } from './report.js';
import { createWorkloads, WORKLOAD_NAMES } from './workloads/index.js';

const USAGE = `usage: pnpm verify [options]
  --workload <${WORKLOAD_NAMES.join('|')}|all>   default kv (comma list allowed)
  --nemesis <kill|pause|partition|clock|disk|all|none|kind,...>   default all
                            (clock and disk start the nodes with test-only fault injection)
  --time <60s|2m|500ms>     how long clients and faults run; default 60s
  --seed <n>                default: from the clock (printed)
  --nodes <n>               default 3 (5 for the majorities ring)
  --runtime <source|dist>   source: tsx from TypeScript (default); dist: apps/node/dist
  --network <auto|netns|proxy>  netns: a network namespace per node on a bridge (root only);
                            proxy: loopback with a TCP proxy per peer link; default auto
                            (netns when root, else proxy; env DISTSYNC_TESTKIT_NETWORK)
  --results-dir <path>      default tooling/testkit/results
  --check <run-dir>         no campaign: check a saved run's history.json again
  --node-root <path>        run apps/node of another workspace (scripts/snapshot.sh pins a commit)
  --quiet-ms <min,max>      quiet time between faults; default 2000,4000
  --hold-ms <min,max>       how long a fault is held; default 3000,6000
  --clock-offset-ms <n>     clock-offset draws offsets in [-n, n] ms; default 2000
  --clock-rate-deviation <d>  clock-skew draws rates in [1-d, 1+d]; default 0.01 (at most 0.5)
  --tick-ms <n>, --election-ticks <n>   the nodes' Raft timing (default 50 and 10)`;

function rangeOption(name: string, text: string | undefined): [number, number] | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+),(\d+)$/.exec(text);
  if (match === null || Number(match[1]) > Number(match[2])) {
    throw new TestkitError(
      'BAD_OPTION',
      `--${name}: expected min,max in ms, got ${JSON.stringify(text)}`,
    );
  }
  return [Number(match[1]), Number(match[2])];
}

function integerOption(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text))
    throw new TestkitError(
      'BAD_OPTION',
      `--${name}: expected a whole number, got ${JSON.stringify(text)}`,
    );
  return Number(text);
}

function rateDeviationOption(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d*\.?\d+$/.test(text) || !(value >= 0 && value <= 0.5)) {
    throw new TestkitError(
      'BAD_OPTION',
      `--clock-rate-deviation: expected a number in [0, 0.5], got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

/** Arguments after the script name; a leading `--` (from `pnpm verify -- ...`) is dropped. */
function cliArgs(): string[] {
  const args = process.argv.slice(2);
  return args[0] === '--' ? args.slice(1) : args;
}

function parseOptions() {
  try {
    return parseArgs({
      args: cliArgs(),
      options: {
        workload: { type: 'string', default: 'kv' },
        nemesis: { type: 'string', default: 'all' },
        time: { type: 'string', default: '60s' },
        seed: { type: 'string' },
        nodes: { type: 'string' },
        runtime: { type: 'string', default: 'source' },
        network: { type: 'string' },
        'results-dir': { type: 'string' },
        'node-root': { type: 'string' },
        check: { type: 'string' },
        'quiet-ms': { type: 'string' },
        'hold-ms': { type: 'string' },
        'tick-ms': { type: 'string' },
        'election-ticks': { type: 'string' },
        'clock-offset-ms': { type: 'string' },
        'clock-rate-deviation': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      allowPositionals: false,
    });
  } catch (error) {
    throw new TestkitError('BAD_OPTION', error instanceof Error ? error.message : String(error));
  }
}

/** Checks a saved run's history.json again with the current checkers. */
function recheck(dir: string): number {
  let saved: Record<string, unknown>;
  try {
    saved = JSON.parse(readFileSync(join(dir, 'history.json'), 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new TestkitError(
      'BAD_OPTION',
      `--check: cannot read ${join(dir, 'history.json')}: ${String(error)}`,
    );
  }
  let valid = true;
  for (const [name, history] of Object.entries(saved)) {
    if (name === 'faults') continue;
    const [workload] = createWorkloads(name);
    if (workload === undefined) continue;
    workload.load(history);
    for (const checker of workload.check()) {
      valid &&= checker.valid !== false;
      const verdict =
        checker.valid === true ? 'PASS' : checker.valid === false ? 'FAIL' : 'UNKNOWN';
      process.stdout.write(`${verdict.padEnd(8)} ${name}/${checker.checker}: ${checker.summary}\n`);
      if (checker.valid === false)
        process.stdout.write(`${JSON.stringify(checker.details, null, 2)}\n`);
    }
  }
  return valid ? 0 : 1;
}

/** `{ [key]: value }` when the value is defined, else `{}` (exactOptionalPropertyTypes). */
function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

async function main(): Promise<number> {
  const { values } = parseOptions();
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.check !== undefined) return recheck(values.check);
  const runtime = values.runtime;
  if (runtime !== 'source' && runtime !== 'dist')
    throw new TestkitError('BAD_OPTION', '--runtime: expected source or dist');
  const network = values.network;
  if (network !== undefined && !(NETWORK_KINDS as readonly string[]).includes(network))
    throw new TestkitError('BAD_OPTION', `--network: expected ${NETWORK_KINDS.join(', ')}`);
  const seed = integerOption('seed', values.seed, Date.now() % 1_000_000);
  const nodes = integerOption('nodes', values.nodes, 3);
  const timeMs = parseDuration(values.time);
  const nemeses = parseNemeses(values.nemesis);
  const workloads = createWorkloads(values.workload);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = join(
    values['results-dir'] ?? join(workspaceRoot(), 'tooling', 'testkit', 'results'),
    `${stamp}-${workloads.map((w) => w.name).join('+')}-${values.nemesis.replace(/,/g, '+')}-seed${seed}`,
  );
  const controller = new AbortController();
  let interrupted = 0;
  process.on('SIGINT', () => {
    interrupted += 1;
    if (interrupted > 1) {
      cleanupAll();
      process.exit(130);
    }
    process.stderr.write(
      '\nSIGINT: stopping the clients, healing, checking what was recorded (Ctrl-C again to quit now)\n',
    );
    controller.abort();
  });
  installSignalHandlers(['SIGTERM']);
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  log(`seed ${seed}: replay the same choices with --seed ${seed}`);
  const report = await runCampaign({
    workloads,
    nemeses,
    timeMs,
    seed,
    nodes,
    runtime: runtime,
    ...optional('network', network as NetworkKind | undefined),
    resultsDir,
    ...(values['node-root'] === undefined ? {} : { nodeRoot: values['node-root'] }),
    log,
    signal: controller.signal,
    ...optional('quietMs', rangeOption('quiet-ms', values['quiet-ms'])),
    ...optional('holdMs', rangeOption('hold-ms', values['hold-ms'])),
    ...optional('clockRateDeviationMax', rateDeviationOption(values['clock-rate-deviation'])),
    ...optional(
      'clockOffsetMsMax',
      values['clock-offset-ms'] === undefined
        ? undefined
        : integerOption('clock-offset-ms', values['clock-offset-ms'], 2000),
    ),
    ...optional(
      'tickMs',
      values['tick-ms'] === undefined ? undefined : integerOption('tick-ms', values['tick-ms'], 50),
    ),
    ...optional(
      'electionTicks',
      values['election-ticks'] === undefined
        ? undefined
        : integerOption('election-ticks', values['election-ticks'], 10),
    ),
  });
  process.stdout.write(`${formatReport(report)}\n`);
  return report.valid ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof TestkitError && error.code === 'BAD_OPTION') {
      process.stderr.write(`distsync verify: ${error.message}\n${USAGE}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(
      `distsync verify: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
