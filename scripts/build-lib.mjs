// Builds the library into dist/ (`npm run build:lib`, also `prepare`): tsc with
// tsconfig.build.json, then the declarations' relative `.ts` specifiers rewritten to `.js`.
// tsc rewrites them in the JavaScript only (microsoft/TypeScript#61037), and a consumer's
// TypeScript, or any tool that follows the declarations' imports, looks for files that the
// package does not have. `.ts` and `.js` are the same length, so the lines and columns the
// source maps hold stay true.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');

// A fresh dist/: nothing left over from an earlier build, or from a file since deleted, gets packed.
rmSync(dist, { recursive: true, force: true });
const tsc = (...args) =>
  execFileSync(
    process.execPath,
    [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', ...args],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
// Two passes: the JavaScript without comments (they are in the source maps' sources, and made
// up 40% of it), the declarations with them (editors show them as the API's documentation).
tsc('--removeComments', '--declaration', 'false');
tsc('--emitDeclarationOnly');

/** A relative specifier ending in `.ts` after `from`, `import` or `import(`, in either quote. */
const tsSpecifier = /(\bfrom\s*|\bimport\s*\(?\s*)(['"])(\.\.?\/[^'"\n]*)\.ts\2/g;
/** An import of a relative `.ts` file in any form the rewrite might miss, to refuse such a build. */
const leftover = /\b(?:from|import|require)\s*\(?\s*(['"])\.\.?\/[^'"\n]*\.ts\1/;

const files = readdirSync(dist, { recursive: true, encoding: 'utf8' }).map((file) => path.join(dist, file));
const problems = [];
for (const file of files) {
  if (file.endsWith('.d.ts')) {
    const code = readFileSync(file, 'utf8');
    const rewritten = code.replace(
      tsSpecifier,
      (_, keyword, quote, stem) => `${keyword}${quote}${stem}.js${quote}`,
    );
    if (rewritten !== code) writeFileSync(file, rewritten);
    if (leftover.test(rewritten)) problems.push(file);
  } else if (file.endsWith('.js') && leftover.test(readFileSync(file, 'utf8'))) {
    problems.push(file);
  }
}
if (problems.length > 0) {
  console.error(
    `build-lib: relative .ts specifiers left in\n  ${problems.map((f) => path.relative(root, f)).join('\n  ')}`,
  );
  process.exit(1);
}
