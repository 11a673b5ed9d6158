import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { FrameChannel } from './channel.js';
import { encodeValue } from './codec.js';
import type { Logger } from './logger.js';
import {
  ClientControlSchema,
  ClientRequestSchema,
  PROTOCOL_VERSION,
  RequestEnvelopeSchema,
  type ClientRequest,
  type HandlerResponse,
  type ResponseError,
} from './messages.js';
import type { MetricsRecorder } from './metrics.js';
import type { ConnectionLimits } from './options.js';

/** What the application's request handler sees of the connection a request came from. */
export interface ClientSession {
  /** Unique per connection. */
  readonly id: string;
  /** The stable id the client announced in its hello (the same across its reconnections). */
  readonly clientId: string;
  readonly remoteAddress: string | undefined;
  /** Topics this session is subscribed to. */
  readonly subscriptions: ReadonlySet<string>;
  /** Sends one push frame to this session; false when it was dropped (backpressure, closed). */
  push(topic: string, payload: unknown): boolean;
}

/**
 * The application's side of the client protocol: one call per validated request. For
 * `subscribe` and `unsubscribe` an `ok` answer makes the transport start or stop delivering the
 * topic's pushes to the session. Returning `{ ok: false, error: { code: 'NOT_LEADER', leaderUrl } }`
 * sends the client to the leader; `UNAVAILABLE` makes it retry later.
 */
export type RequestHandler = (
  request: ClientRequest,
  session: ClientSession,
) => Promise<HandlerResponse> | HandlerResponse;

export interface SessionSettings {
  readonly handler: RequestHandler;
  readonly authTokenDigest: Buffer | undefined;
  readonly nodeId: string | undefined;
  readonly maxInFlightPerSession: number;
  readonly maxSubscriptionsPerSession: number;
  readonly limits: ConnectionLimits;
  readonly metrics: MetricsRecorder;
  readonly logger: Logger;
  /** Keeps the server's topic index in step with this session's subscriptions. */
  readonly onSubscriptionChange: (
    session: ServerSession,
    change: { topic: string; subscribed: boolean },
  ) => void;
  readonly onClose: (session: ServerSession) => void;
}

export function digestToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** One `/client` connection on the server: hello, then requests answered by the handler. */
export class ServerSession implements ClientSession {
  readonly id: string = randomUUID();
  readonly remoteAddress: string | undefined;
  readonly channel: FrameChannel;
  private readonly settings: SessionSettings;
  private readonly topics = new Set<string>();
  private clientIdValue = '';
  private inFlight = 0;

  constructor(socket: WebSocket, request: IncomingMessage, settings: SessionSettings) {
    this.settings = settings;
    this.remoteAddress = request.socket.remoteAddress;
    this.channel = new FrameChannel({
      socket,
      limits: settings.limits,
      metrics: settings.metrics,
      logger: settings.logger,
      onFrame: (frame) => {
        this.handleFrame(frame);
      },
      onClose: () => {
        settings.onClose(this);
      },
    });
  }

  get clientId(): string {
    return this.clientIdValue;
  }

  get subscriptions(): ReadonlySet<string> {
    return this.topics;
  }

  push(topic: string, payload: unknown): boolean {
    if (!this.channel.isEstablished) return false;
    return this.channel.enqueue({ type: 'push', topic, payload });
  }

  /** Sends an already encoded push item (one encoding shared by every subscriber). */
  pushEncoded(bytes: Uint8Array): boolean {
    if (!this.channel.isEstablished) return false;
    return this.channel.enqueueEncoded(bytes);
  }

  private handleFrame(frame: unknown): void {
    if (Array.isArray(frame)) {
      if (!this.channel.isEstablished) {
        this.channel.reportBadFrame('data frame before hello');
        return;
      }
      for (const item of frame) this.handleItem(item);
      return;
    }
    const control = ClientControlSchema.safeParse(frame);
    if (!control.success) {
      this.channel.reportBadFrame('frame matches no client frame schema');
      return;
    }
    if (!this.channel.isEstablished && control.data.type !== 'hello') {
      this.channel.reportBadFrame(`a session starts with hello, not ${control.data.type}`);
      return;
    }
    switch (control.data.type) {
      case 'hello':
        this.handleHello(control.data);
        return;
      case 'ping':
        return;
      case 'error':
        this.settings.logger.debug({ code: control.data.code }, control.data.message);
        return;
      case 'welcome':
        this.channel.reportBadFrame('a client does not send welcome');
        return;
    }
  }

  private handleHello(hello: {
    protocol: number;
    clientId: string;
    token?: string | undefined;
  }): void {
    if (this.channel.isEstablished) {
      this.channel.reportBadFrame('hello on an established session');
      return;
    }
    if (hello.protocol !== PROTOCOL_VERSION) {
      this.channel.refuse(
        'BAD_FRAME',
        `protocol ${hello.protocol} is not supported (want ${PROTOCOL_VERSION})`,
      );
      return;
    }
    const expected = this.settings.authTokenDigest;
    if (expected !== undefined) {
      // Comparing fixed-length digests keeps the comparison constant-time whatever the lengths.
      const given = digestToken(hello.token ?? '');
      if (hello.token === undefined || !timingSafeEqual(given, expected)) {
        this.channel.refuse('UNAUTHORIZED', 'missing or wrong client token');
        return;
      }
    }
    this.clientIdValue = hello.clientId;
    this.channel.markEstablished();
    const nodeId = this.settings.nodeId;
    this.channel.sendControl({
      type: 'welcome',
      sessionId: this.id,
      maxFrameBytes: this.settings.limits.maxFrameBytes,
      ...(nodeId === undefined ? {} : { nodeId }),
    });
  }

  private handleItem(item: unknown): void {
    const envelope = RequestEnvelopeSchema.safeParse(item);
    if (!envelope.success) {
      this.channel.reportBadFrame('item is not a request with a numeric id');
      return;
    }
    const id = envelope.data.id;
    const parsed = ClientRequestSchema.safeParse(item);
    if (!parsed.success) {
      this.badRequest(id, describeIssues(parsed.error.issues));
      return;
    }
    if (parsed.data.clientId !== this.clientIdValue) {
      this.badRequest(id, 'clientId differs from the one announced in hello');
      return;
    }
    if (this.inFlight >= this.settings.maxInFlightPerSession) {
      this.settings.metrics.refuse('OVERLOADED');
      this.respond(
        id,
        overloaded(`more than ${this.settings.maxInFlightPerSession} requests in flight`),
      );
      return;
    }
    void this.run(parsed.data);
  }

  private badRequest(id: number, message: string): void {
    this.settings.metrics.refuse('BAD_REQUEST');
    this.respond(id, { ok: false, error: { code: 'BAD_REQUEST', message } });
  }

  private async run(request: ClientRequest): Promise<void> {
    this.inFlight += 1;
    let response: HandlerResponse;
    try {
      response = await this.settings.handler(request, this);
    } catch (error) {
      this.settings.logger.error({ err: error, service: request.service }, 'request handler threw');
      response = { ok: false, error: { code: 'INTERNAL', message: 'the request handler failed' } };
    } finally {
      this.inFlight -= 1;
    }
    if (response.ok && (request.kind === 'subscribe' || request.kind === 'unsubscribe')) {
      response = this.applySubscription(request.kind, request.payload.topic, response);
    }
    this.respond(request.id, response);
  }

  private applySubscription(
    kind: 'subscribe' | 'unsubscribe',
    topic: string,
    response: HandlerResponse,
  ): HandlerResponse {
    if (kind === 'unsubscribe') {
      if (this.topics.delete(topic))
        this.settings.onSubscriptionChange(this, { topic, subscribed: false });
      return response;
    }
    if (this.topics.has(topic)) return response;
    if (this.topics.size >= this.settings.maxSubscriptionsPerSession) {
      this.settings.metrics.refuse('OVERLOADED');
      return overloaded(`more than ${this.settings.maxSubscriptionsPerSession} subscriptions`);
    }
    this.topics.add(topic);
    this.settings.onSubscriptionChange(this, { topic, subscribed: true });
    return response;
  }

  private respond(id: number, response: HandlerResponse): void {
    if (this.channel.isClosed) return;
    let bytes: Uint8Array;
    try {
      bytes = encodeValue({ type: 'response', id, ...response });
    } catch (error) {
      this.settings.logger.error({ err: error }, 'a response value cannot be encoded');
      bytes = encodeValue({
        type: 'response',
        id,
        ok: false,
        error: internal('the response cannot be encoded'),
      });
    }
    if (bytes.byteLength + 5 > this.settings.limits.maxFrameBytes) {
      bytes = encodeValue({
        type: 'response',
        id,
        ok: false,
        error: {
          code: 'FRAME_TOO_LARGE',
          message: `the response (${bytes.byteLength} bytes) exceeds maxFrameBytes`,
        },
      });
    }
    this.channel.enqueueEncoded(bytes);
  }
}

function overloaded(message: string): HandlerResponse {
  return { ok: false, error: { code: 'OVERLOADED', message } };
}

function internal(message: string): ResponseError {
  return { code: 'INTERNAL', message };
}

function describeIssues(
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
): string {
  const text = issues
    .slice(0, 4)
    .map((issue) => `${issue.path.map(String).join('.') || '(frame)'}: ${issue.message}`)
    .join('; ');
  return text.slice(0, 1024);
}
