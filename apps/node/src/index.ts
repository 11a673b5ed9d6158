// The public entry of @distsync/node: the server as a library (for the demo and the bench).
export { loadConfig, ConfigSchema, CONFIG_KEYS, envNameOf, flagNameOf } from './config.js';
export type { ConfigInput, ConfigSources, NodeConfig } from './config.js';
export { NodeError, HTTP_STATUS_OF_CODE, apiError } from './errors.js';
export type { ApiError, NodeErrorCode, OperationResult } from './errors.js';
export { startNode, defaultServices } from './server.js';
export type { RunningNode, StartNodeOptions } from './server.js';
export { createLogger } from './logger.js';
export { ServiceRegistry } from './services/registry.js';
export type {
  HttpMethod,
  RouteInput,
  RouteSpec,
  ServiceClock,
  ServiceDefinition,
  ServiceOperations,
} from './services/registry.js';
export { createKvStateMachine, KvCommandSchema, KvQuerySchema } from './services/kv.js';
export type { KvCommand, KvOptions, KvQuery, KvStateMachine } from './services/kv.js';
export {
  createSessionsStateMachine,
  SessionCommandSchema,
  SessionQuerySchema,
} from './services/sessions.js';
export type {
  SessionCommand,
  SessionQuery,
  SessionsOptions,
  SessionsStateMachine,
} from './services/sessions.js';
export { kvService } from './services/kv-service.js';
export { sessionsService } from './services/sessions-service.js';
export type { ServiceResult } from './services/result.js';
export { openApiDocument } from './http/openapi.js';
export { CONFIG_HELP, createProgram } from './cli/program.js';
export { FaultClock } from './faults/clock.js';
export type { ClockFaults } from './faults/clock.js';
export { DiskFaults } from './faults/disk.js';
export type { DiskFaultState } from './faults/disk.js';
