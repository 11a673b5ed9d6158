// The simulated network: decides, for each message a node sends, how many copies arrive and
// when. It drops, duplicates, delays (uniformly between a minimum and a maximum), occasionally
// delays for a long time (which reorders messages), and honours partitions of any shape,
// including one-way cuts. A link is checked both when a message is sent and when it arrives, as
// MIT 6.5840's labrpc does, so a partition also swallows messages already in flight.
import type { NodeId, RaftMessage } from '../messages.js';
import type { Prng } from './prng.js';

export interface NetworkOptions {
  /** Probability that a message is lost. */
  readonly dropRate: number;
  /** Probability that a delivered message arrives twice (the copy with its own delay). */
  readonly duplicateRate: number;
  readonly delayMsMin: number;
  readonly delayMsMax: number;
  /** Probability that a message takes a long detour, arriving after much younger ones. */
  readonly longDelayRate: number;
  /** Upper bound of a long detour; the detour is drawn in [delayMsMax, longDelayMsMax]. */
  readonly longDelayMsMax: number;
  /** Only responses take long detours (labrpc's long reordering delays replies only). */
  readonly longDelayResponsesOnly?: boolean;
}

/** A reliable, fast network: every message arrives once after 1 ms. */
export const reliableNetwork: NetworkOptions = {
  dropRate: 0,
  duplicateRate: 0,
  delayMsMin: 1,
  delayMsMax: 1,
  longDelayRate: 0,
  longDelayMsMax: 1,
};

/**
 * MIT 6.5840 labrpc's unreliable mode: 10% loss each way, 0-26 ms delay. With long reordering on,
 * labrpc delays two thirds of replies by 200 ms plus up to 2 s; a message here takes that detour
 * with probability `longDelayRate`.
 */
export const labUnreliableNetwork: NetworkOptions = {
  dropRate: 0.1,
  duplicateRate: 0,
  delayMsMin: 0,
  delayMsMax: 26,
  longDelayRate: 0,
  longDelayMsMax: 2200,
};

export function validateNetworkOptions(options: NetworkOptions): void {
  const rates = ['dropRate', 'duplicateRate', 'longDelayRate'] as const;
  for (const name of rates) {
    const value = options[name];
    if (!(value >= 0 && value <= 1)) throw new RangeError(`${name} must be within [0, 1]`);
  }
  if (!(options.delayMsMin >= 0 && options.delayMsMax >= options.delayMsMin)) {
    throw new RangeError('delayMsMin must be >= 0 and delayMsMax must be >= delayMsMin');
  }
  if (!(options.longDelayMsMax >= options.delayMsMax)) {
    throw new RangeError('longDelayMsMax must be >= delayMsMax');
  }
}

/** Per-message-type counters, for the lab's RPC count and RPC byte tests. */
export interface NetworkStats {
  sent: number;
  /** Messages that are requests (not responses): the lab's "RPCs". */
  requests: number;
  dropped: number;
  duplicated: number;
  delivered: number;
  /** Bytes of entry payloads carried by AppendEntries and Propose messages. */
  entryBytes: number;
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}>${to}`;
}

function payloadBytes(message: RaftMessage): number {
  if (message.type === 'AppendEntries') {
    let bytes = 0;
    for (const entry of message.entries) bytes += entry.data.byteLength;
    return bytes;
  }
  if (message.type === 'Propose') {
    let bytes = 0;
    for (const data of message.entries) bytes += data.byteLength;
    return bytes;
  }
  return 0;
}

export class SimNetwork {
  private options: NetworkOptions;
  private readonly blocked = new Set<string>();
  private readonly random: Prng;
  readonly stats: NetworkStats = {
    sent: 0,
    requests: 0,
    dropped: 0,
    duplicated: 0,
    delivered: 0,
    entryBytes: 0,
  };

  constructor(init: { options: NetworkOptions; random: Prng }) {
    validateNetworkOptions(init.options);
    this.options = init.options;
    this.random = init.random;
  }

  get current(): NetworkOptions {
    return this.options;
  }

  configure(options: Partial<NetworkOptions>): void {
    const next = { ...this.options, ...options };
    validateNetworkOptions(next);
    this.options = next;
  }

  canDeliver(from: NodeId, to: NodeId): boolean {
    return !this.blocked.has(linkKey(from, to));
  }

  /** Blocks messages from `from` to `to` only (the other direction keeps working). */
  cutOneWay(from: NodeId, to: NodeId): void {
    this.blocked.add(linkKey(from, to));
  }

  /** Restores one direction of a link. */
  restoreOneWay(from: NodeId, to: NodeId): void {
    this.blocked.delete(linkKey(from, to));
  }

  /** Blocks both directions between two nodes. */
  cut(a: NodeId, b: NodeId): void {
    this.cutOneWay(a, b);
    this.cutOneWay(b, a);
  }

  /**
   * Splits `all` into groups that only talk among themselves. Nodes not listed in any group are
   * isolated. Replaces every earlier cut.
   */
  partition(all: readonly NodeId[], groups: readonly (readonly NodeId[])[]): void {
    this.blocked.clear();
    const groupOf = new Map<NodeId, number>();
    groups.forEach((group, index) => {
      for (const id of group) groupOf.set(id, index);
    });
    for (const from of all) {
      for (const to of all) {
        if (from === to) continue;
        const a = groupOf.get(from);
        if (a === undefined || a !== groupOf.get(to)) this.cutOneWay(from, to);
      }
    }
  }

  /** Cuts every link to and from `id`. */
  isolate(all: readonly NodeId[], id: NodeId): void {
    for (const other of all) if (other !== id) this.cut(id, other);
  }

  /** Restores every link to and from `id`, leaving other cuts in place. */
  reconnect(all: readonly NodeId[], id: NodeId): void {
    for (const other of all) {
      this.restoreOneWay(id, other);
      this.restoreOneWay(other, id);
    }
  }

  heal(): void {
    this.blocked.clear();
  }

  /** Describes the current cuts, for traces. */
  describeCuts(): string {
    return this.blocked.size === 0 ? 'none' : [...this.blocked].sort().join(' ');
  }

  /**
   * Decides the fate of one message: the delays (in ms) of the copies that will arrive, possibly
   * none. Counts it in `stats`.
   */
  plan(message: RaftMessage): number[] {
    this.stats.sent++;
    if (!message.type.endsWith('Response')) this.stats.requests++;
    this.stats.entryBytes += payloadBytes(message);
    if (!this.canDeliver(message.from, message.to) || this.random.chance(this.options.dropRate)) {
      this.stats.dropped++;
      return [];
    }
    const mayDetour =
      this.options.longDelayResponsesOnly !== true || message.type.endsWith('Response');
    const delays = [this.delay(mayDetour)];
    if (this.random.chance(this.options.duplicateRate)) {
      this.stats.duplicated++;
      delays.push(this.delay(mayDetour));
    }
    return delays;
  }

  private delay(mayDetour: boolean): number {
    const { delayMsMin, delayMsMax, longDelayRate, longDelayMsMax } = this.options;
    if (mayDetour && this.random.chance(longDelayRate))
      return this.random.int(delayMsMax, longDelayMsMax);
    return this.random.int(Math.ceil(delayMsMin), Math.floor(delayMsMax));
  }
}
