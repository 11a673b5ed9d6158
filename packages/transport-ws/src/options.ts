import { invalidOption, TransportError } from './errors.js';

/** The largest duration any option may take: 2^31 - 1 ms, the largest delay Node timers accept. */
export const MAX_DURATION_MS = 2_147_483_647;

/** 4 MiB: large enough for a Raft snapshot chunk or a batch of entries, small enough to bound memory. */
export const DEFAULT_MAX_FRAME_BYTES: number = 4 * 1024 * 1024;
/** Per connection, what may wait in our queue plus the socket's buffer before messages are dropped. */
export const DEFAULT_SEND_QUEUE_BYTES_MAX: number = 8 * 1024 * 1024;
export const DEFAULT_MAX_CONNECTIONS = 1024;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 15_000;
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 1_000;
/** Undecodable frames tolerated on one established connection before it is closed. */
export const DEFAULT_MAX_BAD_FRAMES = 8;
/**
 * ws refuses frames above `maxFrameBytes + FRAME_SLACK_BYTES` by itself (close 1009) before it
 * buffers them; frames between the two limits reach our own check, which answers with a
 * `FRAME_TOO_LARGE` error frame first. The slack bounds what ws buffers for a refused frame.
 */
export const FRAME_SLACK_BYTES: number = 64 * 1024;
/** Before a connection is authenticated, no frame may exceed this many bytes. */
export const MAX_HANDSHAKE_FRAME_BYTES: number = 16 * 1024;

/** Limits every connection obeys, on both ends. */
export interface ConnectionLimitOptions {
  /** Largest frame accepted or sent, in bytes. Default 4 MiB. */
  readonly maxFrameBytes?: number;
  /** Bytes queued by us plus `ws.bufferedAmount` above which new messages are dropped. Default 8 MiB. */
  readonly sendQueueBytesMax?: number;
  /** Time to complete the handshake after the WebSocket opens. Default 5 s. */
  readonly handshakeTimeoutMs?: number;
  /** A connection that receives nothing for this long is closed. Default 15 s. */
  readonly idleTimeoutMs?: number;
  /** A connection that sent nothing for this long sends a ping frame. Default 1 s. */
  readonly heartbeatIntervalMs?: number;
  /** Undecodable frames tolerated on an established connection before it is closed. Default 8. */
  readonly maxBadFrames?: number;
}

export type ConnectionLimits = Required<ConnectionLimitOptions>;

interface NumberRule {
  readonly name: string;
  readonly min: number;
  readonly max: number;
}

/** Returns `value` when it obeys the rule, `fallback` when undefined, and throws otherwise. */
function numberOption(
  value: unknown,
  fallback: number,
  rule: NumberRule & { readonly integer: boolean },
): number {
  if (value === undefined) return fallback;
  const shaped =
    typeof value === 'number' && (rule.integer ? Number.isInteger(value) : Number.isFinite(value));
  if (!shaped || value < rule.min || value > rule.max) {
    const kind = rule.integer ? 'an integer' : 'a number';
    throw invalidOption(rule.name, `${kind} from ${rule.min} to ${rule.max}`, value);
  }
  return value;
}

/** An integer in [min, max], or `fallback` when undefined. */
export function integerOption(value: unknown, fallback: number, rule: NumberRule): number {
  return numberOption(value, fallback, { ...rule, integer: true });
}

/** A ratio in [min, max], for jitter, or `fallback` when undefined. */
export function ratioOption(value: unknown, fallback: number, rule: NumberRule): number {
  return numberOption(value, fallback, { ...rule, integer: false });
}

export function stringOption(
  value: unknown,
  name: string,
  rule: { minLength: number; maxLength: number },
): string {
  if (typeof value !== 'string' || value.length < rule.minLength || value.length > rule.maxLength) {
    throw invalidOption(
      name,
      `a string of ${rule.minLength} to ${rule.maxLength} characters`,
      value,
    );
  }
  return value;
}

/** Validates the shared connection limits and the relations between them. */
export function resolveConnectionLimits(
  options: ConnectionLimitOptions,
  scope: string,
): ConnectionLimits {
  const limits: ConnectionLimits = {
    maxFrameBytes: integerOption(options.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES, {
      name: `${scope}.maxFrameBytes`,
      min: 1024,
      max: 256 * 1024 * 1024,
    }),
    sendQueueBytesMax: integerOption(options.sendQueueBytesMax, DEFAULT_SEND_QUEUE_BYTES_MAX, {
      name: `${scope}.sendQueueBytesMax`,
      min: 1024,
      max: 2 ** 32,
    }),
    handshakeTimeoutMs: durationOption(
      options.handshakeTimeoutMs,
      DEFAULT_HANDSHAKE_TIMEOUT_MS,
      `${scope}.handshakeTimeoutMs`,
    ),
    idleTimeoutMs: durationOption(
      options.idleTimeoutMs,
      DEFAULT_IDLE_TIMEOUT_MS,
      `${scope}.idleTimeoutMs`,
    ),
    heartbeatIntervalMs: durationOption(
      options.heartbeatIntervalMs,
      DEFAULT_HEARTBEAT_INTERVAL_MS,
      `${scope}.heartbeatIntervalMs`,
    ),
    maxBadFrames: integerOption(options.maxBadFrames, DEFAULT_MAX_BAD_FRAMES, {
      name: `${scope}.maxBadFrames`,
      min: 1,
      max: 1_000_000,
    }),
  };
  if (limits.sendQueueBytesMax < limits.maxFrameBytes) {
    throw new TransportError(
      'INVALID_OPTION',
      `${scope}.sendQueueBytesMax (${limits.sendQueueBytesMax}) must be at least ${scope}.maxFrameBytes (${limits.maxFrameBytes}), or a largest frame could never be sent`,
    );
  }
  if (limits.heartbeatIntervalMs >= limits.idleTimeoutMs) {
    throw new TransportError(
      'INVALID_OPTION',
      `${scope}.heartbeatIntervalMs (${limits.heartbeatIntervalMs}) must be less than ${scope}.idleTimeoutMs (${limits.idleTimeoutMs}), or idle connections would be closed between heartbeats`,
    );
  }
  return limits;
}

/** A duration in milliseconds: an integer from 1 to 2^31 - 1. */
export function durationOption(value: unknown, fallback: number, name: string): number {
  return integerOption(value, fallback, { name, min: 1, max: MAX_DURATION_MS });
}

/** Reconnection backoff: `initial * 2^attempt`, capped at `max`, with +-`jitterRatio` spread. */
export interface BackoffOptions {
  /** First delay, in ms. Default 100. */
  readonly reconnectInitialMs?: number;
  /** Largest delay, in ms. Default 5000. */
  readonly reconnectMaxMs?: number;
  /** Spread of each delay as a ratio: 0.5 means a delay lands in [0.5d, 1.5d]. Default 0.5. */
  readonly reconnectJitterRatio?: number;
}

export type Backoff = Required<BackoffOptions>;

export function resolveBackoff(options: BackoffOptions, scope: string): Backoff {
  const backoff: Backoff = {
    reconnectInitialMs: durationOption(
      options.reconnectInitialMs,
      100,
      `${scope}.reconnectInitialMs`,
    ),
    reconnectMaxMs: durationOption(options.reconnectMaxMs, 5_000, `${scope}.reconnectMaxMs`),
    reconnectJitterRatio: ratioOption(options.reconnectJitterRatio, 0.5, {
      name: `${scope}.reconnectJitterRatio`,
      min: 0,
      max: 1,
    }),
  };
  if (backoff.reconnectMaxMs < backoff.reconnectInitialMs) {
    throw new TransportError(
      'INVALID_OPTION',
      `${scope}.reconnectMaxMs (${backoff.reconnectMaxMs}) must be at least ${scope}.reconnectInitialMs (${backoff.reconnectInitialMs})`,
    );
  }
  return backoff;
}

/** The delay before reconnection attempt `attempt` (0-based), jittered so peers do not stampede. */
export function backoffDelayMs(backoff: Backoff, attempt: number): number {
  const exponent = Math.min(attempt, 30);
  const base = Math.min(backoff.reconnectMaxMs, backoff.reconnectInitialMs * 2 ** exponent);
  const spread = base * backoff.reconnectJitterRatio;
  const jittered = base - spread + Math.random() * 2 * spread;
  return Math.max(1, Math.min(backoff.reconnectMaxMs, Math.round(jittered)));
}
