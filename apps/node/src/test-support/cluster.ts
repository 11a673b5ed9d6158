// A three-node cluster of real `distsync node` processes for the fault tests.
import { join } from 'node:path';
import {
  freePort,
  runCli,
  SECRET,
  statusOf,
  waitFor,
  type CliProcess,
  type StatusBody,
} from './processes.js';

export interface TestMember {
  readonly id: string;
  readonly port: number;
  readonly url: string;
  process: CliProcess | undefined;
}

export class TestCluster {
  readonly members: TestMember[];
  readonly #dataDir: string;
  /** Extra environment for every node (`DISTSYNC_TOKEN`, say). */
  readonly #env: NodeJS.ProcessEnv;

  private constructor(members: TestMember[], dataDir: string, env: NodeJS.ProcessEnv) {
    this.members = members;
    this.#dataDir = dataDir;
    this.#env = env;
  }

  static async create(
    dataDir: string,
    size = 3,
    env: NodeJS.ProcessEnv = {},
  ): Promise<TestCluster> {
    const members: TestMember[] = [];
    for (let index = 1; index <= size; index += 1) {
      const port = await freePort();
      members.push({ id: `n${index}`, port, url: `http://127.0.0.1:${port}`, process: undefined });
    }
    return new TestCluster(members, dataDir, env);
  }

  member(id: string): TestMember {
    const found = this.members.find((member) => member.id === id);
    if (found === undefined) throw new Error(`no member ${id}`);
    return found;
  }

  start(id: string): CliProcess {
    const member = this.member(id);
    const peers = this.members
      .filter((other) => other.id !== id)
      .map((other) => `${other.id}=127.0.0.1:${other.port}`)
      .join(',');
    member.process = runCli(
      [
        'node',
        ...['--id', id, '--port', String(member.port), '--peers', peers],
        ...['--data-dir', join(this.#dataDir, id), '--cluster-id', 'test', '--log-format', 'json'],
        ...['--request-timeout-ms', '3000', '--drain-timeout-ms', '2000'],
        // Small, so restarts go through a snapshot plus the log after it.
        ...['--snapshot-every-entries', '8'],
      ],
      { DISTSYNC_SECRET: SECRET, ...this.#env },
    );
    return member.process;
  }

  startAll(): void {
    for (const member of this.members) this.start(member.id);
  }

  async statuses(ids?: readonly string[]): Promise<StatusBody[]> {
    const chosen = this.members.filter((member) => ids === undefined || ids.includes(member.id));
    const statuses = await Promise.all(chosen.map((member) => statusOf(member.url)));
    return statuses.filter((status): status is StatusBody => status !== undefined);
  }

  /** A leader that a majority of the reachable `among` nodes agree on, with its term. */
  async waitForLeader(
    options: { among?: readonly string[]; newerThan?: number; timeoutMs?: number } = {},
  ): Promise<StatusBody> {
    const among = options.among ?? this.members.map((member) => member.id);
    const majority = Math.floor(this.members.length / 2) + 1;
    let seen: StatusBody[] = [];
    return waitFor(
      `a leader among ${among.join(', ')}`,
      async () => {
        const statuses = await this.statuses(among);
        seen = statuses;
        const leader = statuses.find(
          (status) => status.role === 'leader' && status.term > (options.newerThan ?? 0),
        );
        if (leader === undefined) return undefined;
        const agreeing = statuses.filter((status) => status.leader === leader.id).length;
        return agreeing >= majority ? leader : undefined;
      },
      {
        timeoutMs: options.timeoutMs ?? 15_000,
        detail: () =>
          JSON.stringify(
            seen.map(({ id, role, term, leader, commitIndex, appliedIndex, peers }) => ({
              id,
              role,
              term,
              leader,
              commitIndex,
              appliedIndex,
              peers: peers.map((peer) => `${peer.id}:${peer.connection}`),
            })),
          ),
      },
    );
  }
}
