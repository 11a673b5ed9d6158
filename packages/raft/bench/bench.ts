// Throughput of @distsync/raft in one process: committed entries per second and CPU microseconds
// per entry for a three-node cluster with MemoryStorage, at 1, 16 and 256 concurrent proposers,
// 100-byte entries. Two paths are measured:
//   core  - three RaftCores driven by a synchronous host loop (the consensus algorithm alone);
//   node  - RaftNode.command over the in-memory transport (envelope, sessions, apply, promises).
// CPU time is the whole process (all three replicas), so it is the cluster's cost per entry.
// Figures, not tests: nothing here asserts speed. Usage: pnpm --filter @distsync/raft bench
//   [--seconds 3] [--max-entries 300000] [--only core|node] [--concurrency 1,16,256]
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { MemoryStorage, RaftCore, seededRandom } from '@distsync/raft';
import type { RaftMessage, Ready, StateMachine } from '@distsync/raft';
import { createMemoryCluster } from '@distsync/raft/testing';

const ENTRY_BYTES = 100;
const CONCURRENCY = [1, 16, 256] as const;
const ids = ['n1', 'n2', 'n3'];

interface Args {
  readonly seconds: number;
  readonly maxEntries: number;
  readonly only: 'core' | 'node' | undefined;
  readonly concurrency: readonly number[];
}

function parseArgs(argv: readonly string[]): Args {
  const value = (flag: string): string | undefined => {
    const position = argv.indexOf(flag);
    return position < 0 ? undefined : argv[position + 1];
  };
  const only = value('--only');
  return {
    seconds: Number(value('--seconds') ?? 3),
    maxEntries: Number(value('--max-entries') ?? 300_000),
    only: only === 'core' || only === 'node' ? only : undefined,
    concurrency: value('--concurrency')?.split(',').map(Number) ?? CONCURRENCY,
  };
}

interface CaseResult {
  readonly path: 'core' | 'node';
  readonly concurrency: number;
  readonly entries: number;
  readonly seconds: number;
  readonly entriesPerSecond: number;
  readonly cpuMicrosPerEntry: number;
  readonly syncsPerEntry: number;
}

/** Runs `body` and measures wall and CPU time around it. */
interface Measured {
  readonly entries: number;
  readonly syncs: number;
  readonly seconds: number;
  readonly cpuMicros: number;
}

async function measure(
  body: () => Promise<{ entries: number; syncs: number }> | { entries: number; syncs: number },
): Promise<Measured> {
  const cpuBefore = process.cpuUsage();
  const start = process.hrtime.bigint();
  const { entries, syncs } = await body();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  return { entries, syncs, seconds, cpuMicros: cpu.user + cpu.system };
}

// ---- the raw core -------------------------------------------------------------------------------

/** Three cores and a synchronous host: persist to MemoryStorage, deliver, apply, advance. */
function coreCluster(): {
  cores: RaftCore[];
  pump: () => number;
  syncs: () => number;
} {
  const storages = ids.map(() => new MemoryStorage());
  const cores = ids.map(
    (id, position) =>
      new RaftCore({
        id,
        peers: ids,
        storage: storages[position]!,
        random: seededRandom(position + 1),
      }),
  );
  const byId = new Map(ids.map((id, position) => [id, cores[position]!]));
  let queue: RaftMessage[] = [];
  let syncs = 0;
  let appliedOnLeader = 0;
  const handle = (position: number, ready: Ready): void => {
    const storage = storages[position]!;
    if (ready.entries.length > 0) storage.append(ready.entries);
    if (ready.hardState !== undefined) storage.setHardState(ready.hardState);
    // MemoryStorage's sync is a resolved promise; the count is what a real disk would pay.
    if (ready.mustSync) syncs += 1;
    for (const message of ready.messages) queue.push(message);
    if (position === 0) {
      for (const entry of ready.committedEntries) if (entry.type === 'normal') appliedOnLeader += 1;
    }
  };
  /** Runs every core to quiescence; returns entries the leader (n1) applied. */
  const pump = (): number => {
    const before = appliedOnLeader;
    for (let round = 0; round < 1000; round += 1) {
      for (const [position, core] of cores.entries()) {
        while (core.hasReady()) {
          const ready = core.ready();
          handle(position, ready);
          core.advance(ready);
        }
      }
      if (queue.length === 0) break;
      const batch = queue;
      queue = [];
      for (const message of batch) byId.get(message.to)!.step(message);
    }
    return appliedOnLeader - before;
  };
  return { cores, pump, syncs: () => syncs };
}

function runCore(concurrency: number, args: Args): { entries: number; syncs: number } {
  const cluster = coreCluster();
  const leader = cluster.cores[0]!;
  leader.campaign();
  cluster.pump();
  if (leader.status().role !== 'leader') throw new Error('n1 did not become leader');
  const payload = new Uint8Array(ENTRY_BYTES).fill(7);
  const deadline = performance.now() + args.seconds * 1000;
  const syncsBefore = cluster.syncs();
  let inflight = 0;
  let entries = 0;
  while (entries < args.maxEntries && performance.now() < deadline) {
    while (inflight < concurrency) {
      const proposed = leader.propose(payload);
      if (!proposed.ok) throw new Error(`propose failed: ${proposed.code}`);
      inflight += 1;
    }
    const applied = cluster.pump();
    inflight -= applied;
    entries += applied;
  }
  return { entries, syncs: cluster.syncs() - syncsBefore };
}

// ---- RaftNode ----------------------------------------------------------------------------------

/** A state machine that only counts: the bench measures the host and consensus, not the app. */
function sink(): StateMachine<string, unknown, number> {
  let applied = 0;
  return {
    name: 'sink',
    commandSchema: z.string(),
    querySchema: z.unknown(),
    apply: () => (applied += 1),
    query: () => applied,
    snapshot: () => new Uint8Array(),
    restore: () => undefined,
  };
}

/** A command whose encoded envelope is about ENTRY_BYTES long. */
function sizedCommand(): string {
  const overhead = JSON.stringify({
    sm: 'sink',
    ref: 'n1.mi4x2k3f1a2b3c.1a2b',
    timeMs: Date.now(),
    command: '',
  }).length;
  return 'x'.repeat(Math.max(1, ENTRY_BYTES - overhead));
}

/** Sets up a cluster, then measures only the proposing phase (not the election). */
async function runNode(concurrency: number, args: Args): Promise<Measured> {
  const cluster = createMemoryCluster({ stateMachines: () => [sink()], tickIntervalMs: 50 });
  try {
    const leader = await cluster.waitForLeader();
    const command = sizedCommand();
    const totalSyncs = (): number =>
      cluster.nodes.reduce((sum, node) => sum + node.status().syncs, 0);
    return await measure(async () => {
      const deadline = performance.now() + args.seconds * 1000;
      const syncsBefore = totalSyncs();
      let entries = 0;
      const proposer = async (): Promise<void> => {
        while (entries < args.maxEntries && performance.now() < deadline) {
          const result = await leader.command('sink', command);
          if (!result.ok) throw new Error(`command failed: ${result.code} ${result.message}`);
          entries += 1;
        }
      };
      await Promise.all(Array.from({ length: concurrency }, proposer));
      return { entries, syncs: totalSyncs() - syncsBefore };
    });
  } finally {
    await cluster.stop();
  }
}

// ---- driver -------------------------------------------------------------------------------------

function formatRow(result: CaseResult): string {
  return [
    result.path.padEnd(5),
    String(result.concurrency).padStart(11),
    String(result.entries).padStart(9),
    Math.round(result.entriesPerSecond).toLocaleString('en-US').padStart(12),
    result.cpuMicrosPerEntry.toFixed(2).padStart(12),
    result.syncsPerEntry.toFixed(3).padStart(11),
  ].join('  ');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const paths = args.only === undefined ? (['core', 'node'] as const) : ([args.only] as const);
  console.log(
    `raft bench: 3 nodes in one process, ${ENTRY_BYTES}-byte entries, ${args.seconds} s or ${args.maxEntries} entries per case`,
  );
  console.log(
    `${'path'.padEnd(5)}  concurrency    entries     entries/s  cpu µs/entry  syncs/entry`,
  );
  const results: CaseResult[] = [];
  for (const path of paths) {
    // A short warm-up lets the JIT settle so the first case is not penalised.
    if (path === 'core') runCore(16, { ...args, seconds: 0.5 });
    else await runNode(16, { ...args, seconds: 0.5 });
    for (const concurrency of args.concurrency) {
      // Progress goes to stderr so stdout stays a clean table.
      process.stderr.write(`  running ${path} with ${concurrency} proposer(s)...\r`);
      const run =
        path === 'core' ? () => runCore(concurrency, args) : () => runNode(concurrency, args);
      const measured = await measure(run);
      const result: CaseResult = {
        path,
        concurrency,
        entries: measured.entries,
        seconds: measured.seconds,
        entriesPerSecond: measured.entries / measured.seconds,
        cpuMicrosPerEntry: measured.cpuMicros / Math.max(1, measured.entries),
        syncsPerEntry: measured.syncs / Math.max(1, measured.entries),
      };
      results.push(result);
      console.log(formatRow(result));
    }
  }
  writeResults(results, args);
}

function writeResults(results: readonly CaseResult[], args: Args): void {
  const folder = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');
  mkdirSync(folder, { recursive: true });
  const stamp = new Date().toISOString().replaceAll(':', '-').replace(/\..+$/, '');
  const file = join(folder, `bench-${stamp}.json`);
  const machine = {
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
  };
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), machine, args, entryBytes: ENTRY_BYTES, results }, null, 2)}\n`,
  );
  console.log(`wrote ${file}`);
}

await main();
