// The harness, for suites added by other packages' issues (locks, queue, cache).
export { BenchError, BENCH_ERROR_CODES } from './errors.js';
export type { BenchErrorCode } from './errors.js';
export { LatencyHistogram, LATENCY_MAX_MICROSECONDS } from './harness/histogram.js';
export type { LatencySummary } from './harness/histogram.js';
export { runClosedLoop } from './harness/load.js';
export type { ClosedLoopOptions, ClosedLoopResult } from './harness/load.js';
export { forEachBounded, timeToFirstSuccess } from './harness/attempts.js';
export type { FirstSuccessOptions } from './harness/attempts.js';
export {
  cleanupAll,
  installCleanupHandlers,
  killHard,
  logTail,
  makeTempDir,
  removeTempDir,
  runningProcessCount,
  startProcess,
  stopGracefully,
} from './harness/processes.js';
export type { ManagedProcess, StartProcessOptions } from './harness/processes.js';
export { ClusterProcesses } from './harness/cluster.js';
export type { NodeSpec } from './harness/cluster.js';
export { freePorts, RESERVED_PORTS } from './harness/ports.js';
export { waitUntil } from './harness/wait.js';
export type { WaitOptions } from './harness/wait.js';
export { processRssKiB, processTree, sampleRssPeaks, treeRssMiB } from './harness/rss.js';
export { commandVersion, formatMachineFacts, machineFacts } from './harness/machine.js';
export type { DiskFacts, MachineFacts } from './harness/machine.js';
export { HttpClients, REQUEST_TIMEOUT_MS } from './harness/http.js';
export type { HttpRequest, HttpResponse } from './harness/http.js';
export {
  fileTimestamp,
  formatRatio,
  formatValue,
  markdownTable,
  median,
  writeResults,
} from './harness/report.js';
export type { Better, Row } from './harness/report.js';
export {
  autoScaleAxis,
  chartSpec,
  latencyPercentileChart,
  memoryChart,
  PERCENTILES,
  renderChartSvg,
  renderCharts,
  seriesChart,
  seriesColors,
  SERIES_COLORS,
  throughputChart,
  validateChart,
  valueSizeChart,
} from './harness/charts.js';
export type { Chart, ChartAxis, ChartPoint, LevelFigures } from './harness/charts.js';
export {
  finishSuite,
  publishDirOf,
  quickNote,
  sideBySide,
  startSuite,
  suiteMarkdown,
  suiteResults,
  wantedSystems,
  writeSuiteReport,
} from './harness/suite-report.js';
export type {
  Column,
  SuiteOptions,
  SuiteOutput,
  SuiteReport,
  SuiteRun,
} from './harness/suite-report.js';
export { etcdSystem, ETCD_INSTALL_COMMAND } from './systems/etcd.js';
export { distsyncSystem, DISTSYNC_BUILD_COMMAND, workspaceRoot } from './systems/distsync.js';
export type { KvCluster, KvSystem, Skip } from './systems/types.js';
export { expandSuites, parseConcurrency, parseOptions, USAGE } from './options.js';
export { growthCheckpoints, loadKeys } from './harness/growth.js';
export type { LoadKeysOptions, LoadKeysResult } from './harness/growth.js';
export { redisSystem, REDIS_INSTALL_COMMAND } from './systems/redis.js';
export {
  buildWarnings,
  compactCount,
  growthCharts,
  growthNotes,
  growthProbeMs,
  growthRows,
  runGrowthSuite,
  runGrowthSystem,
} from './harness/growth-run.js';
export type {
  GrowthChartSpec,
  GrowthCheckpoint,
  GrowthPlan,
  GrowthProbe,
  GrowthSubject,
  GrowthSuiteSystem,
  GrowthSystemResult,
  GrowthTableSpec,
} from './harness/growth-run.js';
export { KV_GROWTH_PROBES, kvGrowthCharts } from './suites/kv-growth.js';
export { LOCK_GROWTH_PROBES, lockGrowthCharts } from './suites/lock-growth.js';
export { QUEUE_GROWTH_PROBES, queueGrowthCharts } from './suites/queue-growth.js';
export {
  NATS_INSTALL_COMMAND,
  natsClusterConfigs,
  natsServerUnavailable,
  startNatsCluster,
} from './systems/nats-cluster.js';
export type { NatsCluster, NatsNodePorts } from './systems/nats-cluster.js';
export { valueSizeCharts, valueSizeRows } from './suites/kv-value-size.js';
export type { SizeFigures, ValueSizeColumn } from './suites/kv-value-size.js';
export type { BenchOptions } from './options.js';
