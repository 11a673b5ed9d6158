// One campaign: a fresh cluster, the workloads' clients and the nemesis running together for a
// set time, then the heal, the workloads' final phase (reads, drain), the checkers, the report.
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, type NetworkKind, type NodeRuntime, type PeerDrops } from './cluster/cluster.js';
import {
  needsFaultInjection,
  runNemesis,
  type FaultRecord,
  type NemesisKind,
  type NemesisOptions,
} from './nemesis.js';
import { Random } from './random.js';
import type { CheckerReport, Workload, WorkloadContext, WorkloadStats } from './workloads/types.js';

export interface CampaignOptions {
  readonly workloads: readonly Workload[];
  readonly nemeses: readonly NemesisKind[];
  readonly timeMs: number;
  readonly seed: number;
  readonly nodes?: number;
  readonly runtime?: NodeRuntime;
  readonly nodeRoot?: string;
  /** The peer network: namespaces (root) or TCP proxies; default auto (see `NetworkKind`). */
  readonly network?: NetworkKind;
  /** Raft timing of the nodes (their defaults when omitted). */
  readonly tickMs?: number;
  readonly electionTicks?: number;
  /** Where the history, report and node logs go; nothing is written when undefined. */
  readonly resultsDir?: string;
  readonly quietMs?: NemesisOptions['quietMs'];
  readonly holdMs?: NemesisOptions['holdMs'];
  readonly rotateNemeses?: boolean;
  /** clock-offset draws offsets in [-max, max] ms; default 2000. */
  readonly clockOffsetMsMax?: number;
  /** clock-skew draws rates in [1 - max, 1 + max]; default 0.01 (the drift bound leases assume). */
  readonly clockRateDeviationMax?: number;
  /** Progress lines; default none. */
  readonly log?: (line: string) => void;
  readonly progressEveryMs?: number;
  /** Aborts the campaign early (Ctrl-C): the heal, checks and report still run. */
  readonly signal?: AbortSignal;
}

export interface CampaignReport {
  readonly valid: boolean;
  readonly seed: number;
  readonly nodes: number;
  /** What carried the peer traffic (and took the partitions). */
  readonly network: 'netns' | 'proxy';
  readonly workloads: readonly string[];
  readonly nemeses: readonly NemesisKind[];
  readonly startedAt: string;
  readonly durationMs: number;
  readonly operations: Readonly<Record<string, WorkloadStats>>;
  readonly faults: readonly FaultRecord[];
  /** Peer traffic the partitions dropped: stream bytes (proxy) or IP packets (netns). */
  readonly dropped: PeerDrops;
  readonly checkers: readonly (CheckerReport & { readonly workload: string })[];
  /** Things that went wrong outside the checkers: a node that crashed, a cluster that did not recover. */
  readonly findings: readonly string[];
  readonly resultsDir?: string;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1).padStart(6)}s`;
}

async function recover(
  cluster: Cluster,
  findings: string[],
  log: (line: string) => void,
): Promise<void> {
  cluster.heal();
  for (let index = 0; index < cluster.size; index += 1) {
    if (cluster.isPaused(index)) cluster.resume(index);
    if (!cluster.isAlive(index)) {
      cluster.start(index);
      cluster.expectDown(index, false);
    }
  }
  try {
    await cluster.waitReady(30_000);
  } catch (error) {
    const message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
    findings.push(`the cluster did not become ready within 30 s after the heal: ${message}`);
    log(`!! ${findings.at(-1) ?? ''}`);
  }
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignReport> {
  const log = options.log ?? (() => undefined);
  const random = new Random(options.seed);
  const startedAt = new Date().toISOString();
  const cluster = await Cluster.start({
    nodes: options.nodes ?? 3,
    ...(options.network === undefined ? {} : { network: options.network }),
    ...(options.tickMs === undefined ? {} : { tickMs: options.tickMs }),
    ...(options.electionTicks === undefined ? {} : { electionTicks: options.electionTicks }),
    runtime: options.runtime ?? 'source',
    // Clock and disk nemeses act through the nodes' test-only fault-injection route.
    faultInjection: needsFaultInjection(options.nemeses),
    ...(options.nodeRoot === undefined ? {} : { nodeRoot: options.nodeRoot }),
  });
  log(
    `starting ${cluster.size} nodes (${options.runtime ?? 'source'}; ${cluster.network === 'netns' ? 'a network namespace each' : 'loopback, peer links through TCP proxies'})`,
  );
  const findings: string[] = [];
  const faults: FaultRecord[] = [];
  let durationMs = 0;
  try {
    await cluster.waitReady(90_000);
    log(`cluster ready: ${cluster.ids.join(', ')}; running ${options.timeMs / 1000} s`);
    const origin = performance.now();
    const now = (): number => performance.now() - origin;
    const controller = new AbortController();
    const stop = (): void => {
      controller.abort();
    };
    const timer = setTimeout(stop, options.timeMs);
    options.signal?.addEventListener('abort', stop, { once: true });
    const context: WorkloadContext = {
      cluster,
      random: random.fork(),
      now,
      signal: controller.signal,
      log: (line) => {
        log(`[${seconds(now())}] ${line}`);
      },
    };
    const progress = setInterval(() => {
      const counts = options.workloads
        .map((w) => {
          const s = w.stats();
          return `${w.name} ${s.operations} ops (ok ${s.ok}, fail ${s.fail}, unknown ${s.unknown})`;
        })
        .join(' | ');
      context.log(
        `${counts} | faults ${faults.length}${cluster.cuts().length > 0 ? ` | cut ${cluster.cuts().join(' ')}` : ''}`,
      );
    }, options.progressEveryMs ?? 5000);
    try {
      await Promise.all([
        ...options.workloads.map((workload) => workload.run(context)),
        runNemesis(
          { cluster, random: random.fork(), now, signal: controller.signal, log: context.log },
          {
            kinds: options.nemeses,
            ...(options.quietMs === undefined ? {} : { quietMs: options.quietMs }),
            ...(options.holdMs === undefined ? {} : { holdMs: options.holdMs }),
            ...(options.rotateNemeses === undefined ? {} : { rotate: options.rotateNemeses }),
            ...(options.clockOffsetMsMax === undefined
              ? {}
              : { clockOffsetMsMax: options.clockOffsetMsMax }),
            ...(options.clockRateDeviationMax === undefined
              ? {}
              : { clockRateDeviationMax: options.clockRateDeviationMax }),
          },
          faults,
        ),
      ]);
    } finally {
      clearTimeout(timer);
      clearInterval(progress);
      options.signal?.removeEventListener('abort', stop);
    }
    const crashed = cluster.unexpectedExits();
    if (crashed.length > 0)
      findings.push(`nodes exited without being killed: ${crashed.join(', ')}`);
    context.log('healing and waiting for the cluster');
    await recover(cluster, findings, context.log);
    const finishContext = { ...context, signal: new AbortController().signal };
    for (const workload of options.workloads) await workload.finish(finishContext);
    durationMs = now();
    context.log('checking');
  } catch (error) {
    findings.push(`campaign error: ${error instanceof Error ? error.message : String(error)}`);
  }
  const checkers = options.workloads.flatMap((workload) =>
    workload.check().map((report) => ({ ...report, workload: workload.name })),
  );
  const report: CampaignReport = {
    valid: findings.length === 0 && checkers.every((checker) => checker.valid !== false),
    seed: options.seed,
    nodes: cluster.size,
    network: cluster.network,
    workloads: options.workloads.map((workload) => workload.name),
    nemeses: options.nemeses,
    startedAt,
    durationMs: Math.round(durationMs),
    operations: Object.fromEntries(
      options.workloads.map((workload) => [workload.name, workload.stats()]),
    ),
    faults,
    dropped: cluster.dropped(),
    checkers,
    findings,
    ...(options.resultsDir === undefined ? {} : { resultsDir: options.resultsDir }),
  };
  try {
    if (options.resultsDir !== undefined)
      writeResults(options.resultsDir, { report, cluster, workloads: options.workloads });
  } finally {
    await cluster.stop();
  }
  return report;
}

function writeResults(
  dir: string,
  parts: { report: CampaignReport; cluster: Cluster; workloads: readonly Workload[] },
): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'report.json'), `${JSON.stringify(parts.report, null, 2)}\n`);
  const history = Object.fromEntries(
    parts.workloads.map((workload) => [workload.name, workload.history()]),
  );
  writeFileSync(
    join(dir, 'history.json'),
    `${JSON.stringify({ faults: parts.report.faults, ...history })}\n`,
  );
  cpSync(join(parts.cluster.rootDir, 'logs'), join(dir, 'logs'), { recursive: true });
}
