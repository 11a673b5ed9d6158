// sessions as a node service: its state machine, /client operations, REST routes and metrics.
import { Gauge, type Registry } from 'prom-client';
import { z } from 'zod';
import type { RouteSpec, ServiceDefinition, SessionDirectory } from './registry.js';
import {
  createSessionsStateMachine,
  SessionClientCommandSchema,
  SessionQuerySchema,
  TtlMsSchema,
  type SessionsOptions,
} from './sessions.js';

export const SessionCreateBodySchema = z.strictObject({ ttlMs: TtlMsSchema });

function sessionId(params: Readonly<Record<string, string>>): string {
  return params.id ?? '';
}

function sessionRoutes(): RouteSpec[] {
  return [
    {
      method: 'post',
      path: '/v1/sessions',
      summary: 'Create a session that expires unless kept alive within ttlMs',
      body: SessionCreateBodySchema,
      response: z.object({ sessionId: z.string(), ttlMs: z.number().int() }),
      errors: ['LIMIT_REACHED'],
      handle: ({ body, operations, session }) =>
        operations.command(
          { op: 'create', ttlMs: (body as z.infer<typeof SessionCreateBodySchema>).ttlMs },
          session,
        ),
    },
    {
      method: 'post',
      path: '/v1/sessions/{id}/keepalive',
      summary: 'Renew a session for another ttlMs',
      response: z.object({ expiresInMs: z.number().int() }),
      errors: ['NOT_FOUND'],
      handle: ({ params, operations, session }) =>
        operations.command({ op: 'keepalive', sessionId: sessionId(params) }, session),
    },
    {
      method: 'delete',
      path: '/v1/sessions/{id}',
      summary: 'End a session now',
      response: z.object({ deleted: z.boolean() }),
      errors: ['NOT_FOUND'],
      handle: ({ params, operations, session }) =>
        operations.command({ op: 'delete', sessionId: sessionId(params) }, session),
    },
  ];
}

export interface SessionsServiceDefinition extends ServiceDefinition {
  /** What lock, queue and cache services see of sessions: liveness and the end of each. */
  readonly directory: SessionDirectory;
}

export function sessionsService(options: SessionsOptions): SessionsServiceDefinition {
  const machine = createSessionsStateMachine(options);
  return {
    directory: {
      isLive: (id) => machine.isLive(id),
      onEnded: (listener) => machine.onEnded(listener),
    },
    name: 'sessions',
    stateMachine: machine,
    clientCommandSchema: SessionClientCommandSchema,
    clientQuerySchema: SessionQuerySchema,
    routes: sessionRoutes(),
    registerMetrics: (registry: Registry) => {
      new Gauge({
        name: 'distsync_sessions_active',
        help: 'Sessions held by this replica',
        registers: [registry],
        collect() {
          this.set(machine.size());
        },
      });
      new Gauge({
        name: 'distsync_sessions_expired',
        help: 'Sessions this replica dropped by expiry since the process started',
        registers: [registry],
        collect() {
          this.set(machine.expiredCount());
        },
      });
    },
  };
}
