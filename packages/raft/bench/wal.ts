// WAL benchmark: durable appends per second and their p50/p99 latency with 1, 16 and 256
// concurrent appenders (each appends one 100-byte entry and awaits sync(); group commit lets
// appenders of the same turn share an fdatasync), next to the raw fdatasync rate of the same
// disk measured in the same run (write 100 bytes + fdatasync in a loop). Every phase is bounded
// in operations and in time. Prints a table and writes results/bench-wal-<time>.json.
// Figures, not tests: nothing here asserts speed.
//
//   pnpm --filter @distsync/raft bench:wal [-- --dir /path/on/the/disk/to/measure]
import { mkdirSync, writeFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { FileStorage } from '@distsync/raft';

const ENTRY_BYTES = 100;
const PHASE_MS_MAX = 3000;
const RAW_PHASE_MS_MAX = 1000;
const RAW_OPS_MAX = 5000;
const APPENDS_MAX = 50_000;
const CONCURRENCY = [1, 16, 256] as const;

interface Latencies {
  readonly operations: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

function summarize(samplesMs: number[], seconds: number): Latencies {
  const sorted = samplesMs.slice().sort((a, b) => a - b);
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return {
    operations: sorted.length,
    seconds,
    perSecond: sorted.length / seconds,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
  };
}

/** Two raw measurements as one: operations and time added, percentiles of both runs. */
function mergeRaw(
  a: Latencies & { samplesMs: number[] },
  b: Latencies & { samplesMs: number[] },
): Latencies {
  return summarize([...a.samplesMs, ...b.samplesMs], a.seconds + b.seconds);
}

/** The disk's own rate: 100-byte writes at the end of a file, each followed by fdatasync. */
async function rawFdatasync(dir: string): Promise<Latencies & { samplesMs: number[] }> {
  const handle = await fsp.open(path.join(dir, 'raw.bin'), 'w');
  const data = Buffer.alloc(ENTRY_BYTES, 7);
  const samples: number[] = [];
  const start = performance.now();
  try {
    for (let i = 0; i < RAW_OPS_MAX && performance.now() - start < RAW_PHASE_MS_MAX; i++) {
      const began = performance.now();
      await handle.write(data, 0, data.byteLength, i * ENTRY_BYTES);
      await handle.datasync();
      samples.push(performance.now() - began);
    }
  } finally {
    await handle.close();
  }
  return { ...summarize(samples, (performance.now() - start) / 1000), samplesMs: samples };
}

interface AppendResult extends Latencies {
  readonly concurrency: number;
  readonly syncs: number;
  readonly appendsPerSync: number;
}

async function durableAppends(dir: string, concurrency: number): Promise<AppendResult> {
  const storage = await FileStorage.open({ dataDir: path.join(dir, `wal-${concurrency}`) });
  const data = new Uint8Array(ENTRY_BYTES).fill(1);
  const samples: number[] = [];
  const start = performance.now();
  let started = 0;
  const appender = async (): Promise<void> => {
    while (started < APPENDS_MAX && performance.now() - start < PHASE_MS_MAX) {
      started++;
      const began = performance.now();
      storage.append([{ index: storage.lastIndex() + 1, term: 1, type: 'normal', data }]);
      await storage.sync();
      samples.push(performance.now() - began);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, appender));
  const seconds = (performance.now() - start) / 1000;
  const { syncs } = storage.stats();
  await storage.close();
  return {
    concurrency,
    ...summarize(samples, seconds),
    syncs,
    appendsPerSync: samples.length / syncs,
  };
}

function argument(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at === -1 ? undefined : process.argv[at + 1];
}

async function main(): Promise<void> {
  const parent = argument('--dir') ?? os.tmpdir();
  const dir = await fsp.mkdtemp(path.join(parent, 'distsync-bench-wal-'));
  try {
    // The disk is shared (other processes, the page cache's writeback), so its raw rate is
    const phases: Phase[] = [];
    // measured right before and right after each phase, and each ratio uses their mean.
    for (const concurrency of CONCURRENCY) {
      const before = await rawFdatasync(dir);
      const appends = await durableAppends(dir, concurrency);
      const after = await rawFdatasync(dir);
      phases.push({ raw: mergeRaw(before, after), appends });
    }
    report({ dir, phases });
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

interface Phase {
  readonly raw: Latencies;
  readonly appends: AppendResult;
}

function report(run: { dir: string; phases: Phase[] }): void {
  const fmt = (value: number, digits = 2): string => value.toFixed(digits);
  console.log(
    `WAL benchmark in ${run.dir} (${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version})`,
  );
  console.log(
    'appenders | appends/s   p50 ms   p99 ms  syncs  appends/sync | raw fdatasync/s  p50 ms  p99 ms | ratio',
  );
  const rows = run.phases.map(({ raw, appends }) => ({
    ...appends,
    rawFdatasync: raw,
    ratioToRaw: appends.perSecond / raw.perSecond,
  }));
  for (const a of rows) {
    const raw = a.rawFdatasync;
    console.log(
      `${String(a.concurrency).padStart(9)} | ${fmt(a.perSecond, 0).padStart(9)} ${fmt(a.p50Ms).padStart(8)} ${fmt(a.p99Ms).padStart(8)} ${String(a.syncs).padStart(6)} ${fmt(a.appendsPerSync, 1).padStart(13)} | ${fmt(raw.perSecond, 0).padStart(15)} ${fmt(raw.p50Ms).padStart(7)} ${fmt(raw.p99Ms).padStart(7)} | ${fmt(a.ratioToRaw).padStart(5)}`,
    );
  }
  const resultsDir = path.join(import.meta.dirname, '..', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = path.join(
    resultsDir,
    `bench-wal-${new Date().toISOString().replaceAll(':', '-')}.json`,
  );
  const json = {
    benchmark: 'wal',
    node: process.version,
    cpu: os.cpus()[0]?.model,
    entryBytes: ENTRY_BYTES,
    phaseMsMax: PHASE_MS_MAX,
    rawPhaseMsMax: RAW_PHASE_MS_MAX,
    phases: rows,
  };
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`wrote ${file}`);
}

await main();
