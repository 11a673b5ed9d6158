import {
  PHI_ACCRUAL_OPTION_KEYS,
  PhiAccrualFailureDetector,
  resolvePhiAccrualOptions,
} from './detector.js';
import type { PhiAccrualOptions, ResolvedPhiAccrualOptions } from './detector.js';
import { BoundedEventStream, TypedEmitter } from './emitter.js';
import type { EventStream, Listener } from './emitter.js';
import { FailureDetectorError } from './errors.js';
import { booleanOption, integerRule, numberOption, optionsObject } from './validate.js';

/** Peers are named by strings of 1 to 1024 characters (node ids, addresses). */
export type PeerId = string;

/** The largest peer id accepted, in UTF-16 code units. */
export const MAX_PEER_ID_LENGTH = 1024;

/** Options of {@link HeartbeatMonitor}: the detector's options (for every peer) plus its own. */
export interface HeartbeatMonitorOptions extends PhiAccrualOptions {
  /** A suspect peer recovers only once phi is below this (and a heartbeat arrived). Default threshold / 2. */
  readonly recoveryThreshold?: number;
  /** Events each async iterator buffers for a slow reader before dropping the oldest. Default 1024. */
  readonly maxBufferedEvents?: number;
  /** Peers tracked at most; further peers are refused (returned, not thrown). Default 10000. */
  readonly maxPeers?: number;
  /** Whether a heartbeat from an untracked peer adds it. Default true. */
  readonly autoAddPeers?: boolean;
}

/** The monitor's options after defaults were applied and every rule was checked. */
export interface ResolvedHeartbeatMonitorOptions extends ResolvedPhiAccrualOptions {
  readonly recoveryThreshold: number;
  readonly maxBufferedEvents: number;
  readonly maxPeers: number;
  readonly autoAddPeers: boolean;
}

/** A peer's phi rose to the threshold: it is now suspected to have failed. */
export interface SuspectEvent {
  readonly type: 'suspect';
  readonly peerId: PeerId;
  readonly phi: number;
  /** The `nowMs` of the `check()` that decided. */
  readonly atMs: number;
  /** Its latest heartbeat, or null when it never sent one (monitored since `addPeer`). */
  readonly lastHeartbeatMs: number | null;
}

/** A suspect peer sent a heartbeat and its phi fell below `recoveryThreshold`. */
export interface RecoveredEvent {
  readonly type: 'recovered';
  readonly peerId: PeerId;
  readonly phi: number;
  readonly atMs: number;
  readonly lastHeartbeatMs: number;
  /** How long it was suspected: `atMs` minus the suspecting check's `atMs` (never negative). */
  readonly suspectedForMs: number;
}

/** Everything the monitor emits, tagged by `type`. */
export type MonitorEvent = SuspectEvent | RecoveredEvent;
export type MonitorEventType = MonitorEvent['type'];

/**
 * A peer as the monitor sees it. `status` is the verdict of the latest `check()` (`unknown`:
 * no heartbeat yet), `phi` is evaluated at the `nowMs` passed to `snapshot()`.
 */
export type PeerSnapshot =
  | {
      readonly peerId: PeerId;
      readonly status: 'unknown';
      readonly phi: number;
      readonly lastHeartbeatMs: null;
    }
  | {
      readonly peerId: PeerId;
      readonly status: 'alive';
      readonly phi: number;
      readonly lastHeartbeatMs: number;
    }
  | {
      readonly peerId: PeerId;
      readonly status: 'suspect';
      readonly phi: number;
      readonly lastHeartbeatMs: number | null;
      readonly suspectedSinceMs: number;
    };

export type PeerStatus = PeerSnapshot['status'];

/** Why `addPeer` did not add a peer. */
export type AddPeerResult =
  { readonly ok: true } | { readonly ok: false; readonly code: 'PEER_EXISTS' | 'TOO_MANY_PEERS' };

type PeerState =
  | { readonly type: 'unknown' }
  | { readonly type: 'alive' }
  | { readonly type: 'suspect'; readonly sinceMs: number; heartbeatsSince: number };

interface PeerEntry {
  readonly detector: PhiAccrualFailureDetector;
  state: PeerState;
  lastHeartbeatMs: number | null;
}

const MONITOR_OPTION_KEYS: readonly string[] = [
  ...PHI_ACCRUAL_OPTION_KEYS,
  'recoveryThreshold',
  'maxBufferedEvents',
  'maxPeers',
  'autoAddPeers',
];

/** Checks the monitor's options; throws `INVALID_OPTION` naming the option and its rule. */
export function resolveHeartbeatMonitorOptions(
  options?: HeartbeatMonitorOptions,
): ResolvedHeartbeatMonitorOptions {
  const raw = optionsObject(options, 'options', MONITOR_OPTION_KEYS);
  const detector = resolvePhiAccrualOptions(raw);
  const threshold = detector.threshold;
  return {
    ...detector,
    recoveryThreshold: numberOption(raw.recoveryThreshold, threshold / 2, {
      name: 'recoveryThreshold',
      rule: `a finite number greater than 0 and at most threshold (${threshold})`,
      test: (value) => Number.isFinite(value) && value > 0 && value <= threshold,
    }),
    maxBufferedEvents: numberOption(
      raw.maxBufferedEvents,
      1024,
      integerRule('maxBufferedEvents', 1, 1_000_000),
    ),
    maxPeers: numberOption(raw.maxPeers, 10_000, integerRule('maxPeers', 1, 1_000_000)),
    autoAddPeers: booleanOption(raw.autoAddPeers, true, 'autoAddPeers'),
  };
}

/**
 * Watches many peers, each with its own {@link PhiAccrualFailureDetector}, and turns their phi
 * into `suspect` and `recovered` events with hysteresis: a peer is suspected when phi reaches
 * `threshold`, and recovers only when a heartbeat arrived since and phi fell below
 * `recoveryThreshold`, so a peer hovering around the threshold does not flap.
 *
 * It owns no timer: the host feeds `heartbeat(peerId, nowMs)` and calls `check(nowMs)` on its
 * own schedule (or uses `startMonitorClock`). Events go to `on()` listeners and to every
 * async iterator from `events()`.
 */
export class HeartbeatMonitor implements AsyncIterable<MonitorEvent> {
  readonly options: ResolvedHeartbeatMonitorOptions;
  private readonly entries = new Map<PeerId, PeerEntry>();
  private readonly emitter = new TypedEmitter<MonitorEvent>();
  private readonly streams = new Set<BoundedEventStream<MonitorEvent>>();
  private dropped = 0;
  private closed = false;

  constructor(options?: HeartbeatMonitorOptions) {
    this.options = Object.freeze(resolveHeartbeatMonitorOptions(options));
  }

  /** How many peers are tracked. */
  get size(): number {
    return this.entries.size;
  }

  /** Events dropped by all async iterators together because a reader fell behind. */
  get droppedEvents(): number {
    return this.dropped;
  }

  /** The tracked peer ids, in the order they were added. */
  peers(): PeerId[] {
    return [...this.entries.keys()];
  }

  has(peerId: PeerId): boolean {
    return this.entries.has(peerId);
  }

  /**
   * Starts tracking `peerId`. Without `nowMs` the peer stays `unknown` (phi 0) until its first
   * heartbeat, as Akka treats unmonitored peers. With `nowMs` monitoring starts then, as though
   * a heartbeat had arrived, so a peer that never speaks is suspected.
   */
  addPeer(peerId: PeerId, nowMs?: number): AddPeerResult {
    checkPeerId(peerId);
    if (this.entries.has(peerId)) return { ok: false, code: 'PEER_EXISTS' };
    if (this.entries.size >= this.options.maxPeers) return { ok: false, code: 'TOO_MANY_PEERS' };
    const detector = new PhiAccrualFailureDetector(this.detectorOptions());
    if (nowMs !== undefined) detector.heartbeat(nowMs);
    this.entries.set(peerId, { detector, state: { type: 'unknown' }, lastHeartbeatMs: null });
    return { ok: true };
  }

  /** Stops tracking `peerId` (no event is emitted); false when it was not tracked. */
  removePeer(peerId: PeerId): boolean {
    return this.entries.delete(peerId);
  }

  /**
   * Records a heartbeat from `peerId` at `nowMs`. Returns false when it was ignored: the peer is
   * untracked and `autoAddPeers` is off or `maxPeers` is reached, or `nowMs` is not finite.
   */
  heartbeat(peerId: PeerId, nowMs: number): boolean {
    checkPeerId(peerId);
    if (!Number.isFinite(nowMs)) return false;
    let entry = this.entries.get(peerId);
    if (entry === undefined) {
      if (!this.options.autoAddPeers || !this.addPeer(peerId).ok) return false;
      entry = this.entries.get(peerId);
      if (entry === undefined) return false;
    }
    entry.detector.heartbeat(nowMs);
    entry.lastHeartbeatMs = nowMs;
    const state = entry.state;
    switch (state.type) {
      case 'unknown':
        entry.state = { type: 'alive' };
        break;
      case 'suspect':
        state.heartbeatsSince += 1;
        break;
      case 'alive':
        break;
    }
    return true;
  }

  /** The phi of `peerId` at `nowMs`, or undefined when it is not tracked. */
  phi(peerId: PeerId, nowMs: number): number | undefined {
    return this.entries.get(peerId)?.detector.phi(nowMs);
  }

  /**
   * Evaluates every peer at `nowMs`, updates its status and emits the resulting events, which it
   * also returns. A `nowMs` that is not finite changes nothing. When listeners throw, every
   * listener and iterator still received every event, then `LISTENER_FAILED` is thrown.
   */
  check(nowMs: number): readonly MonitorEvent[] {
    if (!Number.isFinite(nowMs)) return [];
    const events: MonitorEvent[] = [];
    for (const [peerId, entry] of this.entries) {
      const event = this.evaluate(peerId, entry, nowMs);
      if (event !== undefined) events.push(event);
    }
    if (events.length > 0) this.publish(events);
    return events;
  }

  /** Every peer's status and phi at `nowMs`, in the order peers were added. */
  snapshot(nowMs: number): PeerSnapshot[] {
    const result: PeerSnapshot[] = [];
    for (const peerId of this.entries.keys()) {
      const peer = this.peer(peerId, nowMs);
      if (peer !== undefined) result.push(peer);
    }
    return result;
  }

  /** One peer's status and phi at `nowMs`, or undefined when it is not tracked. */
  peer(peerId: PeerId, nowMs: number): PeerSnapshot | undefined {
    const entry = this.entries.get(peerId);
    if (entry === undefined) return undefined;
    const phi = entry.detector.phi(nowMs);
    const state = entry.state;
    const lastHeartbeatMs = entry.lastHeartbeatMs;
    switch (state.type) {
      case 'unknown':
        return { peerId, status: 'unknown', phi, lastHeartbeatMs: null };
      case 'alive':
        // Only a heartbeat makes a peer alive, so lastHeartbeatMs is set; the guard keeps the
        // type honest without an assertion.
        return lastHeartbeatMs === null
          ? { peerId, status: 'unknown', phi, lastHeartbeatMs }
          : { peerId, status: 'alive', phi, lastHeartbeatMs };
      case 'suspect':
        return { peerId, status: 'suspect', phi, lastHeartbeatMs, suspectedSinceMs: state.sinceMs };
    }
  }

  /** Subscribes to one event type; returns the function that unsubscribes. */
  on<K extends MonitorEventType>(type: K, listener: Listener<MonitorEvent, K>): () => void {
    if (type !== 'suspect' && type !== 'recovered') {
      throw new FailureDetectorError(
        'INVALID_ARGUMENT',
        `event type must be 'suspect' or 'recovered' (got ${String(type)})`,
      );
    }
    return this.emitter.on(type, listener);
  }

  /**
   * An async iterator of the events emitted from now on. Each iterator has its own buffer of
   * `maxBufferedEvents`; when its reader falls behind the oldest event is dropped and counted.
   * It ends when `signal` aborts, when the loop breaks, or after `close()` once drained.
   */
  events(signal?: AbortSignal): EventStream<MonitorEvent> {
    const stream: BoundedEventStream<MonitorEvent> = new BoundedEventStream<MonitorEvent>({
      maxBufferedEvents: this.options.maxBufferedEvents,
      signal,
      onClose: () => this.streams.delete(stream),
      onDrop: () => {
        this.dropped += 1;
      },
    });
    if (this.closed) stream.end();
    else if (!stream.isClosed) this.streams.add(stream);
    return stream;
  }

  [Symbol.asyncIterator](): EventStream<MonitorEvent> {
    return this.events();
  }

  /** Ends every iterator (after it drained) and drops every listener; peers stay readable. */
  close(): void {
    this.closed = true;
    for (const stream of [...this.streams]) stream.end();
    this.streams.clear();
    this.emitter.clear();
  }

  private detectorOptions(): PhiAccrualOptions {
    const { threshold, maxSampleSize, minStdDeviationMs } = this.options;
    const { acceptableHeartbeatPauseMs, firstHeartbeatEstimateMs } = this.options;
    return {
      threshold,
      maxSampleSize,
      minStdDeviationMs,
      acceptableHeartbeatPauseMs,
      firstHeartbeatEstimateMs,
    };
  }

  /** Decides one peer's transition at `nowMs`; returns the event it causes, if any. */
  private evaluate(peerId: PeerId, entry: PeerEntry, nowMs: number): MonitorEvent | undefined {
    const state = entry.state;
    if (state.type !== 'suspect') {
      if (!entry.detector.isMonitoring) return undefined;
      const phi = entry.detector.phi(nowMs);
      if (phi < this.options.threshold) return undefined;
      entry.state = { type: 'suspect', sinceMs: nowMs, heartbeatsSince: 0 };
      return { type: 'suspect', peerId, phi, atMs: nowMs, lastHeartbeatMs: entry.lastHeartbeatMs };
    }
    // Hysteresis: a clock that jumps back or a check right after the suspicion can lower phi
    // without any sign of life, so recovery also needs a heartbeat since the suspicion.
    if (state.heartbeatsSince === 0 || entry.lastHeartbeatMs === null) return undefined;
    const phi = entry.detector.phi(nowMs);
    if (phi >= this.options.recoveryThreshold) return undefined;
    entry.state = { type: 'alive' };
    return {
      type: 'recovered',
      peerId,
      phi,
      atMs: nowMs,
      lastHeartbeatMs: entry.lastHeartbeatMs,
      suspectedForMs: Math.max(0, nowMs - state.sinceMs),
    };
  }

  private publish(events: readonly MonitorEvent[]): void {
    const errors: unknown[] = [];
    for (const event of events) {
      for (const stream of this.streams) stream.push(event);
      errors.push(...this.emitter.emit(event));
    }
    if (errors.length === 0) return;
    throw new FailureDetectorError(
      'LISTENER_FAILED',
      `${errors.length} monitor event listener call(s) threw; the monitor state is up to date`,
      { cause: errors.length === 1 ? errors[0] : new AggregateError(errors) },
    );
  }
}

function checkPeerId(peerId: unknown): asserts peerId is PeerId {
  if (typeof peerId !== 'string' || peerId.length === 0 || peerId.length > MAX_PEER_ID_LENGTH) {
    throw new FailureDetectorError(
      'INVALID_ARGUMENT',
      `peerId must be a string of 1 to ${MAX_PEER_ID_LENGTH} characters (got ${
        typeof peerId === 'string' ? `a string of length ${peerId.length}` : typeof peerId
      })`,
    );
  }
}
