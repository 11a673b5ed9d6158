// A simulated client: every `intervalMs` it proposes a fresh payload to the node it believes
// leads, follows NOT_LEADER hints, and tries other nodes when one is down or gives no hint. The
// simulator records which proposals were acknowledged (applied at the node that accepted them).
import type { NodeId } from '../messages.js';
import type { Prng } from './prng.js';
import type { Simulator } from './simulator.js';

export interface SimClientOptions {
  readonly name: string;
  readonly intervalMs: number;
  /** Nodes tried for one proposal before giving up on it. Default: the cluster size. */
  readonly attemptsPerProposal?: number;
  /** Stop after this many proposals were accepted by a leader. Default unbounded (until stop()). */
  readonly maxProposals?: number;
  /**
   * A leader that accepted a proposal but has not applied it after this long is suspected of
   * being stale (cut off from its followers): the next proposal goes elsewhere. Default 500 ms.
   */
  readonly ackTimeoutMs?: number;
  /** Share of operations that are linearizable reads (ReadIndex) instead of proposals. Default 0. */
  readonly readRate?: number;
}

export class SimClient {
  private readonly sim: Simulator;
  private readonly random: Prng;
  private readonly options: SimClientOptions;
  private believedLeader: NodeId | undefined;
  private sequence = 0;
  private running = false;
  private oldestUnacknowledged: { payload: string; atMs: number } | undefined;
  /** Proposals a leader accepted (their outcome is known once applied). */
  accepted = 0;
  /** Proposals no node accepted. */
  refused = 0;
  readonly payloads: string[] = [];

  constructor(init: { sim: Simulator; random: Prng; options: SimClientOptions }) {
    if (!(init.options.intervalMs > 0)) throw new RangeError('intervalMs must be positive');
    this.sim = init.sim;
    this.random = init.random;
    this.options = init.options;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop();
  }

  stop(): void {
    this.running = false;
  }

  private loop(): void {
    if (!this.running) return;
    if (this.options.maxProposals !== undefined && this.accepted >= this.options.maxProposals) {
      this.running = false;
      return;
    }
    this.sim.schedule(this.options.intervalMs, `client ${this.options.name}`, () => {
      if (!this.running) return;
      if (this.random.chance(this.options.readRate ?? 0)) this.readOnce();
      else this.proposeOnce();
      this.loop();
    });
  }

  /** Every node, joined ones included (the bootstrap ids alone, in order, when none joined). */
  private nodeIds(): NodeId[] {
    return this.sim.allNodes.map((node) => node.id);
  }

  /** One linearizable read at the believed leader (or any node, which forwards it). */
  readOnce(): void {
    const target = this.believedLeader ?? this.random.pick(this.nodeIds());
    const result = this.sim.read(target);
    if (result !== undefined && !result.ok && result.leaderHint !== null) {
      this.believedLeader = result.leaderHint;
    }
  }

  private suspectStaleLeader(): boolean {
    const last = this.oldestUnacknowledged;
    if (last === undefined) return false;
    if (this.sim.isAcknowledged(last.payload)) {
      this.oldestUnacknowledged = undefined;
      return false;
    }
    const timedOut = this.sim.now - last.atMs > (this.options.ackTimeoutMs ?? 500);
    if (timedOut) this.oldestUnacknowledged = undefined;
    return timedOut;
  }

  /** One proposal, retried at the hinted leader or at other nodes; returns the accepting node. */
  proposeOnce(): NodeId | undefined {
    const payload = `${this.options.name}-${++this.sequence}`;
    const ids = this.nodeIds();
    const attempts = this.options.attemptsPerProposal ?? ids.length;
    let target = this.believedLeader ?? this.random.pick(ids);
    if (this.suspectStaleLeader() && ids.length > 1) {
      target = this.random.pick(ids.filter((id) => id !== this.believedLeader));
    }
    const tried = new Set<NodeId>();
    for (let attempt = 0; attempt < attempts; attempt++) {
      tried.add(target);
      const result = this.sim.propose(target, payload);
      if (result?.ok === true) {
        this.believedLeader = 'forwardedTo' in result ? result.forwardedTo : target;
        this.accepted++;
        this.payloads.push(payload);
        // Track the oldest accepted proposal not yet acknowledged.
        this.oldestUnacknowledged ??= { payload, atMs: this.sim.now };
        return target;
      }
      const hint = result === undefined ? null : result.leaderHint;
      if (result !== undefined && result.code !== 'NOT_LEADER') break;
      const untried = ids.filter((id) => !tried.has(id));
      const next =
        hint !== null && !tried.has(hint)
          ? hint
          : untried.length > 0
            ? this.random.pick(untried)
            : undefined;
      if (next === undefined) break;
      target = next;
    }
    this.believedLeader = undefined;
    this.refused++;
    return undefined;
  }
}
