import { distsyncProject } from '../../vitest.shared.ts';

export default distsyncProject('testkit', { testTimeout: 30_000 });
