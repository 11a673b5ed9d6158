// The dashboard's server side: every node can show the whole cluster. While at least one page is
// watching (or a snapshot is asked for), the hub fetches each peer's `GET /ui/api/node` (its
// /status and its timeline) every `refreshIntervalMs`, builds one ClusterSnapshot and pushes it
// to every watcher when it differs from the last one pushed; a role change of the local Raft node
// is pushed at once. One fetch per peer per interval, whatever the number of pages watching.
import type { RaftNode } from '@distsync/raft';
import type { Logger } from '../logger.js';
import { fetchJson } from './fetch-json.js';
import type {
  ClusterSnapshot,
  DashboardNode,
  NodeDashboardView,
  NodeStatusView,
  ServiceDetail,
  ServiceDetails,
  TimelineEvent,
} from './snapshot.js';
import { mergeTimelines, Timeline } from './timeline.js';

/** How often the peers' views are fetched while somebody watches. */
export const DEFAULT_REFRESH_INTERVAL_MS = 500;
/** A peer that has not answered within this is shown unreachable. */
export const DEFAULT_PEER_TIMEOUT_MS = 1000;
/** A peer's answer larger than this is refused. */
export const PEER_ANSWER_BYTES_MAX = 1024 * 1024;
/** Queues whose stats a snapshot carries (the first ones by name). */
export const QUEUE_DETAILS_MAX = 20;

/** A GET through the node's own HTTP routes (in process), for the services' lists. */
export type LocalRequest = (path: string) => Promise<{ status: number; body: unknown }>;

export interface DashboardHubOptions {
  readonly nodeId: string;
  readonly raft: Pick<RaftNode, 'on' | 'status'>;
  /** The local /status document. */
  readonly status: () => { readonly id: string; readonly [key: string]: unknown };
  /** The client token, sent to peers (a cluster shares one); undefined when auth is off. */
  readonly token: string | undefined;
  /** The CA of the peers' certificates, when they serve https. */
  readonly ca: Buffer | undefined;
  readonly logger: Logger;
  readonly refreshIntervalMs?: number;
  readonly peerTimeoutMs?: number;
}

/** A page watching the cluster. */
export interface DashboardWatcher {
  snapshot(snapshot: ClusterSnapshot): void;
  /** The node is stopping: end the stream. */
  close(): void;
}

interface PeerRecord {
  readonly url: string | null;
  readonly reachable: boolean | undefined;
  readonly error: string | null;
  readonly seenAtMs: number | null;
  readonly status: NodeStatusView | null;
  readonly timeline: readonly TimelineEvent[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStatus(value: unknown): value is NodeStatusView {
  return isRecord(value) && typeof value.id === 'string';
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class DashboardHub {
  readonly timeline: Timeline;
  readonly #options: DashboardHubOptions;
  readonly #peers = new Map<string, PeerRecord>();
  readonly #watchers = new Set<DashboardWatcher>();
  readonly #offRole: () => void;
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #detailsRefreshing: Promise<void> | undefined;
  #localRequest: LocalRequest | undefined;
  #details: { locks?: ServiceDetail; queues?: ServiceDetail } = {};
  #lastPushed = '';

  constructor(options: DashboardHubOptions) {
    this.#options = options;
    this.timeline = new Timeline(options.nodeId);
    this.#offRole = options.raft.on('role', (role) => {
      this.timeline.observeRole(role);
      if (this.#watchers.size === 0) return;
      // The local change goes out at once; the peers' views follow with the next refresh.
      this.#push();
      void this.#refreshAndPush();
    });
  }

  /** This node's part of the picture, as `GET /ui/api/node` answers it. */
  localView(): NodeDashboardView {
    return { status: this.#localStatus(), timeline: this.timeline.events() };
  }

  /** A fresh snapshot (the peers are asked now). */
  async snapshot(): Promise<ClusterSnapshot> {
    await Promise.all([this.#refresh(), this.#refreshDetails()]);
    return this.#build();
  }

  /** How the hub reads the services' lists (locks, queues) through the node's own routes. */
  useLocalRequests(request: LocalRequest): void {
    this.#localRequest = request;
  }

  get watchers(): number {
    return this.#watchers.size;
  }

  /** Adds a watcher: it gets the current picture at once, then every change. */
  watch(watcher: DashboardWatcher): () => void {
    this.#watchers.add(watcher);
    watcher.snapshot(this.#build());
    if (this.#timer === undefined) {
      const intervalMs = this.#options.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS;
      this.#timer = setInterval(() => void this.#refreshAndPush(), intervalMs);
      this.#timer.unref();
      void this.#refreshAndPush();
    }
    return () => {
      this.#watchers.delete(watcher);
      if (this.#watchers.size === 0 && this.#timer !== undefined) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  /** Stops refreshing and ends every watcher's stream (the node drains). */
  close(): void {
    this.#offRole();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers.clear();
  }

  #localStatus(): NodeStatusView {
    return this.#options.status();
  }

  async #refreshAndPush(): Promise<void> {
    // Service reads go through Raft and may wait for a leader: they never hold the peers' view.
    void this.#refreshDetails().then(() => {
      this.#push();
    });
    await this.#refresh();
    this.#push();
  }

  #refreshDetails(): Promise<void> {
    this.#detailsRefreshing ??= this.#readDetails().finally(() => {
      this.#detailsRefreshing = undefined;
    });
    return this.#detailsRefreshing;
  }

  async #readDetails(): Promise<void> {
    const get = this.#localRequest;
    if (get === undefined) return;
    if (this.#options.raft.status().leaderId === null) {
      this.#details = {
        ...(this.#details.locks === undefined
          ? {}
          : { locks: { ...this.#details.locks, error: 'no leader is known' } }),
        ...(this.#details.queues === undefined
          ? {}
          : { queues: { ...this.#details.queues, error: 'no leader is known' } }),
      };
      return;
    }
    const [locks, queues] = await Promise.all([read(get, '/v1/locks'), readQueues(get)]);
    this.#details = {
      ...detailOf(this.#details.locks, locks),
      ...detailOf(this.#details.queues, queues, 'queues'),
    };
  }

  #push(): void {
    if (this.#watchers.size === 0) return;
    const snapshot = this.#build();
    const key = JSON.stringify({ ...snapshot, atMs: 0 });
    if (key === this.#lastPushed) return;
    this.#lastPushed = key;
    for (const watcher of this.#watchers) watcher.snapshot(snapshot);
  }

  /** Fetches every peer once; concurrent callers share the refresh under way. */
  #refresh(): Promise<void> {
    this.#refreshing ??= this.#refreshPeers().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #refreshPeers(): Promise<void> {
    const listed = this.#localStatus().peers ?? [];
    for (const id of this.#peers.keys()) {
      if (!listed.some((peer) => peer.id === id)) this.#peers.delete(id);
    }
    await Promise.all(
      listed.map(async (peer) => {
        const url = peer.url ?? null;
        const record = url === null ? undefined : await this.#fetchPeer(url);
        this.#update(peer.id, url, record);
      }),
    );
  }

  async #fetchPeer(url: string): Promise<{ view: NodeDashboardView } | { error: string }> {
    const options = {
      token: this.#options.token,
      ca: this.#options.ca,
      timeoutMs: this.#options.peerTimeoutMs ?? DEFAULT_PEER_TIMEOUT_MS,
      maxBytes: PEER_ANSWER_BYTES_MAX,
    };
    try {
      const answer = await fetchJson(`${url}/ui/api/node`, options);
      if (answer.status === 200 && isRecord(answer.body) && isStatus(answer.body.status)) {
        const timeline = Array.isArray(answer.body.timeline)
          ? (answer.body.timeline as TimelineEvent[])
          : [];
        return { view: { status: answer.body.status, timeline } };
      }
      // A peer with another token (or without the dashboard) still shows its public /status.
      const fallback = await fetchJson(`${url}/status`, { ...options, token: undefined });
      if (fallback.status === 200 && isStatus(fallback.body)) {
        return { view: { status: fallback.body, timeline: [] } };
      }
      return { error: `HTTP ${fallback.status} from ${url}/status` };
    } catch (error) {
      return { error: describe(error) };
    }
  }

  #update(
    id: string,
    url: string | null,
    result: { view: NodeDashboardView } | { error: string } | undefined,
  ): void {
    const before = this.#peers.get(id);
    if (result !== undefined && 'view' in result) {
      if (before?.reachable === false) {
        this.timeline.record({ type: 'reachable', term: null, subject: id });
      }
      this.#peers.set(id, {
        url,
        reachable: true,
        error: null,
        seenAtMs: Date.now(),
        status: result.view.status,
        timeline: result.view.timeline,
      });
      return;
    }
    const error = result === undefined ? 'no URL is known for this peer' : result.error;
    if (before?.reachable !== false) {
      this.timeline.record({ type: 'unreachable', term: null, subject: id });
      this.#options.logger.debug({ peer: id, error }, 'dashboard: peer unreachable');
    }
    this.#peers.set(id, {
      url,
      reachable: false,
      error,
      seenAtMs: before?.seenAtMs ?? null,
      status: before?.status ?? null,
      timeline: before?.timeline ?? [],
    });
  }

  #build(): ClusterSnapshot {
    const self = this.#localStatus();
    const nodes: DashboardNode[] = [
      {
        id: self.id,
        url: self.url ?? null,
        reachable: true,
        error: null,
        seenAtMs: Date.now(),
        status: self,
      },
      ...[...this.#peers].map(([id, peer]) => ({
        id,
        url: peer.url,
        reachable: peer.reachable === true,
        error: peer.error,
        seenAtMs: peer.seenAtMs,
        status: peer.status,
      })),
    ].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    let leader: { id: string; term: number } | null = null;
    for (const node of nodes) {
      const status = node.status;
      if (!node.reachable || status?.role !== 'leader' || status.state !== 'running') continue;
      const term = status.term ?? 0;
      if (leader === null || term > leader.term) leader = { id: node.id, term };
    }
    const events = [
      ...this.timeline.events(),
      ...[...this.#peers.values()].flatMap((peer) => peer.timeline),
    ];
    const details: ServiceDetails = { ...this.#details };
    return {
      servedBy: self.id,
      atMs: Date.now(),
      leader,
      nodes,
      timeline: mergeTimelines(events),
      details,
    };
  }
}

type ReadOutcome = { ok: true; value: unknown } | { ok: false; error: string } | 'absent';

/** One GET through the node's own routes; `absent` when the route does not exist. */
async function read(get: LocalRequest, path: string): Promise<ReadOutcome> {
  try {
    const answer = await get(path);
    if (answer.status === 200) return { ok: true, value: answer.body };
    const error = isRecord(answer.body) && isRecord(answer.body.error) ? answer.body.error : {};
    const message = typeof error.message === 'string' ? error.message : `HTTP ${answer.status}`;
    if (answer.status === 404 && message.startsWith('no route')) return 'absent';
    const code = typeof error.code === 'string' ? error.code : `HTTP ${answer.status}`;
    return { ok: false, error: `${code}: ${message}` };
  } catch (error) {
    return { ok: false, error: describe(error) };
  }
}

/** The queue list, then the stats of the first QUEUE_DETAILS_MAX queues. */
async function readQueues(get: LocalRequest): Promise<ReadOutcome> {
  const list = await read(get, '/v1/queues');
  if (list === 'absent' || !list.ok) return list;
  const queues = isRecord(list.value) && Array.isArray(list.value.queues) ? list.value.queues : [];
  const names = queues.flatMap((queue) =>
    isRecord(queue) && typeof queue.name === 'string' ? [queue.name] : [],
  );
  const stats = await Promise.all(
    names.slice(0, QUEUE_DETAILS_MAX).map(async (name) => {
      const answer = await read(get, `/v1/queues/${encodeURIComponent(name)}/stats`);
      if (answer !== 'absent' && answer.ok) return answer.value;
      return { queue: name, error: answer === 'absent' ? 'no stats route' : answer.error };
    }),
  );
  return {
    ok: true,
    value: { queues: stats, more: Math.max(0, names.length - QUEUE_DETAILS_MAX) },
  };
}

/** The new detail under `key` (`locks` unless told), keeping the last value when a read fails. */
function detailOf(
  before: ServiceDetail | undefined,
  outcome: ReadOutcome,
  key: 'locks' | 'queues' = 'locks',
): Partial<Record<'locks' | 'queues', ServiceDetail>> {
  if (outcome === 'absent') return {};
  const detail: ServiceDetail = outcome.ok
    ? { value: outcome.value, atMs: Date.now(), error: null }
    : { value: before?.value ?? null, atMs: before?.atMs ?? null, error: outcome.error };
  return { [key]: detail };
}
