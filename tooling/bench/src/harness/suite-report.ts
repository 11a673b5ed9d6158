// What every suite starts with (its start time and the machine facts, see `startSuite`) and ends
// with (`finishSuite`): the markdown section (title, machine facts, workload, the
// side-by-side table, notes, charts), the JSON results, and the SVG charts next to them; with
// `--publish`, stable-named copies in docs/benchmarks/ for docs/benchmarks.md to show.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { BenchOptions } from '../options.js';
import { workspaceRoot } from '../systems/distsync.js';
import { renderCharts, type Chart } from './charts.js';
import { formatMachineFacts, machineFacts, type MachineFacts } from './machine.js';
import { fileTimestamp, markdownTable, type Row } from './report.js';

/** What the CLI hands every suite. */
export interface SuiteOptions {
  readonly bench: BenchOptions;
  /** Where the results go (see `writeSuiteReport`). */
  readonly resultsDir: string;
  /** Progress lines (stderr). */
  readonly log: (line: string) => void;
}

/** A suite under way: the CLI's options, its name, when it started and the machine it runs on. */
export interface SuiteRun extends SuiteOptions {
  /** `kv`, `kv-growth`, `locks`: names the files and the `suite` field of the results. */
  readonly suite: string;
  readonly startedAt: Date;
  readonly machine: MachineFacts;
}

/**
 * Starts a suite: its start time and the machine facts; unless `announce` is false, logs them
 * (`<suite> suite on:` and the facts).
 */
export function startSuite(
  suite: string,
  options: SuiteOptions,
  announce: { announce?: boolean } = {},
): SuiteRun {
  const startedAt = new Date();
  const machine = machineFacts();
  if (announce.announce ?? true) options.log(`${suite} suite on:\n${formatMachineFacts(machine)}`);
  return { ...options, suite, startedAt, machine };
}

/** The systems `--systems` asks for (all when it is not given). */
export function wantedSystems<T extends { readonly name: string }>(
  bench: Pick<BenchOptions, 'systems'>,
  systems: readonly T[],
): T[] {
  return systems.filter((system) => bench.systems?.includes(system.name) ?? true);
}

/** Ends a workload line: with `--quick`, a warning that its figures are not for comparison. */
export function quickNote(bench: Pick<BenchOptions, 'quick'>): string {
  return bench.quick ? ' (--quick: smoke figures, not for comparison)' : '';
}

/** A column of a side-by-side table: a system or one of its client paths. */
export interface Column {
  readonly name: string;
  /** Ratios pair columns of the same kind only (`http` with `http`, `native` with `native`). */
  readonly kind: string;
}

/**
 * Which columns are ours (names starting with `distsync`), which are peers, and the ratio
 * columns: each of ours against each peer of the same kind.
 */
export function sideBySide(columns: readonly Column[]): {
  ours: string[];
  peers: string[];
  pairs: { our: string; peer: string }[];
} {
  const ours = columns.filter((c) => c.name.startsWith('distsync')).map((c) => c.name);
  const peers = columns.filter((c) => !c.name.startsWith('distsync')).map((c) => c.name);
  const kindOf = new Map(columns.map((column) => [column.name, column.kind]));
  const pairs = ours.flatMap((our) =>
    peers.filter((peer) => kindOf.get(peer) === kindOf.get(our)).map((peer) => ({ our, peer })),
  );
  return { ours, peers, pairs };
}

/**
 * The markdown section of a suite: `## title`, the machine facts, the workload lines, the
 * table (ratios of the same-kind pairs), then the notes (client paths, skipped peers, errors).
 */
export function suiteMarkdown(options: {
  title: string;
  machine: MachineFacts;
  workload: readonly string[];
  rows: readonly Row[];
  columns: readonly Column[];
  notes: readonly string[];
}): string {
  const { ours, peers, pairs } = sideBySide(options.columns);
  return [
    `## ${options.title}`,
    '',
    formatMachineFacts(options.machine),
    ...options.workload.map((line) => `- ${line}`),
    '',
    markdownTable({ rows: options.rows, ours, peers, pairs }),
    '',
    ...options.notes,
  ].join('\n');
}

/** Where `--publish` copies a suite's files: `--publish-dir`, else `<workspace>/docs/benchmarks`. */
export function publishDirOf(
  bench: Pick<BenchOptions, 'publish' | 'publishDir'>,
): string | undefined {
  if (!bench.publish) return undefined;
  return bench.publishDir === undefined
    ? join(workspaceRoot(), 'docs', 'benchmarks')
    : // pnpm runs the bench in its package folder; a relative path is meant from the caller's.
      resolve(process.env.INIT_CWD ?? process.cwd(), bench.publishDir);
}

export interface SuiteReport {
  /** `kv`, `kv-value-size`, `locks`: names the files. */
  readonly suite: string;
  readonly startedAt: Date;
  /** The suite's section (see `suiteMarkdown`); chart links are appended to the written copy. */
  readonly markdown: string;
  /** Everything measured (options, machine facts, per-system figures, table rows) as JSON. */
  readonly results: Record<string, unknown>;
  readonly charts?: readonly Chart[];
}

export interface SuiteOutput {
  /** The section for stdout (with the chart file paths). */
  readonly markdown: string;
  readonly resultsPath: string;
  readonly markdownPath?: string;
  readonly chartPaths?: readonly string[];
  /** Files written into the publish dir (docs/benchmarks), when publishing. */
  readonly publishedPaths?: readonly string[];
}

function withChartLinks(
  markdown: string,
  charts: readonly { chart: Chart; file: string }[],
): string {
  if (charts.length === 0) return markdown;
  return [
    markdown,
    '',
    ...charts.flatMap(({ chart, file }) => [`![${chart.title}](${file})`, '']),
  ].join('\n');
}

/**
 * Writes `<dir>/<suite>-<timestamp>.json` (the results, plus the charts' data), `.md` (the
 * section with chart links) and `<suite>-<timestamp>-<chart id>.svg` per chart. With
 * `publishDir`, also `<publishDir>/<suite>.json`, `<suite>.md` and `<suite>-<chart id>.svg`:
 * stable names, so docs/benchmarks.md keeps pointing at the latest published run.
 */
export async function writeSuiteReport(options: {
  dir: string;
  report: SuiteReport;
  publishDir?: string | undefined;
}): Promise<SuiteOutput> {
  const { dir, report } = options;
  mkdirSync(dir, { recursive: true });
  const stem = `${report.suite}-${fileTimestamp(report.startedAt)}`;
  const rendered = await renderCharts(report.charts ?? []);
  const chartFiles = rendered.map(({ chart, svg }) => {
    const path = join(dir, `${stem}-${chart.id}.svg`);
    writeFileSync(path, svg);
    return { chart, path };
  });
  const resultsPath = join(dir, `${stem}.json`);
  const json = { ...report.results, charts: report.charts ?? [] };
  writeFileSync(resultsPath, `${JSON.stringify(json, null, 2)}\n`);
  const markdownPath = join(dir, `${stem}.md`);
  writeFileSync(
    markdownPath,
    `${withChartLinks(
      report.markdown,
      chartFiles.map(({ chart, path }) => ({ chart, file: basename(path) })),
    )}\n`,
  );
  const publishedPaths: string[] = [];
  if (options.publishDir !== undefined) {
    const publishDir = options.publishDir;
    mkdirSync(publishDir, { recursive: true });
    const published = chartFiles.map(({ chart, path }) => {
      const target = join(publishDir, `${report.suite}-${chart.id}.svg`);
      copyFileSync(path, target);
      publishedPaths.push(target);
      return { chart, file: basename(target) };
    });
    const jsonTarget = join(publishDir, `${report.suite}.json`);
    copyFileSync(resultsPath, jsonTarget);
    const markdownTarget = join(publishDir, `${report.suite}.md`);
    writeFileSync(markdownTarget, `${withChartLinks(report.markdown, published)}\n`);
    publishedPaths.push(jsonTarget, markdownTarget);
  }
  const chartPaths = chartFiles.map(({ path }) => path);
  return {
    markdown: [
      report.markdown,
      ...(chartPaths.length === 0 ? [] : ['', 'charts:', ...chartPaths.map((p) => `- ${p}`)]),
    ].join('\n'),
    resultsPath,
    markdownPath,
    chartPaths,
    publishedPaths,
  };
}

/**
 * The results JSON of a suite: its name, start and finish, the options (the bench's, plus the
 * suite's own constants in `options`), the machine facts, then the suite's figures.
 */
export function suiteResults(
  run: SuiteRun,
  figures: Record<string, unknown>,
  options: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    suite: run.suite,
    startedAt: run.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    options: { ...run.bench, ...options },
    machine: run.machine,
    ...figures,
  };
}

/**
 * Ends a suite: its markdown section (see `suiteMarkdown`, on the run's machine) and its files
 * (see `writeSuiteReport`, published with `--publish`).
 */
export function finishSuite(
  run: SuiteRun,
  section: {
    title: string;
    workload: readonly string[];
    rows: readonly Row[];
    columns: readonly Column[];
    notes: readonly string[];
    /** Everything measured, as JSON (usually `suiteResults`). */
    results: Record<string, unknown>;
    charts?: readonly Chart[];
  },
): Promise<SuiteOutput> {
  const { title, workload, rows, columns, notes, results, charts } = section;
  return writeSuiteReport({
    dir: run.resultsDir,
    publishDir: publishDirOf(run.bench),
    report: {
      suite: run.suite,
      startedAt: run.startedAt,
      markdown: suiteMarkdown({ title, machine: run.machine, workload, rows, columns, notes }),
      results,
      ...(charts === undefined ? {} : { charts }),
    },
  });
}
