// Runs scenarios: a context per scenario (its connections are closed when it ends), every check
// recorded, and a summary for `--scenario all`.
import { randomBytes } from 'node:crypto';
import { connect, silentLogger, type ClusterConnection } from '@distsync/transport-ws';
import { DemoAbortedError, type DemoCluster } from './cluster.js';
import type { CheckResult, Scenario, ScenarioContext, ScenarioReport } from './scenario.js';
import { passed } from './scenario.js';
import type { Ui } from './ui.js';

export interface RunnerOptions {
  readonly ui: Ui;
  readonly cluster: DemoCluster;
  readonly signal: AbortSignal;
  /** Client token, when the cluster requires one. */
  readonly token?: string;
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = 'code' in error && typeof error.code === 'string' ? `${error.code}: ` : '';
  return `${code}${error.message}`;
}

export async function runScenario(
  scenario: Scenario,
  options: RunnerOptions,
): Promise<ScenarioReport> {
  const { ui, cluster, signal } = options;
  const startedMs = Date.now();
  const checks: CheckResult[] = [];
  const connections: ClusterConnection[] = [];
  const cleanups: (() => Promise<unknown> | undefined)[] = [];
  const context: ScenarioContext = {
    ui,
    cluster,
    signal,
    token: options.token,
    prefix: `demo-${randomBytes(3).toString('hex')}`,
    async connect(connectOptions = {}) {
      const connection = await connect(
        cluster.members.map((member) => member.url),
        {
          logger: silentLogger,
          // Longer than the embedded nodes' own 15 s wait for Raft, so their answer comes first.
          requestTimeoutMs: 20_000,
          ...(options.token === undefined ? {} : { token: options.token }),
          ...connectOptions,
        },
      );
      connections.push(connection);
      return connection;
    },
    defer(cleanup) {
      cleanups.push(cleanup);
    },
    check(text, ok) {
      checks.push({ text, ok });
      ui.outcome({ ok, text });
      return ok;
    },
  };
  ui.heading(`${scenario.title}: ${scenario.summary}`);
  let error: string | undefined;
  try {
    await scenario.run(context);
  } catch (thrown) {
    if (thrown instanceof DemoAbortedError || signal.aborted) throw new DemoAbortedError();
    error = describeError(thrown);
    ui.outcome({ ok: false, text: `the scenario stopped: ${error}` });
  } finally {
    for (const cleanup of cleanups.reverse()) {
      await Promise.resolve()
        .then(cleanup)
        .catch(() => undefined);
    }
    await Promise.allSettled(connections.map((connection) => connection.close()));
  }
  const report: ScenarioReport = {
    name: scenario.name,
    checks,
    ...(error === undefined ? {} : { error }),
    durationMs: Date.now() - startedMs,
  };
  return report;
}

/** Runs the scenarios in order and prints a summary; resolves with the reports. */
export async function runScenarios(
  scenarios: readonly Scenario[],
  options: RunnerOptions,
): Promise<ScenarioReport[]> {
  const reports: ScenarioReport[] = [];
  for (const scenario of scenarios) reports.push(await runScenario(scenario, options));
  const { ui } = options;
  ui.heading('Summary');
  for (const report of reports) {
    const failed = report.checks.filter((check) => !check.ok).length;
    const detail =
      report.error === undefined
        ? `${report.checks.length - failed}/${report.checks.length} checks passed`
        : `stopped: ${report.error}`;
    ui.outcome({
      ok: passed(report),
      text: `${report.name.padEnd(8)} ${detail} (${(report.durationMs / 1000).toFixed(1)} s)`,
    });
  }
  const checks = reports.flatMap((report) => report.checks);
  const failedChecks = checks.filter((check) => !check.ok).length;
  ui.line(
    failedChecks === 0
      ? ui.paint('ok', `all ${checks.length} checks held`)
      : ui.paint('fail', `${failedChecks} of ${checks.length} checks failed`),
  );
  return reports;
}
