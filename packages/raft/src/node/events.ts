// What a user watches on a node (STYLE.md 16): its role as a `{ type }` discriminated union,
// delivered to listeners and as an async iterator.
import type { RaftError } from '../errors.js';
import type { NodeId } from '../messages.js';

export type RoleState =
  | { readonly type: 'follower'; readonly term: number; readonly leaderId: NodeId | null }
  | { readonly type: 'pre-candidate'; readonly term: number }
  | { readonly type: 'candidate'; readonly term: number }
  | { readonly type: 'leader'; readonly term: number }
  /** The node was stopped; nothing follows. */
  | { readonly type: 'stopped' }
  /** Storage failed; the node acknowledges nothing any more. Nothing follows. */
  | { readonly type: 'failed'; readonly error: RaftError };

/** One group-commit storage sync: how long it took and how many entries it made durable. */
export interface SyncEvent {
  readonly durationMs: number;
  readonly entries: number;
}

export interface RaftNodeEventMap {
  role: RoleState;
  fatal: RaftError;
  /** After every storage sync (for fsync latency metrics). */
  sync: SyncEvent;
  /** After this node took a snapshot of its state machines or installed its leader's. */
  snapshot: SnapshotEvent;
  /** When the disk fills up (`no-space`) and when the node goes on again (`ok`). */
  storage: StorageState;
}

/** The health of a node's storage as its status reports it. */
export type StorageState =
  | { readonly type: 'ok' }
  | { readonly type: 'no-space'; readonly sinceMs: number; readonly message: string }
  | { readonly type: 'failed'; readonly message: string };

export interface SnapshotEvent {
  /** `taken`: this node stored a snapshot of its own; `installed`: it restored the leader's. */
  readonly kind: 'taken' | 'installed';
  readonly index: number;
  readonly bytes: number;
  /**
   * Taken: from capturing the state to storing the bytes (slices included, while the node went
   * on). Installed: how long restoring blocked the node.
   */
  readonly durationMs: number;
}

type Listener<T> = (value: T) => void;

/** A minimal typed emitter; a listener that throws is reported, never allowed to break the loop. */
export class EventHub {
  readonly #listeners = new Map<keyof RaftNodeEventMap, Set<Listener<never>>>();

  on<K extends keyof RaftNodeEventMap>(
    type: K,
    listener: Listener<RaftNodeEventMap[K]>,
  ): () => void {
    let set = this.#listeners.get(type);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(type, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  emit<K extends keyof RaftNodeEventMap>(type: K, value: RaftNodeEventMap[K]): void {
    const set = this.#listeners.get(type);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<RaftNodeEventMap[K]>)(value);
      } catch (error) {
        // A broken listener must not stop consensus; surface it where Node reports such things.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/** Role changes kept per iterator before the oldest are dropped (a slow reader sees the latest). */
const maxBufferedRoleStates = 64;

function isTerminal(state: RoleState): boolean {
  return state.type === 'stopped' || state.type === 'failed';
}

/**
 * The current role state, then every change, until the node stops or `signal` aborts. A reader
 * that falls more than 64 changes behind loses the oldest ones, never the latest.
 */
export async function* roleStream(options: {
  hub: EventHub;
  current: RoleState;
  signal: AbortSignal | undefined;
}): AsyncGenerator<RoleState, void, undefined> {
  const { hub, current, signal } = options;
  const buffer: RoleState[] = [current];
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  const unsubscribe = hub.on('role', (state) => {
    buffer.push(state);
    if (buffer.length > maxBufferedRoleStates) buffer.shift();
    notify();
  });
  signal?.addEventListener('abort', notify, { once: true });
  try {
    while (signal?.aborted !== true) {
      const next = buffer.shift();
      if (next === undefined) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      yield next;
      if (isTerminal(next)) return;
    }
  } finally {
    unsubscribe();
    signal?.removeEventListener('abort', notify);
  }
}
