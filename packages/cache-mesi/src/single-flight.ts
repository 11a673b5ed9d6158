// One load per key at a time: concurrent callers for the same key share the first caller's
// promise, and the key is free again once it settles (fulfilled or rejected).
export class SingleFlight<Value> {
  readonly #inflight = new Map<string, Promise<Value>>();

  run(key: string, load: () => Promise<Value>): Promise<Value> {
    const inflight = this.#inflight.get(key);
    if (inflight !== undefined) return inflight;
    const promise = load().finally(() => {
      this.#inflight.delete(key);
    });
    this.#inflight.set(key, promise);
    return promise;
  }
}
