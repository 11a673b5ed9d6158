// The queue machine against a model queue (fast-check): random sequences of send (with
// duplicate ids and delays), receive, ack and nack with fresh and stale receipts, and time
// passing (lease expiry, delays, the dedup window, dead-letter moves). Every result and the
// stats after every step must match the model's.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createQueueStateMachine, decodeReceipt, type QueueStateMachine } from '@distsync/queue';

const VISIBILITY_MS = 100;
const MAX_DELIVERIES = 2;
const DEDUP_MS = 250;

interface ModelMessage {
  readonly id: string;
  readonly seq: number;
  readonly priority: number;
  state: 'ready' | 'delayed' | 'inflight';
  availableAtMs: number;
  deliveries: number;
  leaseExpiresAtMs: number;
}

class Model {
  nextSeq = 1;
  messages: ModelMessage[] = [];
  dedup = new Map<string, number>();
  dlq: string[] = [];

  advance(timeMs: number): void {
    const due: { atMs: number; message: ModelMessage }[] = [];
    for (const message of this.messages) {
      if (message.state === 'delayed' && message.availableAtMs <= timeMs) {
        due.push({ atMs: message.availableAtMs, message });
      } else if (message.state === 'inflight' && message.leaseExpiresAtMs <= timeMs) {
        due.push({ atMs: message.leaseExpiresAtMs, message });
      }
    }
    due.sort((a, b) => a.atMs - b.atMs || a.message.seq - b.message.seq);
    for (const { message } of due) {
      if (message.state === 'delayed') message.state = 'ready';
      else this.unacked(message, { rejected: false, delayMs: 0, timeMs });
    }
    for (const [id, until] of this.dedup) if (until <= timeMs) this.dedup.delete(id);
  }

  unacked(
    message: ModelMessage,
    input: { rejected: boolean; delayMs: number; timeMs: number },
  ): void {
    if (input.rejected || message.deliveries >= MAX_DELIVERIES) {
      this.messages = this.messages.filter((other) => other !== message);
      this.dlq.push(message.id);
      this.nextSeq += 1;
      return;
    }
    if (input.delayMs > 0) {
      message.state = 'delayed';
      message.availableAtMs = input.timeMs + input.delayMs;
    } else {
      message.state = 'ready';
    }
  }

  send(input: { id: string; priority: number; delayMs: number; timeMs: number }): boolean {
    const stored = this.messages.some((message) => message.id === input.id);
    if (stored || (this.dedup.get(input.id) ?? -1) > input.timeMs) return true;
    this.messages.push({
      id: input.id,
      seq: this.nextSeq++,
      priority: input.priority,
      state: input.delayMs > 0 ? 'delayed' : 'ready',
      availableAtMs: input.timeMs + input.delayMs,
      deliveries: 0,
      leaseExpiresAtMs: 0,
    });
    this.dedup.delete(input.id);
    this.dedup.set(input.id, input.timeMs + DEDUP_MS);
    return false;
  }

  receive(max: number, timeMs: number): { id: string; deliveryCount: number }[] {
    const ready = this.messages
      .filter((message) => message.state === 'ready')
      .sort((a, b) => b.priority - a.priority || a.seq - b.seq)
      .slice(0, max);
    for (const message of ready) {
      message.state = 'inflight';
      message.deliveries += 1;
      message.leaseExpiresAtMs = timeMs + VISIBILITY_MS;
    }
    return ready.map((message) => ({ id: message.id, deliveryCount: message.deliveries }));
  }

  leased(receipt: string): ModelMessage | undefined {
    const decoded = decodeReceipt(receipt);
    return this.messages.find(
      (message) =>
        message.seq === decoded?.seq &&
        message.state === 'inflight' &&
        message.deliveries === decoded.delivery,
    );
  }
}

type Step =
  | { kind: 'send'; id: number; priority: number; delayMs: number }
  | { kind: 'receive'; max: number }
  | { kind: 'ack'; pick: number }
  | { kind: 'nack'; pick: number; requeue: boolean; delayMs: number }
  | { kind: 'wait'; ms: number };

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('send' as const),
    id: fc.integer({ min: 0, max: 12 }),
    priority: fc.integer({ min: 0, max: 9 }),
    delayMs: fc.constantFrom(0, 0, 0, 30, 120),
  }),
  fc.record({ kind: fc.constant('receive' as const), max: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('ack' as const), pick: fc.nat() }),
  fc.record({
    kind: fc.constant('nack' as const),
    pick: fc.nat(),
    requeue: fc.boolean(),
    delayMs: fc.constantFrom(0, 40),
  }),
  fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 150 }) }),
);

function run(steps: readonly Step[]): void {
  const machine: QueueStateMachine = createQueueStateMachine({
    defaults: {
      partitions: 1,
      visibilityTimeoutMs: VISIBILITY_MS,
      maxDeliveries: MAX_DELIVERIES,
      dedupWindowMs: DEDUP_MS,
    },
  });
  const model = new Model();
  const receipts: string[] = [];
  let timeMs = 1000;
  let index = 0;
  const apply = (command: Parameters<QueueStateMachine['apply']>[0]) => {
    index += 1;
    model.advance(timeMs);
    return machine.apply(command, { index, term: 1, timeMs, clientId: undefined });
  };
  for (const step of steps) {
    switch (step.kind) {
      case 'wait':
        timeMs += step.ms;
        break;
      case 'send': {
        const id = `m${step.id}`;
        const result = apply({
          op: 'send',
          queue: 'q',
          message: { id, body: step.id, priority: step.priority, delayMs: step.delayMs },
        });
        const duplicate = model.send({
          id,
          priority: step.priority,
          delayMs: step.delayMs,
          timeMs,
        });
        expect(result).toEqual({ ok: true, value: { id, duplicate } });
        break;
      }
      case 'receive': {
        const result = apply({ op: 'receive', queue: 'q', max: step.max });
        const expected = model.receive(step.max, timeMs);
        if (!result.ok) throw new Error(result.message);
        const got = (
          result.value as { messages: { id: string; deliveryCount: number; receipt: string }[] }
        ).messages;
        expect(got.map(({ id, deliveryCount }) => ({ id, deliveryCount }))).toEqual(expected);
        receipts.push(...got.map((message) => message.receipt));
        break;
      }
      case 'ack':
      case 'nack': {
        if (receipts.length === 0) break;
        const receipt = receipts[step.pick % receipts.length] ?? '';
        model.advance(timeMs);
        const target = model.leased(receipt);
        const result =
          step.kind === 'ack'
            ? apply({ op: 'ack', receipt })
            : apply({ op: 'nack', receipt, requeue: step.requeue, delayMs: step.delayMs });
        if (target === undefined) {
          expect(result).toMatchObject({ ok: false, code: 'STALE_RECEIPT' });
          break;
        }
        expect(result.ok).toBe(true);
        if (step.kind === 'ack') {
          model.messages = model.messages.filter((message) => message !== target);
        } else {
          model.unacked(target, { rejected: !step.requeue, delayMs: step.delayMs, timeMs });
        }
        break;
      }
    }
    compare(machine, model, timeMs);
  }
}

function compare(machine: QueueStateMachine, model: Model, timeMs: number): void {
  const stats = machine.query({ op: 'stats', queue: 'q', nowMs: timeMs });
  if (!stats.ok) return; // no send yet: the queue does not exist
  const value = stats.value as {
    depth: number;
    inFlight: number;
    delayed: number;
    dlqDepth: number;
    total: number;
  };
  // The machine runs due timers at its next apply; the model at its own, the same point.
  const count = (state: ModelMessage['state']) =>
    model.messages.filter((message) => message.state === state).length;
  expect({
    depth: value.depth,
    inFlight: value.inFlight,
    delayed: value.delayed,
    total: value.total,
    dlqDepth: value.dlqDepth,
  }).toEqual({
    depth: count('ready'),
    inFlight: count('inflight'),
    delayed: count('delayed'),
    total: model.messages.length,
    dlqDepth: model.dlq.length,
  });
}

describe('queue state machine against a model', () => {
  it('matches the model on random sends, receives, acks, nacks, expiries, dedup and dead-letter moves', () => {
    fc.assert(
      fc.property(fc.array(stepArbitrary, { minLength: 1, maxLength: 120 }), (steps) => {
        run(steps);
      }),
      { numRuns: 300 },
    );
  });
});
