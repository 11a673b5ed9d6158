// A linearizability checker for one register per key whose writes are totally ordered by their
// version (the Raft index of the write). With the write order known, a history is linearizable
// exactly when:
//   1. a read returns the value of the version it names (all reads of a version agree, and agree
//      with the acknowledged write of that version);
//   2. no read returns a version older than a write acknowledged before the read started;
//   3. reads do not go back in time: a read that starts after another read returned sees at
//      least that read's version;
//   4. a read never returns a version whose write started after the read returned;
//   5. acknowledged writes are ordered by real time: one that returned before another started
//      has the smaller version.
// Operations that failed or never returned only count where their outcome is known.
import type { JsonValue } from '../index.js';

export interface HistoryOp {
  readonly node: string;
  readonly kind: 'read' | 'write' | 'delete';
  readonly key: string;
  readonly invokeMs: number;
  returnMs: number | undefined;
  ok: boolean;
  version: number | undefined;
  found: boolean | undefined;
  value: JsonValue | undefined;
}

export interface Violation {
  readonly rule: string;
  readonly detail: string;
}

function describe(op: HistoryOp): string {
  return `${op.kind}@${op.node} ${op.key} [${op.invokeMs.toFixed(1)}, ${op.returnMs?.toFixed(1) ?? '∞'}] v${String(op.version)} ${JSON.stringify(op.value)}`;
}

export function checkLinearizable(history: readonly HistoryOp[]): Violation[] {
  const violations: Violation[] = [];
  const byKey = new Map<string, HistoryOp[]>();
  for (const op of history) {
    const list = byKey.get(op.key) ?? [];
    list.push(op);
    byKey.set(op.key, list);
  }
  for (const ops of byKey.values()) checkKey(ops, violations);
  return violations;
}

function checkKey(ops: readonly HistoryOp[], violations: Violation[]): void {
  const done = ops.filter((op) => op.ok && op.returnMs !== undefined && op.version !== undefined);
  const writes = done.filter((op) => op.kind !== 'read');
  const reads = done.filter((op) => op.kind === 'read');
  const writeOf = new Map<number, HistoryOp>(writes.map((op) => [op.version ?? 0, op]));
  const seen = new Map<number, HistoryOp>();
  for (const read of reads) {
    const version = read.version ?? 0;
    const write = writeOf.get(version);
    const expected = write ?? seen.get(version);
    const found = write === undefined ? expected?.found : write.kind === 'write';
    if (
      expected !== undefined &&
      (found !== read.found ||
        (read.found === true && JSON.stringify(expected.value) !== JSON.stringify(read.value)))
    ) {
      violations.push({
        rule: '1 value of version',
        detail: `${describe(read)} vs ${describe(expected)}`,
      });
    }
    if (!seen.has(version)) seen.set(version, read);
    for (const other of writes) {
      if ((other.returnMs ?? Infinity) < read.invokeMs && (other.version ?? 0) > version) {
        violations.push({
          rule: '2 stale read',
          detail: `${describe(read)} after ${describe(other)}`,
        });
      }
    }
    for (const other of reads) {
      if ((other.returnMs ?? Infinity) < read.invokeMs && (other.version ?? 0) > version) {
        violations.push({
          rule: '3 reads go back',
          detail: `${describe(read)} after ${describe(other)}`,
        });
      }
    }
  }
  for (const read of reads) {
    const started = ops.find(
      (op) =>
        op.kind !== 'read' &&
        op.version === read.version &&
        op.invokeMs > (read.returnMs ?? Infinity),
    );
    if (started !== undefined) {
      violations.push({
        rule: '4 read from the future',
        detail: `${describe(read)} / ${describe(started)}`,
      });
    }
  }
  for (const first of writes) {
    for (const second of writes) {
      if (
        (first.returnMs ?? Infinity) < second.invokeMs &&
        (first.version ?? 0) >= (second.version ?? 0)
      ) {
        violations.push({
          rule: '5 write order',
          detail: `${describe(first)} then ${describe(second)}`,
        });
      }
    }
  }
}
