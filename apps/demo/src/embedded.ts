// The embedded cluster: three `distsync node` processes (apps/node's CLI, the same one
// `distsync cluster up` runs) with their data in a temporary folder that is removed on exit, or
// in a folder the user names, which is kept. Each node logs to `<data-dir>/<id>.log`, so the
// menu stays readable; the demo can kill and restart any node to show Raft at work.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { DemoCluster, Member } from './cluster.js';

export const DEFAULT_BASE_PORT = 7401;
export const DEFAULT_NODE_COUNT = 3;
/** How long a draining node may take before it is killed. */
const STOP_GRACE_MS = 10_000;
const HOST = '127.0.0.1';
const NODE_REQUEST_TIMEOUT_MS = 15_000;

export interface EmbeddedClusterOptions {
  /**
   * Port of n1; n2, n3 take the next ones. When any is taken, or for 0, free ports are picked.
   * Default 7401.
   */
  readonly basePort?: number;
  readonly nodes?: number;
  /** Keep the data here (and keep it after exit). Default: a temporary folder, removed on exit. */
  readonly dataDir?: string;
  readonly tickMs?: number;
  readonly logLevel?: string;
}

/** How to run apps/node's CLI: from its sources (tsx) when the demo runs from sources, else dist. */
function nodeCommand(): { args: string[]; cwd: string } {
  const nodeDir = dirname(createRequire(import.meta.url).resolve('@distsync/node/package.json'));
  if (import.meta.url.endsWith('.ts')) {
    return {
      args: ['--import', 'tsx', '--conditions', '@distsync/source', join(nodeDir, 'src', 'cli.ts')],
      cwd: nodeDir,
    };
  }
  const cli = join(nodeDir, 'dist', 'cli.js');
  if (!existsSync(cli)) {
    throw new Error(`${cli} is missing: build it first (pnpm --filter "@distsync/demo..." build)`);
  }
  return { args: [cli], cwd: process.cwd() };
}

function canBind(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => {
      done(false);
    });
    server.listen(port, HOST, () => {
      server.close(() => {
        done(true);
      });
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => {
        done(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
  });
}

/**
 * `basePort`, `basePort + 1`, ... when all are free; otherwise (and for `basePort` 0) ports the
 * system hands out.
 */
async function choosePorts(basePort: number, count: number): Promise<number[]> {
  if (basePort > 0) {
    const wanted = Array.from({ length: count }, (_, index) => basePort + index);
    const free = await Promise.all(wanted.map(canBind));
    if (free.every(Boolean)) return wanted;
  }
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  return ports;
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess, graceMs: number): Promise<void> {
  return new Promise((done) => {
    if (exited(child)) {
      done();
      return;
    }
    const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(force);
      done();
    });
  });
}

export class EmbeddedCluster implements DemoCluster {
  readonly embedded = true;
  readonly members: readonly Member[];
  readonly logDir: string;
  readonly #dataDir: string;
  readonly #temporary: boolean;
  readonly #secret = randomBytes(24).toString('hex');
  readonly #clusterId = `demo-${randomBytes(3).toString('hex')}`;
  readonly #options: EmbeddedClusterOptions;
  readonly #children = new Map<string, ChildProcess>();
  readonly #killAtExit = (): void => {
    for (const child of this.#children.values()) if (!exited(child)) child.kill('SIGKILL');
  };
  #stopped = false;

  private constructor(input: {
    members: Member[];
    dataDir: string;
    temporary: boolean;
    options: EmbeddedClusterOptions;
  }) {
    this.members = input.members;
    this.#dataDir = input.dataDir;
    this.logDir = input.dataDir;
    this.#temporary = input.temporary;
    this.#options = input.options;
  }

  /** Spawns every node; resolves once they are spawned (not yet elected: see waitForLeader). */
  static async start(options: EmbeddedClusterOptions = {}): Promise<EmbeddedCluster> {
    const count = options.nodes ?? DEFAULT_NODE_COUNT;
    const ports = await choosePorts(options.basePort ?? DEFAULT_BASE_PORT, count);
    const temporary = options.dataDir === undefined;
    const dataDir =
      options.dataDir === undefined
        ? mkdtempSync(join(tmpdir(), 'distsync-demo-'))
        : resolve(options.dataDir);
    mkdirSync(dataDir, { recursive: true });
    const members = ports.map((port, index) => ({
      id: `n${index + 1}`,
      url: `http://${HOST}:${port}`,
    }));
    const cluster = new EmbeddedCluster({ members, dataDir, temporary, options });
    process.once('exit', cluster.#killAtExit);
    for (const member of members) cluster.#spawn(member);
    return cluster;
  }

  #spawn(member: Member): void {
    const { args, cwd } = nodeCommand();
    const port = new URL(member.url).port;
    const peers = this.members
      .filter((other) => other.id !== member.id)
      .map((other) => `${other.id}=${other.url}`)
      .join(',');
    const log = openSync(join(this.#dataDir, `${member.id}.log`), 'a');
    const child = spawn(
      process.execPath,
      [
        ...args,
        'node',
        ...['--id', member.id, '--host', HOST, '--port', port, '--peers', peers],
        ...['--data-dir', join(this.#dataDir, member.id), '--cluster-id', this.#clusterId],
        ...['--log-format', 'json', '--log-level', this.#options.logLevel ?? 'info'],
        ...(this.#options.tickMs === undefined ? [] : ['--tick-ms', String(this.#options.tickMs)]),
        // A laptop under load (or CI running every test at once) can stall an fsync for seconds:
        // the demo's nodes wait longer for Raft than the 5 s default before answering TIMEOUT.
        ...['--request-timeout-ms', String(NODE_REQUEST_TIMEOUT_MS)],
      ],
      // The secret travels in the environment, not on a command line other users can read.
      { cwd, stdio: ['ignore', log, log], env: { ...process.env, DISTSYNC_SECRET: this.#secret } },
    );
    closeSync(log);
    this.#children.set(member.id, child);
  }

  isRunning(id: string): boolean {
    const child = this.#children.get(id);
    return child !== undefined && !exited(child);
  }

  async kill(id: string, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const child = this.#children.get(id);
    if (child === undefined || exited(child)) return;
    child.kill(signal);
    await waitForExit(child, STOP_GRACE_MS);
  }

  async restart(id: string): Promise<void> {
    const member = this.members.find((candidate) => candidate.id === id);
    if (member === undefined) throw new Error(`no member ${id}`);
    if (this.#stopped) throw new Error('the cluster is stopped');
    await this.kill(id, 'SIGTERM');
    this.#spawn(member);
  }

  /** The last `lines` lines of a node's log (to explain a failure). */
  logTail(id: string, lines = 20): string {
    try {
      const text = readFileSync(join(this.#dataDir, `${id}.log`), 'utf8');
      return text.trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const running = [...this.#children.values()].filter((child) => !exited(child));
    for (const child of running) child.kill('SIGTERM');
    await Promise.all(running.map((child) => waitForExit(child, STOP_GRACE_MS)));
    process.removeListener('exit', this.#killAtExit);
    if (this.#temporary) rmSync(this.#dataDir, { recursive: true, force: true });
  }

  /** Exit codes of the node processes that have exited (id -> code or signal). */
  exits(): Record<string, number | string> {
    return Object.fromEntries(
      [...this.#children].flatMap(([id, child]) =>
        exited(child) ? [[id, child.exitCode ?? child.signalCode ?? 'unknown']] : [],
      ),
    );
  }
}
