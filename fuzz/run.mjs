#!/usr/bin/env node
/**
 * `npm run fuzz`: bundles the fuzzer for Node with Vite (fuzz/node.ts, every dependency
 * inlined but fake-indexeddb) and runs it. See fuzz/README.md for the options.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const fuzzDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(fuzzDir, '..');
const distNode = path.join(fuzzDir, 'dist-node');

const args = process.argv.slice(2);

async function buildNode() {
  const { build } = await import('vite');
  const { sourceAliases } = await import('../source-aliases.mjs');
  await build({
    configFile: false,
    logLevel: 'warn',
    clearScreen: false,
    root,
    resolve: { alias: sourceAliases() },
    ssr: { noExternal: true, external: ['fake-indexeddb'], target: 'node' },
    build: {
      ssr: path.join(fuzzDir, 'node.ts'),
      outDir: distNode,
      emptyOutDir: true,
      target: 'node20',
      minify: false,
      reportCompressedSize: false,
      rollupOptions: { output: { format: 'es', entryFileNames: 'node.mjs' } },
    },
  });
}

function run(command, commandArgs) {
  return new Promise((resolve) => {
    const child = spawn(command, commandArgs, { stdio: 'inherit', cwd: root });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

await buildNode();
process.exit(await run(process.execPath, [path.join(distNode, 'node.mjs'), ...args]));
