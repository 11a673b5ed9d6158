import { randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';
import { FrameChannel } from './channel.js';
import { encodeValue } from './codec.js';
import {
  codeOfClose,
  invalidOption,
  isTransportErrorCode,
  RemoteError,
  TransportError,
  type TransportErrorCode,
} from './errors.js';
import { StatusFeed } from './feed.js';
import { consoleLogger, type Logger } from './logger.js';
import {
  ClientControlSchema,
  PROTOCOL_VERSION,
  PushFrameSchema,
  ResponseFrameSchema,
  type RequestKind,
  type ResponseError,
} from './messages.js';
import { MetricsRecorder, type TransportMetrics } from './metrics.js';
import {
  backoffDelayMs,
  durationOption,
  FRAME_SLACK_BYTES,
  integerOption,
  MAX_DURATION_MS,
  resolveBackoff,
  resolveConnectionLimits,
  type Backoff,
  type BackoffOptions,
  type ConnectionLimitOptions,
  type ConnectionLimits,
} from './options.js';
import { endpointUrl, loadClientTls, type ClientTlsOptions, type LoadedClientTls } from './tls.js';

/** The client connection's state, as a discriminated union (STYLE.md 16). */
export type ConnectionStatus =
  | { readonly type: 'connecting'; readonly endpoint: string; readonly attempt: number }
  | {
      readonly type: 'connected';
      readonly endpoint: string;
      readonly sessionId: string;
      readonly nodeId: string | undefined;
    }
  | { readonly type: 'disconnected'; readonly reason: string; readonly retryInMs: number }
  | { readonly type: 'closed' };

export interface RequestOptions {
  /** Overall deadline including retries and redirects. Default: `requestTimeoutMs`. */
  readonly timeoutMs?: number;
  /** Aborting rejects the request with `ABORTED` (a command may still be applied). */
  readonly signal?: AbortSignal;
}

/** A function that ends a subscription, with a promise that settles once the server confirmed it. */
export type Unsubscribe = (() => void) & { readonly ready: Promise<void> };

/**
 * A connection to a distsync cluster. Service clients (locks, queues, cache) take a structurally
 * identical interface of their own, so they do not depend on this package.
 */
export interface ClusterConnection {
  /** The stable id this client announces; with `seq` it makes command retries idempotent. */
  readonly clientId: string;
  readonly status: ConnectionStatus;
  /** Every status change from now on, until `close()`. */
  statusUpdates(): AsyncIterableIterator<ConnectionStatus>;
  /** Sends a state-changing command; retried with the same `seq` until answered or timed out. */
  command(service: string, payload: unknown, options?: RequestOptions): Promise<unknown>;
  /** Sends a read; retried until answered or timed out. */
  query(service: string, payload: unknown, options?: RequestOptions): Promise<unknown>;
  /**
   * Delivers pushes of `topic` (named `<service>/<rest>`) to `handler`, re-subscribing after
   * every reconnection. Pushes sent while disconnected are lost: resynchronise on `connected`.
   */
  subscribe(topic: string, handler: (payload: unknown) => void): Unsubscribe;
  metrics(): TransportMetrics;
  /** Rejects pending requests with `CLOSED` and closes the socket. */
  close(): Promise<void>;
}

export interface ConnectOptions extends ConnectionLimitOptions, BackoffOptions {
  /** Stable client id (keep it across restarts to keep retries idempotent). Default: a UUID. */
  readonly clientId?: string;
  /** Sent in the hello when the server requires a token. */
  readonly token?: string;
  /** For `wss://` endpoints: CA to trust and an optional client certificate. */
  readonly tls?: ClientTlsOptions;
  /** Default deadline of a request. Default 10 s. */
  readonly requestTimeoutMs?: number;
  /** How long `connect()` waits for the first session. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Requests waiting for an answer at once; more are refused with `OVERLOADED`. Default 1024. */
  readonly maxPendingRequests?: number;
  /** `NOT_LEADER` redirects one request follows before it fails. Default 8. */
  readonly maxRedirects?: number;
  readonly logger?: Logger;
}

/** Endpoints learned from redirects are remembered up to this many. */
const MAX_ENDPOINTS = 64;

/**
 * Connects to a cluster through any of `endpoints` (`ws://host:port`, `/client` is added) and
 * resolves once a session is established. It rejects with `UNAUTHORIZED` when the token is
 * refused and with `UNAVAILABLE` when no endpoint answered within `connectTimeoutMs`.
 */
export async function connect(
  endpoints: string | readonly string[],
  options: ConnectOptions = {},
): Promise<ClusterConnection> {
  const connection = new WsClusterConnection(
    typeof endpoints === 'string' ? [endpoints] : endpoints,
    options,
  );
  try {
    await connection.firstSession();
  } catch (error) {
    await connection.close();
    throw error;
  }
  return connection;
}

interface ResolvedConnectOptions {
  readonly clientId: string;
  readonly token: string | undefined;
  readonly tls: LoadedClientTls;
  readonly limits: ConnectionLimits;
  readonly backoff: Backoff;
  readonly requestTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly maxPendingRequests: number;
  readonly maxRedirects: number;
  readonly logger: Logger;
}

function resolveConnectOptions(options: ConnectOptions): ResolvedConnectOptions {
  const clientId = options.clientId ?? randomUUID();
  if (!/^[A-Za-z0-9._:@-]{1,128}$/.test(clientId)) {
    throw new TransportError(
      'INVALID_OPTION',
      'client.clientId must be 1 to 128 letters, digits or . _ : @ -',
    );
  }
  return {
    clientId,
    token: options.token,
    tls: loadClientTls(options.tls, 'client'),
    limits: resolveConnectionLimits(options, 'client'),
    backoff: resolveBackoff(options, 'client'),
    requestTimeoutMs: durationOption(options.requestTimeoutMs, 10_000, 'client.requestTimeoutMs'),
    connectTimeoutMs: durationOption(options.connectTimeoutMs, 10_000, 'client.connectTimeoutMs'),
    maxPendingRequests: integerOption(options.maxPendingRequests, 1024, {
      name: 'client.maxPendingRequests',
      min: 1,
      max: 1_000_000,
    }),
    maxRedirects: integerOption(options.maxRedirects, 8, {
      name: 'client.maxRedirects',
      min: 0,
      max: 1000,
    }),
    logger: options.logger ?? consoleLogger,
  };
}

interface Pending {
  readonly id: number;
  readonly kind: RequestKind;
  readonly service: string;
  readonly payload: unknown;
  readonly seq: number;
  readonly deadlineMs: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly cleanup: () => void;
  sentOn: FrameChannel | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  retries: number;
  redirects: number;
}

interface Topic {
  readonly handlers: Set<(payload: unknown) => void>;
  ready: Promise<void>;
}

class WsClusterConnection implements ClusterConnection {
  readonly clientId: string;
  private readonly options: ResolvedConnectOptions;
  private readonly endpoints: string[];
  private readonly pending = new Map<number, Pending>();
  private readonly topics = new Map<string, Topic>();
  private readonly feed = new StatusFeed<ConnectionStatus>();
  private readonly recorder = new MetricsRecorder();
  private statusValue: ConnectionStatus;
  private endpointIndex = 0;
  private preferred: string | undefined;
  private channel: FrameChannel | undefined;
  private channelUrl = '';
  private ready = false;
  private attempt = 0;
  private everConnected = false;
  private redirecting = false;
  private closed = false;
  private refusal: { code: TransportErrorCode; message: string } | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private nextId = 0;
  private nextSeq = 0;
  private firstSessionWaiter:
    { resolve: () => void; reject: (error: Error) => void; timer: NodeJS.Timeout } | undefined;

  constructor(endpoints: readonly string[], options: ConnectOptions) {
    this.options = resolveConnectOptions(options);
    this.clientId = this.options.clientId;
    if (endpoints.length === 0) {
      throw new TransportError('INVALID_OPTION', 'connect() needs at least one endpoint');
    }
    this.endpoints = endpoints.map((base, index) =>
      endpointUrl(base, { option: `endpoints[${index}]`, path: '/client' }),
    );
    this.statusValue = { type: 'connecting', endpoint: this.endpoints[0] ?? '', attempt: 0 };
    this.dial();
  }

  get status(): ConnectionStatus {
    return this.statusValue;
  }

  statusUpdates(): AsyncIterableIterator<ConnectionStatus> {
    return this.feed.watch();
  }

  firstSession(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.firstSessionWaiter = undefined;
        reject(
          new TransportError(
            'UNAVAILABLE',
            `no endpoint answered within ${this.options.connectTimeoutMs} ms (${this.endpoints.join(', ')})`,
          ),
        );
      }, this.options.connectTimeoutMs);
      this.firstSessionWaiter = { resolve, reject, timer };
    });
  }

  command(service: string, payload: unknown, options: RequestOptions = {}): Promise<unknown> {
    return this.request({ kind: 'command', service, payload }, options);
  }

  query(service: string, payload: unknown, options: RequestOptions = {}): Promise<unknown> {
    return this.request({ kind: 'query', service, payload }, options);
  }

  subscribe(topic: string, handler: (payload: unknown) => void): Unsubscribe {
    if (typeof topic !== 'string' || topic.length === 0 || topic.length > 256) {
      throw new TransportError('INVALID_ARGUMENT', 'a topic is a string of 1 to 256 characters');
    }
    let entry = this.topics.get(topic);
    if (entry === undefined) {
      const created: Topic = { handlers: new Set(), ready: Promise.resolve() };
      created.ready = this.sendSubscription('subscribe', topic);
      // Callers may ignore `ready`; a refused subscription must not become an unhandled rejection.
      created.ready.catch((error: unknown) => {
        this.options.logger.warn({ err: error, topic }, 'subscribing failed');
      });
      this.topics.set(topic, created);
      entry = created;
    }
    entry.handlers.add(handler);
    const current = entry;
    const unsubscribe = (): void => {
      current.handlers.delete(handler);
      if (current.handlers.size > 0 || this.topics.get(topic) !== current) return;
      this.topics.delete(topic);
      if (!this.closed) {
        this.sendSubscription('unsubscribe', topic).catch((error: unknown) => {
          this.options.logger.debug({ err: error, topic }, 'unsubscribe failed');
        });
      }
    };
    return Object.assign(unsubscribe, { ready: current.ready });
  }

  metrics(): TransportMetrics {
    this.recorder.connectionsOpen = this.channel === undefined ? 0 : 1;
    return this.recorder.snapshot();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    for (const pending of [...this.pending.values()]) {
      this.fail(pending, new TransportError('CLOSED', 'the connection was closed'));
    }
    this.settleFirstSession(new TransportError('CLOSED', 'the connection was closed'));
    const channel = this.channel;
    this.setStatus({ type: 'closed' });
    this.feed.close();
    if (channel !== undefined) {
      channel.close('NORMAL', 'client closing');
      await channel.closed;
    }
  }

  private sendSubscription(kind: 'subscribe' | 'unsubscribe', topic: string): Promise<void> {
    const service = topic.split('/')[0] ?? topic;
    return this.request({ kind, service, payload: { topic } }, {}).then(() => undefined);
  }

  private request(
    body: { kind: RequestKind; service: string; payload: unknown },
    options: RequestOptions,
  ): Promise<unknown> {
    if (this.closed)
      return Promise.reject(new TransportError('CLOSED', 'the connection was closed'));
    if (this.pending.size >= this.options.maxPendingRequests) {
      return Promise.reject(
        new TransportError(
          'OVERLOADED',
          `more than ${this.options.maxPendingRequests} requests pending`,
        ),
      );
    }
    if (
      typeof body.service !== 'string' ||
      body.service.length === 0 ||
      body.service.length > 128
    ) {
      return Promise.reject(
        new TransportError('INVALID_ARGUMENT', 'service must be a string of 1 to 128 characters'),
      );
    }
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_DURATION_MS) {
      return Promise.reject(
        invalidOption('timeoutMs', `an integer from 1 to ${MAX_DURATION_MS}`, timeoutMs),
      );
    }
    const signal = options.signal;
    if (signal?.aborted === true)
      return Promise.reject(new TransportError('ABORTED', 'the request was aborted'));
    return new Promise((resolve, reject) => {
      const id = (this.nextId += 1);
      // A command's seq is fixed here, once: every retry of this call reuses it.
      const seq = body.kind === 'command' ? (this.nextSeq += 1) : 0;
      const timer = setTimeout(() => {
        this.fail(
          pending,
          new TransportError(
            'TIMEOUT',
            `${body.kind} ${body.service} timed out after ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const onAbort = (): void => {
        this.fail(
          pending,
          new TransportError('ABORTED', 'the request was aborted', { cause: signal?.reason }),
        );
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const pending: Pending = {
        id,
        ...body,
        seq,
        deadlineMs: Date.now() + timeoutMs,
        resolve,
        reject,
        cleanup: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
        sentOn: undefined,
        retryTimer: undefined,
        retries: 0,
        redirects: 0,
      };
      this.pending.set(id, pending);
      this.trySend(pending);
    });
  }

  /** The oldest command seq still awaiting an answer; the server keeps results from it on. */
  private lowestUnackedSeq(): number {
    // `pending` is inserted once per call, in the order seqs are drawn, and never re-inserted,
    // so the first command in it holds the lowest outstanding seq: no scan of the whole map.
    for (const pending of this.pending.values()) {
      if (pending.kind === 'command') return pending.seq;
    }
    return this.nextSeq;
  }

  private trySend(pending: Pending): void {
    pending.retryTimer = undefined;
    const channel = this.channel;
    if (channel === undefined || !this.ready || !this.pending.has(pending.id)) return;
    let bytes: Uint8Array;
    try {
      bytes = encodeValue({
        type: 'request',
        id: pending.id,
        kind: pending.kind,
        service: pending.service,
        payload: pending.payload,
        clientId: this.clientId,
        seq: pending.seq,
        ...(pending.kind === 'command' ? { lowestUnackedSeq: this.lowestUnackedSeq() } : {}),
        timeoutMs: Math.max(1, pending.deadlineMs - Date.now()),
      });
    } catch (error) {
      this.fail(
        pending,
        new TransportError('INVALID_ARGUMENT', 'the payload cannot be encoded as MessagePack', {
          cause: error,
        }),
      );
      return;
    }
    const frameBytesMax = channel.outboundFrameBytesLimit;
    if (bytes.byteLength + 5 > frameBytesMax) {
      this.fail(
        pending,
        new TransportError(
          'FRAME_TOO_LARGE',
          `the request (${bytes.byteLength} bytes) exceeds maxFrameBytes (${frameBytesMax}, the smaller of this client's and the server's)`,
        ),
      );
      return;
    }
    if (channel.enqueueEncoded(bytes)) pending.sentOn = channel;
    else this.retryLater(pending);
  }

  private retryLater(pending: Pending): void {
    pending.sentOn = undefined;
    clearTimeout(pending.retryTimer);
    const delayMs = backoffDelayMs(this.options.backoff, pending.retries);
    pending.retries += 1;
    pending.retryTimer = setTimeout(() => {
      this.trySend(pending);
    }, delayMs);
  }

  private fail(pending: Pending, error: Error): void {
    if (!this.pending.delete(pending.id)) return;
    pending.cleanup();
    clearTimeout(pending.retryTimer);
    pending.reject(error);
  }

  private succeed(pending: Pending, value: unknown): void {
    if (!this.pending.delete(pending.id)) return;
    pending.cleanup();
    clearTimeout(pending.retryTimer);
    pending.resolve(value);
  }

  private setStatus(status: ConnectionStatus): void {
    this.statusValue = status;
    this.feed.publish(status);
  }

  private dial(): void {
    if (this.closed) return;
    const url = this.preferred ?? this.endpoints[this.endpointIndex % this.endpoints.length] ?? '';
    this.attempt += 1;
    this.refusal = undefined;
    this.setStatus({ type: 'connecting', endpoint: url, attempt: this.attempt });
    const limits = this.options.limits;
    const socket = new WebSocket(url, {
      maxPayload: limits.maxFrameBytes + FRAME_SLACK_BYTES,
      perMessageDeflate: false,
      handshakeTimeout: limits.handshakeTimeoutMs,
      ...this.options.tls,
    });
    const channel: FrameChannel = new FrameChannel({
      socket,
      limits,
      metrics: this.recorder,
      logger: this.options.logger,
      onFrame: (frame) => {
        this.receive(channel, frame);
      },
      onClose: (event) => {
        this.channelClosed(channel, event);
      },
    });
    socket.once('open', () => {
      const token = this.options.token;
      channel.sendControl({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        clientId: this.clientId,
        ...(token === undefined ? {} : { token }),
      });
    });
    this.channel = channel;
    this.channelUrl = url;
    this.ready = false;
  }

  private receive(channel: FrameChannel, frame: unknown): void {
    if (Array.isArray(frame)) {
      if (!channel.isEstablished) {
        channel.reportBadFrame('data before welcome');
        return;
      }
      for (const item of frame) this.receiveItem(channel, item);
      return;
    }
    const control = ClientControlSchema.safeParse(frame);
    if (!control.success) {
      channel.reportBadFrame('frame matches no client frame schema');
      return;
    }
    const data = control.data;
    switch (data.type) {
      case 'welcome':
        if (channel.isEstablished) channel.reportBadFrame('second welcome');
        else this.welcomed(channel, data);
        return;
      case 'error':
        this.refusal = {
          code: isTransportErrorCode(data.code) ? data.code : 'UNAVAILABLE',
          message: data.message,
        };
        this.options.logger.debug({ code: data.code }, data.message);
        return;
      case 'ping':
        return;
      case 'hello':
        channel.reportBadFrame('a server does not send hello');
        return;
    }
  }

  private welcomed(
    channel: FrameChannel,
    welcome: { sessionId: string; nodeId?: string | undefined; maxFrameBytes?: number | undefined },
  ): void {
    channel.markEstablished();
    // A request over the server's limit would get the connection closed (4413) and be retried
    // forever; refusing it here with FRAME_TOO_LARGE fails that one request only.
    if (welcome.maxFrameBytes !== undefined) channel.limitOutboundFrames(welcome.maxFrameBytes);
    this.ready = true;
    this.attempt = 0;
    if (this.everConnected) this.recorder.reconnects += 1;
    this.everConnected = true;
    this.setStatus({
      type: 'connected',
      endpoint: this.channelUrl,
      sessionId: welcome.sessionId,
      nodeId: welcome.nodeId,
    });
    this.settleFirstSession(undefined);
    for (const pending of this.pending.values()) {
      if (pending.sentOn !== channel && pending.retryTimer === undefined) this.trySend(pending);
    }
    this.resubscribe();
  }

  /** After a reconnection the new session knows none of our topics: subscribe to each again. */
  private resubscribe(): void {
    if (!this.everConnected || this.recorder.reconnects === 0) return;
    for (const topic of this.topics.keys()) {
      this.sendSubscription('subscribe', topic).catch((error: unknown) => {
        this.options.logger.warn(
          { err: error, topic },
          're-subscribing failed; pushes of this topic stop',
        );
      });
    }
  }

  private receiveItem(channel: FrameChannel, item: unknown): void {
    const response = ResponseFrameSchema.safeParse(item);
    if (response.success) {
      const pending = this.pending.get(response.data.id);
      if (pending === undefined) return;
      if (response.data.ok) this.succeed(pending, response.data.value);
      else this.handleError(pending, response.data.error);
      return;
    }
    const push = PushFrameSchema.safeParse(item);
    if (!push.success) {
      channel.reportBadFrame('item is neither a response nor a push');
      return;
    }
    for (const handler of this.topics.get(push.data.topic)?.handlers ?? []) {
      try {
        handler(push.data.payload);
      } catch (error) {
        this.options.logger.error({ err: error, topic: push.data.topic }, 'a push handler threw');
      }
    }
  }

  private handleError(pending: Pending, error: ResponseError): void {
    switch (error.code) {
      case 'NOT_LEADER':
        pending.redirects += 1;
        if (pending.redirects > this.options.maxRedirects) {
          this.fail(
            pending,
            new TransportError(
              'NOT_LEADER',
              `gave up after ${this.options.maxRedirects} redirects: ${error.message}`,
              detailsOf(error),
            ),
          );
        } else if (error.leaderUrl !== undefined) {
          this.redirect(pending, error.leaderUrl);
        } else {
          this.retryLater(pending);
        }
        return;
      case 'UNAVAILABLE':
        this.retryLater(pending);
        return;
      default:
        this.fail(pending, errorOf(error));
    }
  }

  /** Moves the session to the leader; every pending request is resent there after welcome. */
  private redirect(pending: Pending, leaderUrl: string): void {
    let url: string;
    try {
      url = endpointUrl(leaderUrl, { option: 'leaderUrl', path: '/client' });
    } catch {
      this.retryLater(pending);
      return;
    }
    pending.sentOn = undefined;
    if (url === this.channelUrl) {
      // The server names itself as leader: its view is stale, so give it a moment.
      this.retryLater(pending);
      return;
    }
    this.preferred = url;
    if (!this.endpoints.includes(url) && this.endpoints.length < MAX_ENDPOINTS)
      this.endpoints.push(url);
    if (this.channel !== undefined && !this.redirecting) {
      this.redirecting = true;
      this.channel.close('NORMAL', 'following a NOT_LEADER redirect');
    }
  }

  private channelClosed(channel: FrameChannel, event: { code: number; reason: string }): void {
    if (this.channel !== channel) return;
    const wasReady = this.ready;
    this.channel = undefined;
    this.ready = false;
    for (const pending of this.pending.values())
      if (pending.sentOn === channel) pending.sentOn = undefined;
    if (this.closed) return;
    const refusal = this.refusal ?? refusalOfClose(event);
    if (refusal?.code === 'UNAUTHORIZED' && !this.everConnected) {
      this.settleFirstSession(new TransportError('UNAUTHORIZED', refusal.message));
      void this.close();
      return;
    }
    const redirecting = this.redirecting;
    this.redirecting = false;
    if (!wasReady && !redirecting) {
      // This endpoint did not give us a session: forget a stale leader hint, try the next one.
      this.preferred = undefined;
      this.endpointIndex += 1;
    }
    const retryInMs = redirecting
      ? 0
      : backoffDelayMs(this.options.backoff, Math.max(0, this.attempt - 1));
    const reason =
      refusal === undefined
        ? `closed with code ${event.code}`
        : `${refusal.code}: ${refusal.message}`;
    this.setStatus({ type: 'disconnected', reason, retryInMs });
    this.reconnectTimer = setTimeout(() => {
      this.dial();
    }, retryInMs);
  }

  private settleFirstSession(error: Error | undefined): void {
    const waiter = this.firstSessionWaiter;
    if (waiter === undefined) return;
    this.firstSessionWaiter = undefined;
    clearTimeout(waiter.timer);
    if (error === undefined) waiter.resolve();
    else waiter.reject(error);
  }
}

function refusalOfClose(event: {
  code: number;
  reason: string;
}): { code: TransportErrorCode; message: string } | undefined {
  const code = codeOfClose(event.code);
  return code === undefined ? undefined : { code, message: event.reason };
}

function detailsOf(error: ResponseError): { leaderHint?: string; leaderUrl?: string } {
  return {
    ...(error.leaderHint === undefined ? {} : { leaderHint: error.leaderHint }),
    ...(error.leaderUrl === undefined ? {} : { leaderUrl: error.leaderUrl }),
  };
}

function errorOf(error: ResponseError): Error {
  return isTransportErrorCode(error.code)
    ? new TransportError(error.code, error.message, detailsOf(error))
    : new RemoteError(error.code, error.message);
}
