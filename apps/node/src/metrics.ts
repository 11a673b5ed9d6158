// Prometheus metrics of one node (prom-client, its own registry so several nodes can share a
// process in tests). Gauges read the node's live state when scraped; nothing is polled.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RaftMessage, RaftNode } from '@distsync/raft';
import type { PeerTransport, TransportServer } from '@distsync/transport-ws';

const ROLES = ['follower', 'pre-candidate', 'candidate', 'leader'] as const;

export interface MetricsSources {
  readonly node: RaftNode;
  readonly server: TransportServer;
  readonly peers: PeerTransport<RaftMessage>;
}

/** Latency buckets in seconds from 0.5 ms to 5 s. */
const LATENCY_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

export class NodeMetrics {
  readonly registry: Registry = new Registry();
  readonly #proposals: Counter<'service' | 'kind' | 'outcome'>;
  readonly #proposalSeconds: Histogram<'service' | 'kind'>;
  readonly #fsyncSeconds: Histogram;
  readonly #leaderChanges: Counter;
  readonly #snapshots: Counter<'kind'>;
  readonly #snapshotSeconds: Histogram<'kind'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.#proposals = new Counter({
      name: 'distsync_proposals_total',
      help: 'Commands and queries handled by this node, by service and outcome (ok or error code)',
      labelNames: ['service', 'kind', 'outcome'],
      registers: [this.registry],
    });
    this.#proposalSeconds = new Histogram({
      name: 'distsync_proposal_duration_seconds',
      help: 'Time from receiving a command or query to its answer',
      labelNames: ['service', 'kind'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [this.registry],
    });
    this.#fsyncSeconds = new Histogram({
      name: 'distsync_storage_sync_duration_seconds',
      help: 'Duration of each WAL group commit (write + fdatasync)',
      buckets: LATENCY_BUCKETS_SECONDS,
      registers: [this.registry],
    });
    this.#leaderChanges = new Counter({
      name: 'distsync_raft_leader_changes_total',
      help: 'Times the leader this node knows changed',
      registers: [this.registry],
    });
    this.#snapshots = new Counter({
      name: 'distsync_raft_snapshots_total',
      help: 'Snapshots this node took of its state (kind="taken") or installed from its leader (kind="installed")',
      labelNames: ['kind'],
      registers: [this.registry],
    });
    this.#snapshotSeconds = new Histogram({
      name: 'distsync_raft_snapshot_duration_seconds',
      help: 'Taken: capture to stored, in slices while the node goes on; installed: how long the restore blocked the node',
      labelNames: ['kind'],
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
  }

  observeSnapshot(kind: 'taken' | 'installed', seconds: number): void {
    this.#snapshots.inc({ kind });
    this.#snapshotSeconds.observe({ kind }, seconds);
  }

  observeOperation(input: {
    service: string;
    kind: 'command' | 'query';
    outcome: string;
    seconds: number;
  }): void {
    this.#proposals.inc({ service: input.service, kind: input.kind, outcome: input.outcome });
    this.#proposalSeconds.observe({ service: input.service, kind: input.kind }, input.seconds);
  }

  observeSync(seconds: number): void {
    this.#fsyncSeconds.observe(seconds);
  }

  leaderChanged(): void {
    this.#leaderChanges.inc();
  }

  /** Gauges read from the node, the transport server and the peer transport at scrape time. */
  attach(sources: MetricsSources): void {
    const { node, server, peers } = sources;
    const registers = [this.registry];
    new Gauge({
      name: 'distsync_raft_term',
      help: 'Current Raft term',
      registers,
      collect() {
        this.set(node.status().term);
      },
    });
    new Gauge({
      name: 'distsync_raft_role',
      help: '1 for the role this node has now, 0 for the others',
      labelNames: ['role'],
      registers,
      collect() {
        const role = node.status().role;
        for (const name of ROLES) this.set({ role: name }, name === role ? 1 : 0);
      },
    });
    new Gauge({
      name: 'distsync_raft_commit_index',
      help: 'Highest log index known committed',
      registers,
      collect() {
        this.set(node.status().commitIndex);
      },
    });
    new Gauge({
      name: 'distsync_raft_applied_index',
      help: 'Highest log index applied to the state machines',
      registers,
      collect() {
        this.set(node.status().appliedIndex);
      },
    });
    new Gauge({
      name: 'distsync_raft_pending',
      help: 'Commands and queries waiting inside Raft',
      labelNames: ['kind'],
      registers,
      collect() {
        const status = node.status();
        this.set({ kind: 'command' }, status.pendingCommands);
        this.set({ kind: 'query' }, status.pendingQueries);
      },
    });
    this.#attachTransport({ server, peers });
  }

  #attachTransport(input: { server: TransportServer; peers: PeerTransport<RaftMessage> }): void {
    const { server, peers } = input;
    const registers = [this.registry];
    new Gauge({
      name: 'distsync_peer_phi',
      help: 'Phi-accrual suspicion of each peer (8 and above: suspected)',
      labelNames: ['peer'],
      registers,
      collect() {
        for (const peer of peers.peers()) this.set({ peer: peer.id }, peer.phi);
      },
    });
    new Gauge({
      name: 'distsync_peer_connected',
      help: '1 when the link to the peer is connected',
      labelNames: ['peer'],
      registers,
      collect() {
        for (const peer of peers.peers()) {
          this.set({ peer: peer.id }, peer.status.type === 'connected' ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'distsync_connections_open',
      help: 'Open WebSocket connections, by endpoint',
      labelNames: ['endpoint'],
      registers,
      collect() {
        this.set({ endpoint: 'client' }, server.sessions().length);
        this.set({ endpoint: 'peer' }, peers.metrics().connectionsOpen);
      },
    });
    new Counter({
      name: 'distsync_refused_total',
      help: 'Connections and frames refused, by code (peer and client endpoints together)',
      labelNames: ['code'],
      registers,
      collect() {
        this.reset();
        const totals = new Map<string, number>();
        for (const source of [server.metrics().refusals, peers.metrics().refusals]) {
          for (const [code, count] of Object.entries(source)) {
            totals.set(code, (totals.get(code) ?? 0) + count);
          }
        }
        for (const [code, count] of totals) this.inc({ code }, count);
      },
    });
    new Counter({
      name: 'distsync_dropped_messages_total',
      help: 'Peer messages dropped, by reason',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, count] of Object.entries(peers.metrics().drops)) {
          this.inc({ reason }, count);
        }
      },
    });
  }
}
