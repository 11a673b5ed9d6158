// kv as a node service: its state machine, /client operations, REST routes and metrics.
import { Gauge, type Registry } from 'prom-client';
import { z } from 'zod';
import { apiError } from '../errors.js';
import {
  createKvStateMachine,
  JsonValueSchema,
  KvCommandSchema,
  KvQuerySchema,
  type KvOptions,
} from './kv.js';
import type { RouteSpec, ServiceDefinition } from './registry.js';

const VersionSchema = z.number().int().min(0).meta({
  description: 'The Raft index of the entry that last wrote the key (0: the key does not exist).',
});

export const KvPutBodySchema = z.strictObject({ value: JsonValueSchema });
export const KvCasBodySchema = z.strictObject({
  expectedVersion: VersionSchema,
  value: JsonValueSchema,
});

function key(params: Readonly<Record<string, string>>): string {
  return params.key ?? '';
}

function kvRoutes(): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/v1/kv/{key}',
      summary: 'Read a key (linearizable, on any node)',
      response: z.object({ value: JsonValueSchema, version: VersionSchema }),
      errors: ['NOT_FOUND'],
      handle: ({ params, operations }) => operations.query({ op: 'get', key: key(params) }),
    },
    {
      method: 'put',
      path: '/v1/kv/{key}',
      summary: 'Write a key',
      body: KvPutBodySchema,
      response: z.object({ version: VersionSchema, index: z.number().int() }),
      errors: ['LIMIT_REACHED'],
      handle: ({ params, body, operations, session }) =>
        operations.command(
          { op: 'put', key: key(params), value: (body as z.infer<typeof KvPutBodySchema>).value },
          session,
        ),
    },
    {
      method: 'delete',
      path: '/v1/kv/{key}',
      summary: 'Delete a key',
      response: z.object({ deleted: z.boolean() }),
      errors: [],
      handle: ({ params, operations, session }) =>
        operations.command({ op: 'delete', key: key(params) }, session),
    },
    {
      method: 'post',
      path: '/v1/kv/{key}/cas',
      summary: 'Compare-and-set: write only if the version is `expectedVersion` (0: absent)',
      body: KvCasBodySchema,
      response: z.object({ version: VersionSchema }),
      errors: ['CONFLICT', 'LIMIT_REACHED'],
      handle: async ({ params, body, operations, session }) => {
        const { expectedVersion, value } = body as z.infer<typeof KvCasBodySchema>;
        const result = await operations.command(
          { op: 'cas', key: key(params), expectedVersion, value },
          session,
        );
        if (!result.ok) return result;
        const written = result.value as { version?: unknown };
        return typeof written.version === 'number'
          ? { ok: true, value: { version: written.version } }
          : apiError('INTERNAL', 'kv cas returned no version');
      },
    },
  ];
}

export function kvService(options: KvOptions): ServiceDefinition {
  const machine = createKvStateMachine(options);
  return {
    name: 'kv',
    stateMachine: machine,
    clientCommandSchema: KvCommandSchema,
    clientQuerySchema: KvQuerySchema,
    routes: kvRoutes(),
    registerMetrics: (registry: Registry) => {
      new Gauge({
        name: 'distsync_kv_keys',
        help: 'Keys held by this replica of the kv service',
        registers: [registry],
        collect() {
          this.set(machine.size());
        },
      });
    },
  };
}
