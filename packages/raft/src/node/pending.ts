// Waiters for commands and linearizable queries. Both tables are bounded by the node's limits,
// and every waiter is settled exactly once: by its result, a timeout, an abort or the node stop.
import type { CommandResult, QueryResult } from './results.js';

export interface CommandWaiter {
  /** `sessionKey` or `refKey`: how an applied entry finds its waiter. */
  readonly key: string;
  readonly deadlineMs: number;
  /** Internal waiters (timer commands) do not count against `maxPendingCommands`. */
  readonly internal: boolean;
  readonly resolve: (result: CommandResult) => void;
  /** Where this node, as leader, put the entry; lets a lost proposal fail early. */
  proposedIndex: number | undefined;
  proposedTerm: number | undefined;
  /** The term in which this node, as follower, forwarded the entry to its leader. */
  forwardedTerm?: number | undefined;
  /** Removes the abort listener, if any. */
  detach: (() => void) | undefined;
}

export class PendingCommands {
  readonly #byKey = new Map<string, CommandWaiter[]>();
  readonly #byIndex = new Map<number, CommandWaiter>();
  /** Waiters forwarded to a leader, by the term they were forwarded in. */
  readonly #forwardedByTerm = new Map<number, Set<CommandWaiter>>();
  #external = 0;

  /** Waiters that count against the limit. */
  get size(): number {
    return this.#external;
  }

  add(waiter: CommandWaiter): void {
    const list = this.#byKey.get(waiter.key);
    if (list === undefined) this.#byKey.set(waiter.key, [waiter]);
    else list.push(waiter);
    if (!waiter.internal) this.#external += 1;
  }

  /** Remembers the index and term a leader proposal landed at. */
  placed(waiter: CommandWaiter, at: { index: number; term: number }): void {
    waiter.proposedIndex = at.index;
    waiter.proposedTerm = at.term;
    this.#byIndex.set(at.index, waiter);
  }

  /** Remembers that the entry went to the leader of `term` (a follower's forward). */
  forwarded(waiter: CommandWaiter, term: number): void {
    waiter.forwardedTerm = term;
    const set = this.#forwardedByTerm.get(term);
    if (set === undefined) this.#forwardedByTerm.set(term, new Set([waiter]));
    else set.add(waiter);
  }

  /**
   * After an entry of `term` applied: the waiters forwarded in an earlier term and still
   * waiting. Their entry can never commit. A leader appends a forwarded entry only in the term
   * it was forwarded in, and a log holds every entry of an earlier term before the first entry
   * of a later one. So once an entry of a later term is applied, an entry of the earlier term
   * that has not been applied never will be.
   */
  lostForwards(term: number): CommandWaiter[] {
    if (this.#forwardedByTerm.size === 0) return [];
    const lost: CommandWaiter[] = [];
    for (const [forwardedIn, waiters] of this.#forwardedByTerm) {
      if (forwardedIn >= term) continue;
      this.#forwardedByTerm.delete(forwardedIn);
      for (const waiter of waiters) {
        waiter.forwardedTerm = undefined;
        lost.push(waiter);
      }
    }
    return lost;
  }

  /**
   * A snapshot replaced the applied state: a forwarded entry may be inside it, unseen, so its
   * outcome is unknown and its waiter is left to its deadline.
   */
  forgetForwards(): void {
    for (const waiters of this.#forwardedByTerm.values()) {
      for (const waiter of waiters) waiter.forwardedTerm = undefined;
    }
    this.#forwardedByTerm.clear();
  }

  /** Settles every waiter for `key` with the applied result. */
  settleKey(key: string, result: CommandResult): void {
    const list = this.#byKey.get(key);
    if (list === undefined) return;
    // One waiter per key is the common case: skip the defensive copy for it.
    const only = list.length === 1 ? list[0] : undefined;
    if (only !== undefined) this.settle(only, result);
    else for (const waiter of [...list]) this.settle(waiter, result);
  }

  /**
   * After the entry at `index` applied: a waiter still placed there proposed a different entry,
   * which a new leader overwrote, so it can never apply at that index.
   */
  lostAt(index: number): CommandWaiter | undefined {
    return this.#byIndex.get(index);
  }

  /** Whether `waiter` is still waiting. */
  has(waiter: CommandWaiter): boolean {
    return this.#byKey.get(waiter.key)?.includes(waiter) ?? false;
  }

  /** Settles one waiter and forgets it. */
  settle(waiter: CommandWaiter, result: CommandResult): void {
    const list = this.#byKey.get(waiter.key);
    const position = list?.indexOf(waiter) ?? -1;
    if (list === undefined || position < 0) return;
    if (list.length === 1) this.#byKey.delete(waiter.key);
    else list.splice(position, 1);
    if (waiter.proposedIndex !== undefined && this.#byIndex.get(waiter.proposedIndex) === waiter) {
      this.#byIndex.delete(waiter.proposedIndex);
    }
    if (waiter.forwardedTerm !== undefined) {
      const forwarded = this.#forwardedByTerm.get(waiter.forwardedTerm);
      forwarded?.delete(waiter);
      if (forwarded?.size === 0) this.#forwardedByTerm.delete(waiter.forwardedTerm);
    }
    if (!waiter.internal) this.#external -= 1;
    waiter.detach?.();
    waiter.resolve(result);
  }

  /** Settles waiters whose deadline passed. */
  expire(nowMs: number, result: (waiter: CommandWaiter) => CommandResult): void {
    for (const list of [...this.#byKey.values()]) {
      for (const waiter of list)
        if (waiter.deadlineMs <= nowMs) this.settle(waiter, result(waiter));
    }
  }

  /** Settles everything (node stop). */
  settleAll(result: CommandResult): void {
    for (const list of [...this.#byKey.values()])
      for (const waiter of [...list]) this.settle(waiter, result);
  }
}

export interface QueryWaiter {
  readonly context: string;
  readonly deadlineMs: number;
  /** Set once the read state for `context` arrived: serve when applied reaches it. */
  readIndex: number | undefined;
  /** When the ReadIndex request was last handed to the core (for retries). */
  issuedAtMs: number;
  /** Runs the query against the local state machine. */
  readonly run: () => QueryResult;
  readonly resolve: (result: QueryResult) => void;
  detach: (() => void) | undefined;
}

export class PendingQueries {
  readonly #byContext = new Map<string, QueryWaiter>();

  get size(): number {
    return this.#byContext.size;
  }

  add(waiter: QueryWaiter): void {
    this.#byContext.set(waiter.context, waiter);
  }

  /** Records the read index the leader confirmed for `context`. */
  confirmed(context: string, index: number): void {
    const waiter = this.#byContext.get(context);
    if (waiter !== undefined) waiter.readIndex = index;
  }

  /** Serves every confirmed query whose read index is applied. */
  serve(appliedIndex: number): void {
    if (this.#byContext.size === 0) return;
    for (const waiter of [...this.#byContext.values()]) {
      if (waiter.readIndex !== undefined && waiter.readIndex <= appliedIndex) {
        this.settle(waiter, waiter.run());
      }
    }
  }

  /** Waiters without a read index whose request went out before `issuedBeforeMs`. */
  unconfirmedSince(issuedBeforeMs: number): QueryWaiter[] {
    const stale: QueryWaiter[] = [];
    for (const waiter of this.#byContext.values()) {
      if (waiter.readIndex === undefined && waiter.issuedAtMs < issuedBeforeMs) stale.push(waiter);
    }
    return stale;
  }

  settle(waiter: QueryWaiter, result: QueryResult): void {
    if (this.#byContext.get(waiter.context) !== waiter) return;
    this.#byContext.delete(waiter.context);
    waiter.detach?.();
    waiter.resolve(result);
  }

  expire(nowMs: number, result: QueryResult): void {
    for (const waiter of [...this.#byContext.values()]) {
      if (waiter.deadlineMs <= nowMs) this.settle(waiter, result);
    }
  }

  settleAll(result: QueryResult): void {
    for (const waiter of [...this.#byContext.values()]) this.settle(waiter, result);
  }
}
