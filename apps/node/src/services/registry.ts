// The service registry: the one place where a service plugs into a node. A service brings its
// state machine, the operations clients may send over /client, its REST routes (described with
// zod schemas, which also feed /v1/openapi.json) and its metrics. kv and sessions register here;
// lock-manager, queue and cache join the same way.
import type { Registry as MetricsRegistry } from 'prom-client';
import type { z } from 'zod';
import type { AnyStateMachine } from '@distsync/raft';
import type { NodeErrorCode, OperationResult } from '../errors.js';

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
