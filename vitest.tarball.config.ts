import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vitest/config';

/**
 * The unit tests against the packed package instead of src/: `WEFT_PACKAGE_DIR` names weft as
 * installed from its tarball (scripts/test-tarball.mjs packs, installs and runs this). Every
 * import of a source file (`../../src/engine/index.ts`, from tests, fixtures and the demo's
 * workflows) loads the same file of the package's dist/, and `weft/workflow`... load what the
 * package's `exports` name, so the whole suite runs on the build a user installs.
 */
const packageDir = process.env.WEFT_PACKAGE_DIR;
if (!packageDir) throw new Error('WEFT_PACKAGE_DIR: the directory of weft installed from its tarball');
const dist = path.join(packageDir, 'dist');
const src = fileURLToPath(new URL('./src/', import.meta.url));

const { exports } = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as {
  exports: Record<string, string | { default: string }>;
};
const byName = Object.entries(exports).flatMap(([subpath, target]) =>
  typeof target === 'string'
    ? []
    : [
        {
          find: new RegExp(`^weft${subpath.slice(1).replaceAll('/', '\\/')}$`),
          replacement: path.join(packageDir, target.default),
        },
      ],
);

/** Refuses to load anything from src/: an import the aliases missed would test the sources, silently. */
const noSources: Plugin = {
  name: 'weft-no-sources',
  enforce: 'pre',
  load(id) {
    if (id.startsWith(src)) throw new Error(`the tarball run loaded a source file: ${id}`);
    return null;
  },
};

export default defineConfig({
  plugins: [noSources],
  resolve: {
    alias: [...byName, { find: /^(?:\.\.\/)+src\/(.+)\.ts$/, replacement: `${dist}/$1.js` }],
  },
  test: {
    include: ['test/unit/**/*.test.ts'],
    exclude: [
      // Reads src/ itself (file sizes, the import graph of the sources): nothing of the package.
      'test/unit/layout.test.ts',
    ],
    environment: 'node',
    // idb checks `instanceof IDBRequest` etc., so Node needs IndexedDB's globals.
    setupFiles: ['fake-indexeddb/auto'],
  },
});
