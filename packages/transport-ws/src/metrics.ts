import type { TransportErrorCode } from './errors.js';

/** The codes a refused connection or frame is counted under. */
export type RefusalCode = Extract<
  TransportErrorCode,
  | 'FRAME_TOO_LARGE'
  | 'BAD_FRAME'
  | 'BAD_REQUEST'
  | 'UNAUTHORIZED'
  | 'WRONG_CLUSTER'
  | 'HANDSHAKE_TIMEOUT'
  | 'IDLE_TIMEOUT'
  | 'TOO_MANY_CONNECTIONS'
  | 'OVERLOADED'
>;

export const REFUSAL_CODES: readonly RefusalCode[] = [
  'FRAME_TOO_LARGE',
  'BAD_FRAME',
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'WRONG_CLUSTER',
  'HANDSHAKE_TIMEOUT',
  'IDLE_TIMEOUT',
  'TOO_MANY_CONNECTIONS',
  'OVERLOADED',
];

/** Why an outbound message was dropped instead of sent. */
export type DropReason = 'backpressure' | 'disconnected' | 'tooLarge' | 'unencodable';

/** A point-in-time copy of a server's, peer transport's or client's counters. */
export interface TransportMetrics {
  /** Open WebSocket connections right now. */
  readonly connectionsOpen: number;
  /** Connections that completed their handshake, since start. */
  readonly connectionsEstablished: number;
  /** Established connections after the first one to the same peer or endpoint. */
  readonly reconnects: number;
  readonly framesIn: number;
  readonly framesOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Refused frames and connections by code; every code is present, zero when none. */
  readonly refusals: Readonly<Record<RefusalCode, number>>;
  /** Outbound messages dropped, by reason; every reason is present. */
  readonly drops: Readonly<Record<DropReason, number>>;
}

/** The mutable counters behind a `TransportMetrics` snapshot. */
export class MetricsRecorder {
  connectionsOpen = 0;
  connectionsEstablished = 0;
  reconnects = 0;
  framesIn = 0;
  framesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  private readonly refusals = new Map<RefusalCode, number>();
  private readonly drops = new Map<DropReason, number>();

  refuse(code: RefusalCode): void {
    this.refusals.set(code, (this.refusals.get(code) ?? 0) + 1);
  }

  drop(reason: DropReason, count = 1): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + count);
  }

  snapshot(): TransportMetrics {
    const refusals = Object.fromEntries(
      REFUSAL_CODES.map((code) => [code, this.refusals.get(code) ?? 0]),
    ) as Record<RefusalCode, number>;
    const reasons: DropReason[] = ['backpressure', 'disconnected', 'tooLarge', 'unencodable'];
    const drops = Object.fromEntries(
      reasons.map((reason) => [reason, this.drops.get(reason) ?? 0]),
    ) as Record<DropReason, number>;
    return {
      connectionsOpen: this.connectionsOpen,
      connectionsEstablished: this.connectionsEstablished,
      reconnects: this.reconnects,
      framesIn: this.framesIn,
      framesOut: this.framesOut,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      refusals,
      drops,
    };
  }
}
