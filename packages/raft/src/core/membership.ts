// Membership change (Raft dissertation, chapter 4: single-server changes) as the core sees it:
// the change a host proposes, the result it gets back, and the encoding of a `config` entry.
// A config entry carries the whole new membership (not just the delta), so a node rebuilds its
// configuration from the latest config entry alone, whatever it has or has not seen before.
import type { Membership, NodeId } from '../messages.js';
import { RaftError } from '../errors.js';

/**
 * One single-server change. `add-learner` adds a node that receives the log but never votes;
 * `promote` turns a caught-up learner into a voter; `add-voter` is `promote` for a node that is
 * already a learner (the core never adds a voter that has not caught up: a node unknown to the
 * cluster is refused with `LEARNER_REQUIRED`; `RaftNode.changeMembership` does both steps);
 * `remove` removes a voter or a learner, the leader included.
 */
export type ConfChangeType = 'add-learner' | 'promote' | 'add-voter' | 'remove';

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly node: NodeId;
}

export type ConfChangeResult =
  /** Appended at `index`: the change is in force once that entry is committed and applied. */
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly code: 'NOT_LEADER'; readonly leaderHint: NodeId | null }
  /**
   * An earlier change is not applied yet, or this leader has not committed an entry of its own
   * term yet (its no-op). Retry once it is; one change at a time keeps every two consecutive
   * configurations' majorities overlapping.
   */
  | {
      readonly ok: false;
      readonly code: 'CHANGE_IN_PROGRESS' | 'TRANSFER_IN_PROGRESS';
      readonly leaderHint: NodeId;
      readonly reason: string;
    }
  /** The change makes no sense for the current membership (see `reason`). */
  | {
      readonly ok: false;
      readonly code: 'INVALID_CHANGE' | 'LEARNER_REQUIRED';
      readonly reason: string;
    }
  /** The learner is more than `maxLearnerLagEntries` behind the leader's last index. */
  | {
      readonly ok: false;
      readonly code: 'LEARNER_BEHIND';
      readonly reason: string;
      readonly lagEntries: number;
    };

export type ConfChangeRefusal = Extract<ConfChangeResult, { ok: false }>;

/** What a `config` entry holds. */
export interface ConfigEntryData {
  readonly change: ConfChange;
  readonly membership: Membership;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CHANGE_TYPES: ReadonlySet<string> = new Set<ConfChangeType>([
  'add-learner',
  'promote',
  'add-voter',
  'remove',
]);

/** Encodes a config entry's data (JSON in UTF-8, readable in a log dump). */
export function encodeConfigEntry(data: ConfigEntryData): Uint8Array {
  return encoder.encode(
    JSON.stringify({
      change: { type: data.change.type, node: data.change.node },
      voters: data.membership.voters,
      learners: data.membership.learners,
    }),
  );
}

/**
 * Decodes a config entry's data. A config entry was written by a leader of this cluster, so one
 * that does not decode means a corrupt log: that is an invariant violation, never skipped.
 */
export function decodeConfigEntry(bytes: Uint8Array): ConfigEntryData {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new RaftError('INVARIANT_VIOLATED', 'a config entry is not valid JSON', { cause: error });
  }
  if (!isConfigEntry(value)) {
    throw new RaftError('INVARIANT_VIOLATED', 'a config entry does not hold a membership');
  }
  return {
    change: { type: value.change.type, node: value.change.node },
    membership: { voters: [...value.voters], learners: [...value.learners] },
  };
}

interface RawConfigEntry {
  change: { type: ConfChangeType; node: string };
  voters: string[];
  learners: string[];
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function isConfigEntry(value: unknown): value is RawConfigEntry {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  const change = record.change as Record<string, unknown> | null | undefined;
  return (
    typeof change === 'object' &&
    change !== null &&
    typeof change.type === 'string' &&
    CHANGE_TYPES.has(change.type) &&
    typeof change.node === 'string' &&
    isStringArray(record.voters) &&
    isStringArray(record.learners)
  );
}

/**
 * The membership after `change`, or why the change is refused. Pure: the leader-only checks
 * (one change at a time, learner lag) are the core's.
 */
export function applyChange(
  membership: Membership,
  change: ConfChange,
):
  | { ok: true; membership: Membership }
  | Extract<ConfChangeRefusal, { code: 'INVALID_CHANGE' | 'LEARNER_REQUIRED' }> {
  const { voters, learners } = membership;
  const node = change.node;
  const isVoter = voters.includes(node);
  const isLearner = learners.includes(node);
  switch (change.type) {
    case 'add-learner':
      if (isVoter || isLearner) {
        return invalid(`${node} is already a ${isVoter ? 'voter' : 'learner'}`);
      }
      return { ok: true, membership: { voters: [...voters], learners: [...learners, node] } };
    case 'promote':
    case 'add-voter':
      if (isVoter) return invalid(`${node} is already a voter`);
      if (!isLearner) {
        return change.type === 'promote'
          ? invalid(`${node} is not a learner of this cluster: add it as a learner first`)
          : {
              ok: false,
              code: 'LEARNER_REQUIRED',
              reason: `${node} must first join as a learner and catch up (add-learner, then promote)`,
            };
      }
      return {
        ok: true,
        membership: { voters: [...voters, node], learners: learners.filter((id) => id !== node) },
      };
    case 'remove':
      if (!isVoter && !isLearner) return invalid(`${node} is not a member of this cluster`);
      if (isVoter && voters.length === 1) {
        return invalid(`${node} is the last voter: a cluster without voters can decide nothing`);
      }
      return {
        ok: true,
        membership: {
          voters: voters.filter((id) => id !== node),
          learners: learners.filter((id) => id !== node),
        },
      };
  }
}

function invalid(reason: string): { ok: false; code: 'INVALID_CHANGE'; reason: string } {
  return { ok: false, code: 'INVALID_CHANGE', reason };
}

export function sameMembership(a: Membership, b: Membership): boolean {
  const same = (x: readonly string[], y: readonly string[]): boolean =>
    x.length === y.length && x.every((id) => y.includes(id));
  return same(a.voters, b.voters) && same(a.learners, b.learners);
}
