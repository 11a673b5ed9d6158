// The `kv` state machine: a replicated map of JSON values with versions, for operators and for
// linearizability tests. A key's version is the Raft index of the entry that last wrote it (as
// etcd's mod_revision), so versions only grow, even across a delete and a re-create, and a
// compare-and-set can never be fooled by a key that was deleted and written again (no ABA).
import { z } from 'zod';
import {
  decodeJsonLines,
  encodeJsonLines,
  MapSnapshots,
  RaftError,
  type ApplyContext,
  type StateMachine,
} from '@distsync/raft';
import { decodeJson, fail, ok, type ServiceResult } from './result.js';

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

/** First line of a kv snapshot; older nodes wrote one JSON array (`[[key, record], ...]`). */
const SNAPSHOT_HEADER = { format: 'kv-lines', version: 1 };

export function createKvStateMachine(options: KvOptions): KvStateMachine {
  let map = new Map<string, KvRecord>();
  // Snapshots are JSON lines, a header then one `[key, record]` row per key in the map's order
  // (insertion order, the same on every replica), serialized in slices while apply goes on.
  const snapshots = new MapSnapshots(() => map, {
    prefix: encodeJsonLines([SNAPSHOT_HEADER]),
    encodeRows: encodeJsonLines,
  });

  function put(key: string, value: unknown, index: number): ServiceResult {
    if (!map.has(key) && map.size >= options.maxKeys) {
      return fail('LIMIT_REACHED', `maxKeys (${options.maxKeys}) reached`);
    }
    snapshots.beforeWrite(key);
    map.set(key, { value, version: index });
    return ok({ version: index, index });
  }

  function apply(command: KvCommand, context: ApplyContext): ServiceResult {
    switch (command.op) {
      case 'put':
        return put(command.key, command.value, context.index);
      case 'delete':
        snapshots.beforeWrite(command.key);
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
    snapshot: () => snapshots.now(),
    beginSnapshot: () => snapshots.begin(),
    restore: (bytes) => {
      map = bytes[0] === 0x5b ? restoreLegacy(bytes) : restoreLines(bytes);
    },
  };
}

function badSnapshot(message: string): RaftError {
  return new RaftError('BAD_SNAPSHOT', `kv snapshot: ${message}`);
}

function isRecord(value: unknown): value is KvRecord {
  return (
    typeof value === 'object' &&
    value !== null &&
    'value' in value &&
    typeof (value as { version?: unknown }).version === 'number'
  );
}

/** Reads the JSON-lines format, checking every row without a schema pass per row (1M rows). */
function restoreLines(bytes: Uint8Array): Map<string, KvRecord> {
  const map = new Map<string, KvRecord>();
  decodeJsonLines(bytes, (row, line) => {
    if (line === 1) {
      const header = row as Partial<typeof SNAPSHOT_HEADER> | null;
      if (header?.format !== SNAPSHOT_HEADER.format || header.version !== SNAPSHOT_HEADER.version) {
        throw badSnapshot(`unknown header ${JSON.stringify(row)}`);
      }
      return;
    }
    if (
      !Array.isArray(row) ||
      row.length !== 2 ||
      typeof row[0] !== 'string' ||
      !isRecord(row[1])
    ) {
      throw badSnapshot(`line ${line} is not a [key, {value, version}] row`);
    }
    map.set(row[0], { value: row[1].value, version: row[1].version });
  });
  return map;
}

/** Snapshots written before the JSON-lines format: one sorted JSON array. */
function restoreLegacy(bytes: Uint8Array): Map<string, KvRecord> {
  const entries = z
    .array(z.tuple([z.string(), z.object({ value: z.json(), version: z.number() })]))
    .parse(decodeJson(bytes));
  return new Map(entries.map(([key, record]) => [key, record as KvRecord]));
}
