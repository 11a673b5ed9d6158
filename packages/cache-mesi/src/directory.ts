// The `cache` state machine: the coherence directory. Per key it keeps the committed value and its
// version (the Raft index of the write, so a node that crashes holding a line in M loses nothing:
// the write is in the log), which holders have the line in which MESI state, the TTL, the
// invalidations a write still waits for, and the dirty flag of write-behind. Per holder (a node's
// cache or a near cache under a client session) it keeps a read lease.
//
// Deterministic like every machine: time only from ApplyContext.timeMs, expiry of leases and TTLs
// through nextDeadline()/timerCommand(). Caches beside a replica learn what concerns them through
// `onEvent` listeners, called inside apply.
import type { ApplyContext, StateMachine } from '@distsync/raft';
import { z } from 'zod';
import { invalidOption } from './errors.js';
import {
  DirectoryCommandSchema,
  DirectoryQuerySchema,
  type DirectoryCommand,
  type DirectoryEvent,
  type DirectoryQuery,
  type JsonValue,
  type LineState,
} from './messages.js';
import { decodeJson, encodeJson, fail, jsonBytes, ok, type CacheResult } from './result.js';

/** What the directory needs of client sessions (apps/node's `sessions.directory` fits). */
export interface SessionLiveness {
  isLive(sessionId: string): boolean;
  onEnded(
    listener: (sessionId: string, reason: 'expired' | 'deleted', context: ApplyContext) => void,
  ): () => void;
}

export interface CacheDirectoryOptions {
  /** Client sessions, for near caches (`session:<id>` holders); without it they are refused. */
  readonly sessions?: SessionLiveness;
  /** The read lease a holder gets with every command it sends. Default 2000. */
  readonly readLeaseMs?: number;
  /** The bound on how fast or slow any clock may run (a rate, 0.01 = 1%). Default 0.01. */
  readonly clockDriftMax?: number;
  /** The bound on how far apart two nodes' wall clocks may be. Default 100. */
  readonly clockSkewMsMax?: number;
  /** Keys the directory holds; clean, unheld keys are dropped first. Default 100_000. */
  readonly maxKeys?: number;
  /** Holders (node caches and near caches) at once. Default 10_000. */
  readonly maxHolders?: number;
  /** The largest value, as UTF-8 JSON. Default 262_144. */
  readonly maxValueBytes?: number;
}

export const CACHE_DEFAULTS = {
  readLeaseMs: 2000,
  clockDriftMax: 0.01,
  clockSkewMsMax: 100,
  maxKeys: 100_000,
  maxHolders: 10_000,
  maxValueBytes: 262_144,
} as const;

/** Invalidations a renew answer carries back (the rest come with the next renew). */
const RENEW_INVALIDATIONS_MAX = 1024;

interface HolderLine {
  state: Exclude<LineState, 'I'>;
  /** The index of the entry that registered this line: a release names it. */
  registration: number;
}

interface Entry {
  /** Undefined: the key is absent (deleted, expired, or not in the backing store). */
  value: JsonValue | undefined;
  version: number;
  expiresAtMs: number | undefined;
  dirty: boolean;
  holders: Map<string, HolderLine>;
  /** A write not yet acknowledged: reads wait until every holder in `waiting` acked or expired. */
  pending: { fromVersion: number; waiting: Set<string> } | undefined;
}

interface Holder {
  readonly incarnation: number;
  leaseExpiresAtMs: number;
  /** The holder's session ended: it may send nothing more; dropped at its lease's end. */
  ended: boolean;
  readonly lines: Set<string>;
  /** Key -> version of the write whose invalidation this holder has not acknowledged. */
  readonly invalidations: Map<string, number>;
}

export interface LeaseInfo {
  /** Changes when the directory dropped the holder (lease expired): every older line is void. */
  readonly incarnation: number;
}

export interface ReadAnswer {
  readonly found: boolean;
  readonly value?: JsonValue;
  readonly version: number;
  readonly state: 'M' | 'E' | 'S';
  readonly registration: number;
  readonly dirty: boolean;
  readonly ttlRemainingMs?: number;
  readonly lease: LeaseInfo;
}

export type ReadResult =
  | ({ readonly status: 'hit' } & ReadAnswer)
  | { readonly status: 'load'; readonly lease: LeaseInfo }
  | { readonly status: 'pending'; readonly lease: LeaseInfo };

export interface WriteResult {
  readonly version: number;
  readonly registration: number;
  /** Holders whose acknowledgment this key still waits for (0: acknowledged at once). */
  readonly pending: number;
  /** Copies this write invalidated. */
  readonly invalidated: number;
  /** For a remove: whether the key had a value. */
  readonly existed: boolean;
  readonly lease: LeaseInfo;
}

export interface EntryView {
  readonly found: boolean;
  readonly value?: JsonValue;
  readonly version: number;
  readonly dirty: boolean;
  readonly expiresAtMs: number | null;
  readonly pending: readonly string[];
  readonly holders: readonly { holder: string; state: 'M' | 'E' | 'S'; registration: number }[];
}

export interface DirtyItem {
  readonly key: string;
  readonly version: number;
  readonly found: boolean;
  readonly value?: JsonValue;
  readonly expiresAtMs: number | null;
}

export interface CacheDirectory extends StateMachine<
  DirectoryCommand,
  DirectoryQuery,
  CacheResult
> {
  /** Listens to what this replica applies (invalidations, downgrades, settles, drops). */
  onEvent(listener: (event: DirectoryEvent) => void): () => void;
  /** The directory lease: what a holder's `readLeaseMs` becomes on the directory's clock. */
  readonly limits: Readonly<Required<Omit<CacheDirectoryOptions, 'sessions'>>> & {
    readonly directoryLeaseMs: number;
  };
  size(): number;
  holderCount(): number;
  dirtyCount(): number;
  /** Reads without Raft (tests, status): the replica's current view of a key. */
  peek(key: string): EntryView | undefined;
}

function positive(name: string, value: number, integer = true): number {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw invalidOption(name, integer ? 'a positive integer' : 'a positive number', value);
  }
  return value;
}

function resolveLimits(options: CacheDirectoryOptions): CacheDirectory['limits'] {
  const readLeaseMs = positive('readLeaseMs', options.readLeaseMs ?? CACHE_DEFAULTS.readLeaseMs);
  const clockDriftMax = options.clockDriftMax ?? CACHE_DEFAULTS.clockDriftMax;
  if (!(clockDriftMax >= 0 && clockDriftMax < 0.5)) {
    throw invalidOption('clockDriftMax', 'in [0, 0.5)', clockDriftMax);
  }
  const clockSkewMsMax = options.clockSkewMsMax ?? CACHE_DEFAULTS.clockSkewMsMax;
  if (!(clockSkewMsMax >= 0)) throw invalidOption('clockSkewMsMax', '>= 0', clockSkewMsMax);
  return {
    readLeaseMs,
    clockDriftMax,
    clockSkewMsMax,
    maxKeys: positive('maxKeys', options.maxKeys ?? CACHE_DEFAULTS.maxKeys),
    maxHolders: positive('maxHolders', options.maxHolders ?? CACHE_DEFAULTS.maxHolders),
    maxValueBytes: positive('maxValueBytes', options.maxValueBytes ?? CACHE_DEFAULTS.maxValueBytes),
    // Gray-Cheriton: the holder stops at start + lease*(1-drift) on its own clock; the directory
    // waits until grant + lease*(1+drift) plus the wall-clock skew between stampers.
    directoryLeaseMs: Math.ceil(readLeaseMs * (1 + clockDriftMax) + clockSkewMsMax),
  };
}

const sessionPrefix = 'session:';

export function createCacheDirectory(options: CacheDirectoryOptions = {}): CacheDirectory {
  const limits = resolveLimits(options);
  // Map order is the eviction order (least recently touched first) and is part of snapshots.
  let entries = new Map<string, Entry>();
  let holders = new Map<string, Holder>();
  let dirtyKeys = new Set<string>();
  let ttlKeys = new Set<string>();
  const listeners = new Set<(event: DirectoryEvent) => void>();

  function emit(event: DirectoryEvent): void {
    for (const listener of listeners) listener(event);
  }

  function touch(key: string, entry: Entry): void {
    entries.delete(key);
    entries.set(key, entry);
  }

  function setDirty(key: string, entry: Entry, dirty: boolean): void {
    entry.dirty = dirty;
    if (dirty) dirtyKeys.add(key);
    else dirtyKeys.delete(key);
  }

  function setExpiry(key: string, entry: Entry, expiresAtMs: number | undefined): void {
    entry.expiresAtMs = expiresAtMs;
    if (expiresAtMs === undefined) ttlKeys.delete(key);
    else ttlKeys.add(key);
  }

  function removable(entry: Entry): boolean {
    return !entry.dirty && entry.holders.size === 0 && entry.pending === undefined;
  }

  function dropEntry(key: string): void {
    entries.delete(key);
    dirtyKeys.delete(key);
    ttlKeys.delete(key);
  }

  /** Makes room for one more key by dropping the least recently touched clean, unheld key. */
  function makeRoom(): boolean {
    if (entries.size < limits.maxKeys) return true;
    for (const [key, entry] of entries) {
      if (removable(entry)) {
        dropEntry(key);
        return true;
      }
    }
    return false;
  }

  function settle(key: string, entry: Entry): void {
    const pending = entry.pending;
    if (pending === undefined || pending.waiting.size > 0) return;
    entry.pending = undefined;
    emit({ type: 'settled', key, version: entry.version });
  }

  function stopWaitingFor(holderId: string, holder: Holder): void {
    for (const key of holder.invalidations.keys()) {
      const entry = entries.get(key);
      if (entry?.pending === undefined) continue;
      entry.pending.waiting.delete(holderId);
      settle(key, entry);
    }
    holder.invalidations.clear();
  }

  function dropHolder(holderId: string, holder: Holder): void {
    for (const key of holder.lines) {
      const entry = entries.get(key);
      entry?.holders.delete(holderId);
    }
    holder.lines.clear();
    stopWaitingFor(holderId, holder);
    holders.delete(holderId);
    emit({ type: 'dropped', holder: holderId, incarnation: holder.incarnation });
  }

  /** Renews (or creates) a holder's lease; a lease that ran out first voids its lines. */
  function leaseFor(holderId: string, context: ApplyContext): CacheResult<Holder> {
    let holder = holders.get(holderId);
    if (holder !== undefined && holder.leaseExpiresAtMs <= context.timeMs) {
      dropHolder(holderId, holder);
      holder = undefined;
    }
    if (holder?.ended === true) return fail('NOT_FOUND', `the session of ${holderId} has ended`);
    if (holder === undefined) {
      if (holderId.startsWith(sessionPrefix)) {
        const sessionId = holderId.slice(sessionPrefix.length);
        if (options.sessions?.isLive(sessionId) !== true) {
          return fail('NOT_FOUND', `no live session ${sessionId}`);
        }
      }
      if (holders.size >= limits.maxHolders) {
        return fail('LIMIT_REACHED', `maxHolders (${limits.maxHolders}) reached`);
      }
      holder = {
        incarnation: context.index,
        leaseExpiresAtMs: 0,
        ended: false,
        lines: new Set(),
        invalidations: new Map(),
      };
      holders.set(holderId, holder);
    }
    holder.leaseExpiresAtMs = context.timeMs + limits.directoryLeaseMs;
    return ok(holder);
  }

  function leaseLive(holder: Holder | undefined, nowMs: number): boolean {
    return holder !== undefined && holder.leaseExpiresAtMs > nowMs;
  }

  /** Registers a holder's copy: E when it is the only one, S otherwise (downgrading M/E). */
  function register(input: {
    key: string;
    entry: Entry;
    holderId: string;
    holder: Holder;
    context: ApplyContext;
  }): HolderLine {
    const { key, entry, holderId, holder, context } = input;
    const mine = entry.holders.get(holderId);
    let others = 0;
    for (const [otherId, line] of entry.holders) {
      if (otherId === holderId) continue;
      others += 1;
      if (line.state !== 'S') {
        line.state = 'S';
        emit({ type: 'downgrade', holder: otherId, key });
      }
    }
    const state: HolderLine['state'] = others > 0 ? 'S' : mine?.state === 'M' ? 'M' : 'E';
    const line: HolderLine = { state, registration: context.index };
    entry.holders.set(holderId, line);
    holder.lines.add(key);
    return line;
  }

  function lease(holder: Holder): LeaseInfo {
    return { incarnation: holder.incarnation };
  }

  function hit(input: {
    key: string;
    entry: Entry;
    holderId: string;
    holder: Holder;
    context: ApplyContext;
  }): ReadResult {
    const { entry, context, holder } = input;
    const line = register(input);
    touch(input.key, entry);
    return {
      status: 'hit',
      found: entry.value !== undefined,
      ...(entry.value === undefined ? {} : { value: entry.value }),
      version: entry.version,
      state: line.state,
      registration: line.registration,
      dirty: entry.dirty,
      ...(entry.expiresAtMs === undefined
        ? {}
        : { ttlRemainingMs: Math.max(0, entry.expiresAtMs - context.timeMs) }),
      lease: lease(holder),
    };
  }

  /** A TTL that ran out turns the value into an absent one, like a delete by nobody. */
  function expireIfDue(key: string, entry: Entry, context: ApplyContext): void {
    if (entry.expiresAtMs === undefined || entry.expiresAtMs > context.timeMs) return;
    store({ key, entry, value: undefined, ttlMs: undefined, context, writerId: undefined });
  }

  /** Installs a new value: every other copy is invalidated, and the write waits for each ack. */
  function store(input: {
    key: string;
    entry: Entry;
    value: JsonValue | undefined;
    ttlMs: number | undefined;
    context: ApplyContext;
    writerId: string | undefined;
    /** The registration of the copy the writer dropped before it sent the write (0: none). */
    basis?: number;
  }): { invalidated: number } {
    const { key, entry, value, ttlMs, context, writerId } = input;
    const waiting = entry.pending?.waiting ?? new Set<string>();
    let invalidated = 0;
    for (const [otherId, line] of entry.holders) {
      // The writer's copy counts as dropped only if it is the one the writer dropped before
      // sending: one registered later (a read answered meanwhile) is invalidated like any other.
      if (otherId === writerId && line.registration <= (input.basis ?? 0)) continue;
      const other = holders.get(otherId);
      other?.lines.delete(key);
      invalidated += 1;
      if (other === undefined || !leaseLive(other, context.timeMs)) continue;
      other.invalidations.set(key, context.index);
      waiting.add(otherId);
      emit({ type: 'invalidate', holder: otherId, key, version: context.index });
    }
    entry.holders.clear();
    entry.value = value;
    entry.version = context.index;
    setExpiry(
      key,
      entry,
      ttlMs === undefined || value === undefined ? undefined : context.timeMs + ttlMs,
    );
    setDirty(key, entry, true);
    entry.pending =
      waiting.size > 0
        ? { fromVersion: entry.pending?.fromVersion ?? context.index, waiting }
        : undefined;
    if (entry.pending === undefined) emit({ type: 'settled', key, version: context.index });
    return { invalidated };
  }

  function newEntry(): Entry {
    return {
      value: undefined,
      version: 0,
      expiresAtMs: undefined,
      dirty: false,
      holders: new Map(),
      pending: undefined,
    };
  }

  function applyRead(
    command: Extract<DirectoryCommand, { op: 'read' | 'fill' }>,
    context: ApplyContext,
  ): CacheResult<ReadResult> {
    const leased = leaseFor(command.holder, context);
    if (!leased.ok) return leased;
    const holder = leased.value;
    let entry = entries.get(command.key);
    if (entry !== undefined) expireIfDue(command.key, entry, context);
    if (entry === undefined && command.op === 'fill') {
      if (command.found && jsonBytes(command.value) > limits.maxValueBytes) {
        return fail('TOO_LARGE', `value exceeds maxValueBytes (${limits.maxValueBytes})`);
      }
      if (!makeRoom()) return fail('LIMIT_REACHED', `maxKeys (${limits.maxKeys}) reached`);
      entry = newEntry();
      entry.value = command.found ? command.value : undefined;
      entry.version = context.index;
      if (command.found && command.ttlMs !== undefined) {
        setExpiry(command.key, entry, context.timeMs + command.ttlMs);
      }
      entries.set(command.key, entry);
    }
    if (entry === undefined) return ok({ status: 'load', lease: lease(holder) });
    if (entry.pending !== undefined) return ok({ status: 'pending', lease: lease(holder) });
    return ok(hit({ key: command.key, entry, holderId: command.holder, holder, context }));
  }

  function applyWrite(
    command: Extract<DirectoryCommand, { op: 'write' | 'remove' }>,
    context: ApplyContext,
  ): CacheResult<WriteResult> {
    const value = command.op === 'write' ? command.value : undefined;
    if (jsonBytes(value) > limits.maxValueBytes) {
      return fail('TOO_LARGE', `value exceeds maxValueBytes (${limits.maxValueBytes})`);
    }
    const leased = leaseFor(command.holder, context);
    if (!leased.ok) return leased;
    const holder = leased.value;
    let entry = entries.get(command.key);
    if (entry === undefined) {
      if (!makeRoom()) return fail('LIMIT_REACHED', `maxKeys (${limits.maxKeys}) reached`);
      entry = newEntry();
      entries.set(command.key, entry);
    }
    const existed =
      entry.value !== undefined &&
      (entry.expiresAtMs === undefined || entry.expiresAtMs > context.timeMs);
    const ttlMs = command.op === 'write' ? command.ttlMs : undefined;
    const { invalidated } = store({
      key: command.key,
      entry,
      value,
      ttlMs,
      context,
      writerId: command.holder,
      basis: command.basis ?? 0,
    });
    entry.holders.set(command.holder, { state: 'M', registration: context.index });
    holder.lines.add(command.key);
    touch(command.key, entry);
    return ok({
      version: entry.version,
      registration: context.index,
      pending: entry.pending?.waiting.size ?? 0,
      invalidated,
      existed,
      lease: lease(holder),
    });
  }

  function applyAck(
    command: Extract<DirectoryCommand, { op: 'ack' }>,
    context: ApplyContext,
  ): CacheResult {
    const holder = holders.get(command.holder);
    if (holder === undefined) return ok({ acknowledged: 0 });
    if (leaseLive(holder, context.timeMs) && !holder.ended) {
      holder.leaseExpiresAtMs = context.timeMs + limits.directoryLeaseMs;
    }
    let acknowledged = 0;
    for (const { key, version } of command.items) {
      const awaited = holder.invalidations.get(key);
      if (awaited === undefined || awaited > version) continue;
      holder.invalidations.delete(key);
      acknowledged += 1;
      const entry = entries.get(key);
      if (entry?.pending === undefined) continue;
      entry.pending.waiting.delete(command.holder);
      settle(key, entry);
    }
    return ok({ acknowledged, lease: lease(holder) });
  }

  function applyRelease(command: Extract<DirectoryCommand, { op: 'release' }>): CacheResult {
    const holder = holders.get(command.holder);
    if (holder === undefined) return ok({ released: 0 });
    let released = 0;
    for (const { key, registration } of command.items) {
      const entry = entries.get(key);
      const line = entry?.holders.get(command.holder);
      // A release that crossed a newer registration of the same key must not drop it.
      if (entry === undefined || line?.registration !== registration) continue;
      entry.holders.delete(command.holder);
      holder.lines.delete(key);
      released += 1;
      if (entry.value === undefined && removable(entry)) dropEntry(key);
    }
    return ok({ released });
  }

  function applyRenew(
    command: Extract<DirectoryCommand, { op: 'renew' }>,
    context: ApplyContext,
  ): CacheResult {
    const leased = leaseFor(command.holder, context);
    if (!leased.ok) return leased;
    const holder = leased.value;
    const invalidate = [...holder.invalidations]
      .slice(0, RENEW_INVALIDATIONS_MAX)
      .map(([key, version]) => ({ key, version }));
    return ok({ lease: lease(holder), lines: holder.lines.size, invalidate });
  }

  function applyWritten(command: Extract<DirectoryCommand, { op: 'written' }>): CacheResult {
    let cleaned = 0;
    for (const { key, version } of command.items) {
      const entry = entries.get(key);
      if (entry?.version !== version || !entry.dirty) continue;
      setDirty(key, entry, false);
      cleaned += 1;
      if (entry.value === undefined && removable(entry)) dropEntry(key);
    }
    return ok({ cleaned });
  }

  function applyTick(context: ApplyContext): CacheResult {
    let holdersExpired = 0;
    for (const [holderId, holder] of [...holders]) {
      if (holder.leaseExpiresAtMs > context.timeMs) continue;
      dropHolder(holderId, holder);
      holdersExpired += 1;
    }
    let keysExpired = 0;
    for (const key of [...ttlKeys]) {
      const entry = entries.get(key);
      if (entry?.expiresAtMs === undefined || entry.expiresAtMs > context.timeMs) continue;
      expireIfDue(key, entry, context);
      keysExpired += 1;
    }
    return ok({ holdersExpired, keysExpired });
  }

  function apply(command: DirectoryCommand, context: ApplyContext): CacheResult {
    switch (command.op) {
      case 'read':
      case 'fill':
        return applyRead(command, context);
      case 'write':
      case 'remove':
        return applyWrite(command, context);
      case 'ack':
        return applyAck(command, context);
      case 'release':
        return applyRelease(command);
      case 'renew':
        return applyRenew(command, context);
      case 'written':
        return applyWritten(command);
      case 'tick':
        return applyTick(context);
    }
  }

  function view(entry: Entry): EntryView {
    return {
      found: entry.value !== undefined,
      ...(entry.value === undefined ? {} : { value: entry.value }),
      version: entry.version,
      dirty: entry.dirty,
      expiresAtMs: entry.expiresAtMs ?? null,
      pending: [...(entry.pending?.waiting ?? [])],
      holders: [...entry.holders].map(([holder, line]) => ({
        holder,
        state: line.state,
        registration: line.registration,
      })),
    };
  }

  function dirtyItems(limit: number): DirtyItem[] {
    const items: DirtyItem[] = [];
    for (const key of dirtyKeys) {
      if (items.length >= limit) break;
      const entry = entries.get(key);
      if (entry === undefined) continue;
      items.push({
        key,
        version: entry.version,
        found: entry.value !== undefined,
        ...(entry.value === undefined ? {} : { value: entry.value }),
        expiresAtMs: entry.expiresAtMs ?? null,
      });
    }
    return items;
  }

  function query(request: DirectoryQuery): CacheResult {
    switch (request.op) {
      case 'entry': {
        const entry = entries.get(request.key);
        if (entry === undefined) return fail('NOT_FOUND', `no key ${request.key} in the directory`);
        return ok(view(entry));
      }
      case 'settled': {
        const pending = entries.get(request.key)?.pending;
        return ok({ settled: pending === undefined || request.version < pending.fromVersion });
      }
      case 'dirty':
        return ok({ items: dirtyItems(request.limit) });
      case 'holder': {
        const holder = holders.get(request.holder);
        if (holder === undefined) return fail('NOT_FOUND', `no holder ${request.holder}`);
        return ok({
          incarnation: holder.incarnation,
          leaseExpiresAtMs: holder.leaseExpiresAtMs,
          ended: holder.ended,
          lines: holder.lines.size,
          invalidations: holder.invalidations.size,
        });
      }
      case 'count':
        return ok({ keys: entries.size, holders: holders.size, dirty: dirtyKeys.size });
    }
  }

  function nextDeadline(): number | undefined {
    let earliest: number | undefined;
    const consider = (deadline: number): void => {
      if (earliest === undefined || deadline < earliest) earliest = deadline;
    };
    for (const holder of holders.values()) consider(holder.leaseExpiresAtMs);
    for (const key of ttlKeys) {
      const expiresAtMs = entries.get(key)?.expiresAtMs;
      if (expiresAtMs !== undefined) consider(expiresAtMs);
    }
    return earliest;
  }

  options.sessions?.onEnded((sessionId) => {
    // Marked, not dropped: the near cache may still serve until its read lease runs out, so its
    // lines (and the writes waiting for it) stay until the lease timer drops them.
    const holder = holders.get(`${sessionPrefix}${sessionId}`);
    if (holder !== undefined) holder.ended = true;
  });

  return {
    name: 'cache',
    commandSchema: DirectoryCommandSchema,
    querySchema: DirectoryQuerySchema,
    limits,
    apply,
    query,
    nextDeadline,
    timerCommand: (nowMs) => ({ op: 'tick', nowMs }),
    onEvent: (listener) => {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    size: () => entries.size,
    holderCount: () => holders.size,
    dirtyCount: () => dirtyKeys.size,
    peek: (key) => {
      const entry = entries.get(key);
      return entry === undefined ? undefined : view(entry);
    },
    snapshot: () => encodeJson(snapshotOf(entries, holders)),
    restore: (bytes) => {
      const restored = restoreFrom(decodeJson(bytes));
      entries = restored.entries;
      holders = restored.holders;
      dirtyKeys = new Set([...entries].filter(([, entry]) => entry.dirty).map(([key]) => key));
      ttlKeys = new Set(
        [...entries].filter(([, entry]) => entry.expiresAtMs !== undefined).map(([key]) => key),
      );
    },
  };
}

function snapshotOf(entries: Map<string, Entry>, holders: Map<string, Holder>): unknown {
  return {
    entries: [...entries].map(([key, entry]) => ({
      key,
      ...(entry.value === undefined ? {} : { value: entry.value }),
      version: entry.version,
      expiresAtMs: entry.expiresAtMs ?? null,
      dirty: entry.dirty,
      holders: [...entry.holders].map(([id, line]) => [id, line.state, line.registration]),
      pending:
        entry.pending === undefined
          ? null
          : { fromVersion: entry.pending.fromVersion, waiting: [...entry.pending.waiting] },
    })),
    holders: [...holders].map(([id, holder]) => ({
      id,
      incarnation: holder.incarnation,
      leaseExpiresAtMs: holder.leaseExpiresAtMs,
      ended: holder.ended,
      lines: [...holder.lines],
      invalidations: [...holder.invalidations],
    })),
  };
}

const SnapshotSchema = z.object({
  entries: z.array(
    z.object({
      key: z.string(),
      value: z.json().optional(),
      version: z.number(),
      expiresAtMs: z.number().nullable(),
      dirty: z.boolean(),
      holders: z.array(z.tuple([z.string(), z.enum(['M', 'E', 'S']), z.number()])),
      pending: z.object({ fromVersion: z.number(), waiting: z.array(z.string()) }).nullable(),
    }),
  ),
  holders: z.array(
    z.object({
      id: z.string(),
      incarnation: z.number(),
      leaseExpiresAtMs: z.number(),
      ended: z.boolean(),
      lines: z.array(z.string()),
      invalidations: z.array(z.tuple([z.string(), z.number()])),
    }),
  ),
});

function restoreFrom(raw: unknown): { entries: Map<string, Entry>; holders: Map<string, Holder> } {
  const parsed = SnapshotSchema.parse(raw);
  const entries = new Map<string, Entry>();
  for (const item of parsed.entries) {
    entries.set(item.key, {
      value: item.value,
      version: item.version,
      expiresAtMs: item.expiresAtMs ?? undefined,
      dirty: item.dirty,
      holders: new Map(
        item.holders.map(([id, state, registration]) => [id, { state, registration }]),
      ),
      pending:
        item.pending === null
          ? undefined
          : { fromVersion: item.pending.fromVersion, waiting: new Set(item.pending.waiting) },
    });
  }
  const holders = new Map<string, Holder>();
  for (const item of parsed.holders) {
    holders.set(item.id, {
      incarnation: item.incarnation,
      leaseExpiresAtMs: item.leaseExpiresAtMs,
      ended: item.ended,
      lines: new Set(item.lines),
      invalidations: new Map(item.invalidations),
    });
  }
  return { entries, holders };
}
