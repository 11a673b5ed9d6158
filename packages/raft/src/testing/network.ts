// A synchronous network of RaftCores for unit tests (STYLE.md 21; etcd-io/raft `raft_test.go`
// `network`). Messages are delivered one by one in FIFO order; after every step the recipient's
// Ready is carried out exactly as the contract says (persist to MemoryStorage, then queue its
// messages, then apply committed entries, then advance). Faults are cuts, isolation, random
// drops by link and ignoring message types, all reversible with `recover()`.
import { MemoryStorage } from '../core/memory-storage.js';
import { RaftCore } from '../core/raft-core.js';
import type {
  ProposeResult,
  RaftCoreOptions,
  ReadState,
  Ready,
  StepResult,
} from '../core/types.js';
import type { Entry, NodeId, RaftMessage } from '../messages.js';

/** Options a test may override per node; identity, peers and storage come from the network. */
export type CoreOverrides = Partial<Omit<RaftCoreOptions, 'id' | 'peers' | 'storage'>>;

export interface TestNetworkOptions {
  /** Voters, in order. */
  readonly ids: readonly NodeId[];
  readonly learners?: readonly NodeId[];
  /** Seeds every node's election-timeout randomness and the drop decisions. Default 1. */
  readonly seed?: number;
  /** Options for every node, or per node. */
  readonly options?: CoreOverrides | ((id: NodeId) => CoreOverrides);
  /** Pre-filled storage per node (for logs that diverge before the test starts). */
  readonly storage?: (id: NodeId) => MemoryStorage | undefined;
  /** Stops a run that keeps producing messages (a livelock) after this many deliveries. */
  readonly maxDeliveries?: number;
}

/** One node of the network with everything it persisted and applied. */
export interface TestNode {
  readonly id: NodeId;
  readonly core: RaftCore;
  readonly storage: MemoryStorage;
  /** Every entry handed out in `Ready.committedEntries`, in order. */
  readonly applied: Entry[];
  /** Every read state handed out in `Ready.readStates`, in order. */
  readonly readStates: ReadState[];
}

/** Called for every message the network delivers or drops, for traces. */
export type DeliveryObserver = (event: {
  readonly message: RaftMessage;
  readonly dropped: boolean;
  readonly result: StepResult | undefined;
}) => void;

/** A small seeded generator (mulberry32): deterministic randomness for tests. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Carries out one Ready the way a host must: persist snapshot, entries and hard state, then
 * hand back the messages to send, apply committed entries, and advance. Returns the Ready.
 */
export function applyReady(node: { core: RaftCore; storage: MemoryStorage }): Ready {
  const ready = node.core.ready();
  if (ready.snapshot !== undefined) node.storage.applySnapshot(ready.snapshot);
  node.storage.append(ready.entries);
  if (ready.hardState !== undefined) node.storage.setHardState(ready.hardState);
  node.core.advance(ready);
  return ready;
}

/** Builds a single RaftCore on a fresh MemoryStorage, for tests that drive one node by hand. */
export function createTestCore(options: {
  id: NodeId;
  peers: readonly NodeId[];
  learners?: readonly NodeId[];
  storage?: MemoryStorage;
  seed?: number;
  overrides?: CoreOverrides;
}): { core: RaftCore; storage: MemoryStorage } {
  const storage =
    options.storage ??
    new MemoryStorage({ voters: [...options.peers], learners: [...(options.learners ?? [])] });
  const core = new RaftCore({
    id: options.id,
    peers: options.peers,
    storage,
    random: seededRandom(options.seed ?? 1),
    ...options.overrides,
  });
  return { core, storage };
}

/** Entries at consecutive indexes from `firstIndex`, one per term given, with empty data. */
export function entriesWithTerms(firstIndex: number, terms: readonly number[]): Entry[] {
  return terms.map((term, offset) => ({
    index: firstIndex + offset,
    term,
    type: 'normal',
    data: new Uint8Array(0),
  }));
}

/** Takes and carries out every pending Ready of a node; returns the messages it would send. */
export function drainMessages(node: { core: RaftCore; storage: MemoryStorage }): RaftMessage[] {
  const messages: RaftMessage[] = [];
  while (node.core.hasReady()) messages.push(...applyReady(node).messages);
  return messages;
}

export class TestNetwork {
  readonly nodes: ReadonlyMap<NodeId, TestNode>;
  /** Observes every delivery and drop; set it to build a trace. */
  observer: DeliveryObserver | undefined = undefined;
  private readonly queue: RaftMessage[] = [];
  private readonly dropRates = new Map<string, number>();
  private readonly ignored = new Set<RaftMessage['type']>();
  private readonly random: () => number;
  private readonly maxDeliveries: number;

  constructor(options: TestNetworkOptions) {
    const seed = options.seed ?? 1;
    this.random = seededRandom(seed * 7919 + 17);
    this.maxDeliveries = options.maxDeliveries ?? 1_000_000;
    const nodes = new Map<NodeId, TestNode>();
    const all = [...options.ids, ...(options.learners ?? [])];
    all.forEach((id, position) => {
      const overrides =
        typeof options.options === 'function' ? options.options(id) : (options.options ?? {});
      const prefilled = options.storage?.(id);
      const { core, storage } = createTestCore({
        id,
        peers: options.ids,
        learners: options.learners ?? [],
        seed: seed * 1000 + position,
        overrides,
        ...(prefilled === undefined ? {} : { storage: prefilled }),
      });
      nodes.set(id, { id, core, storage, applied: [], readStates: [] });
    });
    this.nodes = nodes;
  }

  node(id: NodeId): TestNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id} in the network`);
    return node;
  }

  core(id: NodeId): RaftCore {
    return this.node(id).core;
  }

  /**
   * Adds a node that knows no cluster yet (empty storage, no bootstrap peers), as a server that
   * is about to be added with a membership change starts. It never campaigns until a config
   * entry that names it as a voter is applied.
   */
  join(id: NodeId, overrides: CoreOverrides = {}): TestNode {
    if (this.nodes.has(id)) throw new Error(`node ${id} is already in the network`);
    const { core, storage } = createTestCore({
      id,
      peers: [],
      storage: new MemoryStorage(),
      seed: this.nodes.size * 1000 + 7,
      overrides,
    });
    const node: TestNode = { id, core, storage, applied: [], readStates: [] };
    (this.nodes as Map<NodeId, TestNode>).set(id, node);
    return node;
  }

  /** Delivers `messages`, then everything they cause, until the network is quiet. */
  send(...messages: RaftMessage[]): void {
    this.queue.push(...messages);
    this.stabilize();
  }

  /** Collects every node's pending Ready and delivers messages until nothing is left. */
  stabilize(): void {
    let deliveries = 0;
    for (;;) {
      for (const node of this.nodes.values()) this.drain(node);
      const message = this.queue.shift();
      if (message === undefined) return;
      if (++deliveries > this.maxDeliveries) {
        throw new Error(`network did not quiesce after ${this.maxDeliveries} deliveries`);
      }
      this.deliver(message);
    }
  }

  /** Starts an election at `id` and runs it to completion. */
  campaign(id: NodeId): void {
    this.core(id).campaign();
    this.stabilize();
  }

  /** Proposes at `id` and replicates until quiet. */
  propose(id: NodeId, data: Uint8Array | string): ProposeResult {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const result = this.core(id).propose(bytes);
    this.stabilize();
    return result;
  }

  /** Ticks `id` (every node when omitted) `times` times, stabilizing after each tick. */
  tick(id?: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) {
      if (id === undefined) for (const node of this.nodes.values()) node.core.tick();
      else this.core(id).tick();
      this.stabilize();
    }
  }

  /** Drops every message between `a` and `b`, both ways. */
  cut(a: NodeId, b: NodeId): void {
    this.drop(a, b, 1);
    this.drop(b, a, 1);
  }

  /** Cuts `id` off from every other node. */
  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cut(id, other);
  }

  /** Drops the given fraction of messages from `from` to `to` (one way). */
  drop(from: NodeId, to: NodeId, fraction: number): void {
    this.dropRates.set(`${from}->${to}`, fraction);
  }

  /** Drops every message of a type. */
  ignore(type: RaftMessage['type']): void {
    this.ignored.add(type);
  }

  /** Heals every cut, drop and ignore. */
  recover(): void {
    this.dropRates.clear();
    this.ignored.clear();
  }

  /** The node that believes it leads in the highest term, if any. */
  leader(): NodeId | undefined {
    let best: { id: NodeId; term: number } | undefined;
    for (const node of this.nodes.values()) {
      const status = node.core.status();
      if (status.role === 'leader' && (best === undefined || status.term > best.term)) {
        best = { id: node.id, term: status.term };
      }
    }
    return best?.id;
  }

  private drain(node: TestNode): void {
    while (node.core.hasReady()) {
      const ready = applyReady(node);
      this.queue.push(...ready.messages);
      node.applied.push(...ready.committedEntries);
      node.readStates.push(...ready.readStates);
    }
  }

  private shouldDrop(message: RaftMessage): boolean {
    if (this.ignored.has(message.type)) return true;
    const rate = this.dropRates.get(`${message.from}->${message.to}`) ?? 0;
    return rate > 0 && (rate >= 1 || this.random() < rate);
  }

  private deliver(message: RaftMessage): void {
    const target = this.nodes.get(message.to);
    if (target === undefined || this.shouldDrop(message)) {
      this.observer?.({ message, dropped: true, result: undefined });
      return;
    }
    const result = target.core.step(message);
    this.observer?.({ message, dropped: false, result });
  }
}
