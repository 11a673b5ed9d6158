export { computePhi } from './phi.js';
export {
  DEFAULT_PHI_ACCRUAL_OPTIONS,
  MAX_SAMPLE_SIZE_LIMIT,
  PhiAccrualFailureDetector,
} from './detector.js';
export type {
  DetectorStats,
  HeartbeatOutcome,
  PhiAccrualOptions,
  ResolvedPhiAccrualOptions,
} from './detector.js';
export { HeartbeatMonitor, MAX_PEER_ID_LENGTH } from './monitor.js';
export type {
  AddPeerResult,
  HeartbeatMonitorOptions,
  MonitorEvent,
  MonitorEventType,
  PeerId,
  PeerSnapshot,
  PeerStatus,
  RecoveredEvent,
  ResolvedHeartbeatMonitorOptions,
  SuspectEvent,
} from './monitor.js';
export type { EventStream, Listener } from './emitter.js';
export { startMonitorClock } from './clock.js';
export type { MonitorClockOptions } from './clock.js';
export { FailureDetectorError } from './errors.js';
export type { FailureDetectorErrorCode } from './errors.js';
export { MAX_DURATION_MS } from './validate.js';
