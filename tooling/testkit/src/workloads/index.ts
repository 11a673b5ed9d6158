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

/** Negative controls: they must fail their checker, so only a run that names them runs them. */
export const CONTROL_WORKLOADS: readonly string[] = ['lock-unfenced'];

/**
 * `kv`, `kv,lock`, `all` (every workload but the negative controls) or `all,lock-unfenced` ->
 * fresh workloads; throws BAD_OPTION naming an unknown one.
 */
export function createWorkloads(text: string): Workload[] {
  const names = [
    ...new Set(
      text
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean)
        .flatMap((name) =>
          name === 'all' ? WORKLOAD_NAMES.filter((w) => !CONTROL_WORKLOADS.includes(w)) : [name],
        ),
    ),
  ];
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
