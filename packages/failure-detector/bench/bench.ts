// Micro-benchmark of the detector's hot paths: ns per `heartbeat` and per `phi` call (and the
// monitor's per-peer costs), as the median of several timed runs after a warm-up. Prints a
// table and writes results/bench-<time>.json. Figures, not tests: nothing here asserts speed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { HeartbeatMonitor, PhiAccrualFailureDetector } from '@distsync/failure-detector';

const WARMUP_RUNS = 3;
const MEASURED_RUNS = 7;

interface Case {
  readonly name: string;
  /** Operations per run. */
  readonly operations: number;
  /** Performs `operations` operations and returns a value that depends on all of them. */
  readonly run: () => number;
}

interface CaseResult {
  readonly name: string;
  readonly operations: number;
  readonly nsPerOpMedian: number;
  readonly nsPerOpMin: number;
  readonly nsPerOpMax: number;
  readonly runs: readonly number[];
}

/** Deterministic jitter (xorshift32), so every run sees the same heartbeat times. */
function jitter(seed: number): () => number {
  let state = seed;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
}

/** A detector whose 1000-sample window is full, so pushes evict (the steady state). */
function warmDetector(): { detector: PhiAccrualFailureDetector; nowMs: number } {
  const detector = new PhiAccrualFailureDetector();
  const random = jitter(7);
  let nowMs = 0;
  for (let index = 0; index < 2000; index += 1) detector.heartbeat((nowMs += 900 + 200 * random()));
  return { detector, nowMs };
}

function heartbeatCase(operations: number): Case {
  const { detector, nowMs: start } = warmDetector();
  let nowMs = start;
  return {
    name: 'detector.heartbeat (full window)',
    operations,
    run: () => {
      let recorded = 0;
      for (let index = 0; index < operations; index += 1) {
        nowMs += 900 + (index % 201);
        if (detector.heartbeat(nowMs) === 'recorded') recorded += 1;
      }
      return recorded;
    },
  };
}

function phiCase(operations: number): Case {
  const { detector, nowMs } = warmDetector();
  return {
    name: 'detector.phi',
    operations,
    run: () => {
      let sum = 0;
      for (let index = 0; index < operations; index += 1) {
        sum += detector.phi(nowMs + (index % 8000));
      }
      return sum;
    },
  };
}

function monitorCheckCase(peers: number, rounds: number): Case {
  const monitor = new HeartbeatMonitor();
  for (let beat = 0; beat < 20; beat += 1) {
    for (let peer = 0; peer < peers; peer += 1) monitor.heartbeat(`peer-${peer}`, beat * 1000);
  }
  return {
    name: `monitor.check per peer (${peers} peers, no events)`,
    operations: peers * rounds,
    run: () => {
      let events = 0;
      for (let round = 0; round < rounds; round += 1)
        events += monitor.check(19_000 + round).length;
      return events;
    },
  };
}

function monitorHeartbeatCase(peers: number, rounds: number): Case {
  const monitor = new HeartbeatMonitor();
  const ids = Array.from({ length: peers }, (_, peer) => `peer-${peer}`);
  let nowMs = 0;
  return {
    name: `monitor.heartbeat (${peers} peers)`,
    operations: peers * rounds,
    run: () => {
      let accepted = 0;
      for (let round = 0; round < rounds; round += 1) {
        nowMs += 1000;
        for (const id of ids) if (monitor.heartbeat(id, nowMs)) accepted += 1;
      }
      return accepted;
    },
  };
}

function measure(benchCase: Case): { result: CaseResult; checksum: number } {
  let checksum = 0;
  for (let run = 0; run < WARMUP_RUNS; run += 1) checksum += benchCase.run();
  const runs: number[] = [];
  for (let run = 0; run < MEASURED_RUNS; run += 1) {
    const start = process.hrtime.bigint();
    checksum += benchCase.run();
    const elapsedNs = Number(process.hrtime.bigint() - start);
    runs.push(elapsedNs / benchCase.operations);
  }
  const sorted = [...runs].sort((a, b) => a - b);
  const round = (value: number): number => Math.round(value * 10) / 10;
  return {
    checksum,
    result: {
      name: benchCase.name,
      operations: benchCase.operations,
      nsPerOpMedian: round(sorted[Math.floor(sorted.length / 2)]!),
      nsPerOpMin: round(sorted[0]!),
      nsPerOpMax: round(sorted[sorted.length - 1]!),
      runs: runs.map(round),
    },
  };
}

function main(): void {
  const cases = [
    heartbeatCase(1_000_000),
    phiCase(2_000_000),
    monitorHeartbeatCase(1000, 200),
    monitorCheckCase(1000, 200),
  ];
  const results: CaseResult[] = [];
  let checksum = 0;
  for (const benchCase of cases) {
    const measured = measure(benchCase);
    results.push(measured.result);
    checksum += measured.checksum;
  }
  console.log(
    `@distsync/failure-detector bench (${MEASURED_RUNS} runs after ${WARMUP_RUNS} warm-up runs)`,
  );
  console.table(
    results.map((result) => ({
      case: result.name,
      'ns/op median': result.nsPerOpMedian,
      'ns/op min': result.nsPerOpMin,
      'ns/op max': result.nsPerOpMax,
      'ops/run': result.operations,
    })),
  );
  const directory = new URL('../results/', import.meta.url);
  mkdirSync(directory, { recursive: true });
  const file = new URL(`bench-${new Date().toISOString().replaceAll(':', '-')}.json`, directory);
  const report = {
    package: '@distsync/failure-detector',
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cpuCount: cpus().length,
    warmupRuns: WARMUP_RUNS,
    measuredRuns: MEASURED_RUNS,
    results,
    checksum,
  };
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`results written to ${file.pathname} (checksum ${checksum.toFixed(3)})`);
}

main();
