// The simulator's default factories: the real RaftCore on a MemoryStorage rebuilt, at every
// start, from the node's durable state (what it had synced before it crashed).
import { MemoryStorage } from '../core/memory-storage.js';
import { RaftCore } from '../core/raft-core.js';
import type { SimFactories } from './sim-node.js';

export const realFactories: SimFactories = {
  createCore: (options) => new RaftCore(options),
  createStorage: ({ peers, durable }) => {
    const storage = new MemoryStorage({ voters: [...peers], learners: [] });
    storage.append(durable.entries);
    storage.setHardState(durable.hardState);
    return storage;
  },
};
