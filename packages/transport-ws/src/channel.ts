import type { RawData, WebSocket } from 'ws';
import { batchFrameBytes, decodeFrame, encodeBatch, encodeValue } from './codec.js';
import { CLOSE_CODES, type TransportErrorCode } from './errors.js';
import type { Logger } from './logger.js';
import { REFUSAL_CODES, type MetricsRecorder, type RefusalCode } from './metrics.js';
import { MAX_HANDSHAKE_FRAME_BYTES, type ConnectionLimits } from './options.js';

/** How long a refused or closed socket may linger waiting for the other side's close frame. */
const CLOSE_GRACE_MS = 2_000;
/** The largest array header `encodeBatch` writes. */
const BATCH_HEADER_BYTES_MAX = 5;

export interface FrameChannelOptions {
  readonly socket: WebSocket;
  readonly limits: ConnectionLimits;
  readonly metrics: MetricsRecorder;
  readonly logger: Logger;
  /** Receives every decoded frame: a control object, or an array of data items. */
  readonly onFrame: (frame: unknown) => void;
  /** Runs once, when the socket has closed for whatever reason. */
  readonly onClose: (event: { code: number; reason: string }) => void;
}

/**
 * One WebSocket connection with the rules every connection of this package follows: size
 * limits before decoding, decoding that never throws, a bad-frame policy, a handshake deadline,
 * idle heartbeats and an idle timeout, and an outbound queue that batches all items of one
 * event-loop turn into one frame and is bounded together with `ws.bufferedAmount`.
 *
 * Bad-frame policy: before the handshake completes any bad frame closes the connection; after
 * it, each bad frame is answered with a `BAD_FRAME` error frame and the connection is closed at
 * the `maxBadFrames`-th one. Backpressure policy: when the bytes we hold for a connection (our
 * queue plus the socket's buffer) would exceed `sendQueueBytesMax`, the new item is dropped
 * (drop newest), so what does go out is an in-order prefix and memory stays bounded.
 */
export class FrameChannel {
  private readonly socket: WebSocket;
  private readonly options: FrameChannelOptions;
  private readonly limits: ConnectionLimits;
  private outboundFrameBytesMax: number;
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private flushScheduled = false;
  private established = false;
  private closing = false;
  private closedFlag = false;
  private badFrames = 0;
  private lastSentAtMs = Date.now();
  private lastReceivedAtMs = Date.now();
  private handshakeTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private resolveClosed: () => void = () => undefined;
  /** Settles once the socket has closed. */
  readonly closed: Promise<void> = new Promise<void>((resolve) => {
    this.resolveClosed = resolve;
  });

  constructor(options: FrameChannelOptions) {
    this.options = options;
    this.socket = options.socket;
    this.limits = options.limits;
    this.outboundFrameBytesMax = options.limits.maxFrameBytes;
    this.socket.binaryType = 'nodebuffer';
    this.socket.on('message', (data, isBinary) => {
      this.receive(data, isBinary);
    });
    this.socket.on('close', (code, reason) => {
      this.handleClose(code, reason.toString('utf8'));
    });
    this.socket.on('error', (error) => {
      this.handleError(error);
    });
    this.socket.on('open', () => {
      if (this.queue.length > 0) this.scheduleFlush();
    });
    this.handshakeTimer = setTimeout(() => {
      this.refuse(
        'HANDSHAKE_TIMEOUT',
        `handshake not completed within ${this.limits.handshakeTimeoutMs} ms`,
      );
    }, this.limits.handshakeTimeoutMs);
    this.handshakeTimer.unref();
  }

  get isEstablished(): boolean {
    return this.established && !this.closing;
  }

  get isClosed(): boolean {
    return this.closing || this.closedFlag;
  }

  /** Bytes held for this connection: our queue plus what the socket has not written yet. */
  get bufferedBytes(): number {
    return this.queuedBytes + this.socket.bufferedAmount;
  }

  get lastReceivedAt(): number {
    return this.lastReceivedAtMs;
  }

  /** The handshake completed: lift the handshake frame limit, start heartbeats. */
  markEstablished(): void {
    if (this.established || this.isClosed) return;
    this.established = true;
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    this.options.metrics.connectionsEstablished += 1;
    this.heartbeatTimer = setInterval(() => {
      this.heartbeat();
    }, this.limits.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
  }

  /** Queues one data item for the next batch frame; false when it was dropped (and counted). */
  enqueue(item: unknown): boolean {
    let bytes: Uint8Array;
    try {
      bytes = encodeValue(item);
    } catch (error) {
      this.options.metrics.drop('unencodable');
      this.options.logger.error({ err: error }, 'dropped an item that MessagePack cannot encode');
      return false;
    }
    return this.enqueueEncoded(bytes);
  }

  /**
   * The largest frame this side sends: its own `maxFrameBytes`, or less once the other side
   * announced a smaller limit (a frame over the receiver's limit would close the connection).
   */
  get outboundFrameBytesLimit(): number {
    return this.outboundFrameBytesMax;
  }

  /** Lowers the outbound frame limit to what the other side announced it accepts. */
  limitOutboundFrames(maxFrameBytes: number): void {
    this.outboundFrameBytesMax = Math.min(this.limits.maxFrameBytes, maxFrameBytes);
  }

  /** Queues one already encoded item; false when it was dropped (and counted). */
  enqueueEncoded(bytes: Uint8Array): boolean {
    if (this.isClosed) {
      this.options.metrics.drop('disconnected');
      return false;
    }
    if (bytes.byteLength + BATCH_HEADER_BYTES_MAX > this.outboundFrameBytesMax) {
      this.options.metrics.drop('tooLarge');
      return false;
    }
    if (this.bufferedBytes + bytes.byteLength > this.limits.sendQueueBytesMax) {
      this.options.metrics.drop('backpressure');
      return false;
    }
    this.queue.push(bytes);
    this.queuedBytes += bytes.byteLength;
    this.scheduleFlush();
    return true;
  }

  /** Sends one control frame now, after whatever is queued (so order is kept). */
  sendControl(frame: object): void {
    if (this.closedFlag || this.socket.readyState !== this.socket.OPEN) return;
    this.flush();
    this.write(encodeValue(frame));
  }

  /** Reports a frame that decoded but matched no schema; applies the bad-frame policy. */
  reportBadFrame(reason: string): void {
    if (this.isClosed) return;
    if (!this.established) {
      this.refuse('BAD_FRAME', reason);
      return;
    }
    this.options.metrics.refuse('BAD_FRAME');
    this.badFrames += 1;
    if (this.badFrames >= this.limits.maxBadFrames) {
      this.close('BAD_FRAME', `too many bad frames (${this.badFrames}); last: ${reason}`);
      return;
    }
    this.sendControl({ type: 'error', code: 'BAD_FRAME', message: truncate(reason, 1024) });
  }

  /** Counts a refusal, tells the other side why in an error frame, and closes with its code. */
  refuse(code: TransportErrorCode, reason: string): void {
    if (this.isClosed) return;
    if ((REFUSAL_CODES as readonly string[]).includes(code)) {
      this.options.metrics.refuse(code as RefusalCode);
    }
    this.close(code, reason);
  }

  /** Sends an error frame (unless the code is a normal one) and closes with the code's number. */
  close(code: TransportErrorCode | 'NORMAL' | 'GOING_AWAY', reason: string): void {
    if (this.isClosed) return;
    if (code !== 'NORMAL' && code !== 'GOING_AWAY') {
      this.sendControl({ type: 'error', code, message: truncate(reason, 1024) });
    } else {
      this.flush();
    }
    this.closing = true;
    this.stopTimers();
    this.socket.close(CLOSE_CODES[code], closeReason(reason));
    const grace = setTimeout(() => {
      this.socket.terminate();
    }, CLOSE_GRACE_MS);
    grace.unref();
    this.socket.once('close', () => {
      clearTimeout(grace);
    });
  }

  /** Drops the socket at once (server shutdown of a stuck peer). */
  terminate(): void {
    this.closing = true;
    this.stopTimers();
    this.socket.terminate();
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (this.isClosed) return;
    const bytes = toBytes(data);
    const metrics = this.options.metrics;
    metrics.framesIn += 1;
    metrics.bytesIn += bytes.byteLength;
    this.lastReceivedAtMs = Date.now();
    const limit = this.established ? this.limits.maxFrameBytes : MAX_HANDSHAKE_FRAME_BYTES;
    if (bytes.byteLength > limit) {
      this.refuse(
        'FRAME_TOO_LARGE',
        `frame of ${bytes.byteLength} bytes exceeds the limit of ${limit} bytes`,
      );
      return;
    }
    if (!isBinary) {
      this.reportBadFrame('text frames are not accepted; frames are binary MessagePack');
      return;
    }
    const decoded = decodeFrame(bytes);
    if (!decoded.ok) {
      this.reportBadFrame(`undecodable frame: ${decoded.reason}`);
      return;
    }
    this.options.onFrame(decoded.value);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Writes the queue as batch frames of at most `maxFrameBytes` each. */
  private flush(): void {
    if (this.queue.length === 0 || this.socket.readyState !== this.socket.OPEN) return;
    const queue = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    let batch: Uint8Array[] = [];
    let bytes = 0;
    for (const item of queue) {
      const grown = batchFrameBytes(batch.length + 1, bytes + item.byteLength);
      if (batch.length > 0 && grown > this.outboundFrameBytesMax) {
        this.write(encodeBatch(batch, bytes));
        batch = [];
        bytes = 0;
      }
      batch.push(item);
      bytes += item.byteLength;
    }
    if (batch.length > 0) this.write(encodeBatch(batch, bytes));
  }

  private write(frame: Uint8Array): void {
    this.socket.send(frame, { binary: true });
    this.options.metrics.framesOut += 1;
    this.options.metrics.bytesOut += frame.byteLength;
    this.lastSentAtMs = Date.now();
  }

  /** Pings when we have been quiet for half an interval; closes when the other side is silent. */
  private heartbeat(): void {
    const now = Date.now();
    if (now - this.lastReceivedAtMs > this.limits.idleTimeoutMs) {
      this.refuse('IDLE_TIMEOUT', `nothing received for ${now - this.lastReceivedAtMs} ms`);
      return;
    }
    if (now - this.lastSentAtMs >= this.limits.heartbeatIntervalMs / 2) {
      this.sendControl({ type: 'ping' });
    }
  }

  private handleError(error: Error & { code?: string }): void {
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      // ws refused a frame above its hard cap and is closing with 1009.
      this.options.metrics.refuse('FRAME_TOO_LARGE');
    } else if (error.code?.startsWith('WS_ERR_') === true) {
      this.options.metrics.refuse('BAD_FRAME');
    }
    this.options.logger.debug({ err: error.message, code: error.code }, 'websocket error');
  }

  private handleClose(code: number, reason: string): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.closing = true;
    this.stopTimers();
    if (this.queue.length > 0) this.options.metrics.drop('disconnected', this.queue.length);
    this.queue = [];
    this.queuedBytes = 0;
    this.resolveClosed();
    this.options.onClose({ code, reason });
  }

  private stopTimers(): void {
    clearTimeout(this.handshakeTimer);
    clearInterval(this.heartbeatTimer);
    this.handshakeTimer = undefined;
    this.heartbeatTimer = undefined;
  }
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}

/** Close reasons are limited to 123 bytes of UTF-8; cut by bytes, never mid-character. */
function closeReason(text: string): string {
  let reason = text.slice(0, 120);
  while (Buffer.byteLength(reason) > 120) reason = reason.slice(0, -1);
  return reason;
}

function truncate(text: string, maxLength: number): string {
  return text.length <= maxLength ? text : `${text.slice(0, maxLength - 1)}…`;
}
