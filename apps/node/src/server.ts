// One distsync node process: one http server on the node's port serving Hono (HTTP API) and
// transport-ws (/peer, /client upgrades), a RaftNode on FileStorage under the data directory,
// and the registered services. `drain()` is the graceful shutdown SIGTERM and SIGINT run.
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { randomBytes } from 'node:crypto';
import { getRequestListener } from '@hono/node-server';
import { FileStorage, RaftMessageSchema, RaftNode, type RaftError } from '@distsync/raft';
import {
  createPeerTransport,
  createTransportServer,
  type ClientTlsOptions,
  type PeerTransport,
  type RequestHandler,
  type TransportServer,
} from '@distsync/transport-ws';
import type { RaftMessage } from '@distsync/raft';
import { createClientHandler } from './client-handler.js';
import type { NodeConfig } from './config.js';
import { createDashboard } from './dashboard/wiring.js';
import { NodeError } from './errors.js';
import { FaultClock } from './faults/clock.js';
import { DiskFaults } from './faults/disk.js';
import { faultRoutes, type FaultControl } from './faults/routes.js';
import { createApp, type NodeStatusDocument } from './http/app.js';
import type { Logger } from './logger.js';
import { NodeMetrics } from './metrics.js';
import { Operations } from './operations.js';
import { cacheService } from './services/cache-service.js';
import { kvService } from './services/kv-service.js';
import { lockService } from './services/lock-service.js';
import { queueService } from './services/queue-service.js';
import {
  ServiceRegistry,
  type ServiceDefinition,
  type ServiceRuntime,
} from './services/registry.js';
import { sessionsService } from './services/sessions-service.js';

/** Room for the command envelope around a body of maxBodyBytes. */
const ENVELOPE_SLACK_BYTES = 64 * 1024;

export interface StartNodeOptions {
  readonly logger: Logger;
  /** The services to host; default kv and sessions. */
  readonly services?: (config: NodeConfig) => readonly ServiceDefinition[];
  /** Storage failed: the node acknowledges nothing more. The CLI exits non-zero. */
  readonly onFatal?: (error: RaftError) => void;
}

export interface RunningNode {
  readonly id: string;
  /** The bound port (useful with port 0). */
  readonly port: number;
  readonly raft: RaftNode;
  status(): NodeStatusDocument;
  /** Graceful stop: refuse new work, hand leadership over, finish in-flight work, sync, close. */
  drain(): Promise<void>;
}

export function defaultServices(config: NodeConfig): ServiceDefinition[] {
  // Sessions come first: lock owners, queue consumers and near caches are sessions, and the
  // services below learn of each session's end through its directory.
  const sessions = sessionsService({ maxSessions: config.maxSessions });
  return [
    kvService({ maxKeys: config.maxKeys }),
    sessions,
    lockService({
      sessions: sessions.directory,
      waitTimeoutMsMax: config.requestTimeoutMs,
      limits: { maxLocks: config.maxLocks },
    }),
    queueService({ sessions: sessions.directory }),
    cacheService({
      sessions: sessions.directory,
      maxEntries: config.cacheMaxEntries,
      maxBytes: config.cacheMaxBytes,
      redisUrl: config.redisUrl,
      redisKeyPrefix: config.redisKeyPrefix,
    }),
  ];
}

function httpUrlOf(wsUrl: string): string {
  return wsUrl
    .replace(/^ws:/, 'http:')
    .replace(/^wss:/, 'https:')
    .replace(/\/peer$/, '');
}

function listen(server: Server, config: NodeConfig): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      reject(
        new NodeError(
          'UNAVAILABLE',
          `cannot listen on ${config.host}:${config.port}: ${error.message}`,
          {
            cause: error,
          },
        ),
      );
    };
    server.once('error', onError);
    server.listen(config.port, config.host, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : config.port);
    });
  });
}

function readPem(path: string, field: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new NodeError('CONFIG_INVALID', `${field}: cannot read ${path}`, { cause: error, field });
  }
}

/** http, or https when a certificate is configured (peers' certificates are checked on /peer). */
function createServer(config: NodeConfig): Server {
  if (config.tlsCertFile === undefined || config.tlsKeyFile === undefined)
    return createHttpServer();
  return createHttpsServer({
    cert: readPem(config.tlsCertFile, 'tlsCertFile'),
    key: readPem(config.tlsKeyFile, 'tlsKeyFile'),
    ...(config.tlsCaFile === undefined ? {} : { ca: readPem(config.tlsCaFile, 'tlsCaFile') }),
    requestCert: config.tlsCaFile !== undefined,
    // Clients need no certificate; /peer upgrades are refused without a trusted one.
    rejectUnauthorized: false,
  });
}

function peerTls(config: NodeConfig): { tls: ClientTlsOptions } | Record<string, never> {
  if (config.tlsCertFile === undefined || config.tlsKeyFile === undefined) return {};
  return {
    tls: {
      certFile: config.tlsCertFile,
      keyFile: config.tlsKeyFile,
      ...(config.tlsCaFile === undefined ? {} : { caFile: config.tlsCaFile }),
    },
  };
}

async function openStorage(
  dataDir: string,
  faults: FaultControl | undefined,
): Promise<FileStorage> {
  mkdirSync(dataDir, { recursive: true });
  return FileStorage.open({ dataDir, ...(faults === undefined ? {} : { fs: faults.disk.fs }) });
}

/** Test only (config `faultInjection`): a clock and a disk layer the admin route can fail. */
function faultControl(config: NodeConfig, logger: Logger): FaultControl | undefined {
  if (!config.faultInjection) return undefined;
  logger.warn(
    { faultInjection: true },
    "FAULT INJECTION IS ON (test only): POST /v1/debug/faults can shift this node's clock and fail its disk; never run a production node like this",
  );
  return {
    clock: new FaultClock(),
    disk: new DiskFaults(),
    logger: logger.child({ component: 'faults' }),
  };
}

interface Parts {
  readonly config: NodeConfig;
  readonly logger: Logger;
  readonly raft: RaftNode;
  readonly peers: PeerTransport<RaftMessage>;
  readonly registry: ServiceRegistry;
  readonly runtimes: ReadonlyMap<string, ServiceRuntime>;
  readonly startedAtMs: number;
  readonly draining: () => boolean;
}

function statusOf(parts: Parts): NodeStatusDocument {
  const { config, raft, peers, registry } = parts;
  const status = raft.status();
  const peerList = peers.peers().map((peer) => ({
    id: peer.id,
    url: peer.url === undefined ? undefined : httpUrlOf(peer.url),
    connection: peer.status.type,
    phi: Number.isFinite(peer.phi) ? Math.round(peer.phi * 1000) / 1000 : null,
    suspected: peer.suspected,
    lastSeenMs: peer.lastSeenMs,
  }));
  const leaderUrl =
    status.leaderId === config.id
      ? config.advertise
      : peerList.find((peer) => peer.id === status.leaderId)?.url;
  return {
    id: config.id,
    url: config.advertise,
    clusterId: config.clusterId,
    state: parts.draining() ? 'draining' : status.state,
    role: status.role,
    term: status.term,
    leader: status.leaderId,
    leaderUrl: leaderUrl ?? null,
    commitIndex: status.commitIndex,
    appliedIndex: status.appliedIndex,
    lastIndex: status.lastIndex,
    ready: notReadyReason(parts) === null,
    members: status.membership,
    peers: peerList,
    services: registry.names(),
    serviceStatus: Object.fromEntries(
      [...parts.runtimes].flatMap(([name, runtime]) =>
        runtime.status === undefined ? [] : [[name, runtime.status()]],
      ),
    ),
    pending: { commands: status.pendingCommands, queries: status.pendingQueries },
    storageError: status.storageError ?? null,
    uptimeMs: Date.now() - parts.startedAtMs,
  };
}

function notReadyReason(parts: Parts): string | null {
  const status = parts.raft.status();
  if (parts.draining()) return 'the node is draining';
  if (status.state !== 'running') return `the node is ${status.state}`;
  if (status.leaderId === null) return 'no leader is known';
  if (status.appliedIndex < status.commitIndex) {
    return `applied index ${status.appliedIndex} is behind commit index ${status.commitIndex}`;
  }
  return null;
}

/** Starts a node; rejects (with the cause) when storage cannot open or the port cannot bind. */
export async function startNode(
  config: NodeConfig,
  options: StartNodeOptions,
): Promise<RunningNode> {
  const { logger } = options;
  const startedAtMs = Date.now();
  // TLS files are read first: a bad path fails before the WAL is opened.
  const httpServer = createServer(config);
  const faults = faultControl(config, logger);
  const storage = await openStorage(config.dataDir, faults);
  const registry = new ServiceRegistry((options.services ?? defaultServices)(config));
  const metrics = new NodeMetrics();
  for (const service of registry.all()) service.registerMetrics?.(metrics.registry);
  let draining = false;
  const transportLogger = logger.child({ component: 'transport' });
  // A lone node has nobody to prove membership to: any secret will do.
  const secret = config.secret ?? randomBytes(24).toString('hex');
  const wiring: { clientHandler?: RequestHandler } = {};
  const server: TransportServer = await createTransportServer({
    server: httpServer,
    requirePeerCertificate: config.tlsCaFile !== undefined,
    logger: transportLogger,
    maxFrameBytes: config.maxBodyBytes + ENVELOPE_SLACK_BYTES,
    clients: {
      nodeId: config.id,
      ...(config.token === undefined ? {} : { authToken: config.token }),
      // Requests that arrive before the node is wired up are told to retry.
      handler: (request, session) =>
        wiring.clientHandler === undefined
          ? { ok: false, error: { code: 'UNAVAILABLE', message: 'the node is starting' } }
          : wiring.clientHandler(request, session),
    },
  });
  const peers = createPeerTransport({
    nodeId: config.id,
    clusterId: config.clusterId,
    secret,
    messageSchema: RaftMessageSchema,
    server,
    peers: config.peers,
    ...peerTls(config),
    logger: transportLogger,
  });
  const node = new RaftNode({
    id: config.id,
    peers: [config.id, ...Object.keys(config.peers)],
    storage,
    transport: peers,
    stateMachines: registry.stateMachines(),
    tickIntervalMs: config.tickMs,
    electionTicks: config.electionTicks,
    snapshotEveryEntries: config.snapshotEveryEntries,
    ...(faults === undefined ? {} : { scheduler: faults.clock.raftScheduler() }),
    limits: {
      maxCommandBytes: config.maxBodyBytes + ENVELOPE_SLACK_BYTES,
      commandTimeoutMs: config.requestTimeoutMs,
      queryTimeoutMs: config.requestTimeoutMs,
    },
  });
  const operations = new Operations({
    node,
    metrics,
    requestTimeoutMs: config.requestTimeoutMs,
    accepting: () => !draining,
  });
  const runtimes = new Map<string, ServiceRuntime>();
  for (const service of registry.all()) {
    const runtime = service.start?.({
      nodeId: config.id,
      operations: operations.plain(service.name),
      operationsFor: (name) => operations.plain(name),
      publish: (topic, payload) => server.publish(topic, payload),
      logger: logger.child({ component: service.name }),
      raft: node,
      ...(faults === undefined ? {} : { clock: faults.clock.cacheScheduler() }),
    });
    if (runtime === undefined) continue;
    runtimes.set(service.name, runtime);
    if (runtime.operations !== undefined) operations.override(service.name, runtime.operations);
  }
  wiring.clientHandler = createClientHandler({ registry, operations, runtimes });
  const parts: Parts = {
    config,
    logger,
    raft: node,
    peers,
    registry,
    runtimes,
    startedAtMs,
    draining: () => draining,
  };
  metrics.attach({ node, server, peers });
  watchNode({ node, metrics, logger, onFatal: options.onFatal });
  const dashboard = createDashboard({ config, raft: node, logger, status: () => statusOf(parts) });
  const app = createApp({
    ...dashboard.app,
    clusterRoutes: [...dashboard.app.clusterRoutes, ...faultRoutes(faults)],
    registry,
    operations,
    metrics,
    maxBodyBytes: config.maxBodyBytes,
    token: config.token,
    status: () => statusOf(parts),
    notReadyReason: () => notReadyReason(parts),
  });
  const listener = getRequestListener(app.fetch);
  httpServer.on('request', (request, response) => {
    void listener(request, response);
  });
  const port = await listen(httpServer, config).catch(async (error: unknown) => {
    await peers.close();
    await server.close();
    await storage.close();
    throw error;
  });
  node.start();
  logger.info(
    {
      url: config.advertise,
      port,
      dataDir: config.dataDir,
      peers: config.peers,
      services: registry.names(),
    },
    'node started',
  );
  if (Object.keys(config.peers).length > 0 && !server.secure) {
    logger.warn({}, 'peer traffic is not TLS: between hosts, use TLS and a cluster secret');
  }
  let drained: Promise<void> | undefined;
  return {
    id: config.id,
    port,
    raft: node,
    status: () => statusOf(parts),
    drain: () => {
      draining = true;
      dashboard.close();
      drained ??= drainNode({ ...parts, operations, httpServer, server, storage });
      return drained;
    },
  };
}

function watchNode(input: {
  node: RaftNode;
  metrics: NodeMetrics;
  logger: Logger;
  onFatal: ((error: RaftError) => void) | undefined;
}): void {
  const { node, metrics, logger, onFatal } = input;
  let leader: string | null = null;
  node.on('sync', (event) => {
    metrics.observeSync(event.durationMs / 1000);
  });
  node.on('snapshot', (event) => {
    metrics.observeSnapshot(event.kind, event.durationMs / 1000);
    logger.info(
      { index: event.index, bytes: event.bytes, durationMs: Math.round(event.durationMs) },
      event.kind === 'taken' ? 'snapshot taken' : 'snapshot installed from the leader',
    );
  });
  node.on('role', (role) => {
    const next = role.type === 'leader' ? node.id : role.type === 'follower' ? role.leaderId : null;
    if (next !== null && next !== leader) {
      metrics.leaderChanged();
      logger.info({ leader: next, term: node.status().term }, 'leader changed');
    }
    if (next !== null) leader = next;
    logger.debug({ role }, 'role changed');
  });
  node.on('fatal', (error) => {
    logger.fatal(
      { code: error.code, err: error },
      'storage failed: this node acknowledges nothing more',
    );
    onFatal?.(error);
  });
}

/** Waits until `done()` or `timeoutMs`, checking every few milliseconds. */
async function waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

async function drainNode(
  parts: Parts & {
    operations: Operations;
    httpServer: Server;
    server: TransportServer;
    storage: FileStorage;
  },
): Promise<void> {
  const { raft, logger, config, operations } = parts;
  logger.info({}, 'draining: refusing new work');
  // A leader first hands the lead to its most caught-up voter, so nobody waits for an election.
  const wasLeader = raft.status().role === 'leader';
  // Services end their waits (long polls, lock waits) and flush first: raft still commits.
  for (const [name, runtime] of parts.runtimes) {
    await runtime.stop?.().catch((error: unknown) => {
      logger.warn({ service: name, err: error }, 'service did not stop cleanly');
    });
  }
  await raft.stop({ drainTimeoutMs: config.drainTimeoutMs, transferLeadership: true });
  if (wasLeader)
    logger.info({}, 'stopped as leader after offering the lead to the most caught-up voter');
  await waitFor(() => operations.inFlight === 0, config.drainTimeoutMs);
  await parts.peers.close();
  await parts.server.close();
  parts.httpServer.closeIdleConnections();
  await new Promise<void>((resolve) => {
    parts.httpServer.close(() => {
      resolve();
    });
    parts.httpServer.closeAllConnections();
  });
  try {
    await parts.storage.sync();
  } finally {
    await parts.storage.close();
  }
  logger.info({}, 'drained and stopped');
}
