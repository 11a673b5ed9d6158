// The `distsync` command line (commander).
import { Command, InvalidArgumentError, Option } from 'commander';
import { CONFIG_KEYS, envNameOf, flagNameOf } from '../config.js';
import { clusterUp } from './cluster.js';
import { DEFAULT_ENDPOINTS } from './endpoints.js';
import { kvCommand } from './kv.js';
import { EXIT_USAGE, runNode } from './node-command.js';
import { statusCommand } from './status.js';

/** What each config key means, for `distsync node --help` and the README. */
export const CONFIG_HELP: Readonly<Record<(typeof CONFIG_KEYS)[number], [string, string]>> = {
  id: ['<id>', 'this node id (required)'],
  host: ['<host>', 'interface to bind (default 127.0.0.1)'],
  port: ['<port>', 'HTTP + WebSocket port (default 7401; 0 picks a free one)'],
  advertise: ['<url>', 'URL peers and clients reach this node at (default http://host:port)'],
  peers: ['<list>', 'other members as id=url,... (url: host:port, http:// or ws://)'],
  dataDir: ['<dir>', 'WAL and snapshots (default .distsync/<id>)'],
  clusterId: ['<id>', 'peers of another cluster id are refused (default distsync)'],
  secret: ['<secret>', 'shared peer secret, at least 16 characters (required with peers)'],
  token: ['<token>', 'clients must present this token (/client hello, HTTP Bearer on /v1)'],
  tlsCertFile: ['<file>', 'PEM certificate: serve https/wss and present it to peers'],
  tlsKeyFile: ['<file>', 'PEM private key of --tls-cert-file'],
  tlsCaFile: ['<file>', "PEM CA that peers' certificates must chain to (mutual TLS on /peer)"],
  tickMs: ['<ms>', 'Raft tick (default 50)'],
  electionTicks: ['<ticks>', 'election timeout in ticks, drawn in [n, 2n) (default 10)'],
  maxBodyBytes: ['<bytes>', 'largest request body (default 1048576)'],
  requestTimeoutMs: ['<ms>', 'how long a request waits for Raft (default 5000)'],
  drainTimeoutMs: ['<ms>', 'how long a stopping node finishes in-flight work (default 5000)'],
  snapshotEveryEntries: [
    '<n>',
    'snapshot the state machines and compact the WAL every n entries (default 10000)',
  ],
  maxKeys: ['<n>', 'kv keys held at most (default 1000000)'],
  maxSessions: ['<n>', 'sessions held at most (default 100000)'],
  maxLocks: ['<n>', 'locks held or waited for at most (default 100000)'],
  cacheMaxEntries: ['<n>', "lines in this node's cache at most (default 10000)"],
  cacheMaxBytes: ['<bytes>', "value bytes in this node's cache at most (default 67108864)"],
  redisUrl: ['<url>', 'Redis backing store of the cache (default: a memory store per node)'],
  redisKeyPrefix: ['<prefix>', 'prefix of the cache keys in Redis (default distsync:cache:)'],
  logLevel: ['<level>', 'fatal|error|warn|info|debug|trace|silent (default info)'],
  logFormat: ['<format>', 'json|pretty|auto (default auto: pretty on a terminal)'],
  faultInjection: [
    '<bool>',
    'TEST ONLY: POST /v1/debug/faults may shift the clock and fail the disk (default false)',
  ],
};

function integerArgument(name: string): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < 0) {
      throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    }
    return parsed;
  };
}

function nodeCommand(): Command {
  const command = new Command('node').description(
    'run one node (flags > DISTSYNC_* environment > --config file > defaults)',
  );
  command.option(
    '--config <file>',
    'JSON config file (keys as below, camelCase); env DISTSYNC_CONFIG',
  );
  for (const key of CONFIG_KEYS) {
    const [argument, help] = CONFIG_HELP[key];
    command.addOption(
      new Option(`${flagNameOf(key)} ${argument}`, `${help}; env ${envNameOf(key)}`),
    );
  }
  return command.action(async (flags: Record<string, unknown>) => {
    await runNode(flags);
  });
}

function clusterCommand(setExit: (code: number) => void): Command {
  const cluster = new Command('cluster').description('a local cluster of node processes');
  cluster
    .command('up')
    .description(
      'start a local cluster (data under ./.distsync/, ports 7401-7403); Ctrl-C stops it',
    )
    .option(
      '--base-port <port>',
      'port of n1; n2, n3... take the next ones',
      integerArgument('--base-port'),
      7401,
    )
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--data-dir <dir>', 'where every node keeps its data', '.distsync')
    .option('--nodes <n>', 'how many nodes (odd: 1, 3, 5, 7)', integerArgument('--nodes'), 3)
    .option('--log-level <level>', "the nodes' log level", 'info')
    .option('--tick-ms <ms>', 'Raft tick of every node', integerArgument('--tick-ms'))
    .option('--raw-logs', "print the nodes' JSON log lines unchanged", false)
    .option(
      '--ready-timeout-ms <ms>',
      'how long to wait for a leader and for every node to answer',
      integerArgument('--ready-timeout-ms'),
      15_000,
    )
    .action(
      async (options: {
        basePort: number;
        host: string;
        dataDir: string;
        nodes: number;
        logLevel: string;
        tickMs?: number;
        rawLogs: boolean;
        readyTimeoutMs: number;
      }) => {
        if (
          options.nodes < 1 ||
          options.nodes > 9 ||
          options.basePort + options.nodes - 1 > 65535
        ) {
          process.stderr.write('distsync: --nodes must be 1-9 and every port at most 65535\n');
          setExit(EXIT_USAGE);
          return;
        }
        setExit(await clusterUp(options));
      },
    );
  return cluster;
}

function kvCommands(setExit: (code: number) => void): Command {
  const kv = new Command('kv').description('read and write the kv service');
  const common = (command: Command): Command =>
    command
      .option('--endpoints <list>', 'nodes to ask, comma-separated', DEFAULT_ENDPOINTS)
      .option('--token <token>', 'client token (env DISTSYNC_TOKEN)', process.env.DISTSYNC_TOKEN);
  common(kv.command('get <key>').description('print { value, version } (linearizable)')).action(
    async (key: string, options: { endpoints: string; token?: string }) => {
      setExit(await kvCommand({ action: 'get', key, options }));
    },
  );
  common(kv.command('put <key> <value>').description('write a value (JSON, else a string)')).action(
    async (key: string, value: string, options: { endpoints: string; token?: string }) => {
      setExit(await kvCommand({ action: 'put', key, value, options }));
    },
  );
  common(kv.command('del <key>').description('delete a key')).action(
    async (key: string, options: { endpoints: string; token?: string }) => {
      setExit(await kvCommand({ action: 'del', key, options }));
    },
  );
  return kv;
}

/** Usage errors throw (the entry maps them to exit 2) in every subcommand, not only the root. */
function overrideExits(command: Command): void {
  command.exitOverride();
  for (const sub of command.commands) overrideExits(sub);
}

/** Builds the program; `setExit` receives each command's exit code. */
export function createProgram(setExit: (code: number) => void): Command {
  const program = new Command('distsync')
    .description(
      'distsync: a Raft-replicated synchronization server (kv, sessions, locks, queues, cache)',
    )
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError();
  program.addCommand(nodeCommand());
  program.addCommand(clusterCommand(setExit));
  program
    .command('status')
    .description('the cluster at a glance')
    .option('--endpoints <list>', 'nodes to ask, comma-separated', DEFAULT_ENDPOINTS)
    .option('--json', 'print JSON instead of a table', false)
    .action(async (options: { endpoints: string; json: boolean }) => {
      setExit(await statusCommand(options));
    });
  program.addCommand(kvCommands(setExit));
  overrideExits(program);
  return program;
}
