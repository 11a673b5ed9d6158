import type { IncomingMessage } from 'node:http';
import { HeartbeatMonitor, type HeartbeatMonitorOptions } from '@distsync/failure-detector';
import { WebSocket } from 'ws';
import type { z } from 'zod';
import { FrameChannel } from './channel.js';
import {
  codeOfClose,
  isTransportErrorCode,
  TransportError,
  type TransportErrorCode,
} from './errors.js';
import { StatusFeed } from './feed.js';
import { consoleLogger, type Logger } from './logger.js';
import { PeerControlSchema, PROTOCOL_VERSION, type PeerHello } from './messages.js';
import { MetricsRecorder, type TransportMetrics } from './metrics.js';
import {
  backoffDelayMs,
  FRAME_SLACK_BYTES,
  resolveBackoff,
  resolveConnectionLimits,
  stringOption,
  type Backoff,
  type BackoffOptions,
  type ConnectionLimitOptions,
  type ConnectionLimits,
} from './options.js';
import {
  computeProof,
  helloProofParts,
  newNonce,
  proofMatches,
  secretBytes,
  welcomeProofParts,
} from './peer-auth.js';
import type { TransportServer } from './server.js';
import { endpointUrl, loadClientTls, type ClientTlsOptions, type LoadedClientTls } from './tls.js';

/** What the peer transport needs of a message: where it comes from and where it goes. */
export interface PeerMessage {
  readonly from: string;
  readonly to: string;
}

/** A peer link's state, as a discriminated union (STYLE.md 16). */
export type PeerStatus =
  | { readonly type: 'connecting'; readonly attempt: number; readonly url: string }
  | {
      readonly type: 'connected';
      readonly direction: 'inbound' | 'outbound';
      readonly sinceMs: number;
    }
  | {
      readonly type: 'disconnected';
      readonly reason: string;
      /** When we dial this peer: the delay before the next attempt. */
      readonly retryInMs?: number;
    }
  | {
      readonly type: 'refused';
      readonly code: TransportErrorCode;
      readonly reason: string;
      readonly retryInMs?: number;
    };

export interface PeerStatusEvent {
  readonly peerId: string;
  readonly status: PeerStatus;
}

/** One peer at a glance, for `/status` and metrics. */
export interface PeerInfo {
  readonly id: string;
  readonly url: string | undefined;
  readonly status: PeerStatus;
  /** Phi-accrual suspicion; 0 before the first heartbeat. */
  readonly phi: number;
  /** True when phi is at or above the detector threshold. */
  readonly suspected: boolean;
  /** Wall-clock time (ms since the epoch) of the last frame received, if any. */
  readonly lastSeenMs: number | undefined;
  /** Bytes held for this peer: our queue plus the socket buffer. */
  readonly bufferedBytes: number;
}

export interface PeerTransportOptions<M extends PeerMessage>
  extends ConnectionLimitOptions, BackoffOptions {
  /** This node's id (letters, digits, `.`, `_`, `:`, `@`, `-`; at most 128 characters). */
  readonly nodeId: string;
  /** Peers announcing another cluster id are refused with `WRONG_CLUSTER`. */
  readonly clusterId: string;
  /** Shared secret of the cluster, at least 16 bytes; proves membership in the handshake. */
  readonly secret: string | Uint8Array;
  /** Validates every inbound message before use (for Raft: `RaftMessageSchema`). */
  readonly messageSchema: z.ZodType<M>;
  /** Other members: node id to base URL (`ws://host:port`; `/peer` is added when the path is empty). */
  readonly peers?: Readonly<Record<string, string>>;
  /** Where inbound peers connect; without it the transport only dials. */
  readonly server?: TransportServer;
  /** For `wss://` peers: CA to trust, and the certificate presented for mutual TLS. */
  readonly tls?: ClientTlsOptions;
  /** Options of the phi-accrual heartbeat monitor (threshold, acceptable pause, ...). */
  readonly failureDetector?: HeartbeatMonitorOptions;
  readonly logger?: Logger;
}

export interface PeerTransport<M extends PeerMessage> {
  readonly nodeId: string;
  /**
   * Hands messages to their peers: best effort, never blocks, never throws. Messages to one peer
   * keep their order; a message to a peer that is not connected, or that would push the peer's
   * buffered bytes over `sendQueueBytesMax`, is dropped and counted in `metrics().drops`.
   */
  send(messages: readonly M[]): void;
  /** Registers a receiver of validated inbound messages; returns a function that removes it. */
  onMessage(handler: (message: M) => void): () => void;
  peers(): readonly PeerInfo[];
  statusOf(peerId: string): PeerStatus | undefined;
  /** Every status change of every peer from now on, until `close()`. */
  statusUpdates(): AsyncIterableIterator<PeerStatusEvent>;
  /** Replaces the member list (membership change): new peers are dialed, removed ones closed. */
  setPeers(peers: Readonly<Record<string, string>>): void;
  metrics(): TransportMetrics;
  close(): Promise<void>;
}

interface Link {
  readonly id: string;
  url: string | undefined;
  status: PeerStatus;
  channel: FrameChannel | undefined;
  attempt: number;
  retryTimer: NodeJS.Timeout | undefined;
  everConnected: boolean;
  lastSeenMs: number | undefined;
  refusal: { code: TransportErrorCode; reason: string } | undefined;
}

/**
 * Creates the peer side of a node. Exactly one connection serves each pair of nodes: the node
 * whose id sorts lower dials (`nodeId < peerId`), the other accepts, and a newer inbound
 * connection from the same peer replaces an older one (a restarted peer). Dialing uses jittered
 * exponential backoff; every inbound frame, data or ping, is a heartbeat for the phi-accrual
 * monitor, and idle connections send pings so phi keeps working while Raft is quiet.
 */
export function createPeerTransport<M extends PeerMessage>(
  options: PeerTransportOptions<M>,
): PeerTransport<M> {
  return new WsPeerTransport(options);
}

interface ResolvedPeerOptions<M> {
  readonly nodeId: string;
  readonly clusterId: string;
  readonly secret: Buffer;
  readonly schema: z.ZodType<M>;
  readonly limits: ConnectionLimits;
  readonly backoff: Backoff;
  readonly tls: LoadedClientTls;
  readonly logger: Logger;
}

const ID_PATTERN = /^[A-Za-z0-9._:@-]+$/;

function resolvePeerOptions<M extends PeerMessage>(
  options: PeerTransportOptions<M>,
): ResolvedPeerOptions<M> {
  const nodeId = stringOption(options.nodeId, 'peers.nodeId', { minLength: 1, maxLength: 128 });
  if (!ID_PATTERN.test(nodeId)) {
    throw new TransportError(
      'INVALID_OPTION',
      'peers.nodeId may contain only letters, digits and . _ : @ -',
    );
  }
  if (
    typeof options.messageSchema !== 'object' ||
    typeof options.messageSchema.safeParse !== 'function'
  ) {
    throw new TransportError('INVALID_OPTION', 'peers.messageSchema must be a zod schema');
  }
  return {
    nodeId,
    clusterId: stringOption(options.clusterId, 'peers.clusterId', { minLength: 1, maxLength: 128 }),
    secret: secretBytes(options.secret),
    schema: options.messageSchema,
    limits: resolveConnectionLimits(options, 'peers'),
    backoff: resolveBackoff(options, 'peers'),
    tls: loadClientTls(options.tls, 'peers'),
    logger: options.logger ?? consoleLogger,
  };
}

/** Turns a configured base URL into the `/peer` endpoint URL; throws `INVALID_OPTION` if bad. */
export function peerEndpointUrl(base: string, option: string): string {
  return endpointUrl(base, { option, path: '/peer' });
}

class WsPeerTransport<M extends PeerMessage> implements PeerTransport<M> {
  readonly nodeId: string;
  private readonly options: ResolvedPeerOptions<M>;
  private readonly links = new Map<string, Link>();
  private readonly handlers = new Set<(message: M) => void>();
  private readonly feed = new StatusFeed<PeerStatusEvent>();
  private readonly recorder = new MetricsRecorder();
  private readonly monitor: HeartbeatMonitor;
  private readonly inbound = new Set<FrameChannel>();
  private readonly detach: (() => void) | undefined;
  private closing = false;

  constructor(options: PeerTransportOptions<M>) {
    this.options = resolvePeerOptions(options);
    this.nodeId = this.options.nodeId;
    this.monitor = new HeartbeatMonitor({ autoAddPeers: true, ...options.failureDetector });
    this.setPeers(options.peers ?? {});
    const limits = this.options.limits;
    this.detach = options.server?.acceptPeers({
      maxFrameBytes: limits.maxFrameBytes,
      accept: (socket, request) => {
        this.accept(socket, request);
      },
    });
  }

  send(messages: readonly M[]): void {
    for (const message of messages) {
      const channel = this.links.get(message.to)?.channel;
      if (channel?.isEstablished !== true) {
        this.recorder.drop('disconnected');
        continue;
      }
      channel.enqueue(message);
    }
  }

  onMessage(handler: (message: M) => void): () => void {
    this.handlers.add(handler);
    return () => {
      this.handlers.delete(handler);
    };
  }

  peers(): readonly PeerInfo[] {
    const now = Date.now();
    const threshold = this.monitor.options.threshold;
    return [...this.links.values()].map((link) => {
      const phi = this.monitor.phi(link.id, now) ?? 0;
      return {
        id: link.id,
        url: link.url,
        status: link.status,
        phi,
        suspected: phi >= threshold,
        lastSeenMs: link.lastSeenMs,
        bufferedBytes: link.channel?.bufferedBytes ?? 0,
      };
    });
  }

  statusOf(peerId: string): PeerStatus | undefined {
    return this.links.get(peerId)?.status;
  }

  statusUpdates(): AsyncIterableIterator<PeerStatusEvent> {
    return this.feed.watch();
  }

  setPeers(peers: Readonly<Record<string, string>>): void {
    const wanted = new Map<string, string>();
    for (const [id, base] of Object.entries(peers)) {
      if (!ID_PATTERN.test(id) || id.length > 128) {
        throw new TransportError(
          'INVALID_OPTION',
          `peers.peers has an invalid node id ${JSON.stringify(id)}`,
        );
      }
      if (id !== this.nodeId) wanted.set(id, peerEndpointUrl(base, `peers.peers.${id}`));
    }
    for (const link of this.links.values()) {
      if (!wanted.has(link.id)) this.removeLink(link);
    }
    for (const [id, url] of wanted) this.upsertLink(id, url);
  }

  metrics(): TransportMetrics {
    let open = this.inbound.size;
    for (const link of this.links.values())
      if (link.channel !== undefined && !this.inbound.has(link.channel)) open += 1;
    this.recorder.connectionsOpen = open;
    return this.recorder.snapshot();
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.detach?.();
    const closing: Promise<void>[] = [];
    for (const link of this.links.values()) {
      clearTimeout(link.retryTimer);
      if (link.channel !== undefined) closing.push(closeChannel(link.channel));
    }
    for (const channel of this.inbound) closing.push(closeChannel(channel));
    await Promise.all(closing);
    this.feed.close();
    this.monitor.close();
  }

  private upsertLink(id: string, url: string | undefined): Link {
    const existing = this.links.get(id);
    if (existing !== undefined) {
      const changed = url !== undefined && existing.url !== url;
      if (url !== undefined) existing.url = url;
      if (changed && this.dialsTo(existing) && existing.channel === undefined)
        this.dialSoon(existing, 0);
      return existing;
    }
    const link: Link = {
      id,
      url,
      status: { type: 'disconnected', reason: 'not connected yet' },
      channel: undefined,
      attempt: 0,
      retryTimer: undefined,
      everConnected: false,
      lastSeenMs: undefined,
      refusal: undefined,
    };
    this.links.set(id, link);
    this.monitor.addPeer(id);
    if (this.dialsTo(link)) this.dial(link);
    return link;
  }

  private removeLink(link: Link): void {
    this.links.delete(link.id);
    clearTimeout(link.retryTimer);
    link.channel?.close('GOING_AWAY', 'removed from the membership');
    link.channel = undefined;
    this.monitor.removePeer(link.id);
  }

  /** The tie-break: of each pair, the node with the lower id dials. */
  private dialsTo(link: Link): boolean {
    return link.url !== undefined && this.nodeId < link.id;
  }

  private setStatus(link: Link, status: PeerStatus): void {
    link.status = status;
    this.feed.publish({ peerId: link.id, status });
  }

  private dialSoon(link: Link, delayMs: number): void {
    clearTimeout(link.retryTimer);
    link.retryTimer = setTimeout(() => {
      link.retryTimer = undefined;
      if (!this.closing && this.links.get(link.id) === link && link.channel === undefined)
        this.dial(link);
    }, delayMs);
    link.retryTimer.unref();
  }

  private dial(link: Link): void {
    const url = link.url;
    if (url === undefined || this.closing) return;
    link.attempt += 1;
    link.refusal = undefined;
    this.setStatus(link, { type: 'connecting', attempt: link.attempt, url });
    const limits = this.options.limits;
    const socket = new WebSocket(url, {
      maxPayload: limits.maxFrameBytes + FRAME_SLACK_BYTES,
      perMessageDeflate: false,
      handshakeTimeout: limits.handshakeTimeoutMs,
      ...this.options.tls,
    });
    socket.once('unexpected-response', (_request, response) => {
      // The server refused the upgrade itself: 401 is a missing or untrusted certificate.
      const status = response.statusCode ?? 0;
      link.refusal =
        status === 401
          ? {
              code: 'UNAUTHORIZED',
              reason: 'the peer refused our TLS client certificate (HTTP 401)',
            }
          : undefined;
      socket.terminate();
    });
    const dialerNonce = newNonce();
    let serverNonce: string | undefined;
    const channel: FrameChannel = new FrameChannel({
      socket,
      limits,
      metrics: this.recorder,
      logger: this.options.logger,
      onFrame: (frame) => {
        if (channel.isEstablished) {
          this.receive(link, channel, frame);
          return;
        }
        serverNonce = this.dialerHandshake(link, channel, { frame, dialerNonce, serverNonce });
      },
      onClose: (event) => {
        this.linkClosed(link, channel, event);
      },
    });
    link.channel = channel;
  }

  /** One handshake step of the dialer; returns the server nonce once the challenge arrived. */
  private dialerHandshake(
    link: Link,
    channel: FrameChannel,
    step: { frame: unknown; dialerNonce: string; serverNonce: string | undefined },
  ): string | undefined {
    const parsed = PeerControlSchema.safeParse(step.frame);
    if (!parsed.success) {
      channel.reportBadFrame('handshake frame matches no schema');
      return step.serverNonce;
    }
    const frame = parsed.data;
    const { clusterId, nodeId, secret } = this.options;
    if (frame.type === 'error') {
      link.refusal = { code: knownCode(frame.code), reason: frame.message };
      return step.serverNonce;
    }
    if (frame.type === 'challenge' && step.serverNonce === undefined) {
      const parts = helloProofParts({
        clusterId,
        nodeId,
        serverNonce: frame.nonce,
        dialerNonce: step.dialerNonce,
      });
      channel.sendControl({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        clusterId,
        nodeId,
        nonce: step.dialerNonce,
        proof: computeProof(secret, parts),
      });
      return frame.nonce;
    }
    if (frame.type === 'welcome' && step.serverNonce !== undefined) {
      const parts = welcomeProofParts({
        clusterId,
        nodeId: frame.nodeId,
        serverNonce: step.serverNonce,
        dialerNonce: step.dialerNonce,
      });
      if (frame.nodeId !== link.id || !proofMatches(secret, parts, frame.proof)) {
        link.refusal = {
          code: 'UNAUTHORIZED',
          reason: `the server at ${link.url ?? '?'} did not prove it is ${link.id}`,
        };
        channel.refuse('UNAUTHORIZED', 'welcome proof or node id is wrong');
        return step.serverNonce;
      }
      this.established(link, channel, 'outbound');
      return step.serverNonce;
    }
    channel.reportBadFrame(`unexpected ${frame.type} frame during the handshake`);
    return step.serverNonce;
  }

  private accept(socket: WebSocket, _request: IncomingMessage): void {
    if (this.closing) {
      socket.close(1001, 'closing');
      return;
    }
    const serverNonce = newNonce();
    let link: Link | undefined;
    const channel: FrameChannel = new FrameChannel({
      socket,
      limits: this.options.limits,
      metrics: this.recorder,
      logger: this.options.logger,
      onFrame: (frame) => {
        if (link !== undefined && channel.isEstablished) this.receive(link, channel, frame);
        else link = this.serverHandshake(channel, frame, serverNonce);
      },
      onClose: (event) => {
        this.inbound.delete(channel);
        if (link !== undefined) this.linkClosed(link, channel, event);
      },
    });
    this.inbound.add(channel);
    channel.sendControl({ type: 'challenge', protocol: PROTOCOL_VERSION, nonce: serverNonce });
  }

  /** Checks a dialer's hello; on success the link is connected and returned. */
  private serverHandshake(
    channel: FrameChannel,
    frame: unknown,
    serverNonce: string,
  ): Link | undefined {
    const parsed = PeerControlSchema.safeParse(frame);
    if (!parsed.success || parsed.data.type !== 'hello') {
      channel.refuse('BAD_FRAME', 'the first frame of a peer must be a valid hello');
      return undefined;
    }
    const hello: PeerHello = parsed.data;
    const { clusterId, nodeId, secret } = this.options;
    if (hello.protocol !== PROTOCOL_VERSION) {
      channel.refuse(
        'BAD_FRAME',
        `protocol ${hello.protocol} is not supported (want ${PROTOCOL_VERSION})`,
      );
      return undefined;
    }
    if (hello.clusterId !== clusterId) {
      channel.refuse(
        'WRONG_CLUSTER',
        `this node belongs to cluster ${JSON.stringify(clusterId)}, not ${JSON.stringify(hello.clusterId)}`,
      );
      return undefined;
    }
    const parts = helloProofParts({
      clusterId,
      nodeId: hello.nodeId,
      serverNonce,
      dialerNonce: hello.nonce,
    });
    if (!proofMatches(secret, parts, hello.proof)) {
      channel.refuse('UNAUTHORIZED', 'the proof of the cluster secret is wrong');
      return undefined;
    }
    if (hello.nodeId === nodeId) {
      channel.refuse('BAD_REQUEST', 'a node cannot peer with itself');
      return undefined;
    }
    const link = this.links.get(hello.nodeId) ?? this.upsertLink(hello.nodeId, undefined);
    const welcome = welcomeProofParts({ clusterId, nodeId, serverNonce, dialerNonce: hello.nonce });
    channel.sendControl({ type: 'welcome', nodeId, proof: computeProof(secret, welcome) });
    this.established(link, channel, 'inbound');
    return link;
  }

  private established(link: Link, channel: FrameChannel, direction: 'inbound' | 'outbound'): void {
    const previous = link.channel;
    link.channel = channel;
    if (previous !== undefined && previous !== channel)
      previous.close('REPLACED', 'a newer connection from this peer replaced this one');
    clearTimeout(link.retryTimer);
    link.retryTimer = undefined;
    channel.markEstablished();
    if (link.everConnected) this.recorder.reconnects += 1;
    link.everConnected = true;
    link.attempt = 0;
    // A fresh detector history: the outage must not inflate the learned heartbeat intervals.
    this.monitor.removePeer(link.id);
    this.monitor.addPeer(link.id, Date.now());
    link.lastSeenMs = Date.now();
    this.setStatus(link, { type: 'connected', direction, sinceMs: Date.now() });
  }

  private receive(link: Link, channel: FrameChannel, frame: unknown): void {
    const now = Date.now();
    link.lastSeenMs = now;
    this.monitor.heartbeat(link.id, now);
    if (!Array.isArray(frame)) {
      const control = PeerControlSchema.safeParse(frame);
      if (!control.success) channel.reportBadFrame('frame matches no peer frame schema');
      else if (control.data.type === 'error')
        this.options.logger.warn({ peer: link.id, code: control.data.code }, control.data.message);
      else if (control.data.type !== 'ping')
        channel.reportBadFrame(`unexpected ${control.data.type} frame`);
      return;
    }
    for (const item of frame) {
      if (channel.isClosed) return;
      const parsed = this.options.schema.safeParse(item);
      if (!parsed.success) {
        channel.reportBadFrame('a message failed the message schema');
        continue;
      }
      const message = parsed.data;
      if (message.from !== link.id || message.to !== this.nodeId) {
        channel.reportBadFrame(
          `a message from ${message.from} to ${message.to} arrived on the link of ${link.id}`,
        );
        continue;
      }
      this.deliver(message);
    }
  }

  private deliver(message: M): void {
    for (const handler of this.handlers) {
      try {
        handler(message);
      } catch (error) {
        this.options.logger.error({ err: error }, 'a peer message handler threw');
      }
    }
  }

  private linkClosed(
    link: Link,
    channel: FrameChannel,
    event: { code: number; reason: string },
  ): void {
    if (link.channel !== channel) return;
    link.channel = undefined;
    if (this.closing || this.links.get(link.id) !== link) return;
    const closeCode = codeOfClose(event.code);
    const refusal =
      link.refusal ??
      (closeCode === 'UNAUTHORIZED' || closeCode === 'WRONG_CLUSTER'
        ? { code: closeCode, reason: event.reason }
        : undefined);
    const dials = this.dialsTo(link);
    const backoff = this.options.backoff;
    // A refused handshake will not heal by itself quickly: wait the longest delay before retrying.
    const retryInMs =
      refusal !== undefined
        ? backoff.reconnectMaxMs
        : backoffDelayMs(backoff, Math.max(0, link.attempt - 1));
    const retry = dials ? { retryInMs } : {};
    if (refusal !== undefined) this.setStatus(link, { type: 'refused', ...refusal, ...retry });
    else this.setStatus(link, { type: 'disconnected', reason: describeClose(event), ...retry });
    if (dials) this.dialSoon(link, retryInMs);
  }
}

function knownCode(code: string): TransportErrorCode {
  return isTransportErrorCode(code) ? code : 'UNAVAILABLE';
}

function describeClose(event: { code: number; reason: string }): string {
  const code = codeOfClose(event.code);
  const text = event.reason === '' ? 'connection closed' : event.reason;
  return code === undefined ? `${text} (close code ${event.code})` : `${code}: ${text}`;
}

async function closeChannel(channel: FrameChannel): Promise<void> {
  channel.close('GOING_AWAY', 'peer transport closing');
  await channel.closed;
}
