// Snapshots of the lock table. JSON lines: a header, then one `[name, {holders, waiters}]` row per
// lock, sorted by name and with fields in a fixed order, so every replica's snapshot of the same
// table is the same bytes whatever order its locks were created in. They are written in slices
// (`MapSnapshots`, copy-on-write of the records) so 100,000 locks never stall the event loop.
// Snapshots written before this format (one JSON object `{ locks: [...] }`) are still restored.
import { z } from 'zod';
import {
  decodeJson,
  decodeJsonLines,
  encodeJsonLines,
  MapSnapshots,
  RaftError,
} from '@distsync/raft';
import { LockModeSchema } from './messages.js';
import { copyRecord, type Holder, type LockRecord, type Waiter } from './lock-table.js';

/** First line of a lock snapshot. */
export const LOCK_SNAPSHOT_HEADER = { format: 'lock-lines', version: 1 } as const;

/** Lock names in UTF-16 code unit order (as `<` compares them): the snapshot's row order. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Locks per slice: a row is ~200 bytes (a holder or two), 500 rows a few milliseconds. */
export const DEFAULT_SNAPSHOT_SLICE_ROWS = 500;

/** Incremental snapshots of `locks()`; the table calls `beforeWrite(name)` before each change. */
export function createLockSnapshots(
  locks: () => Map<string, LockRecord>,
  sliceRows: number = DEFAULT_SNAPSHOT_SLICE_ROWS,
): MapSnapshots<string, LockRecord> {
  return new MapSnapshots(locks, {
    prefix: encodeJsonLines([LOCK_SNAPSHOT_HEADER]),
    encodeRows: (rows) => encodeJsonLines(rows.map(([name, record]) => [name, recordJson(record)])),
    copyValue: copyRecord,
    compareKeys: compareNames,
    sliceRows,
  });
}

/** A record with its fields in a fixed order (the bytes do not depend on how it was built). */
function recordJson(record: LockRecord): LockRecord {
  return {
    holders: record.holders.map((holder) => ({
      sessionId: holder.sessionId,
      mode: holder.mode,
      token: holder.token,
      sinceMs: holder.sinceMs,
      holdCount: holder.holdCount,
      reentrant: holder.reentrant,
      requestId: holder.requestId,
      viaUpgrade: holder.viaUpgrade,
    })),
    waiters: record.waiters.map((waiter) => ({
      requestId: waiter.requestId,
      sessionId: waiter.sessionId,
      mode: waiter.mode,
      sinceMs: waiter.sinceMs,
      deadlineMs: waiter.deadlineMs,
      reentrant: waiter.reentrant,
      upgrade: waiter.upgrade,
    })),
  };
}

function badSnapshot(message: string): RaftError {
  return new RaftError('BAD_SNAPSHOT', `lock snapshot: ${message}`);
}

/** Reads either format; throws BAD_SNAPSHOT (or a ZodError for a bad legacy snapshot). */
export function decodeLockSnapshot(bytes: Uint8Array): Map<string, LockRecord> {
  // The legacy format is one JSON text without a line break; the current one has lines.
  return bytes.includes(0x0a) ? decodeLines(bytes) : decodeLegacy(bytes);
}

function decodeLines(bytes: Uint8Array): Map<string, LockRecord> {
  const locks = new Map<string, LockRecord>();
  decodeJsonLines(bytes, (row, line) => {
    if (line === 1) {
      const header = row as { format?: unknown; version?: unknown } | null;
      if (
        header?.format !== LOCK_SNAPSHOT_HEADER.format ||
        header.version !== LOCK_SNAPSHOT_HEADER.version
      ) {
        throw badSnapshot(`unknown header ${JSON.stringify(row)}`);
      }
      return;
    }
    const [name, value] = Array.isArray(row) && row.length === 2 ? (row as unknown[]) : [];
    const record = recordOf(value);
    if (typeof name !== 'string' || record === undefined) {
      throw badSnapshot(`line ${line} is not a [name, {holders, waiters}] row`);
    }
    if (locks.has(name)) throw badSnapshot(`line ${line} repeats lock ${JSON.stringify(name)}`);
    locks.set(name, record);
  });
  return locks;
}

// Checked by hand rather than with a schema per row: 100,000 rows restore in a fraction of the
// time, and the record is rebuilt with its fields in order.
function recordOf(value: unknown): LockRecord | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { holders, waiters } = value as { holders?: unknown; waiters?: unknown };
  if (!Array.isArray(holders) || !Array.isArray(waiters)) return undefined;
  const record: LockRecord = { holders: [], waiters: [] };
  for (const holder of holders as unknown[]) {
    const checked = holderOf(holder);
    if (checked === undefined) return undefined;
    record.holders.push(checked);
  }
  for (const waiter of waiters as unknown[]) {
    const checked = waiterOf(waiter);
    if (checked === undefined) return undefined;
    record.waiters.push(checked);
  }
  return record;
}

function isMode(value: unknown): value is Holder['mode'] {
  return value === 'exclusive' || value === 'shared';
}

function holderOf(value: unknown): Holder | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const h = value as Record<keyof Holder, unknown>;
  if (
    typeof h.sessionId !== 'string' ||
    !isMode(h.mode) ||
    typeof h.token !== 'number' ||
    typeof h.sinceMs !== 'number' ||
    typeof h.holdCount !== 'number' ||
    typeof h.reentrant !== 'boolean' ||
    typeof h.requestId !== 'number' ||
    typeof h.viaUpgrade !== 'boolean'
  ) {
    return undefined;
  }
  return {
    sessionId: h.sessionId,
    mode: h.mode,
    token: h.token,
    sinceMs: h.sinceMs,
    holdCount: h.holdCount,
    reentrant: h.reentrant,
    requestId: h.requestId,
    viaUpgrade: h.viaUpgrade,
  };
}

function waiterOf(value: unknown): Waiter | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const w = value as Record<keyof Waiter, unknown>;
  if (
    typeof w.requestId !== 'number' ||
    typeof w.sessionId !== 'string' ||
    !isMode(w.mode) ||
    typeof w.sinceMs !== 'number' ||
    typeof w.deadlineMs !== 'number' ||
    typeof w.reentrant !== 'boolean' ||
    typeof w.upgrade !== 'boolean'
  ) {
    return undefined;
  }
  return {
    requestId: w.requestId,
    sessionId: w.sessionId,
    mode: w.mode,
    sinceMs: w.sinceMs,
    deadlineMs: w.deadlineMs,
    reentrant: w.reentrant,
    upgrade: w.upgrade,
  };
}

const HolderSchema = z.object({
  sessionId: z.string(),
  mode: LockModeSchema,
  token: z.number(),
  sinceMs: z.number(),
  holdCount: z.number(),
  reentrant: z.boolean(),
  requestId: z.number(),
  viaUpgrade: z.boolean(),
});
const WaiterSchema = z.object({
  requestId: z.number(),
  sessionId: z.string(),
  mode: LockModeSchema,
  sinceMs: z.number(),
  deadlineMs: z.number(),
  reentrant: z.boolean(),
  upgrade: z.boolean(),
});
/** The format before JSON lines: `{ locks: [[name, {holders, waiters}], ...] }`, sorted. */
const LegacySnapshotSchema = z.object({
  locks: z.array(
    z.tuple([
      z.string(),
      z.object({ holders: z.array(HolderSchema), waiters: z.array(WaiterSchema) }),
    ]),
  ),
});

function decodeLegacy(bytes: Uint8Array): Map<string, LockRecord> {
  return new Map(LegacySnapshotSchema.parse(decodeJson(bytes)).locks);
}
