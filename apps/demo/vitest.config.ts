import { distsyncProject } from '../../vitest.shared.ts';

export default distsyncProject('demo', { testTimeout: 420_000, hookTimeout: 30_000 });
