// The `sessions` state machine: client sessions with a TTL that a keep-alive renews. Expiry is
// replicated like everything else: when the earliest deadline is due, the leader proposes an
// `expire` command (RaftNode's nextDeadline/timerCommand mechanism), so every replica drops the
// same sessions at the same log index. The lock manager ties lock ownership to these sessions.
import { z } from 'zod';
import {
  ConcatJob,
  decodeJsonLines,
  encodeJsonLines,
  MapSnapshots,
  RaftError,
  runToEnd,
  type ApplyContext,
  type SnapshotJob,
  type StateMachine,
} from '@distsync/raft';
import { decodeJson, fail, ok, type ServiceResult } from './result.js';

export const SESSION_TTL_MS_MIN = 100;
export const SESSION_TTL_MS_MAX = 86_400_000;

export const SessionIdSchema = z.string().min(1).max(128);
export const TtlMsSchema = z.number().int().min(SESSION_TTL_MS_MIN).max(SESSION_TTL_MS_MAX);

/** What clients may send. */
export const SessionClientCommandSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('create'), ttlMs: TtlMsSchema }),
  z.strictObject({ op: z.literal('keepalive'), sessionId: SessionIdSchema }),
  z.strictObject({ op: z.literal('delete'), sessionId: SessionIdSchema }),
]);

/** Everything the log may hold: the client commands and the leader's timer command. */
export const SessionCommandSchema = z.union([
  SessionClientCommandSchema,
  z.strictObject({ op: z.literal('expire'), nowMs: z.number() }),
]);
export type SessionCommand = z.infer<typeof SessionCommandSchema>;

export const SessionQuerySchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('get'), sessionId: SessionIdSchema }),
  z.strictObject({ op: z.literal('count') }),
]);
export type SessionQuery = z.infer<typeof SessionQuerySchema>;

const SessionsSnapshotSchema = z.strictObject({
  term: z.number().int().nonnegative(),
  sessions: z.array(
    z.tuple([z.string(), z.object({ ttlMs: z.number(), expiresAtMs: z.number() })]),
  ),
});

interface SessionRecord {
  readonly ttlMs: number;
  readonly expiresAtMs: number;
}

/**
 * First line of a sessions snapshot (with the term); then one `[sessionId, {ttlMs, expiresAtMs}]`
 * row per session, sorted by id. Older nodes wrote one JSON object `{ term, sessions }` (and
 * before that the bare array of sessions).
 */
const SNAPSHOT_FORMAT = { format: 'sessions-lines', version: 1 } as const;

export interface SessionsOptions {
  readonly maxSessions: number;
}

export type SessionEndedListener = (
  sessionId: string,
  reason: 'expired' | 'deleted',
  context: ApplyContext,
) => void;

export interface SessionsStateMachine extends StateMachine<
  SessionCommand,
  SessionQuery,
  ServiceResult
> {
  size(): number;
  /** Sessions dropped by expiry since this process started (for a counter). */
  expiredCount(): number;
  /** Whether the session exists in replicated state (deterministic: no clock is read). */
  isLive(sessionId: string): boolean;
  /**
   * Runs inside apply on every replica for each session that expired or was deleted, with the
   * entry's context: services release what the session owned (locks, leases, near-cache lines).
   */
  onEnded(listener: SessionEndedListener): () => void;
}

export function createSessionsStateMachine(options: SessionsOptions): SessionsStateMachine {
  let sessions = new Map<string, SessionRecord>();
  /** The term of the last entry applied here: a larger one means a new leader (and clock). */
  let term = 0;
  let expired = 0;
  const listeners = new Set<SessionEndedListener>();
  // Snapshots are taken in slices while apply goes on (100,000 sessions are ~150 ms of JSON in
  // one go). Records are replaced, never changed in place; every set or delete calls
  // `rows.beforeWrite` first, so a running snapshot keeps the record of its capture point.
  const rows = new MapSnapshots(() => sessions, {
    encodeRows: encodeJsonLines,
    compareKeys: (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0),
  });

  function write(sessionId: string, record: SessionRecord | undefined): void {
    rows.beforeWrite(sessionId);
    if (record === undefined) sessions.delete(sessionId);
    else sessions.set(sessionId, record);
  }

  function beginSnapshot(): SnapshotJob {
    const header = encodeJsonLines([{ ...SNAPSHOT_FORMAT, term }]);
    const job = rows.begin();
    let joining: ConcatJob | undefined;
    return {
      next: () => {
        if (joining === undefined) {
          const body = job.next();
          if (body === undefined) return undefined;
          joining = new ConcatJob([header, body]);
        }
        return joining.next();
      },
      cancel: () => {
        job.cancel();
      },
    };
  }

  function end(sessionId: string, reason: 'expired' | 'deleted', context: ApplyContext): void {
    write(sessionId, undefined);
    if (reason === 'expired') expired += 1;
    for (const listener of listeners) listener(sessionId, reason, context);
  }

  /**
   * Deadlines are the stamps of the leader that renewed a session plus its TTL, but a new leader
   * stamps with its own clock, which may run ahead of the old one's. As etcd does with its leases
   * on promotion, the first command of a new term gives every session at least a full TTL from
   * the new leader's time, so no leader's clock offset can expire a session early (the price: a
   * dead client's session may outlive its TTL by one TTL across a leader change).
   */
  function renewOnNewTerm(context: ApplyContext): void {
    if (context.term <= term) return;
    term = context.term;
    for (const [sessionId, record] of sessions) {
      const floor = context.timeMs + record.ttlMs;
      if (record.expiresAtMs < floor) write(sessionId, { ...record, expiresAtMs: floor });
    }
  }

  function apply(command: SessionCommand, context: ApplyContext): ServiceResult {
    renewOnNewTerm(context);
    switch (command.op) {
      case 'create': {
        if (sessions.size >= options.maxSessions) {
          return fail('LIMIT_REACHED', `maxSessions (${options.maxSessions}) reached`);
        }
        // The entry's index is unique and the same on every replica: a deterministic id.
        const sessionId = `s${context.index}`;
        write(sessionId, { ttlMs: command.ttlMs, expiresAtMs: context.timeMs + command.ttlMs });
        return ok({ sessionId, ttlMs: command.ttlMs });
      }
      case 'keepalive': {
        const record = sessions.get(command.sessionId);
        if (record === undefined || record.expiresAtMs <= context.timeMs) {
          return fail('NOT_FOUND', `no session ${command.sessionId} (expired or deleted)`);
        }
        write(command.sessionId, {
          ttlMs: record.ttlMs,
          expiresAtMs: context.timeMs + record.ttlMs,
        });
        return ok({ expiresInMs: record.ttlMs });
      }
      case 'delete': {
        if (!sessions.has(command.sessionId)) {
          return fail('NOT_FOUND', `no session ${command.sessionId}`);
        }
        end(command.sessionId, 'deleted', context);
        return ok({ deleted: true });
      }
      case 'expire': {
        // The leader's stamp (context.timeMs) decides, never a clock read here.
        const due = [...sessions].filter(([, record]) => record.expiresAtMs <= context.timeMs);
        for (const [sessionId] of due) end(sessionId, 'expired', context);
        return ok({ expired: due.length });
      }
    }
  }

  function query(request: SessionQuery): ServiceResult {
    switch (request.op) {
      case 'get': {
        const record = sessions.get(request.sessionId);
        if (record === undefined) return fail('NOT_FOUND', `no session ${request.sessionId}`);
        return ok({ sessionId: request.sessionId, ...record });
      }
      case 'count':
        return ok({ sessions: sessions.size });
    }
  }

  function nextDeadline(): number | undefined {
    let earliest: number | undefined;
    for (const record of sessions.values()) {
      if (earliest === undefined || record.expiresAtMs < earliest) earliest = record.expiresAtMs;
    }
    return earliest;
  }

  return {
    name: 'sessions',
    commandSchema: SessionCommandSchema,
    querySchema: SessionQuerySchema,
    apply,
    query,
    nextDeadline,
    timerCommand: (nowMs) => ({ op: 'expire', nowMs }),
    size: () => sessions.size,
    expiredCount: () => expired,
    isLive: (sessionId) => sessions.has(sessionId),
    onEnded: (listener) => {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    snapshot: () => runToEnd(beginSnapshot()),
    beginSnapshot,
    restore: (bytes) => {
      // The earlier formats are one JSON text, which never holds a raw line break.
      const restored = bytes.includes(0x0a) ? restoreLines(bytes) : restoreLegacy(bytes);
      term = restored.term;
      sessions = restored.sessions;
    },
  };
}

interface RestoredSessions {
  term: number;
  sessions: Map<string, SessionRecord>;
}

function badSnapshot(message: string): RaftError {
  return new RaftError('BAD_SNAPSHOT', `sessions snapshot: ${message}`);
}

/** Reads the JSON-lines format, checking every row by hand (100,000 rows). */
function restoreLines(bytes: Uint8Array): RestoredSessions {
  const restored: RestoredSessions = { term: -1, sessions: new Map() };
  decodeJsonLines(bytes, (row, line) => {
    if (line === 1) {
      const header = row as { format?: unknown; version?: unknown; term?: unknown } | null;
      if (
        header?.format !== SNAPSHOT_FORMAT.format ||
        header.version !== SNAPSHOT_FORMAT.version ||
        !Number.isSafeInteger(header.term) ||
        (header.term as number) < 0
      ) {
        throw badSnapshot(`unknown header ${JSON.stringify(row)}`);
      }
      restored.term = header.term as number;
      return;
    }
    const [sessionId, value] = Array.isArray(row) && row.length === 2 ? (row as unknown[]) : [];
    const record = value as { ttlMs?: unknown; expiresAtMs?: unknown } | null | undefined;
    if (
      typeof sessionId !== 'string' ||
      typeof record?.ttlMs !== 'number' ||
      typeof record.expiresAtMs !== 'number'
    ) {
      throw badSnapshot(`line ${line} is not a [sessionId, {ttlMs, expiresAtMs}] row`);
    }
    restored.sessions.set(sessionId, { ttlMs: record.ttlMs, expiresAtMs: record.expiresAtMs });
  });
  if (restored.term < 0) throw badSnapshot('no header');
  return restored;
}

/** The formats before JSON lines: `{ term, sessions }`, and before that the bare array. */
function restoreLegacy(bytes: Uint8Array): RestoredSessions {
  const raw = decodeJson(bytes);
  const parsed = SessionsSnapshotSchema.parse(
    Array.isArray(raw) ? { term: 0, sessions: raw } : raw,
  );
  return { term: parsed.term, sessions: new Map(parsed.sessions) };
}
