// The service registry: the one place where a service plugs into a node. A service brings its
// state machine, the operations clients may send over /client, its REST routes (described with
// zod schemas, which also feed /v1/openapi.json) and its metrics. kv and sessions register here;
// lock-manager, queue and cache join the same way.
import type { Registry as MetricsRegistry } from 'prom-client';
import type { z } from 'zod';
import type { AnyStateMachine, ApplyContext, RaftNode } from '@distsync/raft';
import type { NodeErrorCode, OperationResult } from '../errors.js';
import type { Logger } from '../logger.js';

/** Exactly-once identity of a command: retries with the same client id and seq apply once. */
export interface CommandSession {
  readonly clientId?: string;
  readonly seq?: number;
  /** The client's oldest seq still awaiting an answer (many commands in flight). */
  readonly lowestUnackedSeq?: number;
}

/** How routes and the /client handler reach the cluster: already mapped to API errors. */
export interface ServiceOperations {
  /** Proposes a command through Raft (any node: followers forward to the leader). */
  command(payload: unknown, options?: CommandSession): Promise<OperationResult>;
  /** A linearizable read (ReadIndex; any node). */
  query(payload: unknown): Promise<OperationResult>;
}

export type HttpMethod = 'get' | 'put' | 'post' | 'delete';

/** One REST route: its shape for validation and OpenAPI, and what it does. */
export interface RouteSpec {
  readonly method: HttpMethod;
  /** OpenAPI style: `/v1/kv/{key}`. */
  readonly path: string;
  readonly summary: string;
  /** The JSON body, validated before `handle` runs (400 BAD_REQUEST naming the field). */
  readonly body?: z.ZodType;
  /** The 200 response body. */
  readonly response: z.ZodType;
  /** Error codes this route answers besides the ones every route may (400, 413, 503...). */
  readonly errors: readonly NodeErrorCode[];
  handle(input: RouteInput): Promise<OperationResult>;
}

export interface RouteInput {
  readonly params: Readonly<Record<string, string>>;
  readonly body: unknown;
  readonly operations: ServiceOperations;
  /** From `X-Distsync-Client-Id` and `X-Distsync-Seq`: makes a retried write apply once. */
  readonly session: { clientId: string; seq: number } | undefined;
  /** A request header (lower-case name); absent for routes reached other than over HTTP. */
  readonly header?: (name: string) => string | undefined;
}

/**
 * What a service sees of the sessions service (DESIGN.md: lock owners, queue consumers and near
 * caches are client sessions). Both are deterministic: `isLive` reads replicated state, and
 * `onEnded` listeners run inside the sessions machine's apply, at the same log index on every
 * replica, with that entry's context (so a lock freed by an expiry gets that index as its token).
 */
export interface SessionDirectory {
  isLive(sessionId: string): boolean;
  onEnded(
    listener: (sessionId: string, reason: 'expired' | 'deleted', context: ApplyContext) => void,
  ): () => void;
}

/** What a service gets when its node starts (`ServiceDefinition.start`). */
export interface ServiceContext {
  readonly nodeId: string;
  /** This service's plain operations through Raft (any node; followers forward to the leader). */
  readonly operations: ServiceOperations;
  /** Another service's plain operations (a cache node registering in the directory, say). */
  operationsFor(service: string): ServiceOperations;
  /** Pushes to every /client session subscribed to `topic` (`<service>/...`); returns how many. */
  publish(topic: string, payload: unknown): number;
  readonly logger: Logger;
  /** The local Raft node: `status()`, `on('role' | 'applied' ...)`. */
  readonly raft: RaftNode;
  /**
   * The node's clock, for a service that measures time itself (cache leases, queue stats): the
   * same one the RaftNode stamps entries with. Absent: the real clocks. Only a node started with
   * fault injection (test only) passes one that can be shifted.
   */
  readonly clock?: ServiceClock;
}

/** Time as services read it (the shape of cache-mesi's CacheScheduler). */
export interface ServiceClock {
  /** A monotonic clock in milliseconds. */
  nowMs(): number;
  /** The wall clock in milliseconds since the epoch. */
  wallMs(): number;
  /** Runs `run` after `delayMs` (unreferenced); the returned function cancels it. */
  setTimeout(run: () => void, delayMs: number): () => void;
}

/** What a started service hands back to its node. Every member is optional. */
export interface ServiceRuntime {
  /**
   * Replaces the plain operations for this service's routes and /client requests: where waiting
   * lives (a lock acquire that waits for its grant, a receive that long-polls).
   */
  readonly operations?: ServiceOperations;
  /** Checks a /client subscription to one of this service's topics; the default accepts it. */
  authorizeSubscribe?(topic: string, clientId: string): OperationResult;
  /** A JSON summary for `/status` (under `services.<name>`) and the dashboard. */
  status?(): unknown;
  /** Runs while the node drains, before storage closes: end long polls, flush write-behind. */
  stop?(): Promise<void>;
}

export interface ServiceDefinition {
  /** The state machine's name, the /client `service` and the metrics label. */
  readonly name: string;
  readonly stateMachine: AnyStateMachine;
  /** Commands clients may send over /client (internal ones, like timers, stay out). */
  readonly clientCommandSchema: z.ZodType;
  /** Queries clients may send over /client. */
  readonly clientQuerySchema: z.ZodType;
  readonly routes: readonly RouteSpec[];
  /** Registers this service's gauges and counters. */
  registerMetrics?(registry: MetricsRegistry): void;
  /** Called once when the node has started Raft and the transport; see ServiceRuntime. */
  start?(context: ServiceContext): ServiceRuntime;
}

/** The services of one node, by name. */
export class ServiceRegistry {
  readonly #services = new Map<string, ServiceDefinition>();

  constructor(services: readonly ServiceDefinition[]) {
    for (const service of services) {
      if (this.#services.has(service.name)) {
        throw new Error(`service ${service.name} is registered twice`);
      }
      if (service.stateMachine.name !== service.name) {
        throw new Error(
          `service ${service.name} must bring a state machine of the same name (got ${service.stateMachine.name})`,
        );
      }
      this.#services.set(service.name, service);
    }
  }

  get(name: string): ServiceDefinition | undefined {
    return this.#services.get(name);
  }

  names(): string[] {
    return [...this.#services.keys()];
  }

  all(): ServiceDefinition[] {
    return [...this.#services.values()];
  }

  stateMachines(): AnyStateMachine[] {
    return this.all().map((service) => service.stateMachine);
  }

  routes(): RouteSpec[] {
    return this.all().flatMap((service) => service.routes);
  }
}
