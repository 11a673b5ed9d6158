// An in-memory Transport for tests, examples and benchmarks: one shared network, one transport
// per node. Messages are delivered asynchronously in batches (one `setImmediate` per batch), which
// is how a real socket behaves from the host's point of view and lets group commit happen.
import type { NodeId, RaftMessage } from '../messages.js';
import type { Transport } from '../transport.js';

export interface MemoryNetworkStats {
  readonly sent: number;
  readonly delivered: number;
  /** Dropped by a partition, a cut link, the filter, or because nobody listens at the target. */
  readonly dropped: number;
}

export interface MemoryNetwork {
  /** The transport of node `id` (created on first use, the same object afterwards). */
  transport(id: NodeId): Transport;
  /** Splits the listed nodes into groups that cannot reach each other (both directions). */
  partition(...groups: (readonly NodeId[])[]): void;
  /** Cuts every link to and from `id`. */
  isolate(id: NodeId): void;
  /** Cuts the one-way link `from` -> `to`. */
  cut(from: NodeId, to: NodeId): void;
  /** Restores every link and clears the filter. */
  heal(): void;
  /** Drops every message for which `keep` returns false (until `heal` or another call). */
  setFilter(keep: ((message: RaftMessage) => boolean) | undefined): void;
  stats(): MemoryNetworkStats;
}

const link = (from: NodeId, to: NodeId): string => `${from}\u0000${to}`;

/** Creates an empty network; links are all up until cut. */
export function createMemoryNetwork(): MemoryNetwork {
  const handlers = new Map<NodeId, (message: RaftMessage) => void>();
  const transports = new Map<NodeId, Transport>();
  const blocked = new Set<string>();
  const isolated = new Set<NodeId>();
  let keep: ((message: RaftMessage) => boolean) | undefined;
  let queue: RaftMessage[] = [];
  let flushScheduled = false;
  const counts = { sent: 0, delivered: 0, dropped: 0 };

  const passes = (message: RaftMessage): boolean =>
    !isolated.has(message.from) &&
    !isolated.has(message.to) &&
    !blocked.has(link(message.from, message.to)) &&
    (keep === undefined || keep(message));

  // Links are checked again at delivery, so a partition made while messages are in flight
  // drops them, as a real network would.
  const flush = (): void => {
    flushScheduled = false;
    const batch = queue;
    queue = [];
    for (const message of batch) {
      const handler = handlers.get(message.to);
      if (handler === undefined || !passes(message)) {
        counts.dropped += 1;
        continue;
      }
      counts.delivered += 1;
      handler(message);
    }
  };

  const makeTransport = (id: NodeId): Transport => ({
    send(messages) {
      for (const message of messages) {
        counts.sent += 1;
        if (message.from !== id || !passes(message)) counts.dropped += 1;
        else queue.push(message);
      }
      if (!flushScheduled && queue.length > 0) {
        flushScheduled = true;
        setImmediate(flush);
      }
    },
    onMessage(handler) {
      handlers.set(id, handler);
      return () => {
        if (handlers.get(id) === handler) handlers.delete(id);
      };
    },
  });

  return {
    transport(id) {
      let transport = transports.get(id);
      if (transport === undefined) {
        transport = makeTransport(id);
        transports.set(id, transport);
      }
      return transport;
    },
    partition(...groups) {
      for (const [i, group] of groups.entries()) {
        for (const other of groups.slice(i + 1)) {
          for (const a of group) {
            for (const b of other) {
              blocked.add(link(a, b));
              blocked.add(link(b, a));
            }
          }
        }
      }
    },
    isolate(id) {
      isolated.add(id);
    },
    cut(from, to) {
      blocked.add(link(from, to));
    },
    heal() {
      blocked.clear();
      isolated.clear();
      keep = undefined;
    },
    setFilter(filter) {
      keep = filter;
    },
    stats: () => ({ ...counts }),
  };
}
