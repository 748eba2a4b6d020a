import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Workflow code imports weft's workflow API by its package name, as an app does.
  resolve: { alias: { 'weft/workflow': fileURLToPath(new URL('./src/workflow/index.ts', import.meta.url)) } },
  test: {
    include: ['test/unit/**/*.test.ts'],
    environment: 'node',
    // idb checks `instanceof IDBRequest` etc., so Node needs IndexedDB's globals.
    setupFiles: ['fake-indexeddb/auto'],
  },
});
