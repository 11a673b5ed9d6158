import config from '@distsync/eslint-config';

// The type-aware rules read types from two programs built once for the whole workspace (the same
// ones `pnpm typecheck` checks) rather than from each package's tsconfig.json: packages see each
// other's sources through the @distsync/source condition, so a program per package parses and
// binds a dependency's sources again in every dependent. A .ts file outside both programs fails
// to parse here, so tsconfig.all.json cannot silently miss one.
export default [
  ...config,
  {
    languageOptions: {
      parserOptions: {
        projectService: false,
        project: ['./tsconfig.all.json', './apps/node/ui/tsconfig.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
];
