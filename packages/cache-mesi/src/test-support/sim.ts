// A deterministic simulator for the coherence protocol: one directory (the committed state a Raft
// group agrees on: every command applies once, in one order) and several NodeCaches on a virtual
// clock. Each node has its own monotonic clock running up to `clockDriftMax` fast or slow and a
// wall clock up to `clockSkewMsMax / 2` off, which stamps the commands it sends (as RaftNode
// stamps the commands a node proposes). Messages are delayed, dropped, and cut by partitions (a
// command may apply and its answer get lost); nodes crash (losing their cache) and restart.
// After every event the caller's invariant check runs; the history feeds the checker in
// `linearizability.ts`.
import type { ApplyContext } from '@distsync/raft';
import {
  createCacheDirectory,
  MemoryStore,
  NodeCache,
  type CacheDirectory,
  type CacheScheduler,
  type DirectoryCommand,
  type DirectoryEvent,
  type DirectoryQuery,
  type JsonValue,
} from '../index.js';
import type { HistoryOp } from './linearizability.js';

export function createPrng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SimOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly keys: number;
  readonly readLeaseMs: number;
  readonly clockDriftMax: number;
  readonly clockSkewMsMax: number;
  /** The lease the node caches believe in (a negative control sets it above the directory's). */
  readonly nodeReadLeaseMs?: number;
  readonly nodeClockDriftMax?: number;
  readonly delayMsMax: number;
  readonly dropRate: number;
  readonly maxEntries: number;
  readonly requestTimeoutMs: number;
  /** Record every applied command in `trace`. */
  readonly trace?: boolean;
}

interface Timer {
  readonly atMs: number;
  readonly seq: number;
  readonly run: () => void;
  cancelled: boolean;
}

class SimError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export interface SimNode {
  readonly id: string;
  readonly rate: number;
  readonly offsetMs: number;
  cache: NodeCache;
  up: boolean;
  cut: boolean;
  /** Bumped by a crash: timers and answers of an older generation are discarded. */
  generation: number;
}

export class CacheSim {
  readonly options: SimOptions;
  readonly random: () => number;
  readonly directory: CacheDirectory;
  readonly store: MemoryStore;
  readonly nodes: SimNode[] = [];
  readonly history: HistoryOp[] = [];
  /** Every applied command with its result, for a failing seed's post-mortem. */
  readonly trace: string[] = [];
  nowMs = 0;
  applied = 0;
  #seq = 0;
  readonly #queue: Timer[] = [];
  #index = 0;
  #stampMs = 0;
  #tickScheduledAt: number | undefined;
  #valueCounter = 0;

  constructor(options: SimOptions) {
    this.options = options;
    this.random = createPrng(options.seed);
    this.directory = createCacheDirectory({
      readLeaseMs: options.readLeaseMs,
      clockDriftMax: options.clockDriftMax,
      clockSkewMsMax: options.clockSkewMsMax,
    });
    this.store = new MemoryStore({ nowMs: () => this.nowMs });
    this.directory.onEvent((event) => {
      this.#deliverEvent(event);
    });
    for (let index = 1; index <= options.nodes; index += 1) {
      const rate = 1 + (this.random() * 2 - 1) * options.clockDriftMax;
      const offsetMs = (this.random() - 0.5) * options.clockSkewMsMax;
      const node: SimNode = {
        id: `n${index}`,
        rate,
        offsetMs,
        up: true,
        cut: false,
        generation: 0,
        cache: undefined as unknown as NodeCache,
      };
      node.cache = this.#newCache(node);
      this.nodes.push(node);
    }
  }

  keyName(index: number): string {
    return `k${index}`;
  }

  // ------------------------------------------------------------ virtual time

  schedule(delayMs: number, run: () => void): () => void {
    const timer: Timer = {
      atMs: this.nowMs + Math.max(0, delayMs),
      seq: this.#seq++,
      run,
      cancelled: false,
    };
    // Sorted insert (the queue stays small).
    let at = this.#queue.length;
    while (at > 0) {
      const previous = this.#queue[at - 1];
      if (
        previous === undefined ||
        previous.atMs < timer.atMs ||
        (previous.atMs === timer.atMs && previous.seq < timer.seq)
      )
        break;
      at -= 1;
    }
    this.#queue.splice(at, 0, timer);
    return () => {
      timer.cancelled = true;
    };
  }

  /** Runs events until `untilMs`, letting promises settle after each and checking after each. */
  async runUntil(untilMs: number, check: () => void): Promise<void> {
    for (;;) {
      const next = this.#queue[0];
      if (next === undefined || next.atMs > untilMs) break;
      this.#queue.shift();
      if (next.cancelled) continue;
      this.nowMs = next.atMs;
      next.run();
      await settle();
      this.#scheduleTick();
      check();
    }
    this.nowMs = Math.max(this.nowMs, untilMs);
  }

  #schedulerOf(node: SimNode, generation: number): CacheScheduler {
    return {
      nowMs: () => this.nowMs * node.rate,
      wallMs: () => this.nowMs + node.offsetMs,
      setTimeout: (run, delayMs) =>
        this.schedule(delayMs / node.rate, () => {
          if (node.up && node.generation === generation) run();
        }),
    };
  }

  #newCache(node: SimNode): NodeCache {
    const generation = node.generation;
    const cache = new NodeCache({
      holder: `node:${node.id}`,
      directory: {
        command: (payload) => this.#request({ node, generation, kind: 'command', payload }),
        query: (payload) => this.#request({ node, generation, kind: 'query', payload }),
      },
      store: this.store,
      maxEntries: this.options.maxEntries,
      readLeaseMs: this.options.nodeReadLeaseMs ?? this.options.readLeaseMs,
      clockDriftMax: this.options.nodeClockDriftMax ?? this.options.clockDriftMax,
      operationTimeoutMs: 4 * this.options.readLeaseMs,
      writeBack: { enabled: () => node.id === 'n1', intervalMs: 50 },
      scheduler: this.#schedulerOf(node, generation),
    });
    cache.start();
    return cache;
  }

  // ------------------------------------------------------------ the network and the directory

  #delay(): number {
    return this.random() * this.options.delayMsMax;
  }

  #linkUp(node: SimNode): boolean {
    return node.up && !node.cut && this.random() >= this.options.dropRate;
  }

  #request(input: {
    node: SimNode;
    generation: number;
    kind: 'command' | 'query';
    payload: DirectoryCommand | DirectoryQuery;
  }): Promise<unknown> {
    const { node, generation, kind, payload } = input;
    const stampMs = this.nowMs + node.offsetMs;
    return new Promise((resolve, reject) => {
      let answered = false;
      const answer = (run: () => void): void => {
        if (answered || !node.up || node.generation !== generation) return;
        answered = true;
        run();
      };
      this.schedule(this.options.requestTimeoutMs, () => {
        answer(() => {
          reject(new SimError('TIMEOUT', `${kind} ${payload.op} timed out`));
        });
      });
      if (!this.#linkUp(node)) return;
      this.schedule(this.#delay(), () => {
        if (!this.#linkUp(node)) return;
        const result =
          kind === 'command'
            ? this.#apply(payload as DirectoryCommand, stampMs)
            : this.directory.query(payload as DirectoryQuery);
        if (!this.#linkUp(node)) return;
        this.schedule(this.#delay(), () => {
          answer(() => {
            if (result.ok) resolve(result.value);
            else reject(new SimError(result.code, result.message));
          });
        });
      });
    });
  }

  #apply(command: DirectoryCommand, stampMs: number): ReturnType<CacheDirectory['apply']> {
    this.#index += 1;
    this.#stampMs = Math.max(this.#stampMs, stampMs);
    const context: ApplyContext = {
      index: this.#index,
      term: 1,
      timeMs: this.#stampMs,
      clientId: undefined,
    };
    this.applied += 1;
    const result = this.directory.apply(command, context);
    if (this.options.trace === true) {
      this.trace.push(
        `t=${this.nowMs.toFixed(1)} #${context.index} stamp=${context.timeMs.toFixed(1)} ${JSON.stringify(command)} -> ${JSON.stringify(result)}`,
      );
    }
    return result;
  }

  /** The leader proposes the timer command once its wall clock reaches the deadline. */
  #scheduleTick(): void {
    const deadline = this.directory.nextDeadline?.();
    if (deadline === undefined) return;
    const leaderOffsetMs = this.nodes[0]?.offsetMs ?? 0;
    const atMs = Math.max(this.nowMs, deadline - leaderOffsetMs);
    if (this.#tickScheduledAt !== undefined && this.#tickScheduledAt <= atMs) return;
    this.#tickScheduledAt = atMs;
    this.schedule(atMs - this.nowMs, () => {
      this.#tickScheduledAt = undefined;
      const due = this.directory.nextDeadline?.();
      // Rounding (deadline - offset + offset) must not leave a due tick unapplied: that would
      // reschedule it at the same instant forever.
      const stampMs = Math.max(
        this.nowMs + leaderOffsetMs,
        Math.min(due ?? 0, this.nowMs + leaderOffsetMs + 0.01),
      );
      if (due !== undefined && due <= Math.max(stampMs, this.#stampMs)) {
        this.#apply({ op: 'tick', nowMs: stampMs }, stampMs);
      }
    });
  }

  /** A replica beside each node applies the entry a little later and tells its cache. */
  #deliverEvent(event: DirectoryEvent): void {
    for (const node of this.nodes) {
      if (event.type !== 'settled' && event.holder !== `node:${node.id}`) continue;
      const generation = node.generation;
      if (!this.#linkUp(node)) continue;
      this.schedule(this.#delay(), () => {
        if (node.up && node.generation === generation && !node.cut) node.cache.handleEvent(event);
      });
    }
  }

  // ------------------------------------------------------------ faults

  crash(node: SimNode): void {
    node.up = false;
    node.generation += 1;
  }

  restart(node: SimNode): void {
    node.up = true;
    node.cache = this.#newCache(node);
  }

  // ------------------------------------------------------------ clients

  nextValue(node: SimNode): string {
    this.#valueCounter += 1;
    return `${node.id}-${this.#valueCounter}`;
  }

  /** Starts one client operation on a node; it is recorded in the history when it ends. */
  startOperation(node: SimNode, kind: 'read' | 'write' | 'delete', key: string): void {
    const generation = node.generation;
    const op: HistoryOp = {
      node: node.id,
      kind,
      key,
      invokeMs: this.nowMs,
      returnMs: undefined,
      ok: false,
      version: undefined,
      found: undefined,
      value: undefined,
    };
    this.history.push(op);
    const cache = node.cache;
    const finish = (result: { version: number; found: boolean; value?: JsonValue }): void => {
      if (node.generation !== generation) return;
      op.returnMs = this.nowMs;
      op.ok = true;
      op.version = result.version;
      op.found = result.found;
      op.value = result.value;
    };
    const failed = (): void => {
      if (node.generation === generation) op.returnMs = this.nowMs;
    };
    if (kind === 'read') {
      cache.get(key).then(finish, failed);
    } else if (kind === 'write') {
      const value = this.nextValue(node);
      op.value = value;
      cache.set(key, value).then(({ version }) => {
        finish({ version, found: true, value });
      }, failed);
    } else {
      cache.delete(key).then(({ version }) => {
        finish({ version, found: false });
      }, failed);
    }
  }
}

/** Lets every promise chain that can run now run (the simulator's "turn"). */
function settle(): Promise<void> {
  return new Promise((resolve) => {
    setImmediate(resolve);
  });
}
