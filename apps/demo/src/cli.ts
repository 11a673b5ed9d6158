#!/usr/bin/env node
// `distsync-demo`: the menu on a terminal, every scenario when standard input is not one (or with
// --scenario). Ctrl-C stops the scenario and every node; a second Ctrl-C kills them at once.
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, runDemo } from './demo.js';
import { DEFAULT_BASE_PORT } from './embedded.js';
import { parseEndpoints } from './external.js';
import { SCENARIOS } from './scenarios/index.js';

interface Flags {
  endpoints?: string;
  scenario?: string;
  basePort: number;
  dataDir?: string;
  tickMs?: number;
  token?: string;
  color: boolean;
}

function integer(name: string): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < 0 || parsed > 65535) {
      throw new InvalidArgumentError(`${name} must be an integer between 0 and 65535`);
    }
    return parsed;
  };
}

const program = new Command('distsync-demo')
  .description(
    'distsync demo: an interactive menu of scenarios (locks, queue, MESI cache, Raft failover, cluster status, key-value) on an embedded three-node cluster or a running one',
  )
  .option('--endpoints <list>', 'use a running cluster (host:port,...) instead of starting one')
  .option(
    '--scenario <name>',
    `run without the menu and check the outcomes: ${SCENARIOS.map((scenario) => scenario.name).join(', ')} or all (the default when stdin is not a terminal)`,
  )
  .option(
    '--base-port <port>',
    'port of the embedded n1 (n2, n3 the next; 0 or taken: free ports)',
    integer('--base-port'),
    DEFAULT_BASE_PORT,
  )
  .option(
    '--data-dir <dir>',
    "keep the embedded nodes' data here (default: a temporary folder, removed on exit)",
  )
  .option('--tick-ms <ms>', 'Raft tick of the embedded nodes', integer('--tick-ms'))
  .option(
    '--token <token>',
    'client token of a cluster that requires one (env DISTSYNC_TOKEN)',
    process.env.DISTSYNC_TOKEN,
  )
  .option('--no-color', 'plain text even on a terminal')
  .exitOverride()
  .showHelpAfterError();

let flags: Flags;
try {
  program.parse();
  flags = program.opts<Flags>();
} catch (error) {
  process.exit(error instanceof CommanderError && error.exitCode === 0 ? 0 : EXIT_USAGE);
}

const controller = new AbortController();
let interrupts = 0;
const interrupt = (): void => {
  interrupts += 1;
  if (interrupts > 1) {
    // The second Ctrl-C does not wait for the drain: the exit handler kills every node.
    process.exit(EXIT_INTERRUPTED);
  }
  process.stdout.write('\n› stopping (Ctrl-C again to kill everything at once)\n');
  controller.abort();
};
process.on('SIGINT', interrupt);
process.on('SIGTERM', interrupt);

const scenario = flags.scenario ?? (process.stdin.isTTY ? undefined : 'all');
try {
  const code = await runDemo({
    ...(flags.endpoints === undefined ? {} : { endpoints: parseEndpoints(flags.endpoints) }),
    ...(scenario === undefined ? {} : { scenario }),
    embedded: {
      basePort: flags.basePort,
      ...(flags.dataDir === undefined ? {} : { dataDir: flags.dataDir }),
      ...(flags.tickMs === undefined ? {} : { tickMs: flags.tickMs }),
    },
    ...(flags.token === undefined ? {} : { token: flags.token }),
    ...(flags.color ? {} : { color: false }),
    signal: controller.signal,
  });
  process.exit(code);
} catch (error) {
  process.stderr.write(
    `distsync-demo: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(EXIT_FAILED);
}
