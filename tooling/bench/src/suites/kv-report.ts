// The kv suite's side-by-side table, built from the per-system results.
import { median, type Row } from '../harness/report.js';
import type { KvSystemResult } from './kv.js';

type Values = Record<string, number | undefined>;

function valuesOf(
  results: readonly KvSystemResult[],
  pick: (result: KvSystemResult) => number | undefined,
): Values {
  return Object.fromEntries(results.map((result) => [result.name, pick(result)]));
}

const mean = (values: readonly (number | undefined)[] | undefined): number | undefined => {
  const known = (values ?? []).filter((value) => value !== undefined);
  return known.length === 0
    ? undefined
    : known.reduce((sum, value) => sum + value, 0) / known.length;
};

const highest = (values: readonly (number | undefined)[] | undefined): number | undefined => {
  const known = (values ?? []).filter((value) => value !== undefined);
  return known.length === 0 ? undefined : Math.max(...known);
};

function loadRows(
  results: readonly KvSystemResult[],
  options: { kind: 'put' | 'get'; concurrency: readonly number[] },
): Row[] {
  const rows: Row[] = [];
  const runs = (result: KvSystemResult): KvSystemResult['puts'] =>
    options.kind === 'put' ? result.puts : result.gets;
  const label = options.kind === 'put' ? 'put' : 'linearizable get';
  for (const concurrency of options.concurrency) {
    const run = (result: KvSystemResult) => runs(result).find((r) => r.concurrency === concurrency);
    const clients = `${concurrency} client${concurrency === 1 ? '' : 's'}`;
    rows.push(
      {
        metric: `${label} ops/s, ${clients}`,
        unit: 'ops/s',
        better: 'higher',
        values: valuesOf(results, (result) => run(result)?.opsPerSecond),
      },
      {
        metric: `${label} p50 ms, ${clients}`,
        unit: 'ms',
        better: 'lower',
        values: valuesOf(results, (result) => run(result)?.latency.p50Ms),
      },
      {
        metric: `${label} p99 ms, ${clients}`,
        unit: 'ms',
        better: 'lower',
        values: valuesOf(results, (result) => run(result)?.latency.p99Ms),
      },
    );
  }
  return rows;
}

export function kvRows(results: readonly KvSystemResult[], concurrency: readonly number[]): Row[] {
  return [
    ...loadRows(results, { kind: 'put', concurrency }),
    ...loadRows(results, { kind: 'get', concurrency }),
    {
      metric: `failover ms after kill -9 of the leader (median)`,
      unit: 'ms',
      better: 'lower',
      values: valuesOf(results, (result) => median(result.failoverMs)),
    },
    {
      metric: 'launch to first committed write, ms',
      unit: 'ms',
      better: 'lower',
      values: valuesOf(results, (result) => result.firstWriteMs),
    },
    {
      metric: 'RSS per node idle, MiB (mean over the nodes)',
      unit: 'MiB',
      better: 'lower',
      values: valuesOf(results, (result) => mean(result.idleRssMiB)),
    },
    {
      metric: 'RSS per node under load, MiB (highest node peak)',
      unit: 'MiB',
      better: 'lower',
      values: valuesOf(results, (result) => highest(result.loadRssMiB)),
    },
  ];
}

const mib = (values: readonly (number | undefined)[] | undefined): string =>
  (values ?? []).map((value) => (value === undefined ? '-' : value.toFixed(1))).join(' / ');

/** Lines under the table: client paths, per-node figures, errors, skipped peers. */
export function kvNotes(results: readonly KvSystemResult[]): string[] {
  const notes: string[] = [];
  for (const result of results) {
    notes.push(`- ${result.name}: ${result.description}`);
    if (result.status === 'skipped' && result.skip !== undefined) {
      notes.push(
        `  - SKIPPED: ${result.skip.reason}; install with \`${result.skip.installCommand}\``,
      );
      continue;
    }
    for (const warning of result.warnings) notes.push(`  - WARNING: ${warning}`);
    if (result.status === 'failed') notes.push(`  - FAILED: ${result.error ?? 'unknown error'}`);
    if (result.idleRssMiB !== undefined) {
      notes.push(
        `  - RSS MiB per node, idle: ${mib(result.idleRssMiB)}; peak under load: ${mib(result.loadRssMiB)}`,
      );
    }
    if (result.failoverMs.length > 0) {
      notes.push(
        `  - failover rounds, ms: ${result.failoverMs.map((ms) => ms.toFixed(0)).join(', ')}`,
      );
    }
    for (const failure of result.failoverErrors) notes.push(`  - failover ${failure}`);
    for (const run of [...result.puts, ...result.gets]) {
      if (run.errors > 0) {
        notes.push(
          `  - ${run.errors} failed operations at ${run.concurrency} clients (first: ${run.firstError})`,
        );
      }
    }
  }
  return notes;
}
