import { defineConfig } from '@playwright/test';
import { chromiumLaunchOptions } from './browser.mjs';

// WEFT_E2E_PORT: another port, so that two checkouts' runs on one machine never share a server
// (a run reuses a server already on its port when not in CI).
const PORT = Number(process.env.WEFT_E2E_PORT ?? 4173);

export default defineConfig({
  testDir: 'test/e2e',
  outputDir: 'test-results',
  fullyParallel: true,
  forbidOnly: !!process.env.CI,
  retries: 0,
  workers: 2,
  reporter: 'list',
  timeout: 60_000,
  expect: { timeout: 15_000 },
  use: {
    baseURL: `http://localhost:${PORT}`,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        browserName: 'chromium',
        launchOptions: chromiumLaunchOptions(),
      },
    },
  ],
  webServer: {
    command: `npx vite --port ${PORT} --strictPort`,
    // No file watching or HMR: an edit during the run must not reload the pages under test.
    env: { WEFT_E2E: '1' },
    url: `http://localhost:${PORT}`,
    reuseExistingServer: !process.env.CI,
    timeout: 60_000,
    stdout: 'ignore',
    stderr: 'pipe',
  },
});
