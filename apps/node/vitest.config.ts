import { distsyncProject } from '../../vitest.shared.ts';

export default distsyncProject('node', { testTimeout: 30_000, hookTimeout: 30_000 });
