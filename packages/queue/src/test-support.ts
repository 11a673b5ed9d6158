// Test helpers (not exported from the package): random command histories over two queues with
// consumer sessions, and the property that an incremental snapshot taken while they run is the
// state of its capture point.
import fc from 'fast-check';
import type { ApplyContext } from '@distsync/raft';
import type { QueueCommand } from './messages.js';
import {
  createQueueStateMachine,
  type QueueSessions,
  type QueueStateMachine,
} from './state-machine.js';

type EndListener = Parameters<QueueSessions['onEnded']>[0];

/** Consumer sessions a test ends by hand. */
export class FakeSessions implements QueueSessions {
  readonly live = new Set<string>(['c0', 'c1']);
  readonly #listeners = new Set<EndListener>();

  isLive(sessionId: string): boolean {
    return this.live.has(sessionId);
  }

  onEnded(listener: EndListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  end(sessionId: string, context: ApplyContext): void {
    this.live.delete(sessionId);
    for (const listener of this.#listeners) listener(sessionId, 'expired', context);
  }
}

export type QueueStep =
  | { kind: 'send'; queue: number; id: number; priority: number; delayMs: number; keyed: boolean }
  | { kind: 'receive'; queue: number; max: number; consumer: number }
  | { kind: 'ack' | 'extend'; pick: number }
  | { kind: 'nack'; pick: number; requeue: boolean; delayMs: number }
  | { kind: 'redrive' | 'purge' | 'delete'; queue: number }
  | { kind: 'endConsumer' | 'newConsumer'; consumer: number }
  | { kind: 'wait'; ms: number };

const QUEUES = ['q0', 'q1'];
const CONSUMERS = ['c0', 'c1'];

/** Sends (duplicate ids, delays, priorities, keys), receives, settles, redrives, purges, deletes,
 * consumer sessions ending and time passing (leases, delays, dedup windows, dead letters). */
export const queueStep: fc.Arbitrary<QueueStep> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('send' as const),
      queue: fc.nat(1),
      id: fc.nat(15),
      priority: fc.nat(3),
      delayMs: fc.constantFrom(0, 0, 30, 120),
      keyed: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('receive' as const),
      queue: fc.nat(1),
      max: fc.integer({ min: 1, max: 3 }),
      consumer: fc.nat(2),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constantFrom('ack' as const, 'extend' as const),
      pick: fc.nat(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('nack' as const),
      pick: fc.nat(),
      requeue: fc.boolean(),
      delayMs: fc.constantFrom(0, 40),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('redrive' as const), queue: fc.nat(1) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constantFrom('purge' as const, 'delete' as const),
      queue: fc.nat(1),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constantFrom('endConsumer' as const, 'newConsumer' as const),
      consumer: fc.nat(1),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('wait' as const),
      ms: fc.integer({ min: 1, max: 150 }),
    }),
  },
);

/** A machine applied at index 1, 2, 3... and a time the steps move. */
export class QueueDriver {
  readonly sessions = new FakeSessions();
  readonly machine: QueueStateMachine;
  readonly receipts: string[] = [];
  index = 0;
  timeMs = 1000;

  constructor(snapshotSliceRows?: number) {
    this.machine = createQueueStateMachine({
      sessions: this.sessions,
      defaults: { visibilityTimeoutMs: 100, maxDeliveries: 2, dedupWindowMs: 250, partitions: 2 },
      // Few remembered ids, so that sends also forget the oldest ones.
      limits: { maxDedupIds: 5 },
      ...(snapshotSliceRows === undefined ? {} : { snapshotSliceRows }),
    });
  }

  context(): ApplyContext {
    this.index += 1;
    return { index: this.index, term: 1, timeMs: this.timeMs, clientId: undefined };
  }

  apply(command: QueueCommand): void {
    const result = this.machine.apply(command, this.context());
    if (command.op !== 'receive' || !result.ok) return;
    const { messages } = result.value as { messages: { receipt: string }[] };
    this.receipts.push(...messages.map((message) => message.receipt));
  }

  step(step: QueueStep): void {
    const receipt = (pick: number): string =>
      this.receipts[pick % Math.max(1, this.receipts.length)] ?? 'q0:1:1:none';
    switch (step.kind) {
      case 'send':
        this.apply({
          op: 'send',
          queue: QUEUES[step.queue] ?? 'q0',
          message: {
            id: `m${step.id}`,
            body: { n: step.id },
            priority: step.priority,
            delayMs: step.delayMs,
            ...(step.keyed ? { key: `k${step.id % 3}` } : {}),
          },
        });
        return;
      case 'receive':
        this.apply({
          op: 'receive',
          queue: QUEUES[step.queue] ?? 'q0',
          max: step.max,
          ...(step.consumer < CONSUMERS.length ? { consumer: CONSUMERS[step.consumer] ?? '' } : {}),
        });
        return;
      case 'ack':
        this.apply({ op: 'ack', receipt: receipt(step.pick) });
        return;
      case 'extend':
        this.apply({ op: 'extend', receipt: receipt(step.pick), visibilityTimeoutMs: 200 });
        return;
      case 'nack':
        this.apply({
          op: 'nack',
          receipt: receipt(step.pick),
          requeue: step.requeue,
          delayMs: step.delayMs,
        });
        return;
      case 'redrive':
      case 'purge':
      case 'delete':
        this.apply({ op: step.kind, queue: QUEUES[step.queue] ?? 'q0' });
        return;
      case 'endConsumer': {
        const consumer = CONSUMERS[step.consumer] ?? '';
        if (this.sessions.isLive(consumer)) this.sessions.end(consumer, this.context());
        return;
      }
      case 'newConsumer':
        this.sessions.live.add(CONSUMERS[step.consumer] ?? '');
        return;
      case 'wait':
        this.timeMs += step.ms;
        this.apply({ op: 'tick', nowMs: this.timeMs });
        return;
    }
  }
}

/**
 * The snapshot property: after `before`, a snapshot begun with `sliceRows` messages per slice
 * while the steps of `between[i]` run before slice i+1 is the synchronous snapshot of the capture
 * point and restores to a machine with the same snapshot. Throws when it does not hold.
 */
export function checkSnapshotDuringHistory(
  before: readonly QueueStep[],
  between: readonly (readonly QueueStep[])[],
  sliceRows: number,
): void {
  const driver = new QueueDriver(sliceRows);
  for (const step of before) driver.step(step);
  const expected = driver.machine.snapshot();
  const job = driver.machine.beginSnapshot?.();
  if (job === undefined) throw new Error('no beginSnapshot');
  let bytes: Uint8Array | undefined;
  for (let slice = 0; bytes === undefined; slice++) {
    for (const step of between[slice % between.length] ?? []) driver.step(step);
    bytes = job.next();
  }
  const decoder = new TextDecoder();
  if (decoder.decode(bytes) !== decoder.decode(expected)) {
    throw new Error(
      `snapshot differs from the capture point:\n${decoder.decode(bytes)}\n---\n${decoder.decode(expected)}`,
    );
  }
  const copy = new QueueDriver();
  copy.machine.restore(bytes);
  if (decoder.decode(copy.machine.snapshot()) !== decoder.decode(expected)) {
    throw new Error('a restored machine snapshots other bytes');
  }
}

/**
 * The property snapshot.property.test.ts asserts and snapshot.control.test.ts expects to fail
 * without the copy-on-write, with the runs both use: one definition, so the control keeps
 * testing what the property tests.
 */
export const snapshotProperty = fc.property(
  fc.array(queueStep, { maxLength: 80 }),
  fc.array(fc.array(queueStep, { maxLength: 5 }), { minLength: 1, maxLength: 12 }),
  fc.integer({ min: 1, max: 3 }),
  checkSnapshotDuringHistory,
);

export const SNAPSHOT_PROPERTY_RUNS = { numRuns: 400, seed: 20_261_202 } as const;
