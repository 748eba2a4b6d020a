// In this repository `weft`, `weft/workflow`, `weft/client`... are the sources, not the built
// package: the playground (vite.config.ts) and the unit tests (vitest.config.ts) import them by
// name, as an app does, and must see an edit at once without `npm run build:lib`. Read from
// package.json's `exports`, so a new subpath needs no second list (tsconfig.json's `paths`
// is the one copy JSON cannot compute).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Vite `resolve.alias` entries: each export of package.json to its source file under src/. */
export function sourceAliases() {
  const { exports } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
  return Object.entries(exports)
    .filter(([, target]) => typeof target === 'object')
    .map(([subpath, target]) => {
      const source = target.default.replace(/^\.\/dist\//, './src/').replace(/\.js$/, '.ts');
      const name = `weft${subpath.slice(1)}`;
      // Exact matches: a plain 'weft' alias would also rewrite the start of 'weft/workflow'.
      return {
        find: new RegExp(`^${name.replaceAll('/', '\\/')}$`),
        replacement: fileURLToPath(new URL(source, import.meta.url)),
      };
    });
}
