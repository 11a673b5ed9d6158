// A scenario: a short story told step by step against a cluster, whose outcomes are checked, so
// the same code is the interactive demo and a test (`--scenario all` exits non-zero on a failed
// check).
import type { ClusterConnection } from '@distsync/transport-ws';
import type { DemoCluster } from './cluster.js';
import type { Ui } from './ui.js';

export interface ScenarioContext {
  readonly ui: Ui;
  readonly cluster: DemoCluster;
  /** Aborted on Ctrl-C: every wait ends early with DemoAbortedError. */
  readonly signal: AbortSignal;
  /** The client token of a cluster that requires one (REST calls send it as a Bearer token). */
  readonly token: string | undefined;
  /** A unique prefix for this run's keys, locks and queues, so runs never collide. */
  readonly prefix: string;
  /** Opens a client connection (transport-ws `connect()`), closed when the scenario ends. */
  connect(options?: { clientId?: string }): Promise<ClusterConnection>;
  /** Runs `cleanup` when the scenario ends (before its connections close), last first. */
  defer(cleanup: () => Promise<unknown> | undefined): void;
  /** Records and prints a checked outcome; returns `ok`. */
  check(text: string, ok: boolean): boolean;
}

export interface Scenario {
  /** The `--scenario` name. */
  readonly name: string;
  readonly title: string;
  /** One line for the menu. */
  readonly summary: string;
  /** A service the cluster must host (`/status` services) for the scenario to make sense. */
  readonly service?: string;
  run(context: ScenarioContext): Promise<void>;
}

export interface CheckResult {
  readonly text: string;
  readonly ok: boolean;
}

export interface ScenarioReport {
  readonly name: string;
  readonly checks: readonly CheckResult[];
  /** Set when the scenario threw instead of finishing. */
  readonly error?: string;
  readonly durationMs: number;
}

export function passed(report: ScenarioReport): boolean {
  return report.error === undefined && report.checks.every((check) => check.ok);
}
