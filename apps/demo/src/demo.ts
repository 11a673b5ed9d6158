// The demo from start to end: the cluster (embedded, or --endpoints), then the menu or the
// scenarios, then everything stopped, on success, failure, Exit or Ctrl-C alike.
import { DemoAbortedError, type DemoCluster } from './cluster.js';
import { EmbeddedCluster, type EmbeddedClusterOptions } from './embedded.js';
import { ExternalCluster } from './external.js';
import { runMenu, type PromptStreams } from './menu.js';
import { runScenarios, type RunnerOptions } from './runner.js';
import { passed, type Scenario } from './scenario.js';
import { SCENARIOS } from './scenarios/index.js';
import { Ui } from './ui.js';
import { clusterStatus } from './cluster.js';
import { showCluster, waitForLeader } from './views.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/** How long the nodes get to start and elect a leader. */
const STARTUP_TIMEOUT_MS = 90_000;

export interface DemoOptions {
  /** A running cluster to use; default: start the embedded one. */
  readonly endpoints?: readonly string[];
  /** Run scenarios without a menu: one name or `all`. Default: the menu. */
  readonly scenario?: string;
  readonly embedded?: EmbeddedClusterOptions;
  readonly token?: string;
  /** Where the menu reads keys and everything is printed. Default: stdin and stdout. */
  readonly input?: NodeJS.ReadableStream;
  readonly output?: NodeJS.WritableStream;
  readonly color?: boolean;
  /** Aborting it stops the demo as Ctrl-C does. */
  readonly signal?: AbortSignal;
}

/** The scenarios `--scenario` names (`all`: every one), or an error message. */
export function selectScenarios(name: string): Scenario[] | string {
  if (name === 'all') return [...SCENARIOS];
  const found = SCENARIOS.find((scenario) => scenario.name === name);
  return found === undefined
    ? `unknown scenario "${name}": one of ${SCENARIOS.map((scenario) => scenario.name).join(', ')}, all`
    : [found];
}

async function openCluster(options: DemoOptions, ui: Ui): Promise<DemoCluster> {
  if (options.endpoints !== undefined) {
    const cluster = await ExternalCluster.open(options.endpoints);
    ui.step(`using the cluster at ${options.endpoints.join(', ')}`);
    return cluster;
  }
  const cluster = await EmbeddedCluster.start(options.embedded);
  ui.step(
    `starting ${cluster.members.length} distsync nodes: ${cluster.members.map((member) => `${member.id} ${member.url}`).join(', ')}`,
  );
  ui.note(`data and logs in ${cluster.logDir}`);
  return cluster;
}

/** Keeps the scenarios whose service the cluster hosts; says which ones it leaves out. */
async function availableScenarios(
  cluster: DemoCluster,
  wanted: readonly Scenario[],
  ui: Ui,
): Promise<Scenario[]> {
  const rows = await clusterStatus(cluster.members);
  const services = new Set(rows.flatMap((row) => row.status?.services ?? []));
  const kept = wanted.filter(
    (scenario) => scenario.service === undefined || services.has(scenario.service),
  );
  for (const scenario of wanted) {
    if (!kept.includes(scenario)) {
      ui.note(`${scenario.title} left out: the cluster has no "${scenario.service ?? ''}" service`);
    }
  }
  return kept;
}

async function session(input: {
  options: DemoOptions;
  ui: Ui;
  cluster: DemoCluster;
  signal: AbortSignal;
  chosen: Scenario[] | undefined;
}): Promise<number> {
  const { options, ui, cluster, signal, chosen } = input;
  // Generous: on a loaded machine, starting three node processes alone can take many seconds.
  const leader = await waitForLeader(
    { ui, cluster, signal },
    // The embedded nodes are ours: wait for all three, so every scenario starts from a whole cluster.
    { label: 'electing a leader', timeoutMs: STARTUP_TIMEOUT_MS, everyReady: cluster.embedded },
  );
  if (leader === undefined) {
    ui.outcome({ ok: false, text: 'no leader: see the node logs' });
    if (cluster instanceof EmbeddedCluster) {
      for (const member of cluster.members)
        ui.note(`[${member.id}] ${cluster.logTail(member.id, 5)}`);
    }
    return EXIT_FAILED;
  }
  await showCluster({ ui, cluster });
  const runner: RunnerOptions = {
    ui,
    cluster,
    signal,
    ...(options.token === undefined ? {} : { token: options.token }),
  };
  const scenarios = await availableScenarios(cluster, chosen ?? SCENARIOS, ui);
  if (chosen === undefined) {
    await runMenu({
      scenarios,
      runner,
      streams: {
        ...(options.input === undefined ? {} : { input: options.input }),
        ...(options.output === undefined ? {} : { output: options.output }),
      } satisfies PromptStreams,
    });
    return signal.aborted ? EXIT_INTERRUPTED : EXIT_OK;
  }
  if (scenarios.length < chosen.length && chosen.length === 1) return EXIT_FAILED;
  const reports = await runScenarios(scenarios, runner);
  return reports.every(passed) ? EXIT_OK : EXIT_FAILED;
}

/** Runs the demo and resolves with its exit code; every node it started is stopped first. */
export async function runDemo(options: DemoOptions = {}): Promise<number> {
  const ui = new Ui({
    output: options.output ?? process.stdout,
    ...(options.color === undefined ? {} : { color: options.color }),
  });
  const chosen = options.scenario === undefined ? undefined : selectScenarios(options.scenario);
  if (typeof chosen === 'string') {
    ui.outcome({ ok: false, text: chosen });
    return EXIT_USAGE;
  }
  const controller = new AbortController();
  const abort = (): void => {
    controller.abort();
  };
  options.signal?.addEventListener('abort', abort, { once: true });
  let cluster: DemoCluster | undefined;
  let code: number;
  try {
    cluster = await openCluster(options, ui);
    code = await session({ options, ui, cluster, signal: controller.signal, chosen });
  } catch (error) {
    if (!(error instanceof DemoAbortedError) && !controller.signal.aborted) throw error;
    code = EXIT_INTERRUPTED;
  } finally {
    options.signal?.removeEventListener('abort', abort);
    if (cluster?.embedded === true) {
      await ui.wait('stopping every node', () => cluster?.stop() ?? Promise.resolve());
    }
  }
  if (code === EXIT_INTERRUPTED) ui.step('interrupted: everything is stopped');
  return code;
}
