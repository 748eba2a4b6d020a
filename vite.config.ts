import { defineConfig } from 'vite';

/**
 * The playground app: `npm start` serves index.html (demo/main.ts), `npm run build` bundles
 * it into dist/. The engine runs in a module worker (demo/engine.worker.ts) that Vite bundles
 * as ES modules.
 */
export default defineConfig({
  server: { port: 5173, strictPort: false },
  preview: { port: 4173 },
  worker: { format: 'es' },
  build: {
    // Top-level await in the page, module workers.
    target: 'es2022',
    outDir: 'dist',
    sourcemap: true,
  },
});
