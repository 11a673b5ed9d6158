// The demo as a library: the tests (and anyone embedding the scenarios) start here.
export {
  runDemo,
  selectScenarios,
  EXIT_OK,
  EXIT_FAILED,
  EXIT_USAGE,
  EXIT_INTERRUPTED,
} from './demo.js';
export type { DemoOptions } from './demo.js';
export { EmbeddedCluster, DEFAULT_BASE_PORT, DEFAULT_NODE_COUNT } from './embedded.js';
export type { EmbeddedClusterOptions } from './embedded.js';
export { ExternalCluster, parseEndpoints } from './external.js';
export { agreedLeader, clusterStatus, fetchStatus, DemoAbortedError } from './cluster.js';
export type { DemoCluster, Member, NodeStatus } from './cluster.js';
export { runMenu, EXIT_CHOICE } from './menu.js';
export type { PromptStreams } from './menu.js';
export { runScenario, runScenarios } from './runner.js';
export type { RunnerOptions } from './runner.js';
export { passed } from './scenario.js';
export type { CheckResult, Scenario, ScenarioContext, ScenarioReport } from './scenario.js';
export { SCENARIOS, scenarioNames } from './scenarios/index.js';
export { Ui } from './ui.js';
export type { Progress, Tone, UiOptions } from './ui.js';
