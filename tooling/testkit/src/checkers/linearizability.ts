// A linearizability checker in the manner of Porcupine (anishathalye/porcupine, checker.go): the
// Wing-Gong search over a doubly linked list of call and return events, with Lowe's memoization
// (a cache of (set of linearized operations, model state) pairs already explored), run on each
// key's history on its own (P-compositionality: a history is linearizable iff every key's is).
//
// Operations whose outcome is unknown (a timeout, a connection reset, a node killed mid-request)
// have `returnMs: Infinity` and `output: undefined`: they may take effect at any point after their
// call, or never (linearized last, after everything else, which no operation can observe).

/** A model step: the state after the operation, or not possible from this state. */
export type StepResult<S> = { readonly ok: true; readonly state: S } | { readonly ok: false };

/** A sequential specification of an object. */
export interface Model<S, I, O> {
  readonly name: string;
  init(): S;
  /** `output` undefined: the outcome is unknown, so every outcome the state allows is accepted. */
  step(state: S, input: I, output: O | undefined): StepResult<S>;
  /** Equal strings for equal states: the memoization key. */
  stateKey(state: S): string;
}

/** One client operation: the interval from its call to its return, with what it asked and got. */
export interface Operation<I, O> {
  /** Unique in the history. */
  readonly id: number;
  /** The client (logical process) that ran it; a process runs one operation at a time. */
  readonly process: number;
  /** The partition (register key, lock name) it belongs to. */
  readonly key: string;
  readonly input: I;
  /** undefined when the outcome is unknown (then `returnMs` is Infinity). */
  readonly output: O | undefined;
  readonly callMs: number;
  readonly returnMs: number;
}

/** The smallest part of a key's history shown to violate the model. */
export interface LinearizabilityWindow<S, I, O> {
  readonly key: string;
  /** The history up to this time (ms) is already not linearizable; before it, it is. */
  readonly endMs: number;
  /** The operation whose return made the history non-linearizable. */
  readonly culprit: Operation<I, O>;
  /** How many operations the longest linearizable prefix found could order, and its state. */
  readonly linearizedCount: number;
  readonly stateAfterLinearized: S;
  /** The operations concurrent with the culprit or just before it, by call time. */
  readonly operations: readonly Operation<I, O>[];
}

export type LinearizabilityVerdict<S, I, O> =
  | { readonly valid: true; readonly keys: number; readonly operations: number }
  | {
      readonly valid: 'unknown';
      readonly keys: number;
      readonly operations: number;
      /** Keys whose search ran out of its step budget. */
      readonly exhaustedKeys: readonly string[];
    }
  | {
      readonly valid: false;
      readonly keys: number;
      readonly operations: number;
      readonly failedKeys: readonly string[];
      /** One window per failed key. */
      readonly windows: readonly LinearizabilityWindow<S, I, O>[];
    };

export interface LinearizabilityOptions<S, I, O> {
  readonly model: Model<S, I, O>;
  readonly operations: readonly Operation<I, O>[];
  /** Search steps per key before giving up with `unknown`; default 2,000,000. */
  readonly maxStepsPerKey?: number;
}

const NIL = -1;

interface SearchOutcome<S> {
  readonly result: 'ok' | 'fail' | 'exhausted';
  /** Indexes (into the searched operations) of the longest linearizable prefix found. */
  readonly longest: readonly number[];
  readonly stateAfterLongest: S;
}

class Bitset {
  readonly #words: Uint32Array;

  constructor(size: number) {
    this.#words = new Uint32Array(Math.ceil(size / 32) || 1);
  }

  set(bit: number): void {
    this.#words[bit >>> 5] = (this.#words[bit >>> 5] ?? 0) | (1 << (bit & 31));
  }

  clear(bit: number): void {
    this.#words[bit >>> 5] = (this.#words[bit >>> 5] ?? 0) & ~(1 << (bit & 31));
  }

  key(): string {
    let text = '';
    for (const word of this.#words) text += word.toString(36) + ',';
    return text;
  }
}

interface Event {
  readonly op: number;
  readonly call: boolean;
  readonly time: number;
}

/** A value that must be there (an index computed by this module); throws if it is not. */
function must<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('linearizability checker: index out of range');
  return value;
}

/**
 * Call and return events sorted by time (calls first on ties) as a doubly linked list with a
 * head sentinel, from which a call and its return are lifted together and put back on undo.
 */
class EventList {
  readonly events: readonly Event[];
  readonly head: number;
  readonly #next: Int32Array;
  readonly #prev: Int32Array;
  readonly #match: Int32Array;

  constructor(ops: readonly Operation<unknown, unknown>[]) {
    const events: Event[] = [];
    ops.forEach((op, index) => {
      events.push({ op: index, call: true, time: op.callMs });
      events.push({ op: index, call: false, time: op.returnMs });
    });
    events.sort((a, b) => a.time - b.time || Number(!a.call) - Number(!b.call));
    this.events = events;
    this.head = events.length;
    this.#next = new Int32Array(events.length + 1);
    this.#prev = new Int32Array(events.length + 1);
    this.#match = new Int32Array(events.length).fill(NIL);
    const returnOf = new Int32Array(ops.length);
    events.forEach((event, index) => {
      if (!event.call) returnOf[event.op] = index;
    });
    events.forEach((event, index) => {
      if (event.call) this.#match[index] = must(returnOf[event.op]);
      this.#next[index] = index + 1 < events.length ? index + 1 : NIL;
      this.#prev[index] = index === 0 ? this.head : index - 1;
    });
    this.#next[this.head] = events.length > 0 ? 0 : NIL;
    this.#prev[this.head] = NIL;
  }

  next(entry: number): number {
    return must(this.#next[entry]);
  }

  event(entry: number): Event {
    return must(this.events[entry]);
  }

  #unlink(entry: number): void {
    const before = must(this.#prev[entry]);
    const after = must(this.#next[entry]);
    this.#next[before] = after;
    if (after !== NIL) this.#prev[after] = before;
  }

  #relink(entry: number): void {
    const before = must(this.#prev[entry]);
    const after = must(this.#next[entry]);
    this.#next[before] = entry;
    if (after !== NIL) this.#prev[after] = entry;
  }

  /** Removes a call and its return (the call's own links stay, for `unlift`). */
  lift(call: number): void {
    this.#unlink(call);
    this.#unlink(must(this.#match[call]));
  }

  /** Puts back what `lift` removed, in the reverse order. */
  unlift(call: number): void {
    this.#relink(must(this.#match[call]));
    this.#relink(call);
  }
}

/** The Wing-Gong search with Lowe's memoization over one key's operations. */
function searchKey<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  maxSteps: number,
): SearchOutcome<S> {
  const list = new EventList(ops);
  const linearized = new Bitset(ops.length);
  const seen = new Set<string>();
  const calls: { entry: number; state: S }[] = [];
  let state = model.init();
  let longest: number[] = [];
  let stateAfterLongest = state;
  let entry = list.next(list.head);
  for (let steps = 0; list.next(list.head) !== NIL; steps += 1) {
    if (steps >= maxSteps) return { result: 'exhausted', longest, stateAfterLongest };
    const event = list.event(entry);
    if (event.call) {
      const op = must(ops[event.op]);
      const stepped = model.step(state, op.input, op.output);
      if (stepped.ok) {
        linearized.set(event.op);
        const key = `${linearized.key()}|${model.stateKey(stepped.state)}`;
        if (!seen.has(key)) {
          seen.add(key);
          calls.push({ entry, state });
          state = stepped.state;
          list.lift(entry);
          if (calls.length > longest.length) {
            longest = calls.map((call) => list.event(call.entry).op);
            stateAfterLongest = state;
          }
          entry = list.next(list.head);
          continue;
        }
        linearized.clear(event.op);
      }
      entry = list.next(entry);
    } else {
      // A return whose operation is not linearized yet: undo the last choice.
      const top = calls.pop();
      if (top === undefined) return { result: 'fail', longest, stateAfterLongest };
      entry = top.entry;
      state = top.state;
      linearized.clear(list.event(entry).op);
      list.unlift(entry);
      entry = list.next(entry);
    }
  }
  return { result: 'ok', longest, stateAfterLongest };
}

/** The history as it was known at `endMs`: later calls dropped, pending ones made unknown. */
function truncate<I, O>(ops: readonly Operation<I, O>[], endMs: number): Operation<I, O>[] {
  return ops
    .filter((op) => op.callMs <= endMs)
    .map((op) => (op.returnMs > endMs ? { ...op, output: undefined, returnMs: Infinity } : op));
}

/**
 * The shortest failing prefix of a failing key history (truncation is monotone: a prefix that
 * fails makes every longer one fail), then the operations around its last return.
 */
function smallestWindow<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  maxSteps: number,
): LinearizabilityWindow<S, I, O> | undefined {
  const ends = [...new Set(ops.map((op) => op.returnMs).filter(Number.isFinite))].sort(
    (a, b) => a - b,
  );
  let low = 0;
  let high = ends.length - 1;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const outcome = searchKey(model, truncate(ops, must(ends[middle])), maxSteps);
    if (outcome.result === 'fail') high = middle;
    else low = middle + 1;
  }
  const endMs = ends[low];
  if (endMs === undefined) return undefined;
  const prefix = truncate(ops, endMs);
  const outcome = searchKey(model, prefix, maxSteps);
  const culprit = prefix.find((op) => op.returnMs === endMs);
  if (culprit === undefined) return undefined;
  const linearizedIds = new Set(outcome.longest.map((index) => must(prefix[index]).id));
  const concurrent = prefix.filter((op) => op.returnMs >= culprit.callMs);
  const before = prefix
    .filter((op) => op.returnMs < culprit.callMs && linearizedIds.has(op.id))
    .sort((a, b) => a.returnMs - b.returnMs)
    .slice(-3);
  return {
    key: culprit.key,
    endMs,
    culprit,
    linearizedCount: outcome.longest.length,
    stateAfterLinearized: outcome.stateAfterLongest,
    operations: [...before, ...concurrent].sort((a, b) => a.callMs - b.callMs),
  };
}

/** Operations grouped by key, in a stable order of keys. */
export function partitionByKey<T extends { readonly key: string }>(
  ops: readonly T[],
): Map<string, T[]> {
  const partitions = new Map<string, T[]>();
  for (const op of ops) {
    const list = partitions.get(op.key);
    if (list === undefined) partitions.set(op.key, [op]);
    else list.push(op);
  }
  return partitions;
}

/** Checks every key's history; on failure shows the smallest violating window of each. */
export function checkLinearizable<S, I, O>(
  options: LinearizabilityOptions<S, I, O>,
): LinearizabilityVerdict<S, I, O> {
  const maxSteps = options.maxStepsPerKey ?? 2_000_000;
  const partitions = partitionByKey(options.operations);
  const failedKeys: string[] = [];
  const exhaustedKeys: string[] = [];
  const windows: LinearizabilityWindow<S, I, O>[] = [];
  for (const [key, ops] of partitions) {
    const outcome = searchKey(options.model, ops, maxSteps);
    if (outcome.result === 'exhausted') exhaustedKeys.push(key);
    if (outcome.result !== 'fail') continue;
    failedKeys.push(key);
    const window = smallestWindow(options.model, ops, maxSteps);
    if (window !== undefined) windows.push(window);
  }
  const counts = { keys: partitions.size, operations: options.operations.length };
  if (failedKeys.length > 0) return { valid: false, ...counts, failedKeys, windows };
  if (exhaustedKeys.length > 0) return { valid: 'unknown', ...counts, exhaustedKeys };
  return { valid: true, ...counts };
}
