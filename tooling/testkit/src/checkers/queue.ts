// The total-queue checker (after Jepsen's total-queue) and a per-key order checker for an
// at-least-once queue. Every acknowledged send must be delivered (the campaign ends with a
// drain, so "never delivered" means lost); nothing may be delivered that was never sent; a
// message may come again only while it is unacknowledged (lease expired, nack, ack unknown),
// never after an acknowledgment of it returned.
import type { Outcome } from './mutex.js';

export interface SendOp {
  readonly id: number;
  readonly process: number;
  readonly messageId: string;
  /** The ordering key; per-key order is checked among messages with the same key. */
  readonly key?: string;
  readonly callMs: number;
  /** Infinity when the outcome is unknown. */
  readonly returnMs: number;
  readonly outcome: Outcome;
}

export interface ReceiveOp {
  readonly id: number;
  readonly process: number;
  readonly callMs: number;
  readonly returnMs: number;
  readonly outcome: Outcome;
  readonly messageIds: readonly string[];
  /**
   * The queue's delivery count of each message, in the order of `messageIds`, when the queue
   * reports it: a first observed delivery with a count above 1 had an earlier one nobody saw.
   */
  readonly deliveryCounts?: readonly number[];
}

export interface AckOp {
  readonly id: number;
  readonly process: number;
  readonly messageId: string;
  readonly callMs: number;
  readonly returnMs: number;
  readonly outcome: Outcome;
}

export interface QueueHistory {
  readonly sends: readonly SendOp[];
  readonly receives: readonly ReceiveOp[];
  readonly acks: readonly AckOp[];
}

export interface QueueAnomaly {
  readonly kind: 'lost' | 'unexpected' | 'duplicated';
  readonly messageId: string;
  readonly reason: string;
  /** The operations that show it. */
  readonly window: readonly (SendOp | ReceiveOp | AckOp)[];
}

export interface QueueVerdict {
  readonly valid: boolean;
  readonly sent: { readonly ok: number; readonly unknown: number; readonly fail: number };
  readonly delivered: number;
  /** Deliveries after the first of a message that was not yet acknowledged: allowed. */
  readonly redelivered: number;
  /** Sends with an unknown outcome that were delivered anyway: allowed. */
  readonly recovered: number;
  /** Sends with an unknown outcome never delivered: allowed (they may never have happened). */
  readonly indeterminateNeverDelivered: number;
  readonly anomalies: readonly QueueAnomaly[];
}

function deliveriesById(history: QueueHistory): Map<string, ReceiveOp[]> {
  const deliveries = new Map<string, ReceiveOp[]>();
  for (const receive of history.receives) {
    if (receive.outcome !== 'ok') continue;
    for (const messageId of receive.messageIds) {
      const list = deliveries.get(messageId);
      if (list === undefined) deliveries.set(messageId, [receive]);
      else list.push(receive);
    }
  }
  for (const list of deliveries.values()) list.sort((a, b) => a.callMs - b.callMs);
  return deliveries;
}

function duplicates(history: QueueHistory, deliveries: Map<string, ReceiveOp[]>): QueueAnomaly[] {
  const anomalies: QueueAnomaly[] = [];
  for (const ack of history.acks) {
    if (ack.outcome !== 'ok') continue;
    const again = deliveries.get(ack.messageId)?.find((receive) => receive.callMs > ack.returnMs);
    if (again === undefined) continue;
    anomalies.push({
      kind: 'duplicated',
      messageId: ack.messageId,
      reason:
        `delivered again to process ${again.process} at ${again.returnMs.toFixed(1)} ms after ` +
        `its ack by process ${ack.process} returned at ${ack.returnMs.toFixed(1)} ms`,
      window: [ack, again],
    });
  }
  return anomalies;
}

/** Checks lost, unexpected and duplicated messages over the whole history (drain included). */
export function checkTotalQueue(history: QueueHistory): QueueVerdict {
  const deliveries = deliveriesById(history);
  const sendsById = new Map(history.sends.map((send) => [send.messageId, send]));
  const anomalies: QueueAnomaly[] = [];
  let recovered = 0;
  let indeterminate = 0;
  for (const send of history.sends) {
    const delivered = deliveries.get(send.messageId);
    if (send.outcome === 'ok' && delivered === undefined) {
      anomalies.push({
        kind: 'lost',
        messageId: send.messageId,
        reason: `send acknowledged at ${send.returnMs.toFixed(1)} ms, never delivered (final drain included)`,
        window: [send],
      });
    }
    if (send.outcome === 'unknown') {
      if (delivered === undefined) indeterminate += 1;
      else recovered += 1;
    }
    if (send.outcome === 'fail' && delivered !== undefined) {
      anomalies.push({
        kind: 'unexpected',
        messageId: send.messageId,
        reason: 'delivered although its send failed with a definite error',
        window: [send, ...delivered.slice(0, 1)],
      });
    }
  }
  let deliveredCount = 0;
  let redelivered = 0;
  for (const [messageId, receives] of deliveries) {
    deliveredCount += 1;
    redelivered += receives.length - 1;
    const send = sendsById.get(messageId);
    const first = receives[0];
    if (first !== undefined && (send === undefined || first.returnMs < send.callMs)) {
      anomalies.push({
        kind: 'unexpected',
        messageId,
        reason: send === undefined ? 'delivered but never sent' : 'delivered before it was sent',
        window: send === undefined ? [first] : [first, send],
      });
    }
  }
  anomalies.push(...duplicates(history, deliveries));
  const count = (outcome: Outcome) =>
    history.sends.filter((send) => send.outcome === outcome).length;
  return {
    valid: anomalies.length === 0,
    sent: { ok: count('ok'), unknown: count('unknown'), fail: count('fail') },
    delivered: deliveredCount,
    redelivered,
    recovered,
    indeterminateNeverDelivered: indeterminate,
    anomalies,
  };
}

export interface OrderViolation {
  readonly key: string;
  /** The delivery count of the earlier message's first observed delivery (1: never leased before). */
  readonly earlierFirstDeliveryCount?: number;
  readonly reason: string;
  /** The two sends and the first deliveries that came out of order. */
  readonly window: readonly (SendOp | ReceiveOp)[];
}

export interface OrderVerdict {
  readonly valid: boolean;
  readonly keys: number;
  readonly violations: readonly OrderViolation[];
}

/**
 * Per-key FIFO: when A's send returned before B's send was called (same key), B's first
 * delivery must not return before A's first delivery was even asked for. A receive whose outcome
 * is unknown may have leased A without anyone seeing it (A then comes back after its lease, and
 * the queue rightly moves on to B meanwhile). With delivery counts that is decided exactly (A's
 * first seen delivery counted above 1); without them a pair is not judged once any receive with
 * an unknown outcome was called before B's first delivery returned.
 */
export function checkPerKeyOrder(history: QueueHistory): OrderVerdict {
  const deliveries = deliveriesById(history);
  const byKey = new Map<string, SendOp[]>();
  for (const send of history.sends) {
    if (send.key === undefined || send.outcome !== 'ok') continue;
    byKey.set(send.key, [...(byKey.get(send.key) ?? []), send]);
  }
  const countOf = (messageId: string, receive: ReceiveOp | undefined): number | undefined => {
    if (receive?.deliveryCounts === undefined) return undefined;
    return receive.deliveryCounts[receive.messageIds.indexOf(messageId)];
  };
  const unknownReceiveCalls = history.receives
    .filter((receive) => receive.outcome === 'unknown')
    .map((receive) => receive.callMs);
  // An unknown receive may take effect at any time after its call (a long poll waits for
  // messages sent after it; a proposal may commit late), so any one called before B's first
  // delivery returned may have leased A.
  const unseenLeasePossible = (toMs: number): boolean =>
    unknownReceiveCalls.some((callMs) => callMs <= toMs);
  const violations: OrderViolation[] = [];
  for (const [key, sends] of byKey) {
    const firsts = sends.map((send) => ({ send, first: deliveries.get(send.messageId)?.[0] }));
    for (const a of firsts) {
      for (const b of firsts) {
        if (a.send.returnMs >= b.send.callMs || b.first === undefined) continue;
        const aFirstCall = a.first?.callMs ?? Infinity;
        if (b.first.returnMs >= aFirstCall) continue;
        // With delivery counts the question is exact: was A delivered before, unseen?
        const aCount = countOf(a.send.messageId, a.first);
        if (aCount !== undefined ? aCount > 1 : unseenLeasePossible(b.first.returnMs)) {
          continue;
        }
        violations.push({
          key,
          reason:
            `${b.send.messageId} was delivered (at ${b.first.returnMs.toFixed(1)} ms) before ` +
            `${a.send.messageId}, which was sent before it (send returned at ${a.send.returnMs.toFixed(1)} ms)`,
          window: [a.send, b.send, b.first, ...(a.first === undefined ? [] : [a.first])],
          ...(aCount === undefined ? {} : { earlierFirstDeliveryCount: aCount }),
        });
      }
    }
  }
  return { valid: violations.length === 0, keys: byKey.size, violations };
}
