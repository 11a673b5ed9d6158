// RaftNode's side of membership change: waiting for a config entry to apply, and the ticks a
// retry waits for (a previous change still applying, a learner still catching up).
import type { ConfChangeRefusal } from '../core/membership.js';
import type { Entry, Membership, NodeId } from '../messages.js';
import { decodeConfigEntry } from '../core/membership.js';
import type { RaftNodeResultCode } from './results.js';

/** Why `RaftNode.changeMembership` did not change the membership. */
export type MembershipChangeCode =
  RaftNodeResultCode | Exclude<ConfChangeRefusal['code'], 'NOT_LEADER'>;

export type MembershipChangeResult =
  /** The change is committed and applied on this node; `membership` is now in force. */
  | { readonly ok: true; readonly index: number; readonly membership: Membership }
  | {
      readonly ok: false;
      readonly code: MembershipChangeCode;
      readonly message: string;
      /** The leader this node believes in, when the code is NOT_LEADER. */
      readonly leaderHint?: NodeId | null;
    };

export type MembershipChangeFailure = Extract<MembershipChangeResult, { ok: false }>;

interface Waiter {
  readonly term: number;
  readonly deadlineMs: number;
  readonly resolve: (result: MembershipChangeResult) => void;
}

/** Config entries proposed by this node that are not applied yet, and tick waiters. */
export class PendingConfChanges {
  readonly #byIndex = new Map<number, Waiter>();
  #tickWaiters: (() => void)[] = [];

  get size(): number {
    return this.#byIndex.size;
  }

  /** Resolves once the entry at `index` applied (ok if it is ours, NOT_LEADER if replaced). */
  wait(entry: {
    index: number;
    term: number;
    deadlineMs: number;
  }): Promise<MembershipChangeResult> {
    return new Promise((resolve) => {
      this.#byIndex.set(entry.index, { term: entry.term, deadlineMs: entry.deadlineMs, resolve });
    });
  }

  /** Resolves on the next tick (or when the node stops). */
  nextTick(): Promise<void> {
    return new Promise((resolve) => this.#tickWaiters.push(resolve));
  }

  /** Called for every applied entry, in order. */
  applied(entry: Entry, leaderHint: NodeId | null): void {
    const waiter = this.#byIndex.get(entry.index);
    if (waiter === undefined) return;
    this.#byIndex.delete(entry.index);
    if (entry.type === 'config' && entry.term === waiter.term) {
      const { membership } = decodeConfigEntry(entry.data);
      waiter.resolve({ ok: true, index: entry.index, membership });
      return;
    }
    waiter.resolve({
      ok: false,
      code: 'NOT_LEADER',
      message: 'the change was overwritten by a new leader; retry',
      leaderHint,
    });
  }

  /** Expires waiters past their deadline and wakes everything waiting for a tick. */
  tick(nowMs: number): void {
    for (const [index, waiter] of this.#byIndex) {
      if (waiter.deadlineMs > nowMs) continue;
      this.#byIndex.delete(index);
      waiter.resolve({
        ok: false,
        code: 'TIMEOUT',
        message: `config entry ${index} was not applied within the timeout; it may still apply`,
      });
    }
    this.#wakeTickWaiters();
  }

  /** Answers every waiter with `result` (the node stopped). */
  settleAll(result: MembershipChangeFailure): void {
    for (const waiter of this.#byIndex.values()) waiter.resolve(result);
    this.#byIndex.clear();
    this.#wakeTickWaiters();
  }

  #wakeTickWaiters(): void {
    const waiters = this.#tickWaiters;
    this.#tickWaiters = [];
    for (const wake of waiters) wake();
  }
}
