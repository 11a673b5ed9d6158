import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Server as TlsServer, type TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { encodeValue } from './codec.js';
import { TransportError } from './errors.js';
import { consoleLogger, type Logger } from './logger.js';
import { MetricsRecorder, type TransportMetrics } from './metrics.js';
import {
  DEFAULT_MAX_CONNECTIONS,
  FRAME_SLACK_BYTES,
  integerOption,
  resolveConnectionLimits,
  type ConnectionLimitOptions,
  type ConnectionLimits,
} from './options.js';
import { digestToken, ServerSession, type RequestHandler } from './session.js';
import { readPem, type ServerTlsOptions } from './tls.js';

/** Serves the `/client` endpoint: the application's handler and the client auth settings. */
export interface ClientEndpointOptions {
  readonly handler: RequestHandler;
  /** When set, a client's hello must carry this token (compared in constant time). */
  readonly authToken?: string;
  /** Announced to clients in the welcome frame. */
  readonly nodeId?: string;
  /** Requests one session may have in the handler at once; more get `OVERLOADED`. Default 1024. */
  readonly maxInFlightPerSession?: number;
  /** Topics one session may subscribe to; more get `OVERLOADED`. Default 1024. */
  readonly maxSubscriptionsPerSession?: number;
}

export interface TransportServerOptions extends ConnectionLimitOptions {
  /**
   * An http or https server you own (for example one Hono also serves). The transport adds an
   * `upgrade` listener for `/peer` and `/client` and leaves every other request alone; you
   * listen and close it. Without it the transport creates one and listens on `host`:`port`.
   */
  readonly server?: HttpServer | HttpsServer;
  /** Interface to bind when the transport creates the server. Default `127.0.0.1`. */
  readonly host?: string;
  /** Port to bind when the transport creates the server; 0 picks a free one. Default 0. */
  readonly port?: number;
  /** Serve `https`/`wss` from these files (only when the transport creates the server). */
  readonly tls?: ServerTlsOptions;
  /**
   * Refuse `/peer` upgrades whose TLS client certificate is missing or not trusted. Defaults to
   * true when `tls.caFile` is set and `tls.mutualTls` is not `'off'`.
   */
  readonly requirePeerCertificate?: boolean;
  /** WebSocket connections held at once, both endpoints together. Default 1024. */
  readonly maxConnections?: number;
  /** Serve `/client`; without it `/client` upgrades get 404. */
  readonly clients?: ClientEndpointOptions;
  /** Default: warnings and errors to stderr. */
  readonly logger?: Logger;
}

/** The `/peer` side a peer transport plugs into the server. */
export interface PeerAcceptor {
  /** Largest frame the acceptor accepts: ws refuses frames above it plus 64 KiB by itself. */
  readonly maxFrameBytes: number;
  accept(socket: WebSocket, request: IncomingMessage): void;
}

/** A summary of one `/client` session. */
export interface SessionInfo {
  readonly id: string;
  readonly clientId: string;
  readonly remoteAddress: string | undefined;
  readonly subscriptions: number;
  readonly bufferedBytes: number;
}

export interface TransportServer {
  readonly httpServer: HttpServer | HttpsServer;
  /** True when the server speaks TLS. */
  readonly secure: boolean;
  /** The bound port (throws when the server is not listening). */
  readonly port: number;
  /** `ws://host:port` or `wss://host:port` of the bound address. */
  readonly url: string;
  /** Plugs a peer transport into `/peer`; returns a function that unplugs it. */
  acceptPeers(acceptor: PeerAcceptor): () => void;
  /** Pushes `payload` to every session subscribed to `topic`; returns how many took it. */
  publish(topic: string, payload: unknown): number;
  sessions(): readonly SessionInfo[];
  metrics(): TransportMetrics;
  /** Closes every WebSocket (1001), and the http server when the transport created it. */
  close(): Promise<void>;
}

interface ResolvedServerOptions {
  readonly limits: ConnectionLimits;
  readonly maxConnections: number;
  readonly logger: Logger;
  readonly requirePeerCertificate: boolean;
  readonly client:
    | {
        readonly handler: RequestHandler;
        readonly authTokenDigest: Buffer | undefined;
        readonly nodeId: string | undefined;
        readonly maxInFlightPerSession: number;
        readonly maxSubscriptionsPerSession: number;
      }
    | undefined;
}

/**
 * Creates the WebSocket side of a node: `/peer` and `/client` upgrades on one http(s) server.
 * Resolves once listening when it created the server itself.
 */
export async function createTransportServer(
  options: TransportServerOptions = {},
): Promise<TransportServer> {
  const resolved = resolveServerOptions(options);
  const owned = options.server === undefined;
  const httpServer = options.server ?? makeServer(options.tls);
  const server = new WsTransportServer({ httpServer, owned, resolved });
  if (!server.secure) {
    resolved.logger.warn(
      {},
      'TLS is not configured: peer and client traffic, including tokens, travels in plain text',
    );
  }
  if (owned) {
    await listen(httpServer, { port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  }
  return server;
}

function resolveServerOptions(options: TransportServerOptions): ResolvedServerOptions {
  if (options.server !== undefined && options.tls !== undefined) {
    throw new TransportError(
      'INVALID_OPTION',
      'server.tls must not be set together with server.server: configure TLS on the server you pass',
    );
  }
  const limits = resolveConnectionLimits(options, 'server');
  const maxConnections = integerOption(options.maxConnections, DEFAULT_MAX_CONNECTIONS, {
    name: 'server.maxConnections',
    min: 1,
    max: 1_000_000,
  });
  integerOption(options.port, 0, { name: 'server.port', min: 0, max: 65_535 });
  const tls = options.tls;
  const mutualDefault = tls?.caFile !== undefined && tls.mutualTls !== 'off';
  return {
    limits,
    maxConnections,
    logger: options.logger ?? consoleLogger,
    requirePeerCertificate: options.requirePeerCertificate ?? mutualDefault,
    client: resolveClientEndpoint(options.clients),
  };
}

function resolveClientEndpoint(
  options: ClientEndpointOptions | undefined,
): ResolvedServerOptions['client'] {
  if (options === undefined) return undefined;
  if (typeof options.handler !== 'function') {
    throw new TransportError('INVALID_OPTION', 'server.clients.handler must be a function');
  }
  if (options.authToken?.length === 0) {
    throw new TransportError('INVALID_OPTION', 'server.clients.authToken must not be empty');
  }
  return {
    handler: options.handler,
    authTokenDigest: options.authToken === undefined ? undefined : digestToken(options.authToken),
    nodeId: options.nodeId,
    maxInFlightPerSession: integerOption(options.maxInFlightPerSession, 1024, {
      name: 'server.clients.maxInFlightPerSession',
      min: 1,
      max: 1_000_000,
    }),
    maxSubscriptionsPerSession: integerOption(options.maxSubscriptionsPerSession, 1024, {
      name: 'server.clients.maxSubscriptionsPerSession',
      min: 1,
      max: 1_000_000,
    }),
  };
}

function makeServer(tls: ServerTlsOptions | undefined): HttpServer | HttpsServer {
  if (tls === undefined) return createHttpServer();
  const mutual = tls.caFile !== undefined ? (tls.mutualTls ?? 'peers') : 'off';
  return createHttpsServer({
    cert: readPem(tls.certFile, 'server.tls.certFile'),
    key: readPem(tls.keyFile, 'server.tls.keyFile'),
    ...(tls.caFile === undefined ? {} : { ca: readPem(tls.caFile, 'server.tls.caFile') }),
    requestCert: mutual !== 'off',
    // With 'peers', clients without certificates may still connect; `/peer` checks `authorized`.
    rejectUnauthorized: mutual === 'all',
  });
}

function listen(server: HttpServer, at: { port: number; host: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      reject(
        new TransportError('UNAVAILABLE', `cannot listen on ${at.host}:${at.port}`, {
          cause: error,
        }),
      );
    };
    server.once('error', onError);
    server.listen(at.port, at.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

class WsTransportServer implements TransportServer {
  readonly httpServer: HttpServer | HttpsServer;
  readonly secure: boolean;
  private readonly owned: boolean;
  private readonly options: ResolvedServerOptions;
  private readonly recorder = new MetricsRecorder();
  private readonly sockets = new Set<WebSocket>();
  private readonly sessionSet = new Set<ServerSession>();
  private readonly topicIndex = new Map<string, Set<ServerSession>>();
  private readonly clientWss: WebSocketServer;
  private peer: { acceptor: PeerAcceptor; wss: WebSocketServer } | undefined;
  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.upgrade(request, socket, head);
  };
  private closing = false;

  constructor(init: {
    httpServer: HttpServer | HttpsServer;
    owned: boolean;
    resolved: ResolvedServerOptions;
  }) {
    this.httpServer = init.httpServer;
    this.owned = init.owned;
    this.options = init.resolved;
    this.secure = init.httpServer instanceof TlsServer;
    this.clientWss = makeWss(this.options.limits.maxFrameBytes);
    this.httpServer.on('upgrade', this.onUpgrade);
  }

  get port(): number {
    const address = this.httpServer.address();
    if (address === null || typeof address === 'string') {
      throw new TransportError('UNAVAILABLE', 'the server is not listening on a TCP port');
    }
    return address.port;
  }

  get url(): string {
    const address = this.httpServer.address() as AddressInfo | null;
    if (address === null) throw new TransportError('UNAVAILABLE', 'the server is not listening');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `${this.secure ? 'wss' : 'ws'}://${host}:${address.port}`;
  }

  acceptPeers(acceptor: PeerAcceptor): () => void {
    if (this.peer !== undefined) {
      throw new TransportError(
        'INVALID_ARGUMENT',
        'a peer transport is already attached to this server',
      );
    }
    const peer = { acceptor, wss: makeWss(acceptor.maxFrameBytes) };
    this.peer = peer;
    return () => {
      if (this.peer === peer) this.peer = undefined;
      peer.wss.close();
    };
  }

  publish(topic: string, payload: unknown): number {
    const subscribers = this.topicIndex.get(topic);
    if (subscribers === undefined || subscribers.size === 0) return 0;
    const bytes = encodeValue({ type: 'push', topic, payload });
    let delivered = 0;
    for (const session of subscribers) if (session.pushEncoded(bytes)) delivered += 1;
    return delivered;
  }

  sessions(): readonly SessionInfo[] {
    return [...this.sessionSet].map((session) => ({
      id: session.id,
      clientId: session.clientId,
      remoteAddress: session.remoteAddress,
      subscriptions: session.subscriptions.size,
      bufferedBytes: session.channel.bufferedBytes,
    }));
  }

  metrics(): TransportMetrics {
    this.recorder.connectionsOpen = this.sockets.size;
    return this.recorder.snapshot();
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.httpServer.off('upgrade', this.onUpgrade);
    const closed = [...this.sockets].map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.readyState === socket.CLOSED) {
            resolve();
            return;
          }
          socket.once('close', () => {
            resolve();
          });
          socket.close(1001, 'server closing');
          setTimeout(() => {
            socket.terminate();
          }, 1_000).unref();
        }),
    );
    await Promise.all(closed);
    this.clientWss.close();
    this.peer?.wss.close();
    if (this.owned) await closeHttpServer(this.httpServer);
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {
      // A reset during the upgrade is the client's problem; without a listener it would throw.
    });
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const endpoint = path === '/peer' ? 'peer' : path === '/client' ? 'client' : undefined;
    if (endpoint === undefined) {
      // Other paths belong to the application, if it listens for upgrades at all.
      if (this.httpServer.listenerCount('upgrade') <= 1) rejectUpgrade(socket, 404, 'Not Found');
      return;
    }
    if (this.closing) {
      rejectUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    const peer = this.peer;
    if (
      (endpoint === 'peer' && peer === undefined) ||
      (endpoint === 'client' && this.options.client === undefined)
    ) {
      rejectUpgrade(socket, 404, 'Not Found');
      return;
    }
    if (this.sockets.size >= this.options.maxConnections) {
      this.recorder.refuse('TOO_MANY_CONNECTIONS');
      rejectUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    if (endpoint === 'peer' && this.options.requirePeerCertificate && !isAuthorizedTls(socket)) {
      this.recorder.refuse('UNAUTHORIZED');
      rejectUpgrade(socket, 401, 'Unauthorized');
      return;
    }
    const wss = endpoint === 'peer' && peer !== undefined ? peer.wss : this.clientWss;
    wss.handleUpgrade(request, socket, head, (ws) => {
      this.track(ws);
      if (endpoint === 'peer' && peer !== undefined) peer.acceptor.accept(ws, request);
      else this.acceptClient(ws, request);
    });
  }

  private track(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.once('close', () => {
      this.sockets.delete(ws);
    });
  }

  private acceptClient(ws: WebSocket, request: IncomingMessage): void {
    const client = this.options.client;
    if (client === undefined) return;
    const session = new ServerSession(ws, request, {
      ...client,
      limits: this.options.limits,
      metrics: this.recorder,
      logger: this.options.logger,
      onSubscriptionChange: (changed, { topic, subscribed }) => {
        this.indexSubscription(changed, { topic, subscribed });
      },
      onClose: (closed) => {
        this.sessionSet.delete(closed);
        for (const topic of closed.subscriptions)
          this.indexSubscription(closed, { topic, subscribed: false });
      },
    });
    this.sessionSet.add(session);
  }

  private indexSubscription(
    session: ServerSession,
    change: { topic: string; subscribed: boolean },
  ): void {
    let subscribers = this.topicIndex.get(change.topic);
    if (change.subscribed) {
      if (subscribers === undefined) {
        subscribers = new Set();
        this.topicIndex.set(change.topic, subscribers);
      }
      subscribers.add(session);
      return;
    }
    subscribers?.delete(session);
    if (subscribers?.size === 0) this.topicIndex.delete(change.topic);
  }
}

function makeWss(maxFrameBytes: number): WebSocketServer {
  // perMessageDeflate is off: compression costs CPU on small frames and opens zip-bomb attacks.
  return new WebSocketServer({
    noServer: true,
    maxPayload: maxFrameBytes + FRAME_SLACK_BYTES,
    perMessageDeflate: false,
    clientTracking: false,
  });
}

function isAuthorizedTls(socket: Duplex): boolean {
  return (socket as Partial<TLSSocket>).authorized === true;
}

function rejectUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

function closeHttpServer(server: HttpServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
    server.closeAllConnections();
  });
}
