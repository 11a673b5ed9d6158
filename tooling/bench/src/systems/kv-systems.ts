// The systems of the kv suites (kv, kv-value-size, kv-growth), in the order they run.
import { distsyncSystem } from './distsync.js';
import { etcdSystem } from './etcd.js';
import { redisSystem } from './redis.js';
import type { KvSystem } from './types.js';

export const KV_SYSTEMS: readonly KvSystem[] = [distsyncSystem, etcdSystem, redisSystem];
