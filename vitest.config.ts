import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    environment: 'node',
    // idb checks `instanceof IDBRequest` etc., so Node needs IndexedDB's globals.
    setupFiles: ['fake-indexeddb/auto'],
  },
});
