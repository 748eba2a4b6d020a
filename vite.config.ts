import { defineConfig } from 'vite';
import { minify, terserOptions } from './minify.mjs';
import { sourceAliases } from './source-aliases.mjs';

/**
 * The playground app: `npm start` serves index.html (demo/main.ts), `npm run build:playground`
 * bundles it into dist-playground/ (dist/ is the library's, scripts/build-lib.mjs). The engine
 * runs in a module worker (demo/engine.worker.ts) that Vite bundles as ES modules.
 *
 * `WEFT_E2E=1` (set by playwright.config.ts) serves without file watching or HMR, so an edit
 * made while the end-to-end tests run cannot reload their pages under them.
 */
const e2e = process.env.WEFT_E2E === '1';

export default defineConfig({
  // Workflow code imports weft's workflow API by its package name, as an app does: the sources.
  resolve: { alias: sourceAliases() },
  server: {
    port: 5173,
    strictPort: false,
    ...(e2e && { hmr: false, watch: null }),
  },
  preview: { port: 4173 },
  worker: { format: 'es' },
  optimizeDeps: {
    // The worker's imports too, so no dependency is discovered (and the page reloaded) mid-test.
    entries: ['index.html', 'demo/engine.worker.ts'],
    include: ['comlink', 'idb'],
  },
  build: {
    // Top-level await in the page, module workers.
    target: 'es2022',
    outDir: 'dist-playground',
    sourcemap: true,
    minify,
    terserOptions,
    // Terser takes most of the build's few seconds: expected, not worth a warning.
    rollupOptions: { checks: { bundlerTimings: false } },
  },
});
