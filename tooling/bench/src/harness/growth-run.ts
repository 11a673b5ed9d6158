// What every data-growth suite (kv-growth, lock-growth, queue-growth) shares: load a system up
// to each checkpoint within a time budget, record RSS per node after a short quiet, run the
// suite's latency probes over the data held, and turn the results into the table rows, the
// charts (RSS and p99 against the data held) and the notes. A suite supplies the loading, the
// probes and the words for what grows (`keys`, `held locks`, `queued messages`).
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchOptions } from '../options.js';
import type { KvSystem, Skip } from '../systems/types.js';
import { memoryChart, seriesChart, type Chart } from './charts.js';
import { loadKeys } from './growth.js';
import type { ClosedLoopResult } from './load.js';
import type { Row } from './report.js';
import { sampleRssPeaks, treeRssMiB } from './rss.js';
import {
  finishSuite,
  startSuite,
  suiteResults,
  type SuiteOptions,
  type SuiteOutput,
} from './suite-report.js';

/** One latency probe run at every checkpoint: `put`, `cycle`, `send`. */
export interface GrowthProbe {
  /** Key in `GrowthCheckpoint.probes` and chart id stem: lower-case letters, digits, dashes. */
  readonly id: string;
  /** In row names and chart titles: `put`, `acquire+release`, `receive+ack`. */
  readonly label: string;
}

export interface GrowthCheckpoint {
  /** Items held when measured (below `target` when the budget ran out or the load failed). */
  readonly size: number;
  readonly target: number;
  readonly reached: boolean;
  readonly rssMiB: (number | undefined)[];
  /** Peak RSS per node while loading up to this checkpoint. */
  readonly loadPeakRssMiB: (number | undefined)[];
  /** Items loaded per second on the way to this checkpoint (batch shapes differ per system). */
  readonly loadPerSecond: number;
  readonly probes: Readonly<Record<string, ClosedLoopResult | undefined>>;
}

export interface GrowthSystemResult {
  readonly name: string;
  readonly description: string;
  readonly kind: string;
  status: 'ran' | 'skipped' | 'failed';
  skip?: Skip;
  error?: string;
  emptyRssMiB?: (number | undefined)[];
  checkpoints: GrowthCheckpoint[];
  notes: string[];
}

/** A launched system as a growth run drives it. */
export interface GrowthSubject {
  /** Pid per node (undefined for a node that is down or not ours to measure). */
  pids(): (number | undefined)[];
  /** Adds items [from, to) (keys, held locks, messages); throws on failure. */
  load(batch: { from: number; to: number }): Promise<void>;
  /** Measures the probes with `size` items held; each leaves the size as it found it. */
  probe(size: number): Promise<Record<string, ClosedLoopResult | undefined>>;
  /** Notes about this run (a check that held items are still held), added to the result. */
  check?(size: number): Promise<string | undefined>;
  stop(): Promise<void>;
}

export interface GrowthPlan {
  readonly checkpoints: readonly number[];
  readonly budgetMs: number;
  readonly batchSize: number;
  /** Batches in flight at once. */
  readonly loadConcurrency: number;
  /** Quiet before each RSS reading. */
  readonly settleMs: number;
  /** What grows, plural: `keys`, `held locks`, `queued messages`. */
  readonly unit: string;
}

const mean = (values: readonly (number | undefined)[]): number | undefined => {
  const known = values.filter((value) => value !== undefined);
  return known.length === 0 ? undefined : known.reduce((a, b) => a + b, 0) / known.length;
};

const rssOf = (pids: readonly (number | undefined)[]): (number | undefined)[] =>
  pids.map((pid) => (pid === undefined ? undefined : treeRssMiB(pid)));

/**
 * Launches one system and grows it checkpoint by checkpoint until the last is reached, the
 * budget runs out or loading fails; a checkpoint not reached is still measured (at the size
 * reached) and ends the run. Never throws: a failure is the result's `status` and `error`.
 */
export async function runGrowthSystem(input: {
  system: { name: string; description: string; kind: string };
  skip?: Skip | undefined;
  launch: () => Promise<GrowthSubject>;
  plan: GrowthPlan;
  log: (line: string) => void;
}): Promise<GrowthSystemResult> {
  const { system, plan, log } = input;
  const result: GrowthSystemResult = { ...system, status: 'ran', checkpoints: [], notes: [] };
  if (input.skip !== undefined) {
    log(
      `${system.name}: skipped (${input.skip.reason}); install with: ${input.skip.installCommand}`,
    );
    return { ...result, status: 'skipped', skip: input.skip };
  }
  let subject: GrowthSubject | undefined;
  try {
    log(`${system.name}: launching for ${plan.checkpoints.at(-1) ?? 0} ${plan.unit}`);
    subject = await input.launch();
    await sleep(plan.settleMs);
    result.emptyRssMiB = rssOf(subject.pids());
    const deadlineMs = performance.now() + plan.budgetMs;
    let next = 0;
    for (const target of plan.checkpoints) {
      const active = subject;
      const peaks = sampleRssPeaks(
        active.pids().filter((pid) => pid !== undefined),
        500,
      );
      let lastLogMs = performance.now();
      const from = next;
      const load = await loadKeys({
        from,
        to: target,
        batchSize: plan.batchSize,
        concurrency: plan.loadConcurrency,
        deadlineMs,
        putBatch: (batch) => active.load(batch),
        progress: (written) => {
          if (performance.now() - lastLogMs < 5000) return;
          lastLogMs = performance.now();
          log(`  ${system.name} growth: ${from + written} ${plan.unit}`);
        },
      });
      const loadPeakRssMiB = peaks.stop();
      // A failed batch may have half-applied: what is held is at least the batches written.
      next = load.stoppedBy === 'errors' ? from + load.written : load.next;
      const size = next;
      const reached = load.stoppedBy === 'done';
      const loadPerSecond = load.written / (Math.max(1, load.elapsedMs) / 1000);
      log(
        `${system.name}: ${size} ${plan.unit} (${load.stoppedBy}), loaded at ${Math.round(loadPerSecond)}/s` +
          (load.firstError === undefined ? '' : `; first load error: ${load.firstError}`),
      );
      if (load.stoppedBy === 'errors') {
        result.notes.push(
          `load stopped by errors at ${size} ${plan.unit} (checkpoint ${target}): ${load.firstError ?? '?'}`,
        );
      }
      if (load.stoppedBy !== 'errors' && load.failedAttempts > 0) {
        result.notes.push(
          `${load.failedAttempts} failed batch attempt(s) retried on the way to ${target} ${plan.unit} ` +
            `(first: ${load.firstError ?? '?'})`,
        );
      }
      if (load.stoppedBy === 'deadline') {
        result.notes.push(
          `load budget of ${plan.budgetMs} ms ran out at ${size} of ${target} ${plan.unit}`,
        );
      }
      await sleep(plan.settleMs);
      const rssMiB = rssOf(active.pids());
      const probes = size === 0 ? {} : await active.probe(size);
      const checked = await active.check?.(size);
      if (checked !== undefined) result.notes.push(checked);
      result.checkpoints.push({
        size,
        target,
        reached,
        rssMiB,
        loadPeakRssMiB,
        loadPerSecond,
        probes,
      });
      if (!reached) break;
    }
  } catch (error) {
    result.status = 'failed';
    result.error = error instanceof Error ? error.message : String(error);
    log(`${system.name}: FAILED: ${result.error}`);
  } finally {
    await subject?.stop().catch((error: unknown) => {
      log(`${system.name}: stop failed: ${String(error)}`);
    });
  }
  return result;
}

/** 10000 -> `10k`, 1000000 -> `1M`, 2500 -> `2500`. */
export function compactCount(count: number): string {
  return count >= 1_000_000 && count % 1_000_000 === 0
    ? `${count / 1_000_000}M`
    : count >= 1000 && count % 1000 === 0
      ? `${count / 1000}k`
      : String(count);
}

export interface GrowthTableSpec {
  /** What grows, plural: `keys`, `held locks`, `queued messages`. */
  readonly unit: string;
  readonly probes: readonly GrowthProbe[];
}

/**
 * The table: RSS per node empty, then per checkpoint RSS per node (mean over the nodes) and
 * each probe's p50 and p99. Only reached checkpoints are tabled; a partial one is `-` here and
 * in the notes and charts.
 */
export function growthRows(results: readonly GrowthSystemResult[], spec: GrowthTableSpec): Row[] {
  const targets = [...new Set(results.flatMap((r) => r.checkpoints.map((c) => c.target)))].sort(
    (a, b) => a - b,
  );
  const at = (result: GrowthSystemResult, target: number) =>
    result.checkpoints.find((checkpoint) => checkpoint.target === target && checkpoint.reached);
  const values = (pick: (result: GrowthSystemResult) => number | undefined) =>
    Object.fromEntries(results.map((result) => [result.name, pick(result)]));
  const rows: Row[] = [
    {
      metric: 'RSS per node empty, MiB (mean over the nodes)',
      unit: 'MiB',
      better: 'lower',
      values: values((r) => (r.emptyRssMiB === undefined ? undefined : mean(r.emptyRssMiB))),
    },
  ];
  for (const target of targets) {
    const label = `${compactCount(target)} ${spec.unit}`;
    rows.push({
      metric: `RSS per node at ${label}, MiB (mean over the nodes)`,
      unit: 'MiB',
      better: 'lower',
      values: values((r) => {
        const checkpoint = at(r, target);
        return checkpoint === undefined ? undefined : mean(checkpoint.rssMiB);
      }),
    });
    for (const probe of spec.probes) {
      for (const percentile of ['p50', 'p99'] as const) {
        rows.push({
          metric: `${probe.label} ${percentile} ms at ${label}`,
          unit: 'ms',
          better: 'lower',
          values: values((r) => {
            const run = at(r, target)?.probes[probe.id];
            // A probe where nothing succeeded has no latency to show.
            if (run === undefined || run.operations === 0) return undefined;
            return percentile === 'p50' ? run.latency.p50Ms : run.latency.p99Ms;
          }),
        });
      }
    }
  }
  return rows;
}

export interface GrowthChartSpec extends GrowthTableSpec {
  /** Title prefix: `kv`, `locks`, `queue`. */
  readonly subject: string;
  readonly memorySubtitle: string;
  readonly probeSubtitle: string;
}

/** RSS per node against the data held, and each probe's p99 against it (partial points too). */
export function growthCharts(
  results: readonly GrowthSystemResult[],
  spec: GrowthChartSpec,
): Chart[] {
  const measuredOf = (result: GrowthSystemResult) => result.checkpoints.filter((c) => c.size > 0);
  return [
    memoryChart({
      id: 'memory',
      title: `${spec.subject}: RSS per node against ${spec.unit}`,
      subtitle: spec.memorySubtitle,
      dataLabel: spec.unit,
      series: Object.fromEntries(
        results.map((result) => [
          result.name,
          measuredOf(result).map((c) => ({ size: c.size, rssMiB: mean(c.rssMiB) })),
        ]),
      ),
    }),
    ...spec.probes.map((probe) =>
      seriesChart({
        id: `${probe.id}-p99`,
        title: `${spec.subject} ${probe.label}: p99 latency against ${spec.unit}`,
        subtitle: spec.probeSubtitle,
        x: { title: spec.unit, scale: 'log', base: 10 },
        y: { title: 'p99 latency ms (lower is better)', scale: 'log' },
        series: Object.fromEntries(
          results.map((result) => [
            result.name,
            measuredOf(result).map((c) => {
              const run = c.probes[probe.id];
              return {
                x: c.size,
                y: run === undefined || run.operations === 0 ? undefined : run.latency.p99Ms,
              };
            }),
          ]),
        ),
      }),
    ),
  ];
}

/** Per system: its description, skip or failure, notes, and per checkpoint RSS and load rate. */
export function growthNotes(results: readonly GrowthSystemResult[], unit: string): string[] {
  const notes: string[] = [];
  const mib = (values: readonly (number | undefined)[]): string =>
    values.map((value) => (value === undefined ? '-' : value.toFixed(0))).join(' / ');
  for (const result of results) {
    notes.push(`- ${result.name}: ${result.description}`);
    if (result.status === 'skipped' && result.skip !== undefined) {
      notes.push(
        `  - SKIPPED: ${result.skip.reason}; install with \`${result.skip.installCommand}\``,
      );
      continue;
    }
    if (result.status === 'failed') notes.push(`  - FAILED: ${result.error ?? 'unknown error'}`);
    for (const note of result.notes) notes.push(`  - ${note}`);
    for (const checkpoint of result.checkpoints) {
      notes.push(
        `  - ${checkpoint.size} ${unit}: RSS MiB per node ${mib(checkpoint.rssMiB)} ` +
          `(peak while loading ${mib(checkpoint.loadPeakRssMiB)}); loaded at ` +
          `${Math.round(checkpoint.loadPerSecond)}/s` +
          (checkpoint.reached ? '' : ' (checkpoint not reached)'),
      );
      for (const [id, run] of Object.entries(checkpoint.probes)) {
        if (run !== undefined && run.errors > 0) {
          notes.push(
            `    - ${id}: ${run.errors} failed probe operations, ${run.operations} succeeded (first error: ${run.firstError ?? '?'})`,
          );
        }
      }
    }
  }
  return notes;
}

/** How long each latency probe runs at a checkpoint: 500 ms with --quick, else up to 2 s. */
export function growthProbeMs(bench: Pick<BenchOptions, 'quick' | 'durationMs'>): number {
  return bench.quick ? 500 : Math.min(bench.durationMs, 2000);
}

/**
 * A workload line per warning of a system that can run here (distsync: a build older than its
 * sources measures other code than the commit line says); none when it cannot run.
 */
export function buildWarnings(system: Pick<KvSystem, 'unavailable' | 'warnings'>): string[] {
  return system.unavailable() === undefined ? (system.warnings?.() ?? []) : [];
}

/** A system as a growth suite lists it: asked whether it can run just before its turn. */
export interface GrowthSuiteSystem {
  readonly name: string;
  readonly description: string;
  readonly kind: string;
  /** Why it cannot run here (not installed, not built), or undefined. */
  skip(): Skip | undefined;
  launch(): Promise<GrowthSubject>;
}

/**
 * A whole growth suite: logs the machine, grows each system in turn (one at a time: they share
 * the machine's cores and disk) up to `checkpoints`, then writes the table, notes and charts
 * (see `growthRows`, `growthNotes`, `growthCharts`) and the results.
 */
export async function runGrowthSuite(
  options: SuiteOptions,
  spec: {
    /** `kv-growth`: names the files. */
    suite: string;
    title: string;
    systems: readonly GrowthSuiteSystem[];
    checkpoints: readonly number[];
    batchSize: number;
    loadConcurrency: number;
    charts: GrowthChartSpec;
    /** The workload lines, asked for after the runs. */
    workload: () => readonly string[];
  },
): Promise<SuiteOutput> {
  const run = startSuite(spec.suite, options);
  const { bench, log } = run;
  const results: GrowthSystemResult[] = [];
  for (const system of spec.systems) {
    results.push(
      await runGrowthSystem({
        system: { name: system.name, description: system.description, kind: system.kind },
        skip: system.skip(),
        launch: () => system.launch(),
        plan: {
          checkpoints: spec.checkpoints,
          budgetMs: bench.growthBudgetMs,
          batchSize: spec.batchSize,
          loadConcurrency: spec.loadConcurrency,
          settleMs: bench.quick ? 300 : 1000,
          unit: spec.charts.unit,
        },
        log,
      }),
    );
  }
  const rows = growthRows(results, spec.charts);
  return finishSuite(run, {
    title: spec.title,
    workload: spec.workload(),
    rows,
    columns: results.map((result) => ({ name: result.name, kind: result.kind })),
    notes: growthNotes(results, spec.charts.unit),
    results: suiteResults(run, { systems: results, table: rows }),
    charts: growthCharts(results, spec.charts),
  });
}
