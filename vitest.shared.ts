import { defineProject, type UserWorkspaceConfig } from 'vitest/config';

/**
 * The settings every project shares: packages resolve each other through the `@distsync/source`
 * export condition, so tests run from TypeScript sources without a prior build.
 */
export function distsyncProject(
  name: string,
  test: UserWorkspaceConfig['test'] = {},
): UserWorkspaceConfig {
  const conditions = ['@distsync/source', 'node', 'import', 'module', 'default'];
  return defineProject({
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ['@distsync/source'] } },
    test: { name, environment: 'node', ...test },
  });
}
