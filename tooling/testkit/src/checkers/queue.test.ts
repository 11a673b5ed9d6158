import { describe, expect, it } from 'vitest';
import {
  checkPerKeyOrder,
  checkTotalQueue,
  type AckOp,
  type QueueHistory,
  type ReceiveOp,
  type SendOp,
} from '@distsync/testkit';

let nextId = 0;
function send(
  messageId: string,
  [callMs, returnMs]: [number, number],
  extra: Partial<SendOp> = {},
): SendOp {
  nextId += 1;
  return { id: nextId, process: 1, messageId, callMs, returnMs, outcome: 'ok', ...extra };
}
function receive(
  messageIds: string[],
  [callMs, returnMs]: [number, number],
  process = 2,
): ReceiveOp {
  nextId += 1;
  return { id: nextId, process, callMs, returnMs, outcome: 'ok', messageIds };
}
function ack(
  messageId: string,
  [callMs, returnMs]: [number, number],
  outcome: AckOp['outcome'] = 'ok',
): AckOp {
  nextId += 1;
  return { id: nextId, process: 2, messageId, callMs, returnMs, outcome };
}

describe('total queue checker', () => {
  it('accepts every sent message delivered once and acknowledged', () => {
    const history: QueueHistory = {
      sends: [send('a', [0, 1]), send('b', [0, 2])],
      receives: [receive(['a', 'b'], [3, 4])],
      acks: [ack('a', [5, 6]), ack('b', [5, 6])],
    };
    expect(checkTotalQueue(history)).toMatchObject({ valid: true, delivered: 2, redelivered: 0 });
  });

  it('reports an acknowledged send never delivered as lost, with its reason', () => {
    const verdict = checkTotalQueue({
      sends: [send('a', [0, 1]), send('b', [0, 1])],
      receives: [receive(['a'], [2, 3])],
      acks: [],
    });
    expect(verdict.valid).toBe(false);
    expect(verdict.anomalies).toMatchObject([{ kind: 'lost', messageId: 'b' }]);
    expect(verdict.anomalies[0]?.reason).toContain('never delivered');
  });

  it('allows an unknown send to be delivered or not, and counts both', () => {
    const verdict = checkTotalQueue({
      sends: [
        send('a', [0, Infinity], { outcome: 'unknown' }),
        send('b', [0, Infinity], { outcome: 'unknown' }),
      ],
      receives: [receive(['a'], [2, 3])],
      acks: [],
    });
    expect(verdict).toMatchObject({ valid: true, recovered: 1, indeterminateNeverDelivered: 1 });
  });

  it('reports a delivery of a message never sent, or whose send definitely failed, as unexpected', () => {
    const verdict = checkTotalQueue({
      sends: [send('f', [0, 1], { outcome: 'fail' })],
      receives: [receive(['ghost', 'f'], [2, 3])],
      acks: [],
    });
    expect(verdict.anomalies.map((a) => [a.kind, a.messageId]).sort()).toEqual([
      ['unexpected', 'f'],
      ['unexpected', 'ghost'],
    ]);
  });

  it('allows redelivery of an unacknowledged message but reports one after its ack returned', () => {
    const allowed = checkTotalQueue({
      sends: [send('a', [0, 1])],
      receives: [receive(['a'], [2, 3]), receive(['a'], [10, 11], 3)],
      acks: [ack('a', [12, 13])],
    });
    expect(allowed).toMatchObject({ valid: true, redelivered: 1 });
    const duplicated = checkTotalQueue({
      sends: [send('a', [0, 1])],
      receives: [receive(['a'], [2, 3]), receive(['a'], [10, 11], 3)],
      acks: [ack('a', [4, 5])],
    });
    expect(duplicated.anomalies).toMatchObject([{ kind: 'duplicated', messageId: 'a' }]);
    expect(duplicated.anomalies[0]?.window).toHaveLength(2);
  });

  it('does not call a redelivery after a failed or unknown ack a duplicate', () => {
    const verdict = checkTotalQueue({
      sends: [send('a', [0, 1])],
      receives: [receive(['a'], [2, 3]), receive(['a'], [10, 11])],
      acks: [ack('a', [4, Infinity], 'unknown')],
    });
    expect(verdict.valid).toBe(true);
  });
});

describe('per-key order checker', () => {
  it('accepts first deliveries in send order within a key', () => {
    const history: QueueHistory = {
      sends: [
        send('a1', [0, 1], { key: 'a' }),
        send('a2', [2, 3], { key: 'a' }),
        send('b1', [0, 1], { key: 'b' }),
      ],
      receives: [receive(['b1', 'a1'], [4, 5]), receive(['a2'], [6, 7])],
      acks: [],
    };
    expect(checkPerKeyOrder(history)).toMatchObject({ valid: true, keys: 2 });
  });

  it('reports a later message delivered before an earlier one of the same key', () => {
    const history: QueueHistory = {
      sends: [send('a1', [0, 1], { key: 'a' }), send('a2', [2, 3], { key: 'a' })],
      receives: [receive(['a2'], [4, 5]), receive(['a1'], [6, 7])],
      acks: [],
    };
    const verdict = checkPerKeyOrder(history);
    expect(verdict.valid).toBe(false);
    expect(verdict.violations[0]?.reason).toContain('a2 was delivered');
    expect(verdict.violations[0]?.window).toHaveLength(4);
  });

  it('does not judge a pair when a receive with an unknown outcome may have leased the earlier message', () => {
    const lost = { ...receive([], [3.5, Infinity], 3), outcome: 'unknown' as const };
    const history: QueueHistory = {
      sends: [send('a1', [0, 1], { key: 'a' }), send('a2', [2, 3], { key: 'a' })],
      receives: [lost, receive(['a2'], [4, 5]), receive(['a1'], [6, 7])],
      acks: [],
    };
    expect(checkPerKeyOrder(history).valid).toBe(true);
  });

  it('uses delivery counts when present: a first seen delivery counted 1 was never leased before', () => {
    const lost = { ...receive([], [3.5, Infinity], 3), outcome: 'unknown' as const };
    const seen = (ids: string[], counts: number[], at: [number, number]) => ({
      ...receive(ids, at),
      deliveryCounts: counts,
    });
    const sends = [send('a1', [0, 1], { key: 'a' }), send('a2', [2, 3], { key: 'a' })];
    // a1 first seen with count 1: the unknown receive did not take it, so a2 first is a violation.
    const strict = checkPerKeyOrder({
      sends,
      receives: [lost, seen(['a2'], [1], [4, 5]), seen(['a1'], [1], [6, 7])],
      acks: [],
    });
    expect(strict.violations).toMatchObject([{ key: 'a', earlierFirstDeliveryCount: 1 }]);
    // a1 first seen with count 2: an unseen delivery came before, the pair is not judged.
    const excused = checkPerKeyOrder({
      sends,
      receives: [seen(['a2'], [1], [4, 5]), seen(['a1'], [2], [6, 7])],
      acks: [],
    });
    expect(excused.valid).toBe(true);
  });

  it('does not order concurrent sends nor messages of different keys', () => {
    const history: QueueHistory = {
      sends: [
        send('a1', [0, 5], { key: 'a' }),
        send('a2', [1, 3], { key: 'a' }),
        send('b1', [0, 1], { key: 'b' }),
      ],
      receives: [receive(['a2'], [6, 7]), receive(['a1', 'b1'], [8, 9])],
      acks: [],
    };
    expect(checkPerKeyOrder(history).valid).toBe(true);
  });
});
