// A cluster of real `distsync node` processes, each with its own data dir and log file, with
// the controls the nemeses use: kill -9 and restart, SIGSTOP and SIGCONT, directed link cuts.
// The peer network is one of two kinds: as root, a network namespace per node on a bridge
// (`NetnsNetwork`: real packets, silently dropped by cut links); otherwise loopback ports with
// every peer link through its own fault-injecting TCP proxy (`LinkProxy`).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { TestkitError } from '../errors.js';
import {
  killHard,
  logTail,
  makeTempDir,
  removeTempDir,
  signalGroup,
  startProcess,
  stopGracefully,
  type ManagedProcess,
} from './processes.js';
import { NetnsNetwork, netnsSupport } from './netns.js';
import { LinkProxy } from './proxy.js';

/**
 * `netns`: a network namespace per node (root only); `proxy`: loopback and TCP proxies;
 * `auto` (default): netns where this process can build it, else proxy. The environment
 * variable DISTSYNC_TESTKIT_NETWORK sets the default.
 */
export type NetworkKind = 'auto' | 'netns' | 'proxy';

export const NETWORK_KINDS: readonly NetworkKind[] = ['auto', 'netns', 'proxy'];

/** The network `auto` (or the environment) resolves to here. */
export function resolveNetwork(requested?: NetworkKind): 'netns' | 'proxy' {
  const fromEnv = process.env.DISTSYNC_TESTKIT_NETWORK;
  const kind = requested ?? (fromEnv === undefined || fromEnv === '' ? 'auto' : fromEnv);
  if (!(NETWORK_KINDS as readonly string[]).includes(kind)) {
    throw new TestkitError(
      'BAD_OPTION',
      `network: expected ${NETWORK_KINDS.join(', ')}, got ${JSON.stringify(kind)}`,
    );
  }
  if (kind === 'auto') return netnsSupport().ok ? 'netns' : 'proxy';
  return kind as 'netns' | 'proxy';
}

type CommandWrap = (
  index: number,
  command: string,
  args: readonly string[],
) => { command: string; args: readonly string[] };

/** The port every node listens on inside its own namespace. */
const NETNS_PORT = 7401;

/** Peer traffic that cut links dropped: stream bytes (proxy) or IP packets (netns). */
export interface PeerDrops {
  readonly count: number;
  readonly unit: 'bytes' | 'packets';
}

/** Directed link cuts, whichever network carries the peer traffic (`NetnsNetwork` is one). */
export interface PeerLinks {
  cut(from: number, to: number): void;
  heal(): void;
  dropped(): PeerDrops;
  close(): void | Promise<void>;
}

/** Loopback: `proxies.get(\`${from}>${to}\`)` is the link `from` dials `to` through. */
class ProxyLinks implements PeerLinks {
  constructor(readonly proxies: ReadonlyMap<string, LinkProxy>) {}

  cut(from: number, to: number): void {
    // `from` dials `to` through proxy from>to: its forward bytes are from's; and when `to`
    // dials `from` (through to>from), from's bytes go backward.
    this.proxies.get(`${from}>${to}`)?.block('forward');
    this.proxies.get(`${to}>${from}`)?.block('backward');
  }

  heal(): void {
    for (const proxy of this.proxies.values()) proxy.heal();
  }

  dropped(): PeerDrops {
    let total = 0;
    for (const proxy of this.proxies.values()) total += proxy.droppedBytes;
    return { count: total, unit: 'bytes' };
  }

  async close(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((proxy) => proxy.close()));
  }
}

/** `source`: tsx with the @distsync/source condition (no build needed); `dist`: the built CLI. */
export type NodeRuntime = 'source' | 'dist';

export interface ClusterOptions {
  /** Nodes in the cluster (3 or 5 usually); default 3. */
  readonly nodes?: number;
  readonly runtime?: NodeRuntime;
  /** Raft timing of the nodes (their defaults: 50 ms ticks, 10 election ticks). */
  readonly tickMs?: number;
  readonly electionTicks?: number;
  /** How long a node waits on Raft before answering TIMEOUT; default 2000. */
  readonly requestTimeoutMs?: number;
  /** Small, so restarts go through snapshots; default 500. */
  readonly snapshotEveryEntries?: number;
  /** Extra `distsync node` flags for every node. */
  readonly extraArgs?: readonly string[];
  readonly logLevel?: 'info' | 'warn' | 'debug';
  /** The workspace whose apps/node runs (default this one; see scripts/snapshot.sh). */
  readonly nodeRoot?: string;
  /** The peer network (see `NetworkKind`); default `auto`. */
  readonly network?: NetworkKind;
  /**
   * Starts every node with `--fault-injection true` (test only), so `setFaults` can shift its
   * clock and fail its disk through `POST /v1/debug/faults`. Default false.
   */
  readonly faultInjection?: boolean;
}

/** The body of `POST /v1/debug/faults` (see apps/node README). */
export interface NodeFaults {
  readonly reset?: boolean;
  readonly clock?: { readonly offsetMs?: number; readonly rate?: number };
  readonly disk?: {
    readonly syncDelayMs?: number;
    readonly noSpace?: boolean;
    readonly failNext?: 'write' | 'fsync';
  };
}

/** What /status says that the harness reads. */
export interface NodeStatus {
  readonly id: string;
  readonly role: string;
  readonly term: number;
  readonly leader: string | null;
  readonly commitIndex?: number;
  readonly appliedIndex?: number;
}

/** The workspace root: the nearest folder above this file holding pnpm-workspace.yaml. */
export function workspaceRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (let depth = 0; depth < 12; depth += 1) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new TestkitError('NOT_BUILT', `no pnpm-workspace.yaml above ${from}`);
}

const RESERVED_PORTS = new Set([2379, 2380, 4222, 5432, 5672, 6379, 7401, 7402, 7403, 8222, 15672]);

/** `count` distinct free loopback ports (held together while chosen, released before return). */
export async function freePorts(count: number): Promise<number[]> {
  const servers: ReturnType<typeof createServer>[] = [];
  const ports: number[] = [];
  try {
    while (ports.length < count && servers.length < count * 4) {
      const server = createServer();
      servers.push(server);
      const port = await new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
          const address = server.address();
          resolve(address !== null && typeof address === 'object' ? address.port : 0);
        });
      });
      if (port > 0 && !RESERVED_PORTS.has(port)) ports.push(port);
    }
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
  if (ports.length < count) throw new TestkitError('START_TIMEOUT', 'could not find free ports');
  return ports;
}

interface Member {
  readonly id: string;
  /** The address it listens on (and is reached at). */
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly dataDir: string;
  readonly logFile: string;
  process: ManagedProcess | undefined;
  paused: boolean;
}

export class Cluster {
  readonly rootDir: string;
  /** The peer network in use. */
  readonly network: 'netns' | 'proxy';
  readonly #members: Member[];
  readonly #links: PeerLinks;
  readonly #command: { command: string; args: readonly string[]; cwd: string };
  /** Wraps a node's command line (into its namespace, for netns). */
  readonly #wrap: CommandWrap;
  readonly #nodeArgs: (member: Member) => string[];
  /** Directed links cut now, as `from>to` (index pairs). */
  readonly #cuts = new Set<string>();
  /** Nodes a nemesis killed on purpose, which `waitReady` must not treat as crashed. */
  readonly #expectedDown = new Set<string>();

  private constructor(parts: {
    rootDir: string;
    network: 'netns' | 'proxy';
    members: Member[];
    links: PeerLinks;
    command: { command: string; args: readonly string[]; cwd: string };
    wrap: CommandWrap;
    nodeArgs: (member: Member) => string[];
  }) {
    this.rootDir = parts.rootDir;
    this.network = parts.network;
    this.#members = parts.members;
    this.#links = parts.links;
    this.#command = parts.command;
    this.#wrap = parts.wrap;
    this.#nodeArgs = parts.nodeArgs;
  }

  /** Creates the data dirs and the peer network and starts every node (see `waitReady`). */
  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const count = options.nodes ?? 3;
    if (!Number.isInteger(count) || count < 1 || count > 9) {
      throw new TestkitError('BAD_OPTION', `nodes: expected 1 to 9, got ${count}`);
    }
    const network = resolveNetwork(options.network);
    const command = nodeCommand(options.runtime ?? 'source', options.nodeRoot ?? workspaceRoot());
    const rootDir = makeTempDir('cluster');
    mkdirSync(join(rootDir, 'logs'));
    const netns = network === 'netns' ? NetnsNetwork.create(count) : undefined;
    const ports =
      netns === undefined ? await freePorts(count) : Array<number>(count).fill(NETNS_PORT);
    const members: Member[] = ports.map((port, index) => {
      const id = `n${index + 1}`;
      return {
        id,
        host: netns?.address(index) ?? '127.0.0.1',
        port,
        url: `http://${netns?.address(index) ?? '127.0.0.1'}:${port}`,
        dataDir: join(rootDir, id),
        logFile: join(rootDir, 'logs', `${id}.log`),
        process: undefined,
        paused: false,
      };
    });
    const proxies = new Map<string, LinkProxy>();
    if (netns === undefined) {
      for (const from of members.keys()) {
        for (const to of members.keys()) {
          const target = members[to];
          if (from === to || target === undefined) continue;
          proxies.set(
            `${from}>${to}`,
            await LinkProxy.start({ from: `n${from + 1}`, to: target.id, targetPort: target.port }),
          );
        }
      }
    }
    /** Where `from` dials `to`: straight to its namespace address, or through a proxy. */
    const peerAddress = (from: number, to: number): string => {
      const target = members[to];
      if (netns !== undefined) return `${target?.host ?? ''}:${target?.port ?? 0}`;
      return `127.0.0.1:${proxies.get(`${from}>${to}`)?.port ?? 0}`;
    };
    const secret = randomBytes(24).toString('hex');
    const nodeArgs = (member: Member): string[] => {
      const self = members.indexOf(member);
      const peers = members
        .map((peer, index) => ({ peer, index }))
        .filter(({ index }) => index !== self)
        .map(({ peer, index }) => `${peer.id}=${peerAddress(self, index)}`)
        .join(',');
      return [
        'node',
        ...['--id', member.id, '--host', member.host, '--port', String(member.port)],
        ...(peers === '' ? [] : ['--peers', peers, '--secret', secret]),
        ...['--data-dir', member.dataDir, '--cluster-id', 'distsync-testkit'],
        ...['--log-level', options.logLevel ?? 'info', '--log-format', 'json'],
        ...['--request-timeout-ms', String(options.requestTimeoutMs ?? 2000)],
        ...['--drain-timeout-ms', '1000'],
        ...['--snapshot-every-entries', String(options.snapshotEveryEntries ?? 500)],
        ...(options.tickMs === undefined ? [] : ['--tick-ms', String(options.tickMs)]),
        ...(options.electionTicks === undefined
          ? []
          : ['--election-ticks', String(options.electionTicks)]),
        ...(options.faultInjection === true ? ['--fault-injection', 'true'] : []),
        ...(options.extraArgs ?? []),
      ];
    };
    const cluster = new Cluster({
      rootDir,
      network,
      members,
      links: netns ?? new ProxyLinks(proxies),
      command,
      wrap:
        netns === undefined
          ? (_index, program, args) => ({ command: program, args })
          : (index, program, args) => netns.wrap(index, program, args),
      nodeArgs,
    });
    for (const index of members.keys()) cluster.start(index);
    return cluster;
  }

  get size(): number {
    return this.#members.length;
  }

  get ids(): readonly string[] {
    return this.#members.map((member) => member.id);
  }

  #member(index: number): Member {
    const member = this.#members[index];
    if (member === undefined) throw new TestkitError('BAD_OPTION', `no node ${index}`);
    return member;
  }

  url(index: number): string {
    return this.#member(index).url;
  }

  logFile(index: number): string {
    return this.#member(index).logFile;
  }

  isAlive(index: number): boolean {
    return this.#member(index).process?.isAlive() === true;
  }

  isPaused(index: number): boolean {
    return this.#member(index).paused;
  }

  /** Nodes running and not paused. */
  available(): number[] {
    return [...this.#members.keys()].filter(
      (index) => this.isAlive(index) && !this.isPaused(index),
    );
  }

  /** Starts (or restarts) a node on its data dir; a no-op when it runs. */
  start(index: number): void {
    const member = this.#member(index);
    if (member.process?.isAlive() === true) return;
    member.paused = false;
    const line = this.#wrap(index, this.#command.command, [
      ...this.#command.args,
      ...this.#nodeArgs(member),
    ]);
    member.process = startProcess({
      name: member.id,
      command: line.command,
      args: line.args,
      logFile: member.logFile,
      cwd: this.#command.cwd,
      env: { ...process.env, NODE_ENV: 'production' },
    });
  }

  /** kill -9. */
  async kill(index: number): Promise<void> {
    const member = this.#member(index);
    if (member.process !== undefined) await killHard(member.process);
    member.paused = false;
  }

  pause(index: number): void {
    const member = this.#member(index);
    if (member.process?.isAlive() !== true) return;
    signalGroup(member.process.pid, 'SIGSTOP');
    member.paused = true;
  }

  resume(index: number): void {
    const member = this.#member(index);
    if (member.process !== undefined) signalGroup(member.process.pid, 'SIGCONT');
    member.paused = false;
  }

  /** Cuts the directed link `from -> to`: whatever `from` sends `to` is dropped. */
  cut(from: number, to: number): void {
    this.#member(from);
    this.#member(to);
    this.#cuts.add(`${from}>${to}`);
    this.#links.cut(from, to);
  }

  /** Cuts both directions between every node of `a` and every node of `b`. */
  cutBetween(a: readonly number[], b: readonly number[]): void {
    for (const x of a) {
      for (const y of b) {
        if (x === y) continue;
        this.cut(x, y);
        this.cut(y, x);
      }
    }
  }

  /** Directed links cut now, as `n1>n2`. */
  cuts(): string[] {
    return [...this.#cuts].map((link) => {
      const [from, to] = link.split('>').map(Number);
      return `${this.ids[from ?? 0] ?? '?'}>${this.ids[to ?? 0] ?? '?'}`;
    });
  }

  /**
   * Heals every link (proxy: damaged connections are reset, so they reconnect cleanly; netns:
   * the streams go on, as on a real network).
   */
  heal(): void {
    this.#cuts.clear();
    this.#links.heal();
  }

  /** What the cut links dropped so far: stream bytes (proxy) or IP packets (netns). */
  dropped(): PeerDrops {
    return this.#links.dropped();
  }

  /**
   * Sets or clears clock and disk faults on a running node (it must run with `faultInjection`).
   * Throws REQUEST_FAILED when the node does not take them.
   */
  async setFaults(index: number, faults: NodeFaults, timeoutMs = 2000): Promise<void> {
    let status: number;
    let text: string;
    try {
      const response = await fetch(`${this.url(index)}/v1/debug/faults`, {
        method: 'POST',
        body: JSON.stringify(faults),
        headers: { 'content-type': 'application/json' },
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      throw new TestkitError('REQUEST_FAILED', `${this.ids[index] ?? index}: faults not set`, {
        cause: error,
      });
    }
    if (status !== 200) {
      throw new TestkitError(
        'REQUEST_FAILED',
        `${this.ids[index] ?? index}: faults refused (${status}): ${text.slice(0, 200)}`,
      );
    }
  }

  /** Resolves with the exit code once the node exits, or undefined after `timeoutMs`. */
  async waitExit(index: number, timeoutMs: number): Promise<number | string | undefined> {
    const running = this.#member(index).process;
    if (running === undefined) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => {
        resolve(undefined);
      }, timeoutMs);
    });
    try {
      return await Promise.race([running.exited, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  async status(index: number, timeoutMs = 1000): Promise<NodeStatus | undefined> {
    if (!this.isAlive(index) || this.isPaused(index)) return undefined;
    try {
      const response = await fetch(`${this.url(index)}/status`, {
        signal: AbortSignal.timeout(timeoutMs),
      });
      return response.ok ? ((await response.json()) as NodeStatus) : undefined;
    } catch {
      return undefined;
    }
  }

  /** The node that says it leads with the highest term, among the available ones. */
  async leader(): Promise<number | undefined> {
    const statuses = await Promise.all(
      this.available().map(async (i) => ({ i, s: await this.status(i) })),
    );
    const leaders = statuses
      .filter(({ s }) => s?.role === 'leader')
      .sort((a, b) => (b.s?.term ?? 0) - (a.s?.term ?? 0));
    return leaders[0]?.i;
  }

  async #ready(index: number): Promise<boolean> {
    try {
      const response = await fetch(`${this.url(index)}/ready`, {
        signal: AbortSignal.timeout(1000),
      });
      return response.status === 200;
    } catch {
      return false;
    }
  }

  /** Waits (bounded) until one node answers /ready; false when it did not in time. */
  async waitNodeReady(index: number, timeoutMs = 30_000): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline && this.isAlive(index)) {
      if (await this.#ready(index)) return true;
      await sleep(100);
    }
    return false;
  }

  /** Waits until every running node answers /ready and a leader is known. */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const dead = this.#members.find((member) => member.process?.isAlive() === false);
      if (dead?.process !== undefined && !this.#expectedDown.has(dead.id)) {
        const code = await Promise.race([dead.process.exited, sleep(10).then(() => 'running')]);
        throw new TestkitError(
          'PROCESS_EXITED',
          `${dead.id} exited (${code}) while waiting for the cluster; log tail:\n${logTail(dead.logFile)}`,
        );
      }
      const running = this.available();
      const ready = await Promise.all(running.map((index) => this.#ready(index)));
      if (running.length > 0 && ready.every(Boolean) && (await this.leader()) !== undefined) return;
      await sleep(100);
    }
    const tails = this.#members.map((m) => `--- ${m.id}\n${logTail(m.logFile, 6)}`).join('\n');
    throw new TestkitError('START_TIMEOUT', `cluster not ready after ${timeoutMs} ms\n${tails}`);
  }

  expectDown(index: number, down: boolean): void {
    const id = this.#member(index).id;
    if (down) this.#expectedDown.add(id);
    else this.#expectedDown.delete(id);
  }

  /** Nodes that exited without a nemesis killing them (a crash is a finding). */
  unexpectedExits(): string[] {
    return this.#members
      .filter(
        (m) => m.process !== undefined && !m.process.isAlive() && !this.#expectedDown.has(m.id),
      )
      .map((m) => m.id);
  }

  /** Stops every node and proxy; removes the data unless `keepDir`. */
  async stop(options: { keepDir?: boolean } = {}): Promise<void> {
    this.heal();
    await Promise.all(
      this.#members.map(async (member) => {
        if (member.process !== undefined) {
          this.resume(this.#members.indexOf(member));
          await stopGracefully(member.process, 2000);
        }
      }),
    );
    await this.#links.close();
    if (options.keepDir !== true) removeTempDir(this.rootDir);
  }
}

function nodeCommand(
  runtime: NodeRuntime,
  root: string,
): { command: string; args: string[]; cwd: string } {
  const appDir = join(root, 'apps', 'node');
  if (runtime === 'dist') {
    const cli = join(appDir, 'dist', 'cli.js');
    if (!existsSync(cli)) {
      throw new TestkitError(
        'NOT_BUILT',
        `${cli} is not built: run pnpm --filter @distsync/node... build`,
      );
    }
    return { command: process.execPath, args: [cli], cwd: appDir };
  }
  return {
    command: process.execPath,
    args: ['--import', 'tsx', '--conditions', '@distsync/source', join(appDir, 'src', 'cli.ts')],
    cwd: appDir,
  };
}
