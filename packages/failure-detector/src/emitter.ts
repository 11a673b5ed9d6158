/** Anything with a string `type` tag can travel through the emitter. */
export interface TypedEvent {
  readonly type: string;
}

/** A listener for the events whose `type` is `K`. */
export type Listener<E extends TypedEvent, K extends E['type']> = (
  event: Extract<E, { type: K }>,
) => void;

/**
 * A minimal typed emitter: `on` returns its own unsubscribe function, and `emit` calls every
 * listener even when one throws, returning what they threw so the owner decides how to report it.
 */
export class TypedEmitter<E extends TypedEvent> {
  private readonly listeners = new Map<string, Set<(event: E) => void>>();

  on<K extends E['type']>(type: K, listener: Listener<E, K>): () => void {
    let set = this.listeners.get(type);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(type, set);
    }
    // The set is keyed by `type`, so the listener only ever sees events of its own type.
    const erased = listener as (event: E) => void;
    set.add(erased);
    return () => {
      set.delete(erased);
    };
  }

  /** Calls the listeners of `event.type`, in subscription order; returns the errors thrown. */
  emit(event: E): unknown[] {
    const set = this.listeners.get(event.type);
    if (set === undefined || set.size === 0) return [];
    const errors: unknown[] = [];
    // A copy, so a listener that unsubscribes (or subscribes) while running is safe.
    for (const listener of [...set]) {
      try {
        listener(event);
      } catch (error: unknown) {
        errors.push(error);
      }
    }
    return errors;
  }

  clear(): void {
    this.listeners.clear();
  }
}

/** An async iterator over events with a bounded buffer that drops the oldest when full. */
export interface EventStream<E> extends AsyncIterator<E, undefined> {
  /** Events this stream dropped because its buffer was full. */
  readonly droppedEvents: number;
  /** Events waiting to be read. */
  readonly bufferedEvents: number;
  next(): Promise<IteratorResult<E, undefined>>;
  return(): Promise<IteratorResult<E, undefined>>;
  [Symbol.asyncIterator](): EventStream<E>;
}

/** What a {@link BoundedEventStream} needs from its owner. */
export interface BoundedEventStreamOptions {
  readonly maxBufferedEvents: number;
  readonly signal: AbortSignal | undefined;
  /** Called once when the stream ends, so the owner stops feeding it. */
  readonly onClose: () => void;
  /** Called for every event dropped, so the owner can keep a total. */
  readonly onDrop: () => void;
}

const DONE: IteratorResult<never, undefined> = Object.freeze({ done: true, value: undefined });

/**
 * One subscriber's view of the event flow. Events pushed while nobody reads wait in a buffer of
 * `maxBufferedEvents`; beyond that the oldest is dropped and counted, so a stalled reader costs
 * bounded memory and the monitor never blocks. Aborting the signal or calling `return()` ends
 * the stream at once; `end()` (the owner closing) ends it after the buffered events were read.
 */
export class BoundedEventStream<E> implements EventStream<E> {
  private readonly buffer: E[] = [];
  private readonly waiters: ((result: IteratorResult<E, undefined>) => void)[] = [];
  private ending = false;
  private closed = false;
  private dropped = 0;
  private readonly options: BoundedEventStreamOptions;
  private readonly abortListener = (): void => {
    this.close();
  };

  constructor(options: BoundedEventStreamOptions) {
    this.options = options;
    // Born closed when the signal already aborted; the owner checks `isClosed` before keeping it.
    if (options.signal?.aborted === true) this.closed = true;
    else options.signal?.addEventListener('abort', this.abortListener, { once: true });
  }

  get droppedEvents(): number {
    return this.dropped;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get bufferedEvents(): number {
    return this.buffer.length;
  }

  push(event: E): void {
    if (this.closed || this.ending) return;
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      waiter({ done: false, value: event });
      return;
    }
    if (this.buffer.length >= this.options.maxBufferedEvents) {
      this.buffer.shift();
      this.dropped += 1;
      this.options.onDrop();
    }
    this.buffer.push(event);
  }

  /** Ends the stream once its buffered events have been read. */
  end(): void {
    this.ending = true;
    if (this.buffer.length === 0) this.close();
  }

  next(): Promise<IteratorResult<E, undefined>> {
    if (this.buffer.length > 0) {
      const value = this.buffer.shift() as E;
      if (this.ending && this.buffer.length === 0) this.close();
      return Promise.resolve({ done: false, value });
    }
    if (this.closed) return Promise.resolve(DONE);
    // Concurrent `next()` calls are served in call order, one event each.
    return new Promise((resolve) => {
      this.waiters.push(resolve);
    });
  }

  return(): Promise<IteratorResult<E, undefined>> {
    this.close();
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.buffer.length = 0;
    this.options.signal?.removeEventListener('abort', this.abortListener);
    for (const waiter of this.waiters.splice(0)) waiter(DONE);
    this.options.onClose();
  }
}
