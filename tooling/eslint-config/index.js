// The shared flat config. Boundary rules encode the dependency direction of DESIGN.md, so a
// package that reaches across a boundary fails lint (and so CI) instead of relying on review.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Node built-in modules, with and without the `node:` prefix, for the pure-core bans. */
const nodeBuiltins = [
  'node:*',
  'fs',
  'fs/promises',
  'net',
  'tls',
  'http',
  'https',
  'dgram',
  'child_process',
  'worker_threads',
  'timers',
  'timers/promises',
  'os',
  'crypto',
  'path',
  'process',
  'perf_hooks',
];

/** No package may reach into another package's sources or build output. */
const noDeepImports = {
  group: ['@distsync/*/src', '@distsync/*/src/**', '@distsync/*/dist', '@distsync/*/dist/**'],
  message: 'Import a package through its public entry (`@distsync/x` or `@distsync/x/testing`).',
};
const noCrossPackageRelative = {
  group: ['../../*/src/**', '../../../packages/**', '../../../apps/**', '../../../tooling/**'],
  message: 'Import a sibling package by its name, never by a relative path into its folder.',
};

const allPackages = [
  '@distsync/failure-detector',
  '@distsync/raft',
  '@distsync/transport-ws',
  '@distsync/lock-manager',
  '@distsync/queue',
  '@distsync/cache-mesi',
  '@distsync/node',
  '@distsync/demo',
  '@distsync/testkit',
  '@distsync/bench',
];

/** The dependency direction of DESIGN.md: which `@distsync/*` packages each package may import. */
const boundaries = [
  {
    dir: 'packages/failure-detector',
    self: '@distsync/failure-detector',
    allowed: [],
    thirdPartyBanned: ['ws', 'msgpackr', 'zod', 'ioredis'],
    message: 'failure-detector has no runtime dependencies (DESIGN.md, dependency direction).',
  },
  {
    dir: 'packages/raft',
    self: '@distsync/raft',
    allowed: [],
    thirdPartyBanned: ['ws', 'msgpackr', 'ioredis'],
    message: 'raft depends on zod only (DESIGN.md, dependency direction).',
  },
  {
    dir: 'packages/transport-ws',
    self: '@distsync/transport-ws',
    allowed: ['@distsync/failure-detector'],
    thirdPartyBanned: ['ioredis'],
    message: 'transport-ws depends on failure-detector, ws, msgpackr and zod only.',
  },
  ...['lock-manager', 'queue', 'cache-mesi'].map((name) => ({
    dir: `packages/${name}`,
    self: `@distsync/${name}`,
    allowed: ['@distsync/raft'],
    thirdPartyBanned: name === 'cache-mesi' ? ['ws'] : ['ws', 'ioredis'],
    message:
      'Services depend on @distsync/raft types and zod; clients take a ClusterConnection interface.',
  })),
  {
    dir: 'apps/demo',
    self: '@distsync/demo',
    allowed: [
      '@distsync/transport-ws',
      '@distsync/lock-manager',
      '@distsync/queue',
      '@distsync/cache-mesi',
      '@distsync/node',
    ],
    thirdPartyBanned: [],
    message: 'The demo uses the service clients, transport-ws and apps/node (DESIGN.md).',
  },
].map(({ dir, self, allowed, thirdPartyBanned, message }) => ({
  files: [`${dir}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          noDeepImports,
          noCrossPackageRelative,
          {
            group: [
              ...allPackages.filter((name) => name !== self && !allowed.includes(name)),
              ...thirdPartyBanned,
            ],
            message,
          },
        ],
      },
    ],
  },
}));

/** Globals and members the sans-I/O Raft core must never touch (STYLE.md 17). */
const coreRestrictedGlobals = [
  'setTimeout',
  'setInterval',
  'setImmediate',
  'clearTimeout',
  'clearInterval',
  'clearImmediate',
  'queueMicrotask',
  'performance',
  'process',
  'Buffer',
  'fetch',
].map((name) => ({ name, message: 'The Raft core is sans-I/O: the host owns timers and I/O.' }));

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '**/coverage/**',
      '**/.turbo/**',
      '**/results/**',
      '**/*.config.ts',
      '**/*.config.js',
      '**/*.config.mjs',
      'vitest.shared.ts',
      'tooling/eslint-config/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  ...tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: true },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'separate-type-imports' },
      ],
      '@typescript-eslint/consistent-type-exports': 'error',
      '@typescript-eslint/no-import-type-side-effects': 'error',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true, allowNullish: true },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/prefer-readonly': 'error',
      '@typescript-eslint/no-unnecessary-condition': [
        'error',
        { allowConstantLoopConditions: true },
      ],
      '@typescript-eslint/no-extraneous-class': 'off',
      'max-params': ['error', 3],
      eqeqeq: ['error', 'always'],
      'prefer-const': 'error',
    },
  },
  {
    // Tests, test helpers, benchmarks and scripts may use non-null assertions and more
    // parameters where it keeps a scenario readable.
    files: ['**/*.test.ts', '**/testing/**/*.ts', '**/bench/**/*.ts', '**/scripts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      'max-params': 'off',
    },
  },
  {
    // Default for every file: no deep or cross-package relative imports.
    files: ['**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [noDeepImports, noCrossPackageRelative] }],
    },
  },
  ...boundaries,
  {
    // The Raft core is sans-I/O (STYLE.md 17, DESIGN.md "Raft"). Its tests are not the core:
    // they may read fixture files and the environment.
    files: ['packages/raft/src/core/**/*.ts'],
    ignores: ['packages/raft/src/core/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            noDeepImports,
            noCrossPackageRelative,
            {
              group: [
                ...nodeBuiltins,
                'ws',
                'msgpackr',
                'ioredis',
                ...allPackages.filter((name) => name !== '@distsync/raft'),
              ],
              message: 'The Raft core is sans-I/O: no node:* modules, sockets, files or timers.',
            },
          ],
        },
      ],
      'no-restricted-globals': ['error', ...coreRestrictedGlobals],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'The core never reads clocks; use ticks.' },
        {
          object: 'Math',
          property: 'random',
          message: 'The core uses only its injected seeded random source.',
        },
        { object: 'performance', property: 'now', message: 'The core never reads clocks.' },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "NewExpression[callee.name='Date']", message: 'The core never reads clocks.' },
      ],
    },
  },
);
