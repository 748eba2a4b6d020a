import { defineConfig } from 'vitest/config';
import { sourceAliases } from './source-aliases.mjs';

export default defineConfig({
  // Workflow code imports weft's workflow API by its package name, as an app does: the sources
  // (vitest.tarball.config.ts runs the same tests against the packed build).
  resolve: { alias: sourceAliases() },
  test: {
    include: ['test/unit/**/*.test.ts'],
    environment: 'node',
    // idb checks `instanceof IDBRequest` etc., so Node needs IndexedDB's globals.
    setupFiles: ['fake-indexeddb/auto'],
  },
});
