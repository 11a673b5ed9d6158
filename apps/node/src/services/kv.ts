// The `kv` state machine: a replicated map of JSON values with versions, for operators and for
// linearizability tests. A key's version is the Raft index of the entry that last wrote it (as
// etcd's mod_revision), so versions only grow, even across a delete and a re-create, and a
// compare-and-set can never be fooled by a key that was deleted and written again (no ABA).
import { z } from 'zod';
import type { ApplyContext, StateMachine } from '@distsync/raft';
import { decodeJson, encodeJson, fail, ok, type ServiceResult } from './result.js';

/** Keys are 1-1024 characters. */
export const KvKeySchema = z.string().min(1).max(1024);
/** Any JSON value. */
export const JsonValueSchema = z.json();

export const KvCommandSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('put'), key: KvKeySchema, value: JsonValueSchema }),
  z.strictObject({ op: z.literal('delete'), key: KvKeySchema }),
  z.strictObject({
    op: z.literal('cas'),
    key: KvKeySchema,
    /** 0 means "only if the key does not exist". */
    expectedVersion: z.number().int().min(0),
    value: JsonValueSchema,
  }),
]);
export type KvCommand = z.infer<typeof KvCommandSchema>;

export const KvQuerySchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('get'), key: KvKeySchema }),
  z.strictObject({ op: z.literal('count') }),
]);
export type KvQuery = z.infer<typeof KvQuerySchema>;

interface KvRecord {
  readonly value: unknown;
  readonly version: number;
}

export interface KvOptions {
  /** Keys held at once; a put that would create one more answers LIMIT_REACHED. */
  readonly maxKeys: number;
}

export interface KvStateMachine extends StateMachine<KvCommand, KvQuery, ServiceResult> {
  /** Keys held now (for the `distsync_kv_keys` gauge). */
  size(): number;
}

export function createKvStateMachine(options: KvOptions): KvStateMachine {
  let map = new Map<string, KvRecord>();

  function put(key: string, value: unknown, index: number): ServiceResult {
    if (!map.has(key) && map.size >= options.maxKeys) {
      return fail('LIMIT_REACHED', `maxKeys (${options.maxKeys}) reached`);
    }
    map.set(key, { value, version: index });
    return ok({ version: index, index });
  }

  function apply(command: KvCommand, context: ApplyContext): ServiceResult {
    switch (command.op) {
      case 'put':
        return put(command.key, command.value, context.index);
      case 'delete':
        return ok({ deleted: map.delete(command.key) });
      case 'cas': {
        const current = map.get(command.key)?.version ?? 0;
        if (current !== command.expectedVersion) {
          return fail(
            'CONFLICT',
            `version of ${JSON.stringify(command.key)} is ${current}, expected ${command.expectedVersion}`,
          );
        }
        return put(command.key, command.value, context.index);
      }
    }
  }

  function query(request: KvQuery): ServiceResult {
    switch (request.op) {
      case 'get': {
        const record = map.get(request.key);
        if (record === undefined) return fail('NOT_FOUND', `no key ${JSON.stringify(request.key)}`);
        return ok({ value: record.value, version: record.version });
      }
      case 'count':
        return ok({ keys: map.size });
    }
  }

  return {
    name: 'kv',
    commandSchema: KvCommandSchema,
    querySchema: KvQuerySchema,
    apply,
    query,
    size: () => map.size,
    // Sorted, so every replica's snapshot of the same state is the same bytes.
    snapshot: () => encodeJson([...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    restore: (bytes) => {
      const entries = z
        .array(z.tuple([z.string(), z.object({ value: z.json(), version: z.number() })]))
        .parse(decodeJson(bytes));
      map = new Map(entries.map(([key, record]) => [key, record as KvRecord]));
    },
  };
}
