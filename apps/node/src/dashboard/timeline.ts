// The elections and leader changes a node saw, for the dashboard's timeline. Each node records
// what its own Raft node went through (`role` events) and what its dashboard saw of its peers
// (unreachable, reachable again); the dashboard merges every node's record into one cluster
// timeline, where the same leader change seen by three nodes is one row seen by three.
import type { RoleState } from '@distsync/raft';
import type { ClusterTimelineEntry, TimelineEvent, TimelineEventType } from './snapshot.js';

/** The number of events a node keeps, and of rows in a merged timeline. */
export const TIMELINE_EVENTS_MAX = 100;

/** A bounded record of one node's events, newest last. */
export class Timeline {
  readonly #nodeId: string;
  readonly #events: TimelineEvent[] = [];
  readonly #now: () => number;
  #seq = 0;
  #leader: string | null = null;
  #leaderTerm = -1;

  constructor(nodeId: string, now: () => number = Date.now) {
    this.#nodeId = nodeId;
    this.#now = now;
  }

  /** Feeds a role change of the local Raft node. */
  observeRole(role: RoleState): void {
    switch (role.type) {
      case 'candidate':
        this.record({ type: 'election', term: role.term, subject: this.#nodeId });
        return;
      case 'leader':
        this.#leaderIs(this.#nodeId, role.term);
        return;
      case 'follower':
        if (role.leaderId !== null) this.#leaderIs(role.leaderId, role.term);
        return;
      case 'pre-candidate':
      case 'stopped':
      case 'failed':
        return;
    }
  }

  #leaderIs(leader: string, term: number): void {
    if (leader === this.#leader && term === this.#leaderTerm) return;
    this.#leader = leader;
    this.#leaderTerm = term;
    this.record({ type: 'leader', term, subject: leader });
  }

  record(event: { type: TimelineEventType; term: number | null; subject: string }): void {
    this.#seq += 1;
    this.#events.push({ node: this.#nodeId, seq: this.#seq, atMs: this.#now(), ...event });
    if (this.#events.length > TIMELINE_EVENTS_MAX) this.#events.shift();
  }

  events(): TimelineEvent[] {
    return [...this.#events];
  }
}

/**
 * Merges the events of several nodes into rows, newest first: `election` and `leader` events
 * of the same term and subject are one row (its time is the earliest report); reachability
 * events stay one row each.
 */
export function mergeTimelines(events: readonly TimelineEvent[]): ClusterTimelineEntry[] {
  const rows = new Map<string, { entry: ClusterTimelineEntry; seenBy: Set<string> }>();
  for (const event of events) {
    const key =
      event.type === 'election' || event.type === 'leader'
        ? `${event.type}:${event.term}:${event.subject}`
        : `${event.node}:${event.seq}`;
    const row = rows.get(key);
    if (row === undefined) {
      const { atMs, type, term, subject } = event;
      rows.set(key, {
        entry: { atMs, type, term, subject, seenBy: [] },
        seenBy: new Set([event.node]),
      });
      continue;
    }
    row.seenBy.add(event.node);
    if (event.atMs < row.entry.atMs) row.entry = { ...row.entry, atMs: event.atMs };
  }
  return [...rows.values()]
    .map(({ entry, seenBy }) => ({ ...entry, seenBy: [...seenBy].sort() }))
    .sort((a, b) => b.atMs - a.atMs || (b.term ?? 0) - (a.term ?? 0))
    .slice(0, TIMELINE_EVENTS_MAX);
}
