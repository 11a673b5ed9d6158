// What the dashboard's event stream carries: one snapshot of the whole cluster as the serving node
// sees it. Types only, shared by the node (src/dashboard) and the page (ui/src), so both sides
// agree on the wire shape.

export type TimelineEventType =
  /** `subject` started an election for `term` (it became a candidate). */
  | 'election'
  /** `subject` leads `term` (reported by the leader itself or by a follower that learnt of it). */
  | 'leader'
  /** The serving node could not reach `subject`. */
  | 'unreachable'
  /** `subject` answers again. */
  | 'reachable';

export interface TimelineEvent {
  /** The node that recorded the event. */
  readonly node: string;
  /** Per recording node, increasing: with `node`, identifies the event. */
  readonly seq: number;
  /** Wall clock of the recording node. */
  readonly atMs: number;
  readonly type: TimelineEventType;
  readonly term: number | null;
  /** For `leader`: the leader; for `election`: the candidate; else the node concerned. */
  readonly subject: string;
}

/** One row of the merged timeline: an event and every node that recorded it. */
export interface ClusterTimelineEntry {
  readonly atMs: number;
  readonly type: TimelineEventType;
  readonly term: number | null;
  readonly subject: string;
  readonly seenBy: readonly string[];
}

/** One peer as a node's /status lists it. */
export interface PeerStatusView {
  readonly id: string;
  readonly url?: string | null;
  readonly connection: string;
  readonly phi: number | null;
  readonly suspected: boolean;
  readonly lastSeenMs?: number | null;
}

/** The fields of a node's /status the dashboard reads (every one may be missing). */
export interface NodeStatusView {
  readonly id: string;
  readonly url?: string;
  readonly state?: string;
  readonly role?: string;
  readonly term?: number;
  readonly leader?: string | null;
  readonly commitIndex?: number;
  readonly appliedIndex?: number;
  readonly lastIndex?: number;
  readonly ready?: boolean;
  readonly peers?: readonly PeerStatusView[];
  readonly services?: readonly string[];
  readonly serviceStatus?: Readonly<Record<string, unknown>>;
  readonly pending?: { readonly commands: number; readonly queries: number };
  readonly storageError?: unknown;
  readonly uptimeMs?: number;
  readonly [key: string]: unknown;
}

/** What one node answers on `GET /ui/api/node`: its /status and its timeline. */
export interface NodeDashboardView {
  readonly status: NodeStatusView;
  readonly timeline: readonly TimelineEvent[];
}

export interface DashboardNode {
  readonly id: string;
  readonly url: string | null;
  /** Whether the serving node got this node's status on its last try. */
  readonly reachable: boolean;
  /** Why not, when not. */
  readonly error: string | null;
  /** When the status below was taken (serving node's clock); null if never. */
  readonly seenAtMs: number | null;
  /** The node's /status (the last one seen, when it is unreachable now), or null. */
  readonly status: NodeStatusView | null;
}

/** A detail read through one of the serving node's own REST routes. */
export interface ServiceDetail {
  /** The last answer read (kept while later reads fail), or null. */
  readonly value: unknown;
  /** When `value` was read (serving node's clock), or null. */
  readonly atMs: number | null;
  /** Why the last read failed (no leader, timeout), or null. */
  readonly error: string | null;
}

/**
 * Replicated service state read by the serving node (linearizable reads through its own REST
 * routes): `locks` is `GET /v1/locks` (holders with tokens, waiters), `queues` is
 * `{ queues: [GET /v1/queues/{name}/stats...], more }`. A key is absent when the service is not
 * registered.
 */
export interface ServiceDetails {
  readonly locks?: ServiceDetail;
  readonly queues?: ServiceDetail;
}

export interface ClusterSnapshot {
  /** The node serving this stream. */
  readonly servedBy: string;
  readonly atMs: number;
  /** The reachable node that says it leads, with the highest term; null when none does. */
  readonly leader: { readonly id: string; readonly term: number } | null;
  /** Every node the serving node knows (itself and its peers), by id. */
  readonly nodes: readonly DashboardNode[];
  /** Merged elections, leader changes and reachability changes, newest first. */
  readonly timeline: readonly ClusterTimelineEntry[];
  readonly details: ServiceDetails;
}
