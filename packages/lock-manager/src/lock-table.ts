// The lock table: holders and FIFO wait queues per lock name, and the rules that decide who holds
// what. Deterministic and clock-free: times come from the apply context of the caller.
import type { LockMode } from './messages.js';
import type { WaitForGraph } from './wait-for.js';

export interface Holder {
  readonly sessionId: string;
  mode: LockMode;
  token: number;
  sinceMs: number;
  holdCount: number;
  /** Taken with `reentrant: true`: acquiring it again counts instead of ALREADY_HELD. */
  readonly reentrant: boolean;
  /** The request that produced this hold (or the upgrade that made it exclusive): for cancel. */
  requestId: number;
  /** Exclusive through an upgrade (a cancel of that upgrade goes back to shared). */
  viaUpgrade: boolean;
}

export interface Waiter {
  readonly requestId: number;
  readonly sessionId: string;
  readonly mode: LockMode;
  readonly sinceMs: number;
  readonly deadlineMs: number;
  readonly reentrant: boolean;
  /** A shared holder waiting to hold exclusively; always at the head of the queue. */
  readonly upgrade: boolean;
}

export interface LockRecord {
  holders: Holder[];
  waiters: Waiter[];
}

export function compatible(a: LockMode, b: LockMode): boolean {
  return a === 'shared' && b === 'shared';
}

/**
 * Whether `waiter` could hold the lock next to `holders`: an upgrade when its session is the only
 * holder, an exclusive request when nobody holds it, a shared one when every holder is shared.
 */
export function grantable(
  waiter: Pick<Waiter, 'mode' | 'sessionId' | 'upgrade'>,
  holders: readonly Holder[],
): boolean {
  if (waiter.upgrade) return holders.every((holder) => holder.sessionId === waiter.sessionId);
  return holders.every((holder) => compatible(holder.mode, waiter.mode));
}

/** A copy of a record that shares no mutable object with it (copy-on-write of snapshots). */
export function copyRecord(record: LockRecord): LockRecord {
  return {
    holders: record.holders.map((holder) => ({ ...holder })),
    waiters: record.waiters.map((waiter) => ({ ...waiter })),
  };
}

/**
 * Every change of a record (its holders, its waiters, the record itself) goes through a method
 * here, which first calls `beforeWrite(name)`: a running incremental snapshot copies the record
 * then, so it keeps the state of its capture (see `MapSnapshots`).
 */
export class LockTable implements WaitForGraph {
  locks: Map<string, LockRecord> = new Map<string, LockRecord>();
  readonly #beforeWrite: (name: string) => void;
  /** Waiting requests: requestId -> lock name. */
  readonly #waiting = new Map<number, string>();
  /** Per session: the lock names it holds and the requests it waits on. */
  readonly #bySession = new Map<string, { held: Set<string>; waiting: Set<number> }>();

  constructor(beforeWrite: (name: string) => void = () => undefined) {
    this.#beforeWrite = beforeWrite;
  }

  /** Rebuilds the indexes from `locks` (after a restore). */
  reindex(): void {
    this.#waiting.clear();
    this.#bySession.clear();
    for (const [name, record] of this.locks) {
      for (const holder of record.holders) this.#session(holder.sessionId).held.add(name);
      for (const waiter of record.waiters) {
        this.#waiting.set(waiter.requestId, name);
        this.#session(waiter.sessionId).waiting.add(waiter.requestId);
      }
    }
  }

  #session(sessionId: string): { held: Set<string>; waiting: Set<number> } {
    let entry = this.#bySession.get(sessionId);
    if (entry === undefined) {
      entry = { held: new Set(), waiting: new Set() };
      this.#bySession.set(sessionId, entry);
    }
    return entry;
  }

  #forget(sessionId: string): void {
    const entry = this.#bySession.get(sessionId);
    if (entry?.held.size === 0 && entry.waiting.size === 0) {
      this.#bySession.delete(sessionId);
    }
  }

  record(name: string): LockRecord | undefined {
    return this.locks.get(name);
  }

  recordOrCreate(name: string): LockRecord {
    let record = this.locks.get(name);
    if (record === undefined) {
      record = { holders: [], waiters: [] };
      this.locks.set(name, record);
    }
    return record;
  }

  /** Drops the record of a lock nobody holds or waits for. */
  tidy(name: string): void {
    const record = this.locks.get(name);
    if (record?.holders.length === 0 && record.waiters.length === 0) {
      this.#beforeWrite(name);
      this.locks.delete(name);
    }
  }

  addHolder(name: string, holder: Holder): void {
    this.#beforeWrite(name);
    this.recordOrCreate(name).holders.push(holder);
    this.#session(holder.sessionId).held.add(name);
  }

  removeHolder(name: string, sessionId: string): Holder | undefined {
    const record = this.locks.get(name);
    const at = record?.holders.findIndex((holder) => holder.sessionId === sessionId) ?? -1;
    if (record === undefined || at < 0) return undefined;
    this.#beforeWrite(name);
    const [removed] = record.holders.splice(at, 1);
    this.#bySession.get(sessionId)?.held.delete(name);
    this.#forget(sessionId);
    return removed;
  }

  /** Changes fields of a holder of `name` (a grant of an upgrade, a hold count). */
  updateHolder(name: string, holder: Holder, changes: Partial<Omit<Holder, 'sessionId'>>): void {
    this.#beforeWrite(name);
    Object.assign(holder, changes);
  }

  enqueue(name: string, waiter: Waiter): void {
    this.#beforeWrite(name);
    const record = this.recordOrCreate(name);
    // An upgrade goes first: behind a queued exclusive request it would wait for a request that
    // waits for it (the upgrader holds the lock shared), a deadlock of the queue's own making.
    if (waiter.upgrade) record.waiters.unshift(waiter);
    else record.waiters.push(waiter);
    this.#waiting.set(waiter.requestId, name);
    this.#session(waiter.sessionId).waiting.add(waiter.requestId);
  }

  removeWaiter(requestId: number): { name: string; waiter: Waiter } | undefined {
    const name = this.#waiting.get(requestId);
    const record = name === undefined ? undefined : this.locks.get(name);
    const at = record?.waiters.findIndex((waiter) => waiter.requestId === requestId) ?? -1;
    if (name === undefined || record === undefined || at < 0) return undefined;
    this.#beforeWrite(name);
    const [waiter] = record.waiters.splice(at, 1);
    if (waiter === undefined) return undefined;
    this.#waiting.delete(requestId);
    this.#bySession.get(waiter.sessionId)?.waiting.delete(requestId);
    this.#forget(waiter.sessionId);
    return { name, waiter };
  }

  /** Takes the head of a queue off it (it is being granted). */
  shiftWaiter(name: string): Waiter | undefined {
    const head = this.locks.get(name)?.waiters[0];
    if (head === undefined) return undefined;
    return this.removeWaiter(head.requestId)?.waiter;
  }

  waiterOf(requestId: number): { name: string; waiter: Waiter } | undefined {
    const name = this.#waiting.get(requestId);
    const waiter =
      name === undefined
        ? undefined
        : this.locks.get(name)?.waiters.find((w) => w.requestId === requestId);
    return name === undefined || waiter === undefined ? undefined : { name, waiter };
  }

  heldBy(sessionId: string): string[] {
    return [...(this.#bySession.get(sessionId)?.held ?? [])].sort();
  }

  waitingRequests(sessionId: string): number[] {
    return [...(this.#bySession.get(sessionId)?.waiting ?? [])].sort((a, b) => a - b);
  }

  /**
   * Whom a waiting request waits for: the holders it conflicts with (an upgrade: every other
   * holder), and the owners of conflicting requests queued ahead of it (FIFO: it is granted only
   * after them). Shared requests behind shared ones are granted together, so no edge between them.
   */
  blockersOf(requestId: number): string[] {
    const found = this.waiterOf(requestId);
    const record = found === undefined ? undefined : this.locks.get(found.name);
    if (found === undefined || record === undefined) return [];
    const { waiter } = found;
    const blockers = new Set<string>();
    for (const holder of record.holders) {
      if (holder.sessionId === waiter.sessionId) continue;
      if (waiter.upgrade || !compatible(holder.mode, waiter.mode)) blockers.add(holder.sessionId);
    }
    for (const ahead of record.waiters) {
      if (ahead.requestId === requestId) break;
      if (ahead.sessionId === waiter.sessionId) continue;
      const aheadMode: LockMode = ahead.upgrade ? 'exclusive' : ahead.mode;
      if (!compatible(aheadMode, waiter.mode)) blockers.add(ahead.sessionId);
    }
    return [...blockers];
  }

  /**
   * Whether a wait-for path leads from `start` back to it: exactly when `findCycle(this, start)`
   * finds a cycle, but in time linear in the queues it reaches. `blockersOf` lists every
   * conflicting request ahead in a queue, so k waiters on one lock are k^2 edges, and a search
   * per new wait made queueing k waiters cost k^3. Here each queue is read once per conflict
   * class (every request ahead, or the exclusive ones), from where the last read stopped: the
   * sessions before that point are reached already. Only `start`'s own requests are read in
   * full, because they must skip `start` itself, and a later read must still find it there.
   */
  hasCycleThrough(start: string): boolean {
    const reached = new Set<string>([start]);
    const stack: string[] = [start];
    const reads = new Map<string, QueueReads>();
    // Marks `target` reached from `from`; true when that closes the cycle.
    const reach = (from: string, target: string): boolean => {
      if (target === from) return false;
      if (target === start) return true;
      if (!reached.has(target)) {
        reached.add(target);
        stack.push(target);
      }
      return false;
    };
    for (let session = stack.pop(); session !== undefined; session = stack.pop()) {
      for (const requestId of this.#bySession.get(session)?.waiting ?? []) {
        const name = this.#waiting.get(requestId);
        const record = name === undefined ? undefined : this.locks.get(name);
        if (name === undefined || record === undefined) continue;
        let read = reads.get(name);
        if (read === undefined) {
          read = queueReads(record);
          reads.set(name, read);
        }
        const at = read.positions.get(requestId);
        const waiter = at === undefined ? undefined : record.waiters[at];
        if (at === undefined || waiter === undefined) continue;
        if (
          readQueue({ record, read, at, waiter, whole: session === start }, (target) =>
            reach(session, target),
          )
        ) {
          return true;
        }
      }
    }
    return false;
  }

  waitingCount(): number {
    return this.#waiting.size;
  }

  heldCount(): number {
    let held = 0;
    for (const record of this.locks.values()) held += record.holders.length;
    return held;
  }
}

/** How far one cycle search has read a lock's holders and queue, per conflict class. */
interface QueueReads {
  readonly positions: Map<number, number>;
  /** Queue positions below this were read for every request / for exclusive ones. */
  everyBelow: number;
  exclusiveBelow: number;
  everyHolder: boolean;
  exclusiveHolders: boolean;
}

function queueReads(record: LockRecord): QueueReads {
  const positions = new Map<number, number>();
  record.waiters.forEach((waiter, index) => positions.set(waiter.requestId, index));
  return {
    positions,
    everyBelow: 0,
    exclusiveBelow: 0,
    everyHolder: false,
    exclusiveHolders: false,
  };
}

/**
 * Offers `reach` the sessions the waiter at position `at` waits for (the same rule as
 * `blockersOf`), skipping what earlier reads of this search offered already unless `whole`.
 * Returns true as soon as `reach` does.
 */
function readQueue(
  input: {
    record: LockRecord;
    read: QueueReads;
    at: number;
    waiter: Waiter;
    whole: boolean;
  },
  reach: (sessionId: string) => boolean,
): boolean {
  const { record, read, at, waiter, whole } = input;
  const everyHolder = waiter.upgrade || waiter.mode === 'exclusive';
  if (whole || !(everyHolder ? read.everyHolder : read.exclusiveHolders)) {
    for (const holder of record.holders) {
      if ((everyHolder || holder.mode === 'exclusive') && reach(holder.sessionId)) return true;
    }
    if (!whole) {
      read.exclusiveHolders = true;
      read.everyHolder ||= everyHolder;
    }
  }
  const everyAhead = waiter.mode === 'exclusive';
  const from = whole ? 0 : everyAhead ? read.everyBelow : read.exclusiveBelow;
  for (let index = from; index < at; index += 1) {
    const ahead = record.waiters[index];
    if (ahead === undefined) continue;
    if ((everyAhead || ahead.upgrade || ahead.mode === 'exclusive') && reach(ahead.sessionId)) {
      return true;
    }
  }
  if (!whole) {
    read.exclusiveBelow = Math.max(read.exclusiveBelow, at);
    if (everyAhead) read.everyBelow = Math.max(read.everyBelow, at);
  }
  return false;
}
