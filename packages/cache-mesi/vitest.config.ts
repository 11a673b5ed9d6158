import { distsyncProject } from '../../vitest.shared.ts';

export default distsyncProject('cache-mesi');
