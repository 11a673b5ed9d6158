// An in-process directory for unit tests: commands apply at once (next microtask) with a manual
// clock, events reach the caches registered here, and the clock only moves when a test says so.
import type { ApplyContext } from '@distsync/raft';
import {
  createCacheDirectory,
  type CacheDirectory,
  type CacheDirectoryOptions,
  type CacheScheduler,
  type DirectoryCommand,
  type DirectoryPort,
  type DirectoryQuery,
  type NodeCache,
} from '../index.js';

export class ManualScheduler implements CacheScheduler {
  now = 1000;
  #timers: { atMs: number; run: () => void; cancelled: boolean }[] = [];

  nowMs(): number {
    return this.now;
  }

  wallMs(): number {
    return this.now;
  }

  setTimeout(run: () => void, delayMs: number): () => void {
    const timer = { atMs: this.now + delayMs, run, cancelled: false };
    this.#timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  /** Moves the clock, running due timers in order and letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const until = this.now + ms;
    for (;;) {
      await flush();
      const due = this.#timers
        .filter((timer) => !timer.cancelled && timer.atMs <= until)
        .sort((a, b) => a.atMs - b.atMs)[0];
      if (due === undefined) break;
      due.cancelled = true;
      this.now = Math.max(this.now, due.atMs);
      due.run();
    }
    this.#timers = this.#timers.filter((timer) => !timer.cancelled);
    this.now = until;
    await flush();
  }
}

export function flush(): Promise<void> {
  return new Promise((resolve) => {
    setImmediate(resolve);
  });
}

export class LocalDirectory {
  readonly machine: CacheDirectory;
  readonly scheduler = new ManualScheduler();
  readonly caches: NodeCache[] = [];
  readonly commands: DirectoryCommand[] = [];
  index = 0;
  /** While true every request fails with UNAVAILABLE (a node cut off from the cluster). */
  down = false;

  constructor(options: CacheDirectoryOptions = {}) {
    this.machine = createCacheDirectory(options);
    this.machine.onEvent((event) => {
      for (const cache of this.caches) cache.handleEvent(event);
    });
  }

  context(): ApplyContext {
    this.index += 1;
    return { index: this.index, term: 1, timeMs: this.scheduler.now, clientId: undefined };
  }

  apply(command: DirectoryCommand): ReturnType<CacheDirectory['apply']> {
    this.commands.push(command);
    return this.machine.apply(command, this.context());
  }

  /** Applies the timer command when the directory's deadline has come. */
  tick(): void {
    const due = this.machine.nextDeadline?.();
    if (due !== undefined && due <= this.scheduler.now)
      this.apply({ op: 'tick', nowMs: this.scheduler.now });
  }

  port(): DirectoryPort {
    const unwrap = (result: ReturnType<CacheDirectory['apply']>): unknown => {
      if (result.ok) return result.value;
      throw Object.assign(new Error(result.message), { code: result.code });
    };
    return {
      command: async (payload: DirectoryCommand) => {
        await Promise.resolve();
        if (this.down) throw Object.assign(new Error('cut off'), { code: 'UNAVAILABLE' });
        return unwrap(this.apply(payload));
      },
      query: async (payload: DirectoryQuery) => {
        await Promise.resolve();
        if (this.down) throw Object.assign(new Error('cut off'), { code: 'UNAVAILABLE' });
        return unwrap(this.machine.query(payload));
      },
    };
  }
}
