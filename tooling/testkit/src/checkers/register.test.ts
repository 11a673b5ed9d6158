import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkRegisters,
  type RegisterInput,
  type RegisterOperation,
  type RegisterOutput,
} from '@distsync/testkit';

let nextId = 0;
function op(
  process: number,
  input: RegisterInput,
  output: RegisterOutput | undefined,
  [callMs, returnMs]: [number, number?],
  key = 'x',
): RegisterOperation {
  nextId += 1;
  return { id: nextId, process, key, input, output, callMs, returnMs: returnMs ?? Infinity };
}
const read = (value: string | null): [RegisterInput, RegisterOutput] => [
  { f: 'read' },
  { f: 'read', value },
];
const write = (value: string): [RegisterInput, RegisterOutput] => [
  { f: 'write', value },
  { f: 'write' },
];
const cas = (from: string | null, to: string, ok: boolean): [RegisterInput, RegisterOutput] => [
  { f: 'cas', from, to },
  { f: 'cas', ok },
];

describe('register linearizability checker', () => {
  it('accepts a sequential history that follows the register', () => {
    // Proves the search finds the obvious order and the model's read/write/cas agree with it.
    const history = [
      op(1, ...read(null), [0, 1]),
      op(1, ...write('a'), [2, 3]),
      op(2, ...read('a'), [4, 5]),
      op(2, ...cas('a', 'b', true), [6, 7]),
      op(1, ...cas('a', 'c', false), [8, 9]),
      op(1, ...read('b'), [10, 11]),
    ];
    expect(checkRegisters(history)).toMatchObject({ valid: true, keys: 1, operations: 6 });
  });

  it('rejects a stale read after a newer write returned, with the read as the culprit', () => {
    const stale = op(3, ...read('a'), [4, 5]);
    const history = [op(1, ...write('a'), [0, 1]), op(2, ...write('b'), [2, 3]), stale];
    const verdict = checkRegisters(history);
    expect(verdict.valid).toBe(false);
    if (verdict.valid !== false) return;
    expect(verdict.failedKeys).toEqual(['x']);
    expect(verdict.windows[0]?.culprit.id).toBe(stale.id);
    expect(verdict.windows[0]?.stateAfterLinearized).toBe('b');
  });

  it('accepts reads that see a concurrent write early or late, in an order that fits', () => {
    // null then a: the write took effect between the two reads.
    const history = [
      op(1, ...write('a'), [0, 10]),
      op(2, ...read(null), [1, 2]),
      op(3, ...read('a'), [3, 4]),
    ];
    expect(checkRegisters(history).valid).toBe(true);
  });

  it('rejects a read that goes back in time during a concurrent write (a, then null)', () => {
    const history = [
      op(1, ...write('a'), [0, 10]),
      op(2, ...read('a'), [1, 2]),
      op(3, ...read(null), [3, 4]),
    ];
    expect(checkRegisters(history).valid).toBe(false);
  });

  it('treats an unknown write as possibly applied at any time after its call, or never', () => {
    const applied = [
      op(1, ...write('a'), [0]),
      op(2, ...read(null), [1, 2]),
      op(2, ...read('a'), [5, 6]),
    ];
    const never = [
      op(1, ...write('a'), [0]),
      op(2, ...read(null), [1, 2]),
      op(2, ...read(null), [5, 6]),
    ];
    expect(checkRegisters(applied.map((o) => ({ ...o, output: undefined }))).valid).toBe(true);
    expect(
      checkRegisters(never.map((o, i) => (i === 0 ? { ...o, output: undefined } : o))).valid,
    ).toBe(true);
    // But once seen it cannot be unseen.
    const flicker = [
      { ...op(1, ...write('a'), [0]), output: undefined },
      op(2, ...read('a'), [1, 2]),
      op(2, ...read(null), [5, 6]),
    ];
    expect(checkRegisters(flicker).valid).toBe(false);
  });

  it('rejects a read of a value nobody wrote', () => {
    expect(
      checkRegisters([op(1, ...write('a'), [0, 1]), op(2, ...read('zzz'), [2, 3])]).valid,
    ).toBe(false);
  });

  it('rejects two successful CAS from the same value (a lost update)', () => {
    const history = [
      op(1, ...write('a'), [0, 1]),
      op(1, ...cas('a', 'b', true), [2, 3]),
      op(2, ...cas('a', 'c', true), [4, 5]),
    ];
    expect(checkRegisters(history).valid).toBe(false);
  });

  it('rejects a CAS that failed although the value matched, and accepts one that failed on a mismatch', () => {
    expect(
      checkRegisters([op(1, ...write('a'), [0, 1]), op(2, ...cas('a', 'b', false), [2, 3])]).valid,
    ).toBe(false);
    expect(
      checkRegisters([op(1, ...write('a'), [0, 1]), op(2, ...cas('z', 'b', false), [2, 3])]).valid,
    ).toBe(true);
  });

  it('applies an unknown CAS only if it matched, so its effect can be observed or not', () => {
    const unknownCas = { ...op(2, ...cas('a', 'b', true), [2]), output: undefined };
    const observed = [op(1, ...write('a'), [0, 1]), unknownCas, op(3, ...read('b'), [5, 6])];
    expect(checkRegisters(observed).valid).toBe(true);
    const impossible = [
      op(1, ...write('z'), [0, 1]),
      { ...unknownCas, id: 999 },
      op(3, ...read('b'), [5, 6]),
    ];
    expect(checkRegisters(impossible).valid).toBe(false);
  });

  it('checks keys independently and names only the failing one', () => {
    const history = [
      op(1, ...write('a'), [0, 1], 'good'),
      op(2, ...read('a'), [2, 3], 'good'),
      op(1, ...write('a'), [0, 1], 'bad'),
      op(2, ...read(null), [2, 3], 'bad'),
    ];
    const verdict = checkRegisters(history);
    expect(verdict).toMatchObject({ valid: false, keys: 2, failedKeys: ['bad'] });
  });

  it('reports a small window ending at the first violation, not the whole history', () => {
    // 200 correct sequential operations, one stale read, then 100 more correct ones.
    const history: RegisterOperation[] = [];
    let time = 0;
    for (let i = 0; i < 100; i += 1) {
      history.push(op(i % 3, ...write(`v${i}`), [time, time + 1]));
      history.push(op((i + 1) % 3, ...read(`v${i}`), [time + 2, time + 3]));
      time += 4;
    }
    const stale = op(5, ...read('v50'), [time, time + 1]);
    history.push(stale);
    time += 2;
    for (let i = 0; i < 100; i += 1)
      history.push(op(1, ...read('v99'), [time + i * 2, time + i * 2 + 1]));
    const verdict = checkRegisters(history);
    expect(verdict.valid).toBe(false);
    if (verdict.valid !== false) return;
    const window = verdict.windows[0]!;
    expect(window.culprit.id).toBe(stale.id);
    expect(window.endMs).toBe(stale.returnMs);
    expect(window.operations.length).toBeLessThanOrEqual(4);
    expect(window.linearizedCount).toBe(200);
  });

  it('answers unknown when the search runs out of its step budget', () => {
    const history = Array.from({ length: 12 }, (_, i) => op(i, ...write(`w${i}`), [0, 100]));
    history.push(op(99, ...read('nope'), [101, 102]));
    expect(checkRegisters(history, { maxStepsPerKey: 50 }).valid).toBe('unknown');
  });

  it('accepts every history produced by a real atomic register under random concurrency', () => {
    // Each operation takes effect at a random instant inside its interval: always linearizable.
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            kind: fc.constantFrom('read', 'write', 'cas'),
            start: fc.integer({ min: 0, max: 50 }),
            length: fc.integer({ min: 1, max: 20 }),
            at: fc.double({ min: 0, max: 1, noNaN: true }),
            pending: fc.boolean(),
          }),
          { maxLength: 12 },
        ),
        (specs) => {
          const ops = specs.map((spec, index) => ({
            ...spec,
            index,
            point: spec.start + spec.at * spec.length,
          }));
          let state = null as string | null;
          const history: RegisterOperation[] = [];
          for (const spec of [...ops].sort((a, b) => a.point - b.point)) {
            const callMs = spec.start;
            const returnMs =
              spec.pending && spec.kind !== 'read' ? Infinity : spec.start + spec.length;
            let input: RegisterInput;
            let output: RegisterOutput;
            if (spec.kind === 'read') {
              input = { f: 'read' };
              output = { f: 'read', value: state };
            } else if (spec.kind === 'write') {
              input = { f: 'write', value: `w${spec.index}` };
              output = { f: 'write' };
              state = input.value;
            } else {
              const from: string | null = spec.index % 2 === 0 ? state : `w${spec.index - 1}`;
              input = { f: 'cas', from, to: `c${spec.index}` };
              output = { f: 'cas', ok: state === from };
              if (state === from) state = input.to;
            }
            history.push({
              id: spec.index,
              process: spec.index,
              key: 'k',
              input,
              output: returnMs === Infinity ? undefined : output,
              callMs,
              returnMs,
            });
          }
          expect(checkRegisters(history).valid).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
