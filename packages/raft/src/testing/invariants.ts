// The safety properties of Raft (paper, Figure 3) checked against what the simulated nodes
// actually wrote, applied and sent. The checker is fed observations by the simulator's hosts;
// it knows nothing about the core's internals, so it can judge any implementation, including a
// deliberately broken fake one (see simulator.test.ts).
import type { Entry, NodeId, RaftMessage } from '../messages.js';
import type { HardState, Role } from '../core/types.js';

export type InvariantName =
  | 'ELECTION_SAFETY'
  | 'SINGLE_VOTE'
  | 'LOG_MATCHING'
  | 'LEADER_APPEND_ONLY'
  | 'LEADER_COMPLETENESS'
  | 'STATE_MACHINE_SAFETY'
  | 'APPLY_ORDER'
  | 'MONOTONIC_TERM'
  | 'MONOTONIC_COMMIT'
  | 'COMMIT_BEYOND_LOG'
  | 'READY_CONTRACT'
  | 'ACKNOWLEDGED_LOST'
  | 'STALE_READ';

/** Thrown by the checker; the simulator wraps it with the seed, a replay command and a trace. */
export class InvariantViolation extends Error {
  readonly invariant: InvariantName;
  readonly nodeId: NodeId;

  constructor(init: { invariant: InvariantName; nodeId: NodeId; message: string }) {
    super(`${init.invariant} violated at ${init.nodeId}: ${init.message}`);
    this.name = 'InvariantViolation';
    this.invariant = init.invariant;
    this.nodeId = init.nodeId;
  }
}

/** What the checker sees of one node after a step: its role and what it has written. */
export interface NodeView {
  readonly id: NodeId;
  readonly alive: boolean;
  readonly role: Role;
  readonly term: number;
  readonly commit: number;
  /** The node's written log: the entry with index i at position i - 1. */
  readonly log: readonly Entry[];
}

/** A proposal the client saw committed and applied at the node that accepted it. */
export interface AcknowledgedProposal {
  readonly index: number;
  readonly term: number;
  readonly payload: string;
}

interface CommittedEntry {
  readonly term: number;
  readonly key: string;
  /** The commit happened in a term no later than this one, so every leader of a later term must hold the entry. */
  readonly boundTerm: number;
}

interface NodeRecord {
  lastTerm: number;
  lastCommit: number;
  registeredCommit: number;
  appliedIndex: number;
  durable: HardState;
}

const decoder = new TextDecoder('latin1');
const keyCache = new WeakMap<Entry, string>();

/** A compact identity of an entry's content (type and bytes), for comparing entries across nodes. */
export function entryKey(entry: Entry): string {
  let key = keyCache.get(entry);
  if (key === undefined) {
    key = `${entry.type}:${decoder.decode(entry.data)}`;
    keyCache.set(entry, key);
  }
  return key;
}

function describe(entry: Entry | undefined): string {
  if (entry === undefined) return 'nothing';
  const key = entryKey(entry);
  return `(index ${entry.index}, term ${entry.term}, ${key.length > 40 ? `${key.slice(0, 40)}...` : key})`;
}

export class InvariantChecker {
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly leadersChecked = new Set<string>();
  /** `${index}:${term}` -> content key and the term of the entry before it. */
  private readonly entries = new Map<string, { key: string; previousTerm: number }>();
  private readonly committed = new Map<number, CommittedEntry>();
  private readonly applied = new Map<number, { term: number; key: string; nodeId: NodeId }>();
  private readonly votes = new Map<string, NodeId>();
  private readonly nodes = new Map<NodeId, NodeRecord>();
  private readonly acknowledged: AcknowledgedProposal[] = [];
  /** Indexes first seen committed during the current step, checked against every leader. */
  private fresh: number[] = [];

  private record(nodeId: NodeId): NodeRecord {
    let record = this.nodes.get(nodeId);
    if (record === undefined) {
      const durable = { term: 0, vote: null, commit: 0 };
      record = { lastTerm: 0, lastCommit: 0, registeredCommit: 0, appliedIndex: 0, durable };
      this.nodes.set(nodeId, record);
    }
    return record;
  }

  private fail(invariant: InvariantName, nodeId: NodeId, message: string): never {
    throw new InvariantViolation({ invariant, nodeId, message });
  }

  get acknowledgedCount(): number {
    return this.acknowledged.length;
  }

  get committedCount(): number {
    return this.committed.size;
  }

  /** A node wrote entries to its log (after the write): log matching and leader append-only. */
  onAppend(view: NodeView, init: { entries: readonly Entry[]; previousLastIndex: number }): void {
    const first = init.entries[0];
    if (first === undefined) return;
    if (first.index > init.previousLastIndex + 1 || first.index < 1) {
      this.fail(
        'READY_CONTRACT',
        view.id,
        `append at ${first.index} leaves a gap after ${init.previousLastIndex}`,
      );
    }
    if (view.role === 'leader' && first.index <= init.previousLastIndex) {
      this.fail(
        'LEADER_APPEND_ONLY',
        view.id,
        `leader of term ${view.term} rewrote its log from index ${first.index}`,
      );
    }
    for (const [offset, entry] of init.entries.entries()) {
      if (entry.index !== first.index + offset) {
        this.fail('READY_CONTRACT', view.id, `entries are not contiguous at ${describe(entry)}`);
      }
      const previousTerm = entry.index > 1 ? (view.log[entry.index - 2]?.term ?? -1) : 0;
      if (previousTerm > entry.term) {
        this.fail(
          'LOG_MATCHING',
          view.id,
          `term decreases at ${describe(entry)} after term ${previousTerm}`,
        );
      }
      this.registerEntry(view.id, entry, previousTerm);
    }
  }

  private registerEntry(nodeId: NodeId, entry: Entry, previousTerm: number): void {
    const id = `${entry.index}:${entry.term}`;
    const key = entryKey(entry);
    const known = this.entries.get(id);
    if (known === undefined) {
      this.entries.set(id, { key, previousTerm });
      return;
    }
    // Same index and term must mean the same entry with the same predecessor term; by induction
    // this makes two logs that share (index, term) identical up to that index.
    if (known.key !== key || known.previousTerm !== previousTerm) {
      this.fail(
        'LOG_MATCHING',
        nodeId,
        `${describe(entry)} after term ${previousTerm} differs from an earlier copy (after term ${known.previousTerm})`,
      );
    }
  }

  /** A node applied an entry to its state machine. */
  onApply(view: NodeView, entry: Entry): void {
    const record = this.record(view.id);
    if (entry.index !== record.appliedIndex + 1) {
      this.fail(
        'APPLY_ORDER',
        view.id,
        `applied ${describe(entry)} after index ${record.appliedIndex}`,
      );
    }
    record.appliedIndex = entry.index;
    if (entry.index > view.commit) {
      this.fail(
        'READY_CONTRACT',
        view.id,
        `applied ${describe(entry)} beyond commit ${view.commit}`,
      );
    }
    const own = view.log[entry.index - 1];
    if (own?.term !== entry.term || entryKey(own) !== entryKey(entry)) {
      this.fail(
        'READY_CONTRACT',
        view.id,
        `applied ${describe(entry)} but its log holds ${describe(own)}`,
      );
    }
    const key = entryKey(entry);
    const earlier = this.applied.get(entry.index);
    if (earlier === undefined) {
      this.applied.set(entry.index, { term: entry.term, key, nodeId: view.id });
    } else if (earlier.term !== entry.term || earlier.key !== key) {
      this.fail(
        'STATE_MACHINE_SAFETY',
        view.id,
        `applied ${describe(entry)} where ${earlier.nodeId} applied term ${earlier.term} ${earlier.key.slice(0, 40)}`,
      );
    }
  }

  /** A node sent a message (after its Ready was persisted): one real vote per term. */
  onSend(message: RaftMessage): void {
    if (message.type !== 'RequestVoteResponse' || !message.granted || message.preVote) return;
    const id = `${message.from}:${message.term}`;
    const earlier = this.votes.get(id);
    if (earlier === undefined) this.votes.set(id, message.to);
    else if (earlier !== message.to) {
      this.fail(
        'SINGLE_VOTE',
        message.from,
        `voted for ${earlier} and ${message.to} in term ${message.term}`,
      );
    }
  }

  /** A node's hard state became durable: term and commit never go back, one vote per term. */
  onDurableHardState(nodeId: NodeId, hardState: HardState): void {
    const record = this.record(nodeId);
    const before = record.durable;
    if (hardState.term < before.term) {
      this.fail(
        'MONOTONIC_TERM',
        nodeId,
        `durable term went from ${before.term} to ${hardState.term}`,
      );
    }
    if (hardState.commit < before.commit) {
      this.fail(
        'MONOTONIC_COMMIT',
        nodeId,
        `durable commit went from ${before.commit} to ${hardState.commit}`,
      );
    }
    if (hardState.term === before.term && before.vote !== null && hardState.vote !== before.vote) {
      this.fail(
        'SINGLE_VOTE',
        nodeId,
        `durable vote in term ${before.term} changed from ${before.vote} to ${String(hardState.vote)}`,
      );
    }
    record.durable = hardState;
  }

  /** A node restarted from its durable state: its volatile history starts again from there. */
  onRestart(nodeId: NodeId): void {
    const record = this.record(nodeId);
    record.lastTerm = record.durable.term;
    record.lastCommit = record.durable.commit;
    record.appliedIndex = 0;
  }

  /** The client saw its proposal applied at the node that accepted it. */
  onAcknowledged(proposal: AcknowledgedProposal): void {
    this.acknowledged.push(proposal);
  }

  /** Run after every simulator step, over every node. */
  afterStep(views: readonly NodeView[]): void {
    for (const view of views) if (view.alive) this.checkNode(view);
    for (const view of views) {
      if (!view.alive || view.role !== 'leader') continue;
      this.checkLeader(view);
      for (const index of this.fresh) {
        const committed = this.committed.get(index);
        if (committed !== undefined) this.checkHolds(view, index, committed);
      }
    }
    this.fresh = [];
  }

  private checkNode(view: NodeView): void {
    const record = this.record(view.id);
    if (view.term < record.lastTerm) {
      this.fail('MONOTONIC_TERM', view.id, `term went from ${record.lastTerm} to ${view.term}`);
    }
    if (view.commit < record.lastCommit) {
      this.fail(
        'MONOTONIC_COMMIT',
        view.id,
        `commit went from ${record.lastCommit} to ${view.commit}`,
      );
    }
    if (view.commit > view.log.length) {
      this.fail(
        'COMMIT_BEYOND_LOG',
        view.id,
        `commit ${view.commit} beyond last index ${view.log.length}`,
      );
    }
    record.lastTerm = view.term;
    record.lastCommit = view.commit;
    for (let index = record.registeredCommit + 1; index <= view.commit; index++) {
      const entry = view.log[index - 1];
      if (entry !== undefined) this.registerCommitted(view, entry);
    }
    record.registeredCommit = Math.max(record.registeredCommit, view.commit);
  }

  private registerCommitted(view: NodeView, entry: Entry): void {
    const key = entryKey(entry);
    const known = this.committed.get(entry.index);
    if (known === undefined) {
      this.committed.set(entry.index, { term: entry.term, key, boundTerm: view.term });
      this.fresh.push(entry.index);
    } else if (known.term !== entry.term || known.key !== key) {
      this.fail(
        'STATE_MACHINE_SAFETY',
        view.id,
        `committed ${describe(entry)} where term ${known.term} ${known.key.slice(0, 40)} was committed`,
      );
    } else if (view.term < known.boundTerm) {
      this.committed.set(entry.index, { ...known, boundTerm: view.term });
    }
  }

  private checkLeader(view: NodeView): void {
    const holder = this.leaderOfTerm.get(view.term);
    if (holder === undefined) this.leaderOfTerm.set(view.term, view.id);
    else if (holder !== view.id) {
      this.fail('ELECTION_SAFETY', view.id, `${holder} and ${view.id} both led term ${view.term}`);
    }
    // Leader completeness: a leader never loses entries, so checking each leader once per term
    // against everything known committed (and newly committed entries below) suffices.
    const id = `${view.id}:${view.term}`;
    if (!this.leadersChecked.has(id)) {
      this.leadersChecked.add(id);
      for (const [index, committed] of this.committed) this.checkHolds(view, index, committed);
    }
  }

  private checkHolds(view: NodeView, index: number, committed: CommittedEntry): void {
    if (view.term <= committed.boundTerm) return;
    const own = view.log[index - 1];
    if (own?.term !== committed.term || entryKey(own) !== committed.key) {
      this.fail(
        'LEADER_COMPLETENESS',
        view.id,
        `leader of term ${view.term} holds ${describe(own)} at ${index}, where term ${committed.term} was committed by term ${committed.boundTerm}`,
      );
    }
  }

  /**
   * Every acknowledged proposal is still there: each node that has applied its index applied the
   * same entry, and each listed node (typically all of them, after the cluster converged) has applied it.
   */
  verifyAcknowledged(init: {
    views: readonly NodeView[];
    appliedCount: (id: NodeId) => number;
  }): void {
    for (const proposal of this.acknowledged) {
      const applied = this.applied.get(proposal.index);
      if (applied?.term !== proposal.term || applied.key !== `normal:${proposal.payload}`) {
        this.fail(
          'ACKNOWLEDGED_LOST',
          'client',
          `acknowledged ${proposal.payload} at ${proposal.index} is gone`,
        );
      }
      for (const view of init.views) {
        if (init.appliedCount(view.id) < proposal.index) {
          this.fail(
            'ACKNOWLEDGED_LOST',
            view.id,
            `has not applied acknowledged index ${proposal.index}`,
          );
        }
        const own = view.log[proposal.index - 1];
        if (own?.term !== proposal.term) {
          this.fail(
            'ACKNOWLEDGED_LOST',
            view.id,
            `log lacks acknowledged ${proposal.payload} at ${proposal.index}`,
          );
        }
      }
    }
  }
}
