import { defineConfig } from 'vitest/config';

// One Vitest for the whole workspace: every package, app and tooling folder with a
// `vitest.config.ts` of its own (a three-line `defineProject`) joins as a project.
export default defineConfig({
  test: {
    projects: [
      'packages/*/vitest.config.ts',
      'apps/*/vitest.config.ts',
      'tooling/*/vitest.config.ts',
    ],
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
