// A set of node processes the bench owns: start, kill -9 and restart one node on the same
// data dir and ports, stop them all and remove their data.
import { join } from 'node:path';
import {
  killHard,
  makeTempDir,
  removeTempDir,
  startProcess,
  stopGracefully,
  type ManagedProcess,
} from './processes.js';

export interface NodeSpec {
  /** `e1`, `n2`. */
  readonly id: string;
  /** `http://127.0.0.1:port`, where its HTTP API answers. */
  readonly origin: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export class ClusterProcesses {
  readonly system: string;
  readonly specs: readonly NodeSpec[];
  /** Holds each node's data dir (`<root>/<id>`) and log (`<root>/<id>.log`). */
  readonly rootDir: string;
  readonly #processes: (ManagedProcess | undefined)[];

  constructor(options: { system: string; specs: readonly NodeSpec[]; rootDir: string }) {
    this.system = options.system;
    this.specs = options.specs;
    this.rootDir = options.rootDir;
    this.#processes = options.specs.map(() => undefined);
  }

  /** A temp root for a cluster's data dirs and logs, removed at cleanup. */
  static makeRoot(system: string): string {
    return makeTempDir(system);
  }

  static dataDir(rootDir: string, id: string): string {
    return join(rootDir, id);
  }

  startAll(): void {
    this.specs.forEach((_, index) => {
      this.start(index);
    });
  }

  start(index: number): void {
    const spec = this.#spec(index);
    if (this.#processes[index]?.isAlive() === true) throw new Error(`${spec.id} already runs`);
    this.#processes[index] = startProcess({
      name: `${this.system} ${spec.id}`,
      command: spec.command,
      args: spec.args,
      logFile: join(this.rootDir, `${spec.id}.log`),
      ...(spec.env === undefined ? {} : { env: spec.env }),
      ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
    });
  }

  /** kill -9 of the node's process group. */
  async kill(index: number): Promise<void> {
    const process = this.#processes[index];
    if (process !== undefined) await killHard(process);
  }

  alive(index: number): boolean {
    return this.#processes[index]?.isAlive() === true;
  }

  /** The running processes, for readiness waits that fail fast when one dies. */
  running(): ManagedProcess[] {
    return this.#processes.filter((process) => process?.isAlive() === true) as ManagedProcess[];
  }

  /** Pid per node (undefined for a node that is down). */
  pids(): (number | undefined)[] {
    return this.#processes.map((process) =>
      process?.isAlive() === true ? process.pid : undefined,
    );
  }

  async stopAll(options: { removeData: boolean }): Promise<void> {
    await Promise.all(
      this.#processes.map((process) =>
        process === undefined ? Promise.resolve() : stopGracefully(process),
      ),
    );
    if (options.removeData) removeTempDir(this.rootDir);
  }

  #spec(index: number): NodeSpec {
    const spec = this.specs[index];
    if (spec === undefined) throw new RangeError(`no node ${index} in ${this.system}`);
    return spec;
  }
}
