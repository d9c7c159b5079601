import { defineConfig } from 'vitest/config';

// One Vitest run for the whole monorepo. Workspace packages resolve to their TypeScript
// sources through the "source" export condition, so tests never need a stale dist/.
// (Processes that tests spawn run the compiled dist/: `npm test` builds first.)
export default defineConfig({
  resolve: { conditions: ['source', 'module', 'node', 'default'] },
  ssr: { resolve: { conditions: ['source', 'module', 'node', 'default'], externalConditions: ['source'] } },
  test: {
    include: ['*/test/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
