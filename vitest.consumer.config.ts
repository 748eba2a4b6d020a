import { defineConfig } from 'vitest/config';

/**
 * `npm run test:consumer`: weft as a user gets it. test/consumer/setup.ts packs the repository
 * and installs the tarball in a fresh temporary project; the tests there run plain Node
 * programs, type-check a TypeScript app and build and run README's Quickstart as a Vite app,
 * all against that installed package, never src/.
 */
export default defineConfig({
  test: {
    include: ['test/consumer/**/*.test.ts'],
    environment: 'node',
    globalSetup: ['test/consumer/setup.ts'],
    // Processes are started, a bundle built, a browser launched.
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
