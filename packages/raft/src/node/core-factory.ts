// The default core: the package's own sans-I/O RaftCore.
import { RaftCore } from '../core/raft-core.js';
import type { CoreFactory } from './core-port.js';

/** Builds the package's RaftCore. */
export const defaultCoreFactory: CoreFactory = (options) => new RaftCore(options);
