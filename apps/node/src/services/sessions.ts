// The `sessions` state machine: client sessions with a TTL that a keep-alive renews. Expiry is
// replicated like everything else: when the earliest deadline is due, the leader proposes an
// `expire` command (RaftNode's nextDeadline/timerCommand mechanism), so every replica drops the
// same sessions at the same log index. The lock manager ties lock ownership to these sessions.
import { z } from 'zod';
import type { ApplyContext, StateMachine } from '@distsync/raft';
import { decodeJson, encodeJson, fail, ok, type ServiceResult } from './result.js';

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

  function end(sessionId: string, reason: 'expired' | 'deleted', context: ApplyContext): void {
    sessions.delete(sessionId);
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
      if (record.expiresAtMs < floor) sessions.set(sessionId, { ...record, expiresAtMs: floor });
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
        sessions.set(sessionId, {
          ttlMs: command.ttlMs,
          expiresAtMs: context.timeMs + command.ttlMs,
        });
        return ok({ sessionId, ttlMs: command.ttlMs });
      }
      case 'keepalive': {
        const record = sessions.get(command.sessionId);
        if (record === undefined || record.expiresAtMs <= context.timeMs) {
          return fail('NOT_FOUND', `no session ${command.sessionId} (expired or deleted)`);
        }
        sessions.set(command.sessionId, {
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
    snapshot: () =>
      encodeJson({ term, sessions: [...sessions.entries()].sort(([a], [b]) => (a < b ? -1 : 1)) }),
    restore: (bytes) => {
      const raw = decodeJson(bytes);
      // Snapshots before the term was kept were the bare array of sessions.
      const parsed = SessionsSnapshotSchema.parse(
        Array.isArray(raw) ? { term: 0, sessions: raw } : raw,
      );
      term = parsed.term;
      sessions = new Map(parsed.sessions);
    },
  };
}
