// Incremental queue snapshots at scale: with QUEUE_SNAPSHOT_SCALE messages (default 20,000; the
// README's numbers are at 100,000) over four queues, a snapshot taken in slices while messages
// are received, acked, nacked and sent between slices is the bytes of a synchronous snapshot at
// the capture point. No timing assertions; with QUEUE_SNAPSHOT_TIMING=1 it prints the CPU cost of
// the synchronous part (begin and the first slice, what the node does in the applying turn), the
// slices, a snapshot in one go, the earlier single-JSON format and restore.
import { describe, expect, it } from 'vitest';
import type { QueueCommand } from './messages.js';
import { decodeSnapshot, encodeLegacySnapshot } from './snapshot.js';
import { createQueueStateMachine } from './state-machine.js';

/** CPU time of this process (wall time is meaningless on a loaded machine). */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

const MESSAGES = Number(process.env.QUEUE_SNAPSHOT_SCALE ?? 20_000);
const BATCH = 1000;

describe(`queue snapshots with ${MESSAGES} messages`, () => {
  it('are the capture-point bytes however messages change between slices', () => {
    const machine = createQueueStateMachine({});
    let index = 0;
    const receipts: string[] = [];
    const apply = (command: QueueCommand) => {
      index += 1;
      const result = machine.apply(command, {
        index,
        term: 1,
        timeMs: 1000 + index,
        clientId: undefined,
      });
      if (!result.ok) throw new Error(result.message);
      if (command.op === 'receive') {
        const { messages } = result.value as { messages: { receipt: string }[] };
        receipts.push(...messages.map((message) => message.receipt));
      }
    };
    for (let sent = 0; sent < MESSAGES; sent += BATCH) {
      apply({
        op: 'sendBatch',
        queue: `q${(sent / BATCH) % 4}`,
        messages: Array.from({ length: BATCH }, (_, offset) => ({
          id: `m-${sent + offset}`,
          body: { n: sent + offset, text: 'a payload of a few words' },
          ...(offset % 7 === 0 ? { key: `k${offset}` } : {}),
        })),
      });
    }
    for (let queue = 0; queue < 4; queue++) apply({ op: 'receive', queue: `q${queue}`, max: 500 });
    const expected = machine.snapshot();

    const startedMs = cpuMs();
    const job = machine.beginSnapshot?.();
    if (job === undefined) throw new Error('the queue machine has no beginSnapshot');
    let bytes = job.next();
    const syncMs = cpuMs() - startedMs;
    let slices = 1;
    let sliceMs = syncMs;
    let maxSliceMs = syncMs;
    let writes = 0;
    while (bytes === undefined) {
      // Between slices: acks and nacks of leased messages, receives (leases on messages the
      // snapshot may not have written yet) and sends.
      for (let step = 0; step < 5; step++, writes++) {
        const receipt = receipts.pop();
        if (receipt !== undefined) {
          apply(writes % 2 === 0 ? { op: 'ack', receipt } : { op: 'nack', receipt });
        }
        apply({ op: 'receive', queue: `q${writes % 4}`, max: 2 });
        apply({ op: 'send', queue: `q${writes % 4}`, message: { id: `new-${writes}`, body: 1 } });
      }
      const sliceStartedMs = cpuMs();
      bytes = job.next();
      const elapsedMs = cpuMs() - sliceStartedMs;
      slices += 1;
      sliceMs += elapsedMs;
      maxSliceMs = Math.max(maxSliceMs, elapsedMs);
    }
    expect(writes).toBeGreaterThan(0);
    expect(Buffer.from(bytes).equals(Buffer.from(expected))).toBe(true);
    expect(Buffer.from(machine.snapshot()).equals(Buffer.from(expected))).toBe(false);

    const copy = createQueueStateMachine({});
    const restoreStartedMs = cpuMs();
    copy.restore(bytes);
    const restoreMs = cpuMs() - restoreStartedMs;
    const wholeStartedMs = cpuMs();
    const again = copy.snapshot();
    const wholeMs = cpuMs() - wholeStartedMs;
    expect(Buffer.from(again).equals(Buffer.from(expected))).toBe(true);
    if (process.env.QUEUE_SNAPSHOT_TIMING === '1') {
      const legacyStartedMs = cpuMs();
      const legacy = encodeLegacySnapshot(decodeSnapshot(expected));
      const legacyMs = cpuMs() - legacyStartedMs;
      const mb = (expected.byteLength / 1e6).toFixed(1);
      console.log(
        `${MESSAGES} messages, ${mb} MB: synchronous part ${syncMs.toFixed(1)} ms; ${slices} ` +
          `slices, ${sliceMs.toFixed(1)} ms in all, longest ${maxSliceMs.toFixed(1)} ms; ` +
          `snapshot() in one go ${wholeMs.toFixed(1)} ms (earlier format ${legacyMs.toFixed(1)} ms, ` +
          `${(legacy.byteLength / 1e6).toFixed(1)} MB); restore ${restoreMs.toFixed(1)} ms`,
      );
    }
  });
});
