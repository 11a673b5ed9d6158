// The workloads the CLI can run, by name.
import { TestkitError } from '../errors.js';
import { KvWorkload } from './kv.js';
import { LockWorkload } from './lock.js';
import { QueueWorkload } from './queue.js';
import type { Workload } from './types.js';

const FACTORIES: Readonly<Record<string, () => Workload>> = {
  kv: () => new KvWorkload(),
  'kv-ws': () => new KvWorkload({ transport: 'ws' }),
  lock: () => new LockWorkload(),
  queue: () => new QueueWorkload(),
  cache: () => new KvWorkload({ service: 'cache' }),
  'lock-unfenced': () => new LockWorkload({ unfenced: true }),
};

export const WORKLOAD_NAMES: readonly string[] = Object.keys(FACTORIES);

/** `kv`, `kv,lock` or `all` -> fresh workloads; throws BAD_OPTION naming an unknown one. */
export function createWorkloads(text: string): Workload[] {
  const names =
    text === 'all'
      ? WORKLOAD_NAMES
      : text
          .split(',')
          .map((name) => name.trim())
          .filter(Boolean);
  return names.map((name) => {
    const factory = FACTORIES[name];
    if (factory === undefined) {
      throw new TestkitError(
        'BAD_OPTION',
        `--workload: unknown ${JSON.stringify(name)}; available: ${WORKLOAD_NAMES.join(', ')}, all`,
      );
    }
    return factory();
  });
}
