// `distsync cluster up`: an embedded local cluster of separate node processes, data under
// ./.distsync/, logs prefixed per node, progress until a leader exists, Ctrl-C stops every node
// cleanly. A second run finds the cluster id and secret in <data-dir>/cluster.json and the nodes
// find their WALs, so the data is still there.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fetchStatuses } from './status.js';
import { formatLogLine } from './log-format.js';

export interface ClusterUpOptions {
  readonly basePort: number;
  readonly host: string;
  readonly dataDir: string;
  readonly nodes: number;
  readonly rawLogs: boolean;
  readonly logLevel: string;
  readonly readyTimeoutMs: number;
  readonly tickMs?: number;
}

interface ClusterIdentity {
  readonly clusterId: string;
  readonly secret: string;
}

const COLORS = [
  '\u001b[36m',
  '\u001b[35m',
  '\u001b[33m',
  '\u001b[32m',
  '\u001b[34m',
  '\u001b[31m',
  '\u001b[37m',
];
const RESET = '\u001b[0m';
const STOP_TIMEOUT_MS = 15_000;

/** Reads `<dataDir>/cluster.json`, creating it (with a fresh secret) on the first run. */
function identity(dataDir: string): ClusterIdentity {
  const path = join(dataDir, 'cluster.json');
  if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8')) as ClusterIdentity;
  const created = {
    clusterId: `local-${randomBytes(4).toString('hex')}`,
    secret: randomBytes(24).toString('hex'),
  };
  writeFileSync(path, `${JSON.stringify(created, null, 2)}\n`, { mode: 0o600 });
  return created;
}

interface Member {
  readonly id: string;
  readonly port: number;
  readonly url: string;
  readonly color: string;
}

function members(options: ClusterUpOptions): Member[] {
  return Array.from({ length: options.nodes }, (_, index) => ({
    id: `n${index + 1}`,
    port: options.basePort + index,
    url: `http://${options.host}:${options.basePort + index}`,
    color: COLORS[index % COLORS.length] ?? '',
  }));
}

function pipeLines(input: {
  child: ChildProcess;
  member: Member;
  raw: boolean;
  color: boolean;
}): void {
  const { child, member, raw, color } = input;
  const prefix = color ? `${member.color}[${member.id}]${RESET} ` : `[${member.id}] `;
  for (const stream of [child.stdout, child.stderr]) {
    if (stream === null) continue;
    createInterface({ input: stream }).on('line', (line) => {
      process.stdout.write(`${prefix}${raw ? line : formatLogLine(line, color)}\n`);
    });
  }
}

function spawnMember(input: {
  member: Member;
  all: readonly Member[];
  options: ClusterUpOptions;
  cluster: ClusterIdentity;
}): ChildProcess {
  const { member, all, options, cluster } = input;
  const peers = all
    .filter((other) => other.id !== member.id)
    .map((other) => `${other.id}=${other.url}`);
  const args = [
    ...process.execArgv,
    resolve(process.argv[1] ?? ''),
    'node',
    ...['--id', member.id, '--host', options.host, '--port', String(member.port)],
    ...['--peers', peers.join(','), '--data-dir', join(options.dataDir, member.id)],
    ...['--cluster-id', cluster.clusterId, '--log-format', 'json', '--log-level', options.logLevel],
    ...(options.tickMs === undefined ? [] : ['--tick-ms', String(options.tickMs)]),
  ];
  // The secret travels in the environment, not on the command line other users can read.
  return spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DISTSYNC_SECRET: cluster.secret },
  });
}

interface Readiness {
  readonly leader?: { readonly id: string; readonly term: number };
  /** Members whose /status did not answer on the last poll. */
  readonly silent: readonly string[];
}

/** One poll: the leader a majority agrees on (if any) and which members did not answer. */
async function pollReadiness(all: readonly Member[]): Promise<Readiness> {
  const majority = Math.floor(all.length / 2) + 1;
  const rows = await fetchStatuses(all.map((member) => member.url));
  const silent = all.filter((_, index) => rows[index]?.reachable !== true).map((m) => m.id);
  for (const row of rows) {
    const id = row.status?.id;
    if (row.status?.role !== 'leader' || typeof id !== 'string') continue;
    const agreeing = rows.filter((other) => other.status?.leader === id).length;
    if (agreeing >= majority) return { leader: { id, term: Number(row.status.term) }, silent };
  }
  return { silent };
}

/**
 * Polls /status until every member answers and a majority agrees on a leader, or the time is
 * up; then returns the last poll. A cluster is announced ready only when all of its nodes
 * serve, so the `distsync status` it suggests shows every node reachable.
 */
async function waitForReady(input: {
  all: readonly Member[];
  timeoutMs: number;
  stopped: () => boolean;
}): Promise<Readiness> {
  const deadline = Date.now() + input.timeoutMs;
  let last: Readiness = { silent: input.all.map((member) => member.id) };
  while (Date.now() < deadline && !input.stopped()) {
    last = await pollReadiness(input.all);
    if (last.leader !== undefined && last.silent.length === 0) return last;
    await new Promise((done) => setTimeout(done, 100));
  }
  return last;
}

function stopAll(children: Map<string, ChildProcess>): Promise<void> {
  const exits = [...children.values()].map(
    (child) =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          done();
          return;
        }
        const force = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        child.once('exit', () => {
          clearTimeout(force);
          done();
        });
        child.kill('SIGTERM');
      }),
  );
  return Promise.all(exits).then(() => undefined);
}

export async function clusterUp(options: ClusterUpOptions): Promise<number> {
  mkdirSync(options.dataDir, { recursive: true });
  const cluster = identity(options.dataDir);
  const all = members(options);
  const color = process.stdout.isTTY;
  const children = new Map<string, ChildProcess>();
  let stopping = false;
  const started = Date.now();
  console.log(`› starting ${all.length} nodes (data in ${resolve(options.dataDir)})`);
  const finished = new Promise<number>((finish) => {
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      console.log('› stopping every node (draining)...');
      void stopAll(children).then(() => {
        const failed = [...children.values()].filter((child) => child.exitCode !== 0);
        console.log(
          failed.length === 0
            ? '› all nodes stopped cleanly'
            : `› ${failed.length} node(s) did not exit cleanly`,
        );
        finish(failed.length === 0 ? 0 : 1);
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    for (const member of all) {
      const child = spawnMember({ member, all, options, cluster });
      children.set(member.id, child);
      pipeLines({ child, member, raw: options.rawLogs, color });
      child.on('exit', (code, signal) => {
        if (stopping) return;
        console.log(`› ${member.id} exited (${signal ?? `code ${code}`})`);
        if (
          [...children.values()].every(
            (other) => other.exitCode !== null || other.signalCode !== null,
          )
        ) {
          finish(1);
        }
      });
    }
  });
  void announceLeader({ all, options, started, stopped: () => stopping });
  return finished;
}

async function announceLeader(input: {
  all: readonly Member[];
  options: ClusterUpOptions;
  started: number;
  stopped: () => boolean;
}): Promise<void> {
  const ready = await waitForReady({
    all: input.all,
    timeoutMs: input.options.readyTimeoutMs,
    stopped: input.stopped,
  });
  if (input.stopped()) return;
  if (ready.leader === undefined) {
    console.log(`› no leader after ${input.options.readyTimeoutMs} ms: check the node logs above`);
    return;
  }
  console.log(
    `› leader ${ready.leader.id} (term ${ready.leader.term}) after ${Date.now() - input.started} ms`,
  );
  if (ready.silent.length > 0) {
    console.log(
      `› not answering after ${input.options.readyTimeoutMs} ms: ${ready.silent.join(', ')} (check its log lines above)`,
    );
  }
  console.log('› endpoints (HTTP API, /client and /peer WebSockets on the same port):');
  for (const member of input.all) console.log(`    ${member.id}  ${member.url}`);
  console.log(
    `› try: distsync status   |   curl -X PUT ${input.all[0]?.url}/v1/kv/hello -d '{"value":"world"}'`,
  );
  console.log(`› dashboard: ${input.all[0]?.url}/ui (any node's /ui shows the whole cluster)`);
  console.log('› Ctrl-C stops all nodes');
}
