// Side-by-side tables: one row per figure, one column per system, and the ratio ours / peer
// beside the absolute figures. Missing figures stay empty; nothing is ever filled in.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type Better = 'higher' | 'lower';

export interface Row {
  /** What was measured, with its unit (`put ops/s, 16 clients`). */
  readonly metric: string;
  readonly unit: 'ops/s' | 'ms' | 'MiB';
  readonly better: Better;
  /** The figure per system name; undefined when the system was skipped or the step failed. */
  readonly values: Readonly<Record<string, number | undefined>>;
}

/** Figures with about three significant digits; ops/s as whole numbers with separators. */
export function formatValue(value: number | undefined, unit: Row['unit']): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  if (unit === 'ops/s') return Math.round(value).toLocaleString('en-US');
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  const digits = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : magnitude >= 1 ? 2 : 3;
  return value.toFixed(digits);
}

/**
 * `ours / peer` as `1.23x`, with a marker saying whether ours is better (`+`) or worse (`-`)
 * for this kind of figure; `-` alone when either side is missing or the peer is zero.
 */
export function formatRatio(options: {
  ours: number | undefined;
  peer: number | undefined;
  better: Better;
}): string {
  const { ours, peer, better } = options;
  if (ours === undefined || peer === undefined || !Number.isFinite(ours) || !(peer > 0)) {
    return '-';
  }
  const ratio = ours / peer;
  const text = ratio >= 10 ? ratio.toFixed(0) : ratio >= 1 ? ratio.toFixed(2) : ratio.toFixed(3);
  if (ratio === 1) return `${text}x`;
  const oursBetter = better === 'higher' ? ratio > 1 : ratio < 1;
  return `${text}x ${oursBetter ? '(better)' : '(worse)'}`;
}

/**
 * A markdown table: metric, each of our columns (one per client path), each peer, then one
 * ratio column per pair of ours and peer.
 */
export function markdownTable(options: {
  rows: readonly Row[];
  ours: readonly string[];
  peers: readonly string[];
  /** The ratio columns; every pair of ours and peer by default. */
  pairs?: readonly { our: string; peer: string }[];
}): string {
  const { rows, ours, peers } = options;
  const pairs = options.pairs ?? ours.flatMap((our) => peers.map((peer) => ({ our, peer })));
  const header = ['metric', ...ours, ...peers, ...pairs.map(({ our, peer }) => `${our} / ${peer}`)];
  const lines = [
    `| ${header.join(' | ')} |`,
    `| ${header.map((_, index) => (index === 0 ? '---' : '---:')).join(' | ')} |`,
  ];
  for (const row of rows) {
    const cells = [
      row.metric,
      ...[...ours, ...peers].map((name) => formatValue(row.values[name], row.unit)),
      ...pairs.map(({ our, peer }) =>
        formatRatio({ ours: row.values[our], peer: row.values[peer], better: row.better }),
      ),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** `2026-11-25T18-40-03Z`: sortable and safe in file names. */
export function fileTimestamp(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replaceAll(':', '-');
}

/** Writes `<dir>/<suite>-<timestamp>.json` and returns its path. */
export function writeResults(options: {
  dir: string;
  suite: string;
  startedAt: Date;
  results: unknown;
}): string {
  mkdirSync(options.dir, { recursive: true });
  const path = join(options.dir, `${options.suite}-${fileTimestamp(options.startedAt)}.json`);
  writeFileSync(path, `${JSON.stringify(options.results, null, 2)}\n`);
  return path;
}

/** The median of a list (mean of the middle two for even lengths); undefined when empty. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? sorted[middle]
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}
